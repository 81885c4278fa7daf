"""`stats` from SQLite's accelerators gives exactly the figures of reading every event.

On SQLite, `build_report` answers what it can from the aggregates
(`stats_rollup.rolled_figures`: scenes, choices, timing counts, drop-off,
completion) and the per-session digests (`stats_rollup.digested`: paths,
progress, segments' choices per session, tags). Here every table of the
report is computed both ways, over a seeded audience with going back,
abandonment, timeouts, pauses and replays, for many selections and both
units, and must be equal. A report of some tables only holds the same rows
for those tables as the whole report.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from test_consistency import SIGNAL, record_audience

from branching.analytics import stats_rollup
from branching.analytics.accelerated import Accelerated
from branching.analytics.filters import make_filters
from branching.analytics.report import build_report
from branching.analytics.rows import TABLES

SELECTIONS: list[dict[str, Any]] = [
    {},
    {"where": ["region=NL"]},
    {"where": ["region=UK"], "since": "2025-01-10"},
    {"where": ["region=UK", "device=ssh"]},
    {"since": "2025-01-15", "until": "2025-01-20"},
    {"until": "2025-01-20T12:00"},
    {"first_only": True},
    {"audience": "all"},
    {"audience": "real"},
]
VERSIONS = [{"version": "1.1"}, {"version": "1.2", "first_only": True, "until": "2025-01-25"}]


@pytest.fixture(scope="module")
def audience(tmp_path_factory: pytest.TempPathFactory) -> Path:
    plan = [("signal", 150, 40, 5), ("tutorial", 60, 20, 6), ("lighthouse", 40, 15, 7)]
    return record_audience(tmp_path_factory.mktemp("fast"), [*plan, ("lighthouse-1.2", 40, 15, 8)])


def report(db: Path, story: str, unit: str, picked: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return dataclasses.asdict(
        build_report(story, db=db, filters=make_filters(**picked), unit=unit, **kw)  # type: ignore[arg-type]
    )


def scanned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Turn SQLite's accelerators off: every figure from the events."""
    monkeypatch.setattr(stats_rollup, "rolled_figures", lambda *a: (None, "off"))
    monkeypatch.setattr(stats_rollup, "rolled_where", lambda *a: None)
    monkeypatch.setattr(stats_rollup, "digested", lambda *a: None)


@pytest.mark.parametrize("unit", ["sessions", "viewers"])
@pytest.mark.parametrize(
    "story", [str(SIGNAL), "signal", "tutorial", "lighthouse"], ids=lambda s: Path(s).name
)
def test_every_table_is_the_same_with_and_without_the_accelerators(
    audience: Path, story: str, unit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    selections = SELECTIONS + (VERSIONS if story == "lighthouse" else [])
    fast = {i: report(audience, story, unit, p) for i, p in enumerate(selections)}
    scanned(monkeypatch)
    for i, picked in enumerate(selections):
        slow = report(audience, story, unit, picked)
        for name, rows in fast[i].items():
            assert rows == slow[name], (picked, name)


def test_the_accelerators_answer_and_see_something(audience: Path) -> None:
    """The comparison above is not between two scans: the fast path is taken."""
    from branching.analytics.source import open_readonly, resolve_versions

    conn = open_readonly(audience)
    try:
        filters = make_filters(audience="all")
        chosen = resolve_versions(conn, "signal", None)
        rolled, why = stats_rollup.rolled_figures(conn, "signal", chosen, filters, "sessions")
        assert rolled is not None, why
        assert rolled.sessions == 150 and rolled.taken
        assert stats_rollup.digested(conn, "signal", chosen, filters, "viewers") is not None
    finally:
        conn.close()
    paths = report(audience, "signal", "sessions", {})["paths"]
    assert paths and sum(p["count"] for p in paths) == paths[0]["completed"]


def test_one_accelerator_answers_the_aggregates_before_the_digests(
    audience: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They never apply together: with `--first-only` the aggregates answer by viewers
    too and the digests' viewer figures are not read; without it they are, once."""
    from branching.analytics import viewers_rollup

    asked: list[str] = []
    real = viewers_rollup.viewer_figures

    def counted(*a: Any, **kw: Any) -> Any:
        asked.append(a[1])
        return real(*a, **kw)

    monkeypatch.setattr(viewers_rollup, "viewer_figures", counted)
    firsts = report(audience, "signal", "viewers", {"first_only": True}, tables=["choices"])
    assert firsts["choices"] and asked == []
    every = report(audience, "signal", "viewers", {}, tables=["choices"])
    assert every["choices"] and asked == ["signal"]


def test_an_accelerator_answers_the_tables_its_figures_fill() -> None:
    """The tables DuckDB's one pass need not read: each figure given answers its own."""
    fill = Accelerated
    counts, rest = {"cold_open": (3, 4)}, ("reach", "dropoff", "choices", "unreached")
    assert fill().answered() == frozenset()
    assert fill(lists=True).answered() == {"tags"}
    assert fill(taken={}, lists=True).answered() == {"tags"}  # no reach: choices are scanned
    assert fill(counts, {}).answered() == set(rest)
    assert fill(counts, {}, {}).answered() == {*rest, "flags"}  # no times to decide
    assert fill(counts, {}, {}, {}, {}).answered() == {*rest, "flags", "timing", "interactions"}


@pytest.mark.parametrize("table", TABLES)
def test_a_report_of_one_table_holds_the_rows_of_the_whole_report(
    audience: Path, table: str
) -> None:
    whole = report(audience, str(SIGNAL), "sessions", {"where": ["region=NL"]})
    one = report(audience, str(SIGNAL), "sessions", {"where": ["region=NL"]}, tables=[table])
    assert one["overview"] == whole["overview"]
    fields = {
        "endings": ("endings", "ending_kinds"),
        "unreached": ("unreached_scenes", "unreached_choices"),
    }.get(table, (table,))
    for name in fields:
        assert one[name] == whole[name], name


def test_a_bundled_story_named_by_id_gets_the_explorers_proof(audience: Path) -> None:
    """`stats signal` of recordings of the bundled Signal's very content flags as
    `stats stories/signal` does (the explorer's proof, no replay of states); a story
    whose recordings include another version's is not taken for the bundled one."""
    by_id = report(audience, "signal", "sessions", {}, tables=["flags"])["flags"]
    by_path = report(audience, str(SIGNAL), "sessions", {}, tables=["flags"])["flags"]
    assert by_id == by_path
    lighthouse = report(audience, "lighthouse", "sessions", {}, tables=["flags"])["flags"]
    proofs = {f["proof"] for f in lighthouse if f["kind"] == "no-difference"}
    assert "explorer" not in proofs


DIGEST_TABLES = ["overview", "paths", "progress", "segments", "tags"]


def test_the_digests_are_read_alone_where_they_carry_the_sessions_columns(
    audience: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """m015's copies let paths, progress, segments and tags read the digests without
    the sessions (a story with most of the file's sessions, counting sessions, no date
    range); the rows are the join's, as on a file read before m015."""
    from branching.analytics.source import open_readonly, resolve_versions

    conn = open_readonly(audience)
    try:
        chosen = resolve_versions(conn, "signal", None)
        for picked, alone in (({}, True), ({"first_only": True}, True),
                              ({"since": "2025-01-15"}, False)):  # fmt: skip
            d = stats_rollup.digested(conn, "signal", chosen, make_filters(**picked), "sessions")
            assert d is not None and (d.alone is not None) == alone, picked
        small = resolve_versions(conn, "tutorial", None)  # 60 of 290 sessions: the join
        assert (
            stats_rollup.digested(conn, "tutorial", small, make_filters(), "sessions").alone is None
        )  # type: ignore[union-attr]
    finally:
        conn.close()
    versions = [{"version": "1.1", "first_only": True}, {"version": "1.2"}]
    cases = [("signal", p) for p in SELECTIONS] + [("lighthouse", p) for p in versions]
    fast = [report(audience, s, "sessions", p, tables=DIGEST_TABLES) for s, p in cases]
    monkeypatch.setattr(stats_rollup, "has_copies", lambda conn: False)
    for (story, picked), rows in zip(cases, fast, strict=True):
        joined = report(audience, story, "sessions", picked, tables=DIGEST_TABLES)
        assert rows == joined, (story, picked)
    assert sum(bool(r["paths"] and r["segments"] and r["tags"]) for r in fast) >= len(fast) // 2


def test_a_where_is_found_in_the_copied_attributes_only_where_it_is_one(
    audience: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read alone, `--where key=value` looks for `'key'='value'` in the digests' copied
    attributes: a value holding quotes, commas and another pair's text is not taken
    for that pair, nor a value that only starts like the one asked for."""
    copy = tmp_path / "tricky.db"
    target, sessions = _copy_with_signal_sessions(audience, copy)
    for sid, value in zip(sessions, ["UK','region'='NL", "NL'", "NL,x", "it's"], strict=False):
        target.execute("INSERT OR REPLACE INTO session_attrs VALUES (?, 'region', ?)", [sid, value])
    target.commit()
    target.close()
    picks = [{"where": [f"region={v}"]} for v in ("NL", "UK", "NL'", "it's", "NL,x")]
    fast = [report(copy, "signal", "sessions", p, tables=DIGEST_TABLES) for p in picks]
    assert [r["overview"]["sessions"] for r in fast][2:] == [1, 1, 1]
    monkeypatch.setattr(stats_rollup, "has_copies", lambda conn: False)
    for picked, rows in zip(picks, fast, strict=True):
        assert rows == report(copy, "signal", "sessions", picked, tables=DIGEST_TABLES), picked


def test_local_hours_and_weekdays_are_the_scans_whatever_the_start_and_offset(
    audience: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Segments group the local times in SQL (by UTC date and local hours since it):
    starts shifted across midnight both ways, by offsets that are not whole hours, and a
    start that is not a timestamp ("unknown") give the rows of the portable query."""
    copy = tmp_path / "times.db"
    target, sessions = _copy_with_signal_sessions(audience, copy)
    changes = [
        ("2025-01-12T23:50:00.000Z", 330),  # +5:30: the next day, 05:20
        ("2025-01-13T00:10:00.000Z", -45),  # the day before, 23:25
        ("2025-01-13T00:10:00.000Z", -1440),
        ("2025-01-13T12:00:00.000Z", 1440),
        ("not a time", 60),
        ("2025-01-13T2x:00:00.000Z", None),  # shaped like a time, with a letter in it
    ]
    for sid, (start, offset) in zip(sessions, changes, strict=False):
        target.execute(
            "UPDATE sessions SET started_at = ?, utc_offset_min = ? WHERE session_id = ?",
            [start, offset, sid],
        )
    target.commit()
    target.close()
    # not --first-only: a start edited here does not move `agg_firsts`, which the store keeps
    picks: list[dict[str, Any]] = [{}, {"where": ["region=NL"]}, {"audience": "all"}]
    fast = [report(copy, "signal", "sessions", p, tables=["segments"]) for p in picks]
    unknown = [s for s in fast[0]["segments"] if s["dimension"] == "local hour"]
    assert any(s["value"] == "unknown" for s in unknown)
    scanned(monkeypatch)
    for picked, rows in zip(picks, fast, strict=True):
        assert rows["segments"] == report(copy, "signal", "sessions", picked)["segments"], picked


def _copy_with_signal_sessions(audience: Path, copy: Path) -> tuple[sqlite3.Connection, list[str]]:
    """A connection to a copy of `audience` at `copy`, and its Signal sessions in id order."""
    source, target = sqlite3.connect(audience), sqlite3.connect(copy)
    source.backup(target)
    source.close()
    found = "SELECT session_id FROM sessions WHERE story_id = 'signal' ORDER BY session_id"
    return target, [sid for (sid,) in target.execute(found)]
