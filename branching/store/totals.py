"""Running totals: rebuilt from raw events, and moved aside when events are pruned.

The invariant, kept by every write: `traversals` = `pruned_traversals` +
a recount of the raw choice events (and likewise `scene_views`). The writer
adds one event at a time (`ops.py`); `prune` moves the counts of the events
it deletes into the `pruned_*` tables; `forget` and `merge` rebuild from the
pruned part plus a recount. So totals survive a prune and a rebuild never
loses what was pruned.
"""

from __future__ import annotations

import sqlite3

_RAW_TRAVERSALS = """
    SELECT s.story_id, s.content_hash, COALESCE(e.scene, '') AS scene,
           COALESCE(e.choice, '') AS choice, COALESCE(e.target, '') AS target,
           COUNT(*) AS count, SUM(e.type = 'timeout_default') AS timeouts
    FROM events e JOIN sessions s ON s.session_id = e.session_id
    WHERE e.type IN ('choice_made', 'timeout_default', 'route_taken') {where}
    GROUP BY 1, 2, 3, 4, 5"""

_RAW_VIEWS = """
    SELECT s.story_id, s.content_hash, e.scene, COUNT(*) AS count
    FROM events e JOIN sessions s ON s.session_id = e.session_id
    WHERE e.type = 'scene_shown' AND e.scene IS NOT NULL {where}
    GROUP BY 1, 2, 3"""


def rebuild(conn: sqlite3.Connection) -> None:
    """Recompute both totals tables (call inside a write transaction)."""
    conn.execute("DELETE FROM traversals")
    conn.execute(
        f"""INSERT INTO traversals (story_id, content_hash, scene, choice, target, count, timeouts)
        SELECT story_id, content_hash, scene, choice, target, SUM(count), SUM(timeouts)
        FROM (SELECT story_id, content_hash, scene, choice, target, count, timeouts
              FROM pruned_traversals
              UNION ALL {_RAW_TRAVERSALS.format(where="")})
        GROUP BY 1, 2, 3, 4, 5"""
    )
    conn.execute("DELETE FROM scene_views")
    conn.execute(
        f"""INSERT INTO scene_views (story_id, content_hash, scene, count)
        SELECT story_id, content_hash, scene, SUM(count)
        FROM (SELECT story_id, content_hash, scene, count FROM pruned_scene_views
              UNION ALL {_RAW_VIEWS.format(where="")})
        GROUP BY 1, 2, 3"""
    )


def move_to_pruned(conn: sqlite3.Connection, cutoff: str) -> None:
    """Add the counts of events older than `cutoff` to the pruned part of the totals."""
    where = "AND e.ts < :cutoff"
    conn.execute(
        f"""INSERT INTO pruned_traversals
              (story_id, content_hash, scene, choice, target, count, timeouts)
        {_RAW_TRAVERSALS.format(where=where)}
        ON CONFLICT DO UPDATE SET count = count + excluded.count,
                                  timeouts = timeouts + excluded.timeouts""",
        {"cutoff": cutoff},
    )
    conn.execute(
        f"""INSERT INTO pruned_scene_views (story_id, content_hash, scene, count)
        {_RAW_VIEWS.format(where=where)}
        ON CONFLICT DO UPDATE SET count = count + excluded.count""",
        {"cutoff": cutoff},
    )


def recount_matches(conn: sqlite3.Connection) -> bool:
    """True when both totals equal the pruned part plus a fresh recount."""
    for table, pruned, raw, keys in (
        ("traversals", "pruned_traversals", _RAW_TRAVERSALS, "1, 2, 3, 4, 5"),
        ("scene_views", "pruned_scene_views", _RAW_VIEWS, "1, 2, 3"),
    ):
        cols = "story_id, content_hash, scene" + (
            ", choice, target" if table == "traversals" else ""
        )
        sums = "SUM(count)" + (", SUM(timeouts)" if table == "traversals" else "")
        extra = ", timeouts" if table == "traversals" else ""
        expected = f"""SELECT {cols}, {sums} FROM (
            SELECT {cols}, count{extra} FROM {pruned}
            UNION ALL {raw.format(where="")}) GROUP BY {keys}"""
        actual = f"SELECT {cols}, count{extra} FROM {table} WHERE count > 0"
        diff = conn.execute(
            f"SELECT COUNT(*) FROM ({expected} EXCEPT {actual}) "
            f"UNION ALL SELECT COUNT(*) FROM ({actual} EXCEPT {expected})"
        ).fetchall()
        if any(row[0] for row in diff):
            return False
    return True
