"""The stories a telemetry database holds: `branching stats` without a STORY, and
the dashboard's story list (one answer for both).

One row per story id: its newest title, how many versions are recorded, its
sessions split into real viewers' and simulated ones (`branching simulate`),
its unique viewers, the sessions that reached an ending, and the last
activity (the latest start, finish or event, UTC).

It must answer at once on a database of millions of events, so it never
reads the events table, and never visits one session at a time:
- sessions by audience: a covering scan of the index `sessions_by_audience`
  (story, simulated);
- unique viewers: a covering scan of `sessions_by_viewer` (viewer, story),
  distinct pairs counted per story;
- completed: the running totals `session_ends` (sessions per outcome), where
  the database has them (m004), else the sessions table;
- last activity: the per-story aggregate `story_activity.last_activity`
  (m011, kept with every event). A database an older branching wrote, read
  before any newer one opened it, has no such table: the latest start or
  finish is read from the sessions, and the unfinished sessions' last events
  are looked up one by one (by primary key), as they used to be.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from branching.analytics.source import open_readonly
from branching.store.db import columns


@dataclass(frozen=True, slots=True)
class RecordedStory:
    """One story of the database, with its audience in numbers."""

    story_id: str
    title: str
    versions: int
    real: int  # sessions by real viewers
    simulated: int  # sessions recorded by `branching simulate`
    last_activity: str | None  # UTC ISO; None when nobody played it yet
    viewers: int = 0  # unique viewers, real and simulated
    completed: int = 0  # sessions that reached an ending

    @property
    def sessions(self) -> int:
        """Every session, real and simulated."""
        return self.real + self.simulated

    @property
    def completion_rate(self) -> float | None:
        return self.completed / self.sessions if self.sessions else None


def _titles(conn: sqlite3.Connection) -> dict[str, tuple[str, int]]:
    return {
        sid: (title, int(n))
        for sid, title, n in conn.execute(
            """SELECT story_id, (SELECT t.title FROM stories t WHERE t.story_id = s.story_id
                             ORDER BY t.registered_at DESC, t.rowid DESC LIMIT 1),
                  COUNT(*)
           FROM stories s GROUP BY story_id"""
        )
    }


def _audiences(conn: sqlite3.Connection) -> dict[str, tuple[int, int]]:
    """story -> (real sessions, simulated sessions)."""
    out: dict[str, tuple[int, int]] = {}
    if "simulated" not in columns(conn, "sessions"):  # read before m008: every session is real
        sql = "SELECT story_id, 0, COUNT(*) FROM sessions GROUP BY 1"
    else:
        sql = "SELECT story_id, simulated, COUNT(*) FROM sessions GROUP BY 1, 2"
    for sid, flag, n in conn.execute(sql):
        real, simulated = out.get(sid, (0, 0))
        out[sid] = (real, simulated + int(n)) if flag else (real + int(n), simulated)
    return out


def _viewers(conn: sqlite3.Connection) -> dict[str, int]:
    return {
        sid: int(n)
        for sid, n in conn.execute(
            """SELECT story_id, COUNT(*) FROM (SELECT DISTINCT viewer_id, story_id FROM sessions)
            GROUP BY 1"""
        )
    }


def _completed(conn: sqlite3.Connection) -> dict[str, int]:
    if "count" in columns(conn, "session_ends"):
        sql = "SELECT story_id, SUM(count) FROM session_ends WHERE outcome = 'ending' GROUP BY 1"
    else:
        sql = "SELECT story_id, COUNT(*) FROM sessions WHERE outcome = 'ending' GROUP BY 1"
    return {sid: int(n) for sid, n in conn.execute(sql)}


def _last_activity(conn: sqlite3.Connection) -> dict[str, str]:
    """story -> the latest start, finish or event of its sessions."""
    if "last_activity" in columns(conn, "story_activity"):  # m011: kept with every event
        sql = "SELECT story_id, last_activity FROM story_activity"
        return {sid: when for sid, when in conn.execute(sql) if when}
    last = {
        sid: when
        for sid, when in conn.execute(
            "SELECT story_id, MAX(COALESCE(ended_at, started_at)) FROM sessions GROUP BY 1"
        )
        if when
    }
    for sid, when in conn.execute(  # an older file: unfinished sessions' last events, one by one
        """SELECT s.story_id, MAX((SELECT e.ts FROM events e
                  WHERE e.session_id = s.session_id ORDER BY e.seq DESC LIMIT 1))
        FROM sessions s WHERE s.ended_at IS NULL GROUP BY 1"""
    ):
        if when and sid in last and when > last[sid]:
            last[sid] = when
    return last


def recorded_stories(db: str | Path) -> list[RecordedStory]:
    """Every story recorded in `db`, most recently active first (unplayed last)."""
    conn = open_readonly(db)
    try:
        titles = _titles(conn)
        audiences = _audiences(conn)
        viewers = _viewers(conn)
        completed = _completed(conn)
        last = _last_activity(conn)
    finally:
        conn.close()
    rows = [
        RecordedStory(
            sid,
            title,
            n,
            *audiences.get(sid, (0, 0)),
            last.get(sid),
            viewers.get(sid, 0),
            completed.get(sid, 0),
        )
        for sid, (title, n) in titles.items()
    ]
    rows.sort(key=lambda r: r.story_id)
    return sorted(rows, key=lambda r: r.last_activity or "", reverse=True)
