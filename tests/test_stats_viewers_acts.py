"""Counting viewers, the timing and interactions tables come from the digests (m016).

Each digest lists the scenes where its session timed out, rewound to, paused
and skipped a reveal, and carries its viewer; `viewers_rollup` unites each
viewer's sessions. Here the figures by viewers are recounted independently
over the events (SQL: distinct viewers per scene and event type), on an
audience where viewers replay: some viewer met the same act at the same scene
in two sessions (counted twice, the figure would be too high), and some met
one only in a later session (a replay lost, too low).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_consistency import SIGNAL, record_audience

from branching.analytics import stats_rollup, viewers_rollup
from branching.analytics.filters import make_filters
from branching.analytics.report import build_report
from branching.analytics.source import open_readonly, resolve_versions

KINDS = {"timeout_default": "timed_out", "rewind": "rewinds", "pause": "pauses"}
SELECTIONS: list[dict[str, Any]] = [{}, {"where": ["region=NL"]}, {"version": "1.0"}]


@pytest.fixture(scope="module")
def audience(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_audience(tmp_path_factory.mktemp("acts"), [("signal", 160, 30, 11)])


def recount(db: Path, kind: str, picked: dict[str, Any]) -> dict[str, int]:
    """scene -> distinct viewers with an event of `kind` there, in the chosen sessions."""
    conn = open_readonly(db)
    try:
        chosen = resolve_versions(conn, "signal", picked.get("version"))
        from branching.analytics.filters import session_conditions

        cond, params = session_conditions("signal", chosen, make_filters(**picked))
        return {
            scene: n
            for scene, n in conn.execute(
                f"""SELECT e.scene, COUNT(DISTINCT s.viewer_id) FROM sessions s
                JOIN events e ON e.session_id = s.session_id
                WHERE {cond} AND e.type = ? AND e.scene <> '' GROUP BY 1""",
                [*params, kind],
            )
        }
    finally:
        conn.close()


def test_the_audience_replays_into_the_same_acts(audience: Path) -> None:
    """The cases the recount below would catch are there: a viewer timed out at one
    scene in two sessions; a viewer timed out at a scene in a later session only."""
    conn = open_readonly(audience)
    try:
        twice = conn.execute(
            """SELECT COUNT(*) FROM (SELECT s.viewer_id, e.scene FROM sessions s
            JOIN events e ON e.session_id = s.session_id WHERE e.type = 'timeout_default'
            GROUP BY 1, 2 HAVING COUNT(DISTINCT s.session_id) > 1)"""
        ).fetchone()[0]
        later = conn.execute(
            """SELECT COUNT(*) FROM sessions s JOIN events e ON e.session_id = s.session_id
            WHERE e.type IN ('timeout_default', 'rewind', 'pause') AND EXISTS (
                SELECT 1 FROM sessions f WHERE f.viewer_id = s.viewer_id
                AND f.story_id = s.story_id AND f.started_at < s.started_at)"""
        ).fetchone()[0]
    finally:
        conn.close()
    assert twice > 0 and later > 0


@pytest.mark.parametrize("picked", SELECTIONS, ids=str)
def test_timing_and_interactions_by_viewers_are_the_events_distinct_viewers(
    audience: Path, picked: dict[str, Any]
) -> None:
    report = build_report(
        str(SIGNAL),
        db=audience,
        filters=make_filters(**picked),
        unit="viewers",
        tables=["timing", "interactions"],
    )
    timed_out = {t.scene: t.timed_out for t in report.timing}
    acted = {
        kind: {i.scene: getattr(i, name) for i in report.interactions}
        for kind, name in KINDS.items()
        if kind != "timeout_default"
    }
    acted["timeout_default"] = timed_out
    for kind in KINDS:
        want = recount(audience, kind, picked)
        have = {scene: n for scene, n in acted[kind].items() if n}
        assert have == {s: n for s, n in want.items() if s in acted[kind]}, kind
    assert any(timed_out.values()) and any(acted["rewind"].values())


def test_the_digests_answer_them(audience: Path) -> None:
    """The figures above came from the digests, not from the events."""
    conn = open_readonly(audience)
    try:
        chosen = resolve_versions(conn, "signal", None)
        filters = make_filters()
        d = stats_rollup.digested(conn, "signal", chosen, filters, "viewers")
        assert d is not None and d.alone is not None
        found = viewers_rollup.viewer_figures(
            d, "signal", chosen, filters, choices=True, timing=True, acts=True
        )
        assert found.timing and found.acts and found.taken and found.counts
    finally:
        conn.close()
