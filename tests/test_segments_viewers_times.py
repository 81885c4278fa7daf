"""`segments` on SQLite, by viewers and by sessions: the local hour and weekday, and
the viewers who count as their one session, equal the portable query's.

`segments_rollup` and `segments_viewers` take each session's local time as a
short text worked out by SQL (UTC date, local hours since its midnight), and
by viewers count a viewer with one session as that session. Here one viewer's
sessions fall at the same local hour on two dates, shifted across midnight by
a UTC offset that is not whole hours, and their other sessions have starts
that are not timestamps; every other session starts at noon UTC. A viewer
counts once per hour and weekday however many of their sessions fall there,
batches of a couple of sessions or not, and the figures equal the scan's.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from test_consistency import SIGNAL, record_audience

from branching.analytics import segments_rollup, segments_viewers, stats_rollup
from branching.analytics.filters import Unit, make_filters
from branching.analytics.report import build_report
from branching.analytics.rows import Segment


@pytest.fixture(scope="module")
def audience(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("times")
    db = folder / "times.db"
    shutil.copy(record_audience(folder, [("signal", 40, 12, 5)]), db)
    with sqlite3.connect(db) as conn:
        conn.execute(
            """UPDATE sessions SET started_at = '2026-01-07T12:00:00.000Z', utc_offset_min = 0
            WHERE story_id = 'signal'"""
        )
        (viewer,) = conn.execute(
            """SELECT viewer_id FROM sessions WHERE story_id = 'signal'
            GROUP BY 1 HAVING COUNT(*) >= 3 ORDER BY 1 LIMIT 1"""
        ).fetchone()
        mine = [
            r[0]
            for r in conn.execute(
                "SELECT session_id FROM sessions WHERE viewer_id = ? ORDER BY session_id",
                [viewer],
            )
        ]
        # Monday 21:40 UTC at +05:30 is Tuesday 03:10 local, on two Mondays; then starts
        # that are not timestamps
        starts = ["2026-01-05T21:40:00.000Z", "2026-01-12T21:40:00.000Z"]
        starts += ["last spring"] * (len(mine) - 2)
        for session, start in zip(mine, starts, strict=True):
            conn.execute(
                "UPDATE sessions SET started_at = ?, utc_offset_min = 330 WHERE session_id = ?",
                [start, session],
            )
        (copied,) = conn.execute(
            "SELECT started_at FROM session_digests WHERE session_id = ?", [mine[0]]
        ).fetchone()
        assert copied == starts[0]  # the copy the digests are read by (m015's triggers)
    return db


def segments(db: Path, unit: Unit = "viewers") -> list[Segment]:
    found = build_report(
        str(SIGNAL), db=db, filters=make_filters(audience="all"), unit=unit, tables={"segments"}
    )
    return list(found.segments)


def scanned(db: Path, unit: Unit = "viewers") -> list[Segment]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stats_rollup, "digested", lambda *a: None)
        return segments(db, unit)


@pytest.mark.parametrize("batch", [2, 20_000])
def test_local_times_by_viewers_equal_the_scan(
    audience: Path, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(segments_viewers, "_BATCH", batch)
    fast = segments(audience)
    assert fast == scanned(audience)
    rows = {(s.dimension, s.value): s.count for s in fast}
    # the one viewer: two sessions at 03 local on Tuesdays, the others with no local time
    assert rows[("local hour", "03")] == rows[("weekday", "Tuesday")] == 1
    assert rows[("local hour", "unknown")] == rows[("weekday", "unknown")] == 1
    # everyone else (some with one session, some with more) started at noon UTC on a
    # Wednesday, with no offset: each counts once there
    with sqlite3.connect(audience) as conn:
        lone, viewers = conn.execute(
            """SELECT SUM(n = 1), COUNT(*) FROM (SELECT COUNT(*) AS n FROM sessions
            WHERE story_id = 'signal' GROUP BY viewer_id)"""
        ).fetchone()
    assert 0 < lone < viewers - 1
    assert rows[("local hour", "12")] == rows[("weekday", "Wednesday")] == viewers - 1


def test_local_times_by_sessions_equal_the_scan(audience: Path) -> None:
    fast = segments(audience, "sessions")
    assert fast == scanned(audience, "sessions")
    rows = {(s.dimension, s.value): s.count for s in fast}
    assert rows[("local hour", "03")] == rows[("weekday", "Tuesday")] == 2
    with sqlite3.connect(audience) as conn:
        (sessions,) = conn.execute(
            "SELECT COUNT(*) FROM sessions WHERE story_id = 'signal'"
        ).fetchone()
    unknown = rows[("local hour", "unknown")]
    assert unknown == rows[("weekday", "unknown")] >= 1
    assert rows[("local hour", "12")] == sessions - 2 - unknown


# (start, UTC offset) pairs whose local time a shortcut could get wrong: offsets that are
# not whole hours or not whole numbers, none, far out; minutes past 59 or not digits; a
# lower-case "t"; an hour that is not digits; starts that are not timestamps
ODD = [
    ("2026-01-05T21:40:00.000Z", -90),
    ("2026-01-05T00:59:59.000Z", -60),
    ("2026-01-05T23:00:00.000Z", 60),
    ("2026-01-05T23:30:00.000Z", 30.5),
    ("2026-01-05T23:30:00.000Z", None),
    ("2026-01-05T23:30:00.000Z", 10**16),
    ("2026-01-05T23:30:00.000Z", -(10**15) - 60),
    ("2026-01-05T10:75:00.000Z", 0),
    ("2026-01-05T10:7x:00.000Z", 120),
    ("2026-01-05t10:05:00.000Z", 0),
    ("2026-01-05T1a:05:00.000Z", -60),
    ("2026-01-05T10:05", 180),
    ("2026-01-05T10:0", 0),
    ("2026-01-05T10", 0),  # (not a timestamp; its first 13 are the hour of the next)
    ("2026-01-05T10:05:00.000Z", 0),
    ("", 0),
]


def test_odd_starts_and_offsets_by_sessions_equal_the_scan(
    audience: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "odd.db"
    shutil.copy(audience, db)
    with sqlite3.connect(db) as conn:
        sessions = [
            r[0]
            for r in conn.execute(
                "SELECT session_id FROM sessions WHERE story_id = 'signal' ORDER BY 1"
            )
        ]
        for session, (start, offset) in zip(sessions, ODD * 3, strict=False):
            conn.execute(
                "UPDATE sessions SET started_at = ?, utc_offset_min = ? WHERE session_id = ?",
                [start, offset, session],
            )
    for batch in (3, 20_000):
        monkeypatch.setattr(segments_rollup, "_BATCH", batch)
        fast = segments(db, "sessions")
        assert fast == scanned(db, "sessions"), batch
    hours = {s.value for s in fast if s.dimension == "local hour"}
    assert {"unknown", "12", "20", "00"} <= hours  # (21:40 at -01:30; 23:00 at +01:00)
