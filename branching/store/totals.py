"""Running totals: rebuilt from raw events, and moved aside when events are pruned.

The invariant, kept by every write: `traversals` = `pruned_traversals` +
a recount of the raw choice events (and likewise `scene_views`). Since m020
both are views: the pruned part plus the base slice of the aggregates
(`agg_edges`, `agg_scenes`), which count the events still held, so keeping
the aggregates keeps them. The writer adds one event at a time (`ops.py`);
`prune` moves the counts of the events it deletes into the `pruned_*`
tables (and takes them out of the aggregates); `forget` and `merge` rebuild
the aggregates from a recount. So totals survive a prune and a rebuild never
loses what was pruned.

`session_ends` counts sessions by where they stand (story, version, last
scene, outcome, ending). Its source is the `sessions` table itself, which
prune never touches, so it has no pruned part. Since m020 it is a view of
`agg_sessions`' base slice (the same counts, split further by class), so
keeping the aggregates keeps it: every op that changes a session moves the
session's count from its old standing to its new one (`session_moved`), and
a rebuild recounts the sessions.

The aggregates behind filtered figures (`aggregates.py`) follow the same
ops: `session_added`, `event_added` and `session_moved` keep them in the
op's transaction, and `rebuild` recounts them too (with the per-session
digests, `digests.py`, which a change of outcome leaves as they are).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from branching.store import aggregates

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


_END_KEY = "story_id, content_hash, last_scene, outcome, ending_id"
_RAW_ENDS = """
    SELECT story_id, content_hash, COALESCE(last_scene, '') AS last_scene, outcome,
           COALESCE(ending_id, '') AS ending_id, COUNT(*) AS count
    FROM sessions GROUP BY 1, 2, 3, 4, 5"""


def session_moved(conn: sqlite3.Connection, session_id: str, sql: str, params: list[object]) -> int:
    """Run `sql` (an UPDATE of that session) keeping the aggregates exact; its rowcount.

    The session is uncounted at its old standing and counted at its new one
    (`aggregates.standing_moved`), when the update changed where it stands.
    """
    old = aggregates.standing(conn, session_id)
    changed = int(conn.execute(sql, params).rowcount)
    if changed and old is not None:
        new = aggregates.standing(conn, session_id)
        if new is not None and new != old:
            aggregates.standing_moved(conn, session_id, old, new)
    return changed


def session_added(conn: sqlite3.Connection, session_id: str) -> None:
    """Count a session just inserted (with its attributes) into the aggregates."""
    aggregates.add_sessions(conn, [session_id])


def event_added(conn: sqlite3.Connection, op: dict[str, Any]) -> None:
    """Count an event just inserted into the aggregates (and so the running totals,
    views of them since m020)."""
    aggregates.event_added(conn, op)


def rebuild(conn: sqlite3.Connection) -> None:
    """Recompute the aggregates, and so every running total (views of them since m020),
    and the labels (call inside a write transaction)."""
    aggregates.rebuild(conn)
    conn.execute("DELETE FROM choice_labels")  # labels of pruned events are not kept apart
    conn.execute(
        """INSERT INTO choice_labels (story_id, content_hash, scene, choice, label, count)
        SELECT s.story_id, s.content_hash, e.scene, e.choice, e.label, COUNT(*)
        FROM events e JOIN sessions s ON s.session_id = e.session_id
        WHERE e.label IS NOT NULL GROUP BY 1, 2, 3, 4, 5"""
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
    """True when every total equals its recount (plus the pruned part, for events)."""
    if not _same(
        conn,
        f"SELECT {_END_KEY}, count FROM ({_RAW_ENDS})",
        f"SELECT {_END_KEY}, count FROM session_ends WHERE count <> 0",
    ):
        return False
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
        if not _same(conn, expected, actual):
            return False
    return True


def _same(conn: sqlite3.Connection, expected: str, actual: str) -> bool:
    """True when the two queries return the same set of rows."""
    diff = conn.execute(
        f"SELECT COUNT(*) FROM ({expected} EXCEPT {actual}) "
        f"UNION ALL SELECT COUNT(*) FROM ({actual} EXCEPT {expected})"
    ).fetchall()
    return not any(row[0] for row in diff)
