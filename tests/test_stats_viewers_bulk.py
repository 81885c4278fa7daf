"""`stats --by viewers` counted in bulk: every table equals the scan, whatever the digests hold.

`viewers_rollup.viewer_lists` unites each viewer's lists (the JSON lists of m012
and m016, or m018's characters), `segments_viewers.viewer_segments` each
viewer's values per breakdown, and `tags_rollup.counted_tags` each
viewer's lists per tag, a batch of viewers at a time. Here every table counted
by viewers is compared with the scan (the events, accelerators off) on an
audience where viewers replay: a viewer was shown a scene in two sessions
(counted twice, a figure would be too high) and another only in a later
session (a replay lost, too low); with both kinds of lists, with batches of a
few viewers (a viewer's sessions never split between two), and with a viewer
whose sessions differ in terminal and attributes.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from test_consistency import SIGNAL, record_audience

from branching.analytics import segments_viewers, stats_rollup, viewers_rollup
from branching.analytics.filters import make_filters
from branching.analytics.report import build_report

SELECTIONS: list[dict[str, Any]] = [{}, {"where": ["region=NL"]}, {"first_only": True}]
TABLES = ["reach", "choices", "timing", "dropoff", "interactions", "segments", "tags", "flags"]


@pytest.fixture(scope="module")
def audience(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_audience(tmp_path_factory.mktemp("bulk"), [("signal", 120, 25, 21)])


def report(db: Path, picked: dict[str, Any]) -> dict[str, Any]:
    found = build_report(
        str(SIGNAL), db=db, filters=make_filters(audience="all", **picked), unit="viewers"
    )
    return {t: getattr(found, t) for t in TABLES}


def scanned(db: Path, picked: dict[str, Any]) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stats_rollup, "rolled_figures", lambda *a: (None, "off"))
        mp.setattr(stats_rollup, "rolled_where", lambda *a: None)
        mp.setattr(stats_rollup, "digested", lambda *a: None)
        return report(db, picked)


def test_the_audience_has_replays_that_a_wrong_count_would_miss(audience: Path) -> None:
    with sqlite3.connect(audience) as conn:
        twice = conn.execute(
            """SELECT COUNT(*) FROM (SELECT s.viewer_id, e.scene FROM sessions s
            JOIN events e ON e.session_id = s.session_id
            WHERE s.story_id = 'signal' AND e.type = 'scene_shown'
            GROUP BY 1, 2 HAVING COUNT(DISTINCT s.session_id) > 1)"""
        ).fetchone()[0]
        later_only = conn.execute(
            """SELECT COUNT(*) FROM (SELECT s.viewer_id, e.scene FROM sessions s
            JOIN events e ON e.session_id = s.session_id
            WHERE s.story_id = 'signal' AND e.type = 'scene_shown'
            GROUP BY 1, 2 HAVING MIN(s.started_at) > (SELECT MIN(f.started_at)
                FROM sessions f WHERE f.viewer_id = s.viewer_id AND f.story_id = 'signal'))"""
        ).fetchone()[0]
    assert twice > 0 and later_only > 0


@pytest.mark.parametrize("lists", ["characters", "json"])
def test_every_viewers_table_equals_the_scan(
    audience: Path, lists: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if lists == "json":  # a file before m018: `shown`, `took`, `timed_out` as JSON
        monkeypatch.setattr(viewers_rollup, "has_edges", lambda conn: False)
    monkeypatch.setattr(viewers_rollup, "_BATCH", 3)  # a few viewers at a time
    monkeypatch.setattr(segments_viewers, "_BATCH", 5)  # sessions: a viewer's may straddle two
    for picked in SELECTIONS:
        fast = report(audience, picked)
        assert fast == scanned(audience, picked), picked
        assert any(r.reached for r in fast["reach"]) and fast["segments"] and fast["tags"]


def test_a_viewer_whose_sessions_differ_counts_once_per_value(
    audience: Path, tmp_path: Path
) -> None:
    """One viewer's sessions on two terminals and in two regions: once in each row."""
    db = tmp_path / "changed.db"
    shutil.copy(audience, db)
    with sqlite3.connect(db) as conn:
        (viewer,) = conn.execute(
            """SELECT viewer_id FROM sessions WHERE story_id = 'signal'
            GROUP BY 1 HAVING COUNT(*) >= 3 LIMIT 1"""
        ).fetchone()
        first, second = [
            r[0]
            for r in conn.execute(
                "SELECT session_id FROM sessions WHERE viewer_id = ? ORDER BY started_at LIMIT 2",
                [viewer],
            )
        ]
        conn.execute("UPDATE sessions SET term_program = 'kitty' WHERE session_id = ?", [first])
        conn.execute(
            "UPDATE session_attrs SET value = 'XX' WHERE session_id = ? AND key = 'region'",
            [second],
        )
        (attrs,) = conn.execute(
            "SELECT attrs FROM session_digests WHERE session_id = ?", [second]
        ).fetchone()
        assert "'region'='XX'" in attrs  # the copy the digests are read by (m015's triggers)
    fast = report(db, {})
    assert fast == scanned(db, {})
    rows = {(s.dimension, s.value): s.count for s in fast["segments"]}
    assert rows[("terminal", "kitty")] == 1 and rows[("region", "XX")] == 1


def test_a_value_holding_the_separator_reads_the_fields_apart(
    audience: Path, tmp_path: Path
) -> None:
    """A terminal name with the character that separates a profile's fields is still
    its own value (the breakdowns then read the fields apart)."""
    db = tmp_path / "odd.db"
    shutil.copy(audience, db)
    with sqlite3.connect(db) as conn:
        conn.execute(
            """UPDATE sessions SET term_program = 'odd' || char(31) || 'term'
            WHERE session_id = (SELECT MIN(session_id) FROM sessions WHERE story_id = 'signal')"""
        )
    fast = report(db, {})
    assert fast == scanned(db, {})
    assert ("terminal", "odd\x1fterm") in {(s.dimension, s.value) for s in fast["segments"]}


@pytest.mark.parametrize("probe", [1, 1_000])
def test_the_first_and_last_start_by_viewers_equal_the_scan(
    audience: Path, probe: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The overview by viewers takes its first and last start from the sessions' index
    by start (`viewers_rollup._starts`); looking at one session from each end, a
    selection whose first or last session is another reads every start instead.
    Either way the overview is the scan's."""
    monkeypatch.setattr(viewers_rollup, "_PROBE", probe)
    with sqlite3.connect(audience) as conn:
        ((first, last),) = conn.execute(
            "SELECT MIN(started_at), MAX(started_at) FROM sessions WHERE story_id = 'signal'"
        ).fetchall()
    starts = set()
    for picked in SELECTIONS:
        filters = make_filters(audience="all", **picked)
        fast = build_report(str(SIGNAL), db=audience, filters=filters, unit="viewers")
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(stats_rollup, "rolled_figures", lambda *a: (None, "off"))
            mp.setattr(stats_rollup, "digested", lambda *a: None)
            slow = build_report(str(SIGNAL), db=audience, filters=filters, unit="viewers")
        assert fast.overview == slow.overview, picked
        starts.add((fast.overview.first_started, fast.overview.last_started))
    assert (first, last) in starts and len(starts) > 1  # a selection the probe misses
