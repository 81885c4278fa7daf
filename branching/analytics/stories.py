"""The stories a telemetry database holds: what `branching stats` lists without a STORY.

One row per story id: its newest title, how many versions are recorded, its
sessions split into real viewers' and simulated ones (`branching simulate`),
and the last activity (the latest finish, event or start, UTC). Read from the
`stories` and `sessions` tables on a read-only connection; events are only
touched for the last event of an unfinished session (by its primary key).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from branching.analytics.source import open_readonly


@dataclass(frozen=True, slots=True)
class RecordedStory:
    story_id: str
    title: str
    versions: int
    real: int  # sessions by real viewers
    simulated: int  # sessions recorded by `branching simulate`
    last_activity: str | None  # UTC ISO; None when nobody played it yet


def recorded_stories(db: str | Path) -> list[RecordedStory]:
    """Every story recorded in `db`, most recently active first (unplayed last)."""
    conn = open_readonly(db)
    try:
        titles = {
            sid: (title, int(n))
            for sid, title, n in conn.execute(
                """SELECT story_id, (SELECT t.title FROM stories t WHERE t.story_id = s.story_id
                                 ORDER BY t.registered_at DESC, t.rowid DESC LIMIT 1),
                      COUNT(*)
               FROM stories s GROUP BY story_id"""
            )
        }
        played = {
            sid: (int(real or 0), int(simulated or 0), last)
            for sid, real, simulated, last in conn.execute(
                """SELECT s.story_id, SUM(s.simulated = 0), SUM(s.simulated != 0),
                      MAX(COALESCE(s.ended_at,
                                   (SELECT e.ts FROM events e WHERE e.session_id = s.session_id
                                    ORDER BY e.seq DESC LIMIT 1),
                                   s.started_at))
               FROM sessions s GROUP BY s.story_id"""
            )
        }
    finally:
        conn.close()
    rows = [
        RecordedStory(sid, title, n, *played.get(sid, (0, 0, None)))
        for sid, (title, n) in titles.items()
    ]
    rows.sort(key=lambda r: r.story_id)
    return sorted(rows, key=lambda r: r.last_activity or "", reverse=True)
