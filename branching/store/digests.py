"""Per-session digests: what the path analysis needs of a finished session, kept by the store.

`stats` (paths, progress, segments, tags) used to replay every session's
events. The replay of a session that is no longer in progress does not
change until its events do, so the store keeps its result in
`session_digests` (m012), one row per session, written in the transaction
that finishes the session. `replay` is the one definition of that replay:
the analytics walk (`analytics/walks.py`) removes the choices a rewind undid
with this module's `rewind`, and the store computes each digest with the
same code.

What a reader may rely on
-------------------------

- **Which sessions have a row.** Only a session whose `outcome` is not
  `in_progress`; and when it has one, the row is what `replay` finds in the
  events of that session *stored now* (after a prune: the events it kept),
  encoded by `Codebook.encode`. A
  finished session may lack a row (a path that could not keep it exact
  dropped it: an event that changes the digest arriving after the finish,
  a hand-edited file); a reader walks that session's events instead, which
  gives the same answer. A session in progress never has a row. A row goes
  with its session (`ON DELETE CASCADE`; `forget` leaves no digest).
- **Columns.** `session_id`; `made`: the session's decisions, i.e. its
  events of type `choice_made` or `timeout_default` (every one, as
  `segments` counts them); `depth`: the length of its path (progress, "how
  far sessions got"); `path`: the choices taken, in `seq` order, with each
  `rewind` to a scene removing the latest choice made at that scene and
  every choice after it (nothing when no choice was made there): for a
  session that reached an ending, the way the viewer actually got there;
  `shown`: the distinct scenes of its `scene_shown` events; `took`: the
  distinct (scene, choice) of its decisions, undone or not.
- **Encodings.** Every scene and (scene, choice) is a small integer, its
  *code*, listed in `digest_names (code, name)`: `name` is the JSON text of
  the scene id (`"wake"`) or of the pair (`["wake","get_up"]`), so a name is
  never both, and `names(conn)` decodes the whole table. A code never
  changes once given (rebuilds keep the table; names are story content,
  never a viewer's), but codes are per database: decode before comparing
  two files (`merge` recomputes the digests it brings). The three lists
  are compact JSON arrays of codes (`[12,5,33]`, `[]` for none), one text
  for one value, so SQL can `GROUP BY path` or use `json_each`: `path` in
  order, `shown` and `took` sorted by code. A decision enters `path` and
  `took` only with a non-empty scene and choice, a scene enters `shown` only
  when non-empty, and a rewind without a scene undoes nothing (the walk's
  rules); `made` counts every decision. Why codes: at 10 million events of Signal (129,081 finished
  sessions) the same lists as JSON arrays of ids took 1,043 bytes a session,
  2.8 KB on disk (rows that long spill to overflow pages: 363 MB); as codes
  203 bytes, 237 on disk (31 MB).

How each write path keeps the rule
----------------------------------

- the live paths (`ops.apply_op`, `ops.apply_ops`): a finish that changes a
  session's outcome (class) writes its digest from the events it reads for
  the aggregates' move (`aggregates.class_moved`, or `settle`'s own read on
  the one-op path); a session reopened (a rewind from an ending) loses it;
  an event of a type the digest reads (`KINDS`) stored for a finished
  session drops it (other types, such as a `quit` after the ending, change
  nothing a digest holds and leave it);
- the bulk writer (`bulk.py`): computed in memory from the ops it writes,
  never read back, for the sessions it finishes, exactly those the live
  path would keep one for (the same rows either way, a test compares);
- `prune`: the sessions that lose events are recomputed (`mark`, then
  `refresh_marked`);
- `forget`, `forget --simulated`, `merge`, the migration's backfill and
  `aggregates.rebuild`: `rebuild`, one pass over the finished sessions'
  events in the table's own order (session, seq), a batch of rows at a time,
  so memory does not grow with the database.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Any

DECISIONS = frozenset({"choice_made", "timeout_default"})
KINDS = frozenset({*DECISIONS, "rewind", "scene_shown"})  # the event types a digest reads
_KINDS_SQL = "('choice_made', 'timeout_default', 'rewind', 'scene_shown')"
_BATCH = 2000  # digests written at a time by a rebuild

Row = tuple[int, str, Any, Any]  # (seq, type, scene, choice) of one event


def rewind(steps: list[Any], scenes: list[Any], scene: str) -> None:
    """Undo the steps a rewind to `scene` takes back: the latest step taken at
    `scene` and every step after it (`scenes[i]` is the scene of `steps[i]`)."""
    for i in range(len(scenes) - 1, -1, -1):
        if scenes[i] == scene:
            del steps[i:]
            del scenes[i:]
            return


@dataclass(frozen=True, slots=True)
class Replayed:
    """What `replay` finds in one session's events, before it is encoded."""

    made: int
    path: list[tuple[Any, Any]]
    shown: set[Any]
    took: set[tuple[Any, Any]]


@dataclass(frozen=True, slots=True)
class Digest:
    """One session's digest, its columns encoded as stored (see the module docstring)."""

    made: int
    depth: int
    path: str
    shown: str
    took: str


def replay(rows: Iterable[Row]) -> Replayed:
    """What one session's events (given in `seq` order) hold for its digest."""
    steps: list[tuple[Any, Any]] = []
    scenes: list[Any] = []
    shown: set[Any] = set()
    took: set[tuple[Any, Any]] = set()
    made = 0
    for _seq, kind, scene, choice in rows:
        if kind in DECISIONS:
            made += 1
            if scene and choice:
                steps.append((scene, choice))
                scenes.append(scene)
                took.add((scene, choice))
        elif kind == "scene_shown":
            if scene:
                shown.add(scene)
        elif kind == "rewind" and scene:
            rewind(steps, scenes, scene)
    return Replayed(made, steps, shown, took)


def _json(value: Any) -> str:
    # `default=str`: a hand-edited file's blob scene is written as text, never a crash
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def scene_name(scene: Any) -> str:
    """The `digest_names.name` of a scene: its JSON string."""
    return _json(scene)


def step_name(scene: Any, choice: Any) -> str:
    """The `digest_names.name` of a (scene, choice): its JSON pair."""
    return _json([scene, choice])


class Codebook:
    """`digest_names` as one transaction sees it: each scene's and step's code, new ones added.

    Read (and extended) in the caller's transaction, and dropped with it: a
    code is never assumed from an earlier transaction, which may have rolled
    back.
    """

    def __init__(self, conn: sqlite3.Connection, *, whole: bool = False) -> None:
        self.conn = conn
        self.codes: dict[str, int] = {}  # name -> code
        self.scenes: dict[Any, int] = {}  # scene -> code, for the names looked up
        self.steps: dict[tuple[Any, Any], int] = {}  # (scene, choice) -> code
        if whole:  # a rebuild touches most names: read them all at once
            self.codes.update((n, c) for c, n in conn.execute(_NAMES))

    def learn(self, names: Iterable[str]) -> None:
        """Make sure every name in `names` has a code (looked up, else added)."""
        missing = sorted({n for n in names if n not in self.codes})
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            self.codes.update(
                (n, c) for c, n in self.conn.execute(f"{_NAMES} WHERE name IN ({marks})", chunk)
            )
        for name in missing:  # sorted: codes are given in the same order on every path
            if name not in self.codes:
                (code,) = self.conn.execute(_ADD_NAME, [name]).fetchone()
                self.codes[name] = code

    def encode(self, replayed: Replayed) -> Digest:
        """The stored digest of `replayed` (its names learnt first)."""
        scenes, steps = self.scenes, self.steps
        new_scenes = {s: scene_name(s) for s in replayed.shown if s not in scenes}
        new_steps = {p: step_name(*p) for p in replayed.took if p not in steps}
        if new_scenes or new_steps:
            self.learn([*new_scenes.values(), *new_steps.values()])
            scenes.update((s, self.codes[n]) for s, n in new_scenes.items())
            steps.update((p, self.codes[n]) for p, n in new_steps.items())
        return Digest(  # every step of the path was decided, so it is in `took`
            replayed.made,
            len(replayed.path),
            _codes(steps[p] for p in replayed.path),
            _codes(sorted(scenes[s] for s in replayed.shown)),
            _codes(sorted(steps[p] for p in replayed.took)),
        )


def _codes(codes: Iterable[int]) -> str:
    return "[" + ",".join(map(str, codes)) + "]"


def names(conn: sqlite3.Connection) -> dict[int, str | tuple[str, str]]:
    """Every code of `digest_names`, decoded: a scene id, or a (scene, choice)."""
    out: dict[int, str | tuple[str, str]] = {}
    for code, name in conn.execute(_NAMES):
        value = json.loads(name)
        out[int(code)] = (value[0], value[1]) if isinstance(value, list) else value
    return out


_NAMES = "SELECT code, name FROM digest_names"
_ADD_NAME = "INSERT INTO digest_names (name) VALUES (?) RETURNING code"
_UPSERT = """INSERT INTO session_digests (session_id, made, depth, path, shown, took)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT DO UPDATE SET made = excluded.made, depth = excluded.depth,
        path = excluded.path, shown = excluded.shown, took = excluded.took"""
_ROWS = f"""SELECT seq, type, scene, choice FROM events
    WHERE session_id = ? AND type IN {_KINDS_SQL} ORDER BY seq"""


def write(conn: sqlite3.Connection, digests: Iterable[tuple[str, Digest]]) -> None:
    """Store (or replace) the digests of finished sessions."""
    conn.executemany(
        _UPSERT, [(sid, d.made, d.depth, d.path, d.shown, d.took) for sid, d in digests]
    )


def drop(conn: sqlite3.Connection, session_id: str) -> None:
    """The session's digest can no longer be kept exact here: delete it."""
    conn.execute("DELETE FROM session_digests WHERE session_id = ?", [session_id])


def settle(
    conn: sqlite3.Connection,
    session_id: str,
    outcome: str,
    rows: Iterable[tuple[Any, ...]] | None = None,
) -> None:
    """The session's outcome became `outcome`: its digest from its events, or none if open.

    `rows`: its stored events (seq, type, scene, choice, ...), in `seq` order,
    of at least the types in `KINDS` (others are ignored), when the caller has
    read them already; else they are read here.
    """
    if outcome == "in_progress":
        drop(conn, session_id)
        return
    if rows is None:
        rows = conn.execute(_ROWS, [session_id])
    replayed = replay((r[0], r[1], r[2], r[3]) for r in rows)
    write(conn, [(session_id, Codebook(conn).encode(replayed))])


def _refresh(conn: sqlite3.Connection, where: str) -> None:
    """Write the digest of every finished session `s` meeting `where`, streaming its events.

    The events come in the table's own order (session, seq) through the
    sessions' primary key; what is held at a time is one session and a batch
    of digests.
    """
    cursor = conn.execute(
        f"""SELECT s.session_id, e.seq, e.type, e.scene, e.choice FROM sessions s
        LEFT JOIN events e ON e.session_id = s.session_id AND e.type IN {_KINDS_SQL}
        WHERE s.outcome <> 'in_progress' AND {where}
        ORDER BY s.session_id, e.seq"""
    )
    book = Codebook(conn, whole=True)
    batch: list[tuple[str, Digest]] = []
    for session_id, rows in groupby(cursor, key=itemgetter(0)):
        events = ((r[1], r[2], r[3], r[4]) for r in rows if r[1] is not None)
        batch.append((session_id, book.encode(replay(events))))
        if len(batch) >= _BATCH:
            write(conn, batch)
            batch.clear()
    write(conn, batch)


def rebuild(conn: sqlite3.Connection) -> None:
    """Recompute every digest from the sessions and events held (in a transaction).

    Nothing to do before m012 has created the table (an earlier migration's
    rebuild of the aggregates runs this too; m012 then fills it).
    """
    if not _has_table(conn):
        return
    conn.execute("DELETE FROM session_digests")
    _refresh(conn, "true")


def mark(conn: sqlite3.Connection, select: str, params: Any = ()) -> None:
    """Note the sessions `select` names (one column: session ids) for `refresh_marked`."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS digest_set (session_id TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM temp.digest_set")
    conn.execute(f"INSERT OR IGNORE INTO temp.digest_set {select}", params)


def refresh_marked(conn: sqlite3.Connection) -> None:
    """Recompute the digests of the sessions `mark` noted (their events changed)."""
    conn.execute(
        "DELETE FROM session_digests WHERE session_id IN (SELECT session_id FROM temp.digest_set)"
    )
    _refresh(conn, "s.session_id IN (SELECT session_id FROM temp.digest_set)")
    conn.execute("DELETE FROM temp.digest_set")


def _has_table(conn: sqlite3.Connection) -> bool:
    found = conn.execute(
        "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'session_digests'"
    ).fetchone()
    return found is not None
