"""`stats --by viewers` on SQLite counts each choice's viewers from the digests.

`viewers_rollup.viewer_figures` counts the viewers who took each choice from
the sessions' digests (`took`), a viewer once however many of their sessions
took it, and `viewer_left` who dropped off from the sessions' rows; the
figures equal the scan's (`test_stats_fast_path.py` compares every table).
Here: the digests are really used, they count viewers and not sessions, and a
choice that went to two different scenes in the chosen versions (which the
digests cannot tell apart) is read from the events, with the scan's figures.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from test_consistency import LIGHTHOUSE, SIGNAL, TUTORIAL, record_audience

from branching.analytics import stats_rollup, viewers_rollup
from branching.analytics.filters import make_filters
from branching.analytics.report import build_report
from branching.analytics.source import open_readonly, resolve_versions
from branching.store import SessionContext, Store
from branching.story.loader import load_story


@pytest.fixture(scope="module")
def audience(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("viewers")
    text = LIGHTHOUSE.read_text(encoding="utf-8")
    head, tail = text.split("id: carry_crates", 1)
    assert 'version: "1.1"' in head and "goto: yard" in tail
    moved = head + "id: carry_crates" + tail.replace("goto: yard", "goto: corran_talk", 1)
    (folder / "moved.yaml").write_text(moved.replace('version: "1.1"', 'version: "1.3"'), "utf-8")
    plan = [("signal", 120, 20, 11), ("lighthouse", 60, 15, 12), ("moved", 60, 15, 13)]
    return record_audience(folder, plan)


def test_each_choice_counts_its_viewers_once(audience: Path) -> None:
    conn = open_readonly(audience)
    try:
        filters = make_filters(audience="all")
        chosen = resolve_versions(conn, "signal", None)
        digests = stats_rollup.digested(conn, "signal", chosen, filters, "viewers")
        assert digests is not None
        taken = viewers_rollup.viewer_figures(
            digests, "signal", chosen, filters, choices=True
        ).taken
        rolled, why = stats_rollup.rolled_figures(conn, "signal", chosen, filters, "sessions")
        assert taken is not None and rolled is not None, why
        assert taken.keys() == rolled.taken.keys()
        for key, (viewers, times, clock) in taken.items():
            sessions, s_times, s_clock = rolled.taken[key]
            assert (times, clock) == (s_times, s_clock)
            assert 0 < viewers <= min(sessions, 20)
        # 120 sessions of 20 viewers replaying: some choice was taken by a viewer twice
        assert any(taken[k][0] < rolled.taken[k][0] for k in taken)
        left = viewers_rollup.viewer_left(digests)
        assert left is not None and all(0 < n <= 20 for n, _ in left.values())
    finally:
        conn.close()


def test_a_choice_with_two_targets_counts_its_viewers_per_target(
    audience: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From m018 the digests list the edges walked (scene, choice, target): a choice that
    went to two scenes in the chosen versions has its viewers per target, as the scan
    counts them. Before m018 (`took`: (scene, choice) only) it is read from the events."""
    conn = open_readonly(audience)
    try:
        filters = make_filters(audience="all")
        chosen = resolve_versions(conn, "lighthouse", None)
        assert len(chosen) == 2
        digests = stats_rollup.digested(conn, "lighthouse", chosen, filters, "viewers")
        assert digests is not None
        taken = viewers_rollup.viewer_figures(
            digests, "lighthouse", chosen, filters, choices=True
        ).taken
        assert taken is not None
        moved = {k[2]: v for k, v in taken.items() if k[:2] == ("landing", "carry_crates")}
        assert moved.keys() == {"yard", "corran_talk"} and all(v[0] > 0 for v in moved.values())
        with monkeypatch.context() as before_m018:
            before_m018.setattr(viewers_rollup, "has_edges", lambda conn: False)
            assert (
                viewers_rollup.viewer_figures(
                    digests, "lighthouse", chosen, filters, choices=True
                ).taken
                is None
            )
            latest = make_filters(audience="all", version="1.3")
            one = resolve_versions(conn, "lighthouse", "1.3")
            digests = stats_rollup.digested(conn, "lighthouse", one, latest, "viewers")
            assert digests is not None
            assert (
                viewers_rollup.viewer_figures(
                    digests, "lighthouse", one, latest, choices=True
                ).taken
                is not None
            )
    finally:
        conn.close()

    def choices() -> list[tuple[str, str, str, int, int]]:
        found = build_report(
            "lighthouse", db=audience, filters=filters, unit="viewers", tables=["choices"]
        )
        return [(c.scene, c.choice, c.target, c.count, c.times) for c in found.choices]

    fast = choices()
    assert {c[2] for c in fast if c[:2] == ("landing", "carry_crates")} == {"yard", "corran_talk"}
    monkeypatch.setattr(stats_rollup, "digested", lambda *a: None)
    assert choices() == fast


def test_every_viewers_table_matches_the_scan_with_a_moved_choice(
    audience: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def whole(story: str) -> dict[str, object]:
        return dataclasses.asdict(
            build_report(story, db=audience, filters=make_filters(audience="all"), unit="viewers")
        )

    fast = {s: whole(s) for s in ("lighthouse", str(SIGNAL))}
    monkeypatch.setattr(stats_rollup, "rolled_figures", lambda *a: (None, "off"))
    monkeypatch.setattr(stats_rollup, "digested", lambda *a: None)
    for story, figures in fast.items():
        assert whole(story) == figures, story


def test_first_playthroughs_count_the_same_by_viewers_and_by_sessions(audience: Path) -> None:
    """`--first-only` keeps one session per viewer, so every count is the same in
    either unit (and by viewers it is summed from the aggregates, as by sessions)."""

    def whole(unit: str) -> dict[str, object]:
        filters = make_filters(audience="all", first_only=True)
        found = build_report(str(SIGNAL), db=audience, filters=filters, unit=unit)  # type: ignore[arg-type]
        figures = dataclasses.asdict(found)
        figures.pop("overview")
        figures.pop("flags")  # worded with the unit
        return figures

    by_viewers = whole("viewers")
    assert by_viewers == whole("sessions")
    assert any(c["times"] for c in by_viewers["choices"])  # type: ignore[attr-defined]


def test_a_session_started_during_the_read_is_in_all_of_the_overview_or_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The viewers' lists and the first and last start are two reads: a recorder that
    commits between them must not show in the last start alone (review R10)."""
    db = record_audience(tmp_path, [("tutorial", 40, 10, 1)])
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    story = load_story(str(TUTORIAL))
    context = SessionContext("xterm", None, 80, 24, "Linux", "en_GB", 0, "test")

    def overview() -> tuple[int, int, str | None]:
        got = build_report(
            str(TUTORIAL), db=db, filters=make_filters(audience="all"), unit="viewers"
        ).overview
        return got.sessions, got.viewers, got.last_started

    before = overview()
    real_starts = viewers_rollup._starts

    def starts_after_a_commit(*args: object) -> object:
        with Store.open(db) as store:  # another program records a new viewer's session
            store.start_session(story.id, story.content_hash, "late-viewer", context=context)
        return real_starts(*args)  # type: ignore[arg-type]

    with monkeypatch.context() as patched:
        patched.setattr(viewers_rollup, "_starts", starts_after_a_commit)
        assert overview() == before
    after = overview()
    assert after[:2] == (before[0] + 1, before[1] + 1)  # the session was recorded
