"""The aggregates behind the timing and interactions tables of `stats` (m013).

`stats --table timing` (median and 90th percentile of the time to decide at
each choice point) and `--table interactions` (rewinds back to each scene,
pauses and skipped text reveals at it, in sessions and in times) used to read
every event. Two tables keep what they need, in the event's transaction:

- `agg_decide`: per scene and bucket of `decide_ms` (the sketch's buckets,
  `sketch.py`), how many `choice_made` events with a time and a scene;
- `agg_acts`: per scene and kind (`rewind`, `pause`, `reveal_skipped`), the
  events of that kind with a scene (`times`) and the sessions that have one
  (`sessions`: a session counts once per scene and kind, so an event adds to
  it only when no other event of its session of that kind at that scene is
  stored, as `agg_scenes` counts).

Both are keyed like the other aggregates (`aggregates.py`: story, attribute
slice, version, day, first playthrough, simulated) but *without the
outcome*: no filter of `stats` selects on it, so a session finishing or
being reopened moves nothing here, and there are fewer rows. Only a change
of first playthrough (an earlier session of the viewer arrives) moves a
session's rows, where `aggregates` moves the others. Separate tables rather
than columns on `agg_scenes` for that reason: those rows carry the outcome.

The invariant is the aggregates' one: every row = the sum over the sessions
of its class and slice of what their events *still held* contribute (a prune
takes out what it deletes). A move or a prune can leave rows at zero; they
are deleted with their class's other zero rows, and readers skip zeros.

This module holds the SQL; `aggregates.py` calls it from each write path
(the set-based `_apply` for the backfill, bulk-free adds, prune and moves;
`event_added` for one op; `LiveCounts` for a key press; `add_tallied` for
the bulk writer), so the tables follow every path the others follow.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from branching.store import sketch
from branching.store.db import has_table

COLUMNS = "story_id, attr_key, attr_value, content_hash, day, first_play, simulated"
WIDTH = 7  # key columns of a class here: the aggregates' class without its outcome
KINDS = frozenset({"rewind", "pause", "reveal_skipped"})
_KINDS_SQL = "('rewind', 'pause', 'reveal_skipped')"
TABLES = ("agg_decide", "agg_acts")
_ZERO = (("agg_decide", "count = 0"), ("agg_acts", "times = 0 AND sessions = 0"))

ADD_DECIDE = f"""INSERT INTO agg_decide ({COLUMNS}, scene, bucket, count)
    VALUES ({", ".join("?" * (WIDTH + 3))})
    ON CONFLICT DO UPDATE SET count = count + excluded.count"""
ADD_ACT = f"""INSERT INTO agg_acts ({COLUMNS}, scene, kind, times, sessions)
    VALUES ({", ".join("?" * (WIDTH + 4))})
    ON CONFLICT DO UPDATE SET times = times + excluded.times,
        sessions = sessions + excluded.sessions"""


def has_tables(conn: sqlite3.Connection) -> bool:
    """False before m013 (m011's backfill runs `aggregates.rebuild` on older files)."""
    return has_table(conn, "agg_decide")


def clear(conn: sqlite3.Connection) -> None:
    """Empty both tables (a rebuild refills them)."""
    for table in TABLES:
        conn.execute(f"DELETE FROM {table}")


def apply(conn: sqlite3.Connection, sign: int) -> None:
    """Add `sign` times what the events of the sessions in TEMP `agg_cls` contribute
    (`aggregates._fill`: one row per session and slice, with its class)."""
    cls = ", ".join(f"c.{c.strip()}" for c in COLUMNS.split(","))
    conn.execute(
        f"""INSERT INTO agg_decide ({COLUMNS}, scene, bucket, count)
        SELECT {cls}, p.scene, p.bucket, {sign} * SUM(p.n)
        FROM (SELECT session_id, scene, {sketch.bucket_sql("decide_ms")} AS bucket,
                     COUNT(*) AS n
              FROM events WHERE type = 'choice_made' AND decide_ms IS NOT NULL
                AND scene IS NOT NULL
                AND session_id IN (SELECT session_id FROM temp.agg_cls)
              GROUP BY 1, 2, 3) p
        JOIN temp.agg_cls c ON c.session_id = p.session_id
        GROUP BY {cls}, p.scene, p.bucket
        ON CONFLICT DO UPDATE SET count = count + excluded.count"""
    )
    conn.execute(
        f"""INSERT INTO agg_acts ({COLUMNS}, scene, kind, times, sessions)
        SELECT {cls}, p.scene, p.type, {sign} * SUM(p.n), {sign} * COUNT(*)
        FROM (SELECT session_id, scene, type, COUNT(*) AS n
              FROM events WHERE type IN {_KINDS_SQL} AND scene IS NOT NULL
                AND session_id IN (SELECT session_id FROM temp.agg_cls)
              GROUP BY 1, 2, 3) p
        JOIN temp.agg_cls c ON c.session_id = p.session_id
        GROUP BY {cls}, p.scene, p.type
        ON CONFLICT DO UPDATE SET times = times + excluded.times,
            sessions = sessions + excluded.sessions"""
    )


def drop_zero(conn: sqlite3.Connection, classes: Iterable[tuple[Any, ...]]) -> None:
    """Delete the rows left at zero of `classes` (the aggregates' classes: only their
    first `WIDTH` columns are read; each is a key prefix, so only its rows are read)."""
    keys = list(dict.fromkeys(tuple(c[:WIDTH]) for c in classes))
    match = " AND ".join(f"{c.strip()} = ?" for c in COLUMNS.split(","))
    for table, zero in _ZERO:
        conn.executemany(f"DELETE FROM {table} WHERE {match} AND {zero}", keys)


def drop_key(conn: sqlite3.Connection, story_id: str, key: str) -> None:
    """An attribute key over the aggregates' limit: its slices go."""
    for table in TABLES:
        conn.execute(f"DELETE FROM {table} WHERE story_id = ? AND attr_key = ?", [story_id, key])


def event_added(conn: sqlite3.Connection, op: dict[str, Any], slices: str) -> None:
    """Count one event just inserted (op as in `ops.py`); `slices` is SQL giving the
    session's class in each of its slices (`aggregates._slices`, parameter `:sid`)."""
    kind, scene = op["type"], op["scene"]
    if scene is None:
        return
    if kind == "choice_made" and op["decide_ms"] is not None:
        conn.execute(  # the bucket in SQL: exactly the backfill's, whatever was stored
            f"""INSERT INTO agg_decide ({COLUMNS}, scene, bucket, count)
            SELECT {COLUMNS}, :scene, {sketch.bucket_sql(":ms")}, 1 FROM ({slices}) WHERE true
            ON CONFLICT DO UPDATE SET count = count + 1""",
            {"sid": op["session_id"], "scene": scene, "ms": op["decide_ms"]},
        )
    elif kind in KINDS:
        seen = conn.execute(
            """SELECT EXISTS (SELECT 1 FROM events WHERE session_id = ? AND seq <> ?
                              AND type = ? AND scene = ?)""",
            [op["session_id"], op["seq"], kind, scene],
        ).fetchone()[0]
        conn.execute(
            f"""INSERT INTO agg_acts ({COLUMNS}, scene, kind, times, sessions)
            SELECT {COLUMNS}, :scene, :kind, 1, :new FROM ({slices}) WHERE true
            ON CONFLICT DO UPDATE SET times = times + 1,
                sessions = sessions + excluded.sessions""",
            {"sid": op["session_id"], "scene": scene, "kind": kind, "new": int(not seen)},
        )


def write(
    conn: sqlite3.Connection,
    decide: dict[tuple[Any, ...], int],
    acts: dict[tuple[Any, ...], list[int]],
) -> None:
    """Upsert rows summed in memory: `decide` (class, scene, bucket) -> count and
    `acts` (class, scene, kind) -> [times, sessions]."""
    if decide:
        conn.executemany(ADD_DECIDE, [(*k, n) for k, n in decide.items()])
    if acts:
        conn.executemany(ADD_ACT, [(*k, *v) for k, v in acts.items()])
