"""The aggregates behind the timing and interactions tables of `stats` (m013).

`stats --table timing` (median and 90th percentile of the time to decide at
each choice point) and `--table interactions` (rewinds back to each scene,
pauses and skipped text reveals at it, in sessions and in times) used to read
every event. Two tables keep what they need, in the event's transaction:

- `agg_decide`: per scene, the sketch's buckets (`sketch.py`) of the
  `decide_ms` of its `choice_made` events with a time and a scene, packed in
  one text (m014): `low:count` pairs, by `low` ascending, separated by one
  space, no count of 0 (`encode`, `decode`; `''` when every count is 0).
  One row per class and scene rather than per bucket as m013 kept it (1.59
  M rows, 116 MB of a 10-million-event file): the key columns were most of
  each row. Every path writes the text through `add`, one canonical form,
  so two paths that count the same leave the same text; SQL merges with the
  function `branching_add_buckets(old, delta)` (`add`), which the module
  registers on a connection the first time a statement needs it;
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
`event_added` for one op; `LiveCounts` for a key press; `add_grouped` for
the bulk writer), so the tables follow every path the others follow.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from typing import Any

from branching.store import sketch
from branching.store.db import has_table

COLUMNS = "story_id, attr_key, attr_value, content_hash, day, first_play, simulated"
WIDTH = 7  # key columns of a class here: the aggregates' class without its outcome
KINDS = frozenset({"rewind", "pause", "reveal_skipped"})
_KINDS_SQL = "('rewind', 'pause', 'reveal_skipped')"
TABLES = ("agg_decide", "agg_acts")
_ZERO = (("agg_decide", "buckets = ''"), ("agg_acts", "times = 0 AND sessions = 0"))

ADD = "branching_add_buckets"  # the SQL name of `add`
ADD_DECIDE = f"""INSERT INTO agg_decide ({COLUMNS}, scene, buckets)
    VALUES ({", ".join("?" * (WIDTH + 2))})
    ON CONFLICT DO UPDATE SET buckets = {ADD}(buckets, excluded.buckets)"""


def decode(text: str | None) -> dict[int, int]:
    """Bucket lower bound -> count, from a packed text (`''` or None: none)."""
    out: dict[int, int] = {}
    if text:
        for pair in text.split(" "):
            low, _, n = pair.partition(":")
            out[int(low)] = out.get(int(low), 0) + int(n)
    return out


def summed(rows: Iterable[tuple[Any, str | None]]) -> dict[Any, dict[int, int]]:
    """Per key (a scene), the buckets of its packed texts added up, from (key, text) rows.

    Many rows hold the same `low:count` pairs: each distinct pair is parsed
    once per key, however often it occurs (a reader sums thousands of rows).
    """
    pairs: dict[Any, Counter[str]] = {}
    for key, text in rows:
        if text:
            found = pairs.get(key)
            if found is None:
                found = pairs[key] = Counter()
            found.update(text.split(" "))
    out: dict[Any, dict[int, int]] = {}
    for key, counted in pairs.items():
        held = out[key] = {}
        for pair, times in counted.items():
            low, _, n = pair.partition(":")
            held[int(low)] = held.get(int(low), 0) + int(n) * times
    return out


def encode(buckets: dict[int, int]) -> str:
    """The packed text of `buckets` (low -> count): by low, counts of 0 left out."""
    return " ".join(f"{low}:{n}" for low, n in sorted(buckets.items()) if n)


def add(old: str | None, delta: str | None) -> str:
    """The packed text of `old` + `delta`, bucket by bucket (`branching_add_buckets`).

    A key press adds one value to a bucket the row mostly has already: that
    pair's count is changed in place in the text (`_bump`), without parsing
    the row's other pairs (a row at scale holds dozens). Anything else (a
    new bucket, a count reaching 0, several pairs) goes the general way; both
    give the one canonical text.
    """
    if not old:
        return encode(decode(delta))
    if delta and " " not in delta:
        bumped = _bump(old, delta)
        if bumped is not None:
            return bumped
    total = decode(old)
    for low, n in decode(delta).items():
        total[low] = total.get(low, 0) + n
    return encode(total)


def _bump(old: str, pair: str) -> str | None:
    """`old` (canonical) with the one pair `low:n` added to the bucket it already has,
    or None when it has no such bucket or the count would fall to 0 or below."""
    low, _, n = pair.partition(":")
    head = f"{int(low)}:"
    if old.startswith(head):
        start = 0
    else:
        start = old.find(" " + head) + 1
        if start == 0:
            return None
    end = old.find(" ", start)
    if end < 0:
        end = len(old)
    count = int(old[start + len(head) : end]) + int(n)
    if count <= 0:
        return None
    return f"{old[:start]}{head}{count}{old[end:]}"


def ready(conn: sqlite3.Connection) -> None:
    """Register `branching_add_buckets` on `conn` (SQL that writes `agg_decide` needs it)."""
    conn.create_function(ADD, 2, add, deterministic=True)


def _run(conn: sqlite3.Connection, sql: str, params: Any = (), *, many: bool = False) -> None:
    """Execute `sql`, registering `branching_add_buckets` first if `conn` lacks it (once
    per connection: registering again would expire its prepared statements)."""
    for attempt in (1, 2):
        try:
            if many:
                conn.executemany(sql, params)
            else:
                conn.execute(sql, params)
            return
        except sqlite3.OperationalError as exc:
            if attempt == 2 or ADD not in str(exc):
                raise
            ready(conn)  # SQLite refused it before running any of it: run it again


ADD_ACT = f"""INSERT INTO agg_acts ({COLUMNS}, scene, kind, times, sessions)
    VALUES ({", ".join("?" * (WIDTH + 4))})
    ON CONFLICT DO UPDATE SET times = times + excluded.times,
        sessions = sessions + excluded.sessions"""


def has_tables(conn: sqlite3.Connection) -> bool:
    """False before m013 (m011's backfill runs `aggregates.rebuild` on older files)."""
    return has_table(conn, "agg_decide")


def packed(conn: sqlite3.Connection) -> bool:
    """True when `agg_decide` holds packed buckets (m014): a file a reader opens
    without migrating it may still have m013's row per bucket (it then scans)."""
    columns = conn.execute("SELECT name FROM pragma_table_info('agg_decide')").fetchall()
    return ("buckets",) in columns


def clear(conn: sqlite3.Connection, tables: tuple[str, ...] = TABLES) -> None:
    """Empty both tables, or those named (a rebuild refills them)."""
    for table in tables:
        conn.execute(f"DELETE FROM {table}")


def apply(conn: sqlite3.Connection, sign: int, *, decide: bool = True, acts: bool = True) -> None:
    """Add `sign` times what the events of the sessions in TEMP `agg_cls` contribute
    (`aggregates._fill`: one row per session and slice, with its class); `decide`,
    `acts` False: not to that table (m013 fills `agg_acts` only, m014 `agg_decide`)."""
    cls = ", ".join(f"c.{c.strip()}" for c in COLUMNS.split(","))
    key = ", ".join(c.strip() for c in COLUMNS.split(","))
    if decide:
        _run(
            conn,
            f"""INSERT INTO agg_decide ({COLUMNS}, scene, buckets)
            SELECT {key}, scene, {ADD}('', group_concat(bucket || ':' || n, ' '))
            FROM (SELECT {cls}, p.scene AS scene, p.bucket AS bucket, {sign} * SUM(p.n) AS n
                  FROM (SELECT session_id, scene, {sketch.bucket_sql("decide_ms")} AS bucket,
                               COUNT(*) AS n
                        FROM events WHERE type = 'choice_made' AND decide_ms IS NOT NULL
                          AND scene IS NOT NULL
                          AND session_id IN (SELECT session_id FROM temp.agg_cls)
                        GROUP BY 1, 2, 3) p
                  JOIN temp.agg_cls c ON c.session_id = p.session_id
                  GROUP BY {cls}, p.scene, p.bucket)
            GROUP BY {key}, scene
            ON CONFLICT DO UPDATE SET buckets = {ADD}(buckets, excluded.buckets)""",
        )
    if not acts:
        return
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
        _run(  # the bucket in SQL: exactly the backfill's, whatever was stored
            conn,
            f"""INSERT INTO agg_decide ({COLUMNS}, scene, buckets)
            SELECT {COLUMNS}, :scene, ({sketch.bucket_sql(":ms")}) || ':1'
            FROM ({slices}) WHERE true
            ON CONFLICT DO UPDATE SET buckets = {ADD}(buckets, excluded.buckets)""",
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
    """Upsert rows summed in memory: `decide` (class, scene, bucket) -> count (one
    packed row per class and scene) and `acts` (class, scene, kind) -> [times, sessions]."""
    if decide:
        packed: dict[tuple[Any, ...], dict[int, int]] = {}
        for (*head, low), n in decide.items():
            held = packed.setdefault(tuple(head), {})
            held[low] = held.get(low, 0) + n
        _run(conn, ADD_DECIDE, [(*k, encode(v)) for k, v in packed.items()], many=True)
    if acts:
        conn.executemany(ADD_ACT, [(*k, *v) for k, v in acts.items()])
