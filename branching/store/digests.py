"""Per-session digests: what the path analysis needs of a session, kept by the store.

`stats` (paths, progress, segments, tags) used to replay every session's
events. The store keeps the result of that replay in `session_digests`
(m012), one row per session, finished or in progress, changed in the
transaction of each event that changes it. `replay` is the one definition
of that replay: the analytics walk (`analytics/walks.py`) removes the choices
a rewind undid with this module's `rewind`, and the store computes each
digest with the same code.

What a reader may rely on
-------------------------

- **Every session has exactly one row, and it is exact.** Whatever the
  session's outcome (`in_progress` included), its row is what `replay` finds
  in the events of that session *stored now* (after a prune: the events it
  kept), encoded by `Codebook.encode`. A session with no event of the types
  a digest reads (`KINDS`) has the empty row: `made` 0, `depth` 0, the lists
  `[]`, `seq` -1. A row goes with its session (`ON DELETE CASCADE`; `forget`
  leaves no digest). So `sessions JOIN session_digests` is every session,
  and no reader needs the events for what a digest holds. (The outcome is
  not in the row: a finish or a reopening changes nothing a digest holds.)
  One exception: a file that m012 wrote before this rule and that no
  `Store.open` has upgraded since (`outdated`: no `seq` column; it holds
  rows for some finished sessions only). A reader that opens files without
  migrating them checks `outdated` first and walks the events if so.
- **Columns.** `session_id`; `made`: the session's decisions, i.e. its
  events of type `choice_made` or `timeout_default` (every one, as
  `segments` counts them); `depth`: the length of its path (progress, "how
  far sessions got"); `path`: the choices taken, in `seq` order, with each
  `rewind` to a scene removing the latest choice made at that scene and
  every choice after it (nothing when no choice was made there): for a
  session that reached an ending, the way the viewer actually got there;
  `shown`: the distinct scenes of its `scene_shown` events; `took`: the
  distinct (scene, choice) of its decisions, undone or not; `seq`: the
  highest `seq` among its events of the types in `KINDS` (-1 for none), by
  which a writer tells an event that arrives late from one that continues
  the path.
- **Edges, views, last scene (m018).** `reached`: the codes of the scenes
  of `shown` and of the edges its decisions and `route_taken` events walked
  (scene, choice or "", target or "": the flowchart's edge key, routes and
  the choice's target included; a rewind undoes none); `clocked`: the codes
  of the scenes of `timed_out` and of the edges of its `timeout_default`
  events; `views`: its `scene_shown` events; `last_scene`: a copy of its
  session's (m018's triggers, as m015's copies). `route_taken` is a type a
  digest reads from m018 on, so `seq` counts it too. The flowchart by
  viewers reads these (`analytics/flow_viewers.py`).
- **Copies of the session (m015).** Each row also holds its session's
  `story_id`, `content_hash`, `started_at`, `simulated`, `outcome`,
  `ending_id`, `term_program`, `terminal`, `platform`, `term_cols`,
  `term_rows` and `utc_offset_min` (named as in `sessions`), `first_play`
  (1: `agg_firsts` names it) and `attrs` (its attributes as SQL literals by
  key, `'device'='ssh','region'='NL'`, `''` for none), so a reader may take
  the digests alone for what these say. The database keeps them (m015's
  triggers: a row inserted copies its session; a change to those columns of
  `sessions`, to `session_attrs` or to `agg_firsts` is followed), and `write`
  leaves them as they are. One writer sets them: the bulk writer inserts a
  new session's digest whole (`insert_whole`, the values the triggers would
  copy, so they have nothing left to do: about half its digest writes' time),
  a session whose attributes are not all text excepted.
- **Encodings.** Every scene and (scene, choice) is a small integer, its
  *code*, listed in `digest_names (code, name)`: `name` is the JSON text of
  the scene id (`"wake"`) or of the pair (`["wake","get_up"]`), so a name is
  never both, and `names(conn)` decodes the whole table. A code never
  changes once given (rebuilds keep the table; names are story content,
  never a viewer's), but codes are per database, and the order they are
  given in depends on the write path: decode before comparing two files
  (`merge` recomputes the digests it brings). The three lists are compact
  JSON arrays of codes (`[12,5,33]`, `[]` for none), one text for one value,
  so SQL can `GROUP BY path` or use `json_each`: `path` in order, `shown` and
  `took` sorted by code. A decision enters `path` and `took` only with a
  non-empty scene and choice, a scene enters `shown` only when non-empty,
  and a rewind without a scene undoes nothing (the walk's rules); `made`
  counts every decision. m018's `reached` and `clocked` are not JSON: each
  code is one character (`chars`: code 12 is `chr(12)`, past the surrogates
  from 0xD800 on), sorted, `''` for none; an edge's name is its JSON triple
  (`["wake","get_up","kitchen"]`, decoded by `edge_names`; `names` leaves
  the edges out). A reader unions and counts them with `set` and `Counter`,
  C code, where JSON arrays of the same codes took 2.5 times as long to split
  and count at 10 million events, and the text is a third as long. Why codes:
  at 10 million events of Signal (129,081
  finished sessions) the same lists as JSON arrays of ids took 1,043 bytes a
  session, 2.8 KB on disk (rows that long spill to overflow pages: 363 MB);
  as codes 203 bytes, 237 on disk (31 MB).

How each write path keeps the rule
----------------------------------

- a new session (`ops._apply_session`) gets the empty row (`started`);
- the live paths (`ops.apply_op`, the key-press group `ops.apply_ops`):
  each stored event of a type in `KINDS` changes its session's row in the
  same transaction, in memory from the row (`Changes`: the row read once
  per session and group, written once), never from the session's events:
  a decision appends its step to `path` and `took`, a scene shown joins
  `shown`, a rewind cuts `path`, `made` counts. An event that arrives late
  (its `seq` below the row's `seq`: a spool loaded after later events, ops
  replayed out of order; the store accepts any `seq` not taken) and could
  change the path (a decision with a scene and a choice, a rewind with a
  scene) makes that one session's row replayed from its stored events
  instead, as does a row found missing (a hand-edited file). The codes a
  group needs come from `Names`, the writer's cache of `digest_names`,
  which keeps across transactions only what a committed one saw;
- the bulk writer (`bulk.py`): the rows of the sessions a batch creates,
  replayed in memory from the batch's ops, never read back; its ops for
  sessions committed earlier go through the live path;
- `prune`: the sessions that lose events are replayed from the events they
  keep (`mark`, then `refresh_marked`);
- `forget`, `forget --simulated`, `merge`, the migration's backfill and
  `aggregates.rebuild`: `rebuild`, one pass over every session's events in
  the table's own order (session, seq), a batch of rows at a time, so memory
  does not grow with the database. A file whose m012 predates this rule
  (digests of finished sessions only, no `seq` column: `outdated`) is
  brought to it when `Store.open` migrates (`upgrade`: the column added,
  every row rebuilt, once).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any

from branching.store.db import columns, has_table, update_else_insert

DECISIONS = frozenset({"choice_made", "timeout_default"})
# the per-session lists of scenes where something happened (m016), by the event type
# that puts a scene in each: `timed_out` (the clock chose there), `rewound` (a rewind
# back to it), `paused`, `skipped` (a text reveal skipped there)
ACTS = ("timed_out", "rewound", "paused", "skipped")
ACT_OF = {"timeout_default": 0, "rewind": 1, "pause": 2, "reveal_skipped": 3}
# the event types a digest reads (`route_taken` from m018: its edges)
KINDS = frozenset({*DECISIONS, "route_taken", "rewind", "scene_shown", "pause", "reveal_skipped"})
_KINDS_SQL = (
    "('choice_made', 'timeout_default', 'route_taken', 'rewind', 'scene_shown', 'pause', "
    "'reveal_skipped')"
)
_NO_ACTS = ("[]", "[]", "[]", "[]")
_BATCH = 2000  # digests written at a time by a rebuild

Row = tuple[int, str, Any, Any, Any]  # (seq, type, scene, choice, target) of one event
Edge = tuple[Any, str, str]  # (scene, choice or "", target or ""): the flowchart's edge key
# what a digest's table holds: m012's columns, m016's lists too, m018's edges too
PLAIN, ACTED, EDGES = 0, 1, 2


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
    seq: int = -1  # the highest seq of the events read (-1: none)
    # the scenes of each of `ACTS` (m016): timed out, rewound to, paused, skipped at
    acts: tuple[set[Any], ...] = field(default_factory=lambda: (set(), set(), set(), set()))
    edges: set[Edge] = field(default_factory=set)  # every edge walked (m018)
    late: set[Edge] = field(default_factory=set)  # the edges the clock chose (m018)
    views: int = 0  # its `scene_shown` events (m018)


@dataclass(frozen=True, slots=True)
class Digest:
    """One session's digest, its columns encoded as stored (see the module docstring)."""

    made: int
    depth: int
    path: str
    shown: str
    took: str
    seq: int = -1
    acts: tuple[str, ...] = _NO_ACTS  # the codes of `Replayed.acts`' scenes, sorted
    # m018: the codes of the scenes shown and the edges walked, of the scenes and edges
    # where the clock chose (`Replayed.acts[0]`, `Replayed.late`), each a character
    # (`chars`), sorted; and the views
    reached: str = ""
    clocked: str = ""
    views: int = 0


EMPTY = Digest(0, 0, "[]", "[]", "[]", -1)  # a session with no event a digest reads


def replay(rows: Iterable[Row]) -> Replayed:
    """What one session's events (given in `seq` order) hold for its digest."""
    steps: list[tuple[Any, Any]] = []
    scenes: list[Any] = []
    shown: set[Any] = set()
    took: set[tuple[Any, Any]] = set()
    acts: tuple[set[Any], ...] = (set(), set(), set(), set())
    edges: set[Edge] = set()
    late: set[Edge] = set()
    made = views = 0
    last = -1
    for seq, kind, scene, choice, target in rows:
        if kind in DECISIONS:
            made += 1
            if scene and choice:
                steps.append((scene, choice))
                scenes.append(scene)
                took.add((scene, choice))
            if scene:
                edges.add((scene, choice or "", target or ""))
            if kind == "timeout_default" and scene:
                acts[0].add(scene)
                late.add((scene, choice or "", target or ""))
        elif kind == "route_taken":
            if scene:
                edges.add((scene, choice or "", target or ""))
        elif kind == "scene_shown":
            views += 1
            if scene:
                shown.add(scene)
        elif kind == "rewind" and scene:
            rewind(steps, scenes, scene)
            acts[1].add(scene)
        elif kind in ("pause", "reveal_skipped"):
            if scene:
                acts[ACT_OF[kind]].add(scene)
        else:
            continue
        last = max(last, seq)
    return Replayed(made, steps, shown, took, last, acts, edges, late, views)


def _json(value: Any) -> str:
    # `default=str`: a hand-edited file's blob scene is written as text, never a crash
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def scene_name(scene: Any) -> str:
    """The `digest_names.name` of a scene: its JSON string."""
    return _json(scene)


def step_name(scene: Any, choice: Any) -> str:
    """The `digest_names.name` of a (scene, choice): its JSON pair."""
    return _json([scene, choice])


def edge_name(edge: Edge) -> str:
    """The `digest_names.name` of an edge (scene, choice, target): its JSON triple (m018)."""
    return _json(list(edge))


# -- codes: `digest_names`, and what a connection knows of it -------------------------


@dataclass(slots=True)
class _Known:
    """Codes known by value: scenes, steps, edges, and each code's value (a scene, a pair
    or a triple)."""

    scenes: dict[Any, int] = field(default_factory=dict)
    steps: dict[tuple[Any, Any], int] = field(default_factory=dict)
    values: dict[int, Any] = field(default_factory=dict)
    edges: dict[Edge, int] = field(default_factory=dict)

    def note(self, code: int, name: str) -> None:
        value = json.loads(name)
        if isinstance(value, list) and len(value) == 3:
            edge = (value[0], value[1], value[2])
            self.edges[edge] = code
            self.values[code] = edge
        elif isinstance(value, list):
            pair = (value[0], value[1])
            self.steps[pair] = code
            self.values[code] = pair
        else:
            self.scenes[value] = code
            self.values[code] = value


class Names:
    """The codes of `digest_names` one connection has learnt, kept across its transactions.

    What a transaction learns (read, or added) is *fresh*: it may roll back,
    and an added code would then be given again to another name. The owner
    of the connection (the writer) calls `committed` after each commit it
    makes, which keeps the fresh codes for good (a committed code never
    changes); `begin`, at the start of every transaction that uses it,
    forgets the fresh codes of one whose commit was not confirmed. Without
    an owner (`Names()` made for one transaction) it is a plain cache.
    """

    def __init__(self) -> None:
        self.kept = _Known()
        self.fresh = _Known()
        # what the digests' table holds (`level`), once asked: the schema of an open
        # file changes only when it is opened (`migrate`), before any write
        self.level: int | None = None

    def begin(self) -> None:
        """A transaction starts: forget what an unconfirmed one learnt."""
        if self.fresh.values:
            self.fresh = _Known()

    def committed(self) -> None:
        """The transaction that used these names committed: keep what it learnt."""
        fresh = self.fresh
        if fresh.values:
            self.kept.scenes.update(fresh.scenes)
            self.kept.steps.update(fresh.steps)
            self.kept.values.update(fresh.values)
            self.kept.edges.update(fresh.edges)
            self.fresh = _Known()

    def scene(self, scene: Any) -> int | None:
        code = self.kept.scenes.get(scene)
        return self.fresh.scenes.get(scene) if code is None else code

    def step(self, pair: tuple[Any, Any]) -> int | None:
        code = self.kept.steps.get(pair)
        return self.fresh.steps.get(pair) if code is None else code

    def edge(self, edge: Edge) -> int | None:
        code = self.kept.edges.get(edge)
        return self.fresh.edges.get(edge) if code is None else code

    def value(self, code: int) -> Any:
        found = self.kept.values.get(code)
        return self.fresh.values.get(code) if found is None else found


class Codebook:
    """`digest_names` as one transaction sees it: each scene's and step's code, new ones added.

    Read (and extended) in the caller's transaction. `names`: what the
    connection learnt in earlier transactions (`Names`); by default nothing,
    so a code is never assumed from an earlier transaction, which may have
    rolled back.
    """

    def __init__(
        self, conn: sqlite3.Connection, *, whole: bool = False, names: Names | None = None
    ) -> None:
        self.conn = conn
        self.names = Names() if names is None else names
        if whole:  # a rebuild touches most names: read them all at once
            for code, name in conn.execute(_NAMES):
                self.names.fresh.note(code, name)

    def learn(
        self,
        scenes: Iterable[Any] = (),
        steps: Iterable[tuple[Any, Any]] = (),
        edges: Iterable[Edge] = (),
    ) -> None:
        """Make sure every scene, step and edge given has a code (looked up, else added)."""
        names = self.names
        new_scenes = {s: scene_name(s) for s in scenes if names.scene(s) is None}
        new_steps = {p: step_name(*p) for p in steps if names.step(p) is None}
        new_edges = {e: edge_name(e) for e in edges if names.edge(e) is None}
        if not new_scenes and not new_steps and not new_edges:
            return
        # sorted: codes are given in the same order on every batch
        missing = sorted({*new_scenes.values(), *new_steps.values(), *new_edges.values()})
        codes: dict[str, int] = {}
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            codes.update(
                (n, c) for c, n in self.conn.execute(f"{_NAMES} WHERE name IN ({marks})", chunk)
            )
        for name in missing:
            if name not in codes:
                (codes[name],) = self.conn.execute(_ADD_NAME, [name]).fetchone()
        fresh = names.fresh
        for name in missing:
            fresh.note(codes[name], name)
        # by the values given too (a hand-edited file's blob scene is named as text)
        fresh.scenes.update((s, codes[n]) for s, n in new_scenes.items())
        fresh.steps.update((p, codes[n]) for p, n in new_steps.items())
        fresh.edges.update((e, codes[n]) for e, n in new_edges.items())

    def decode(self, codes: Iterable[int]) -> None:
        """Make sure the value of every code given is known (read from `digest_names`)."""
        missing = sorted({c for c in codes if self.names.value(c) is None})
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for code, name in self.conn.execute(f"{_NAMES} WHERE code IN ({marks})", chunk):
                self.names.fresh.note(code, name)

    def scene(self, scene: Any) -> int:
        """The code of a scene (added when new)."""
        code = self.names.scene(scene)
        if code is None:
            self.learn(scenes=[scene])
            code = self.names.scene(scene)
        return _known(code)

    def step(self, pair: tuple[Any, Any]) -> int:
        """The code of a (scene, choice) (added when new)."""
        code = self.names.step(pair)
        if code is None:
            self.learn(steps=[pair])
            code = self.names.step(pair)
        return _known(code)

    def edge(self, edge: Edge) -> int:
        """The code of an edge (added when new)."""
        code = self.names.edge(edge)
        if code is None:
            self.learn(edges=[edge])
            code = self.names.edge(edge)
        return _known(code)

    def encode(self, replayed: Replayed) -> Digest:
        """The stored digest of `replayed` (its names learnt first)."""
        acted = replayed.acts
        self.learn(replayed.shown.union(*acted), replayed.took, replayed.edges)
        steps = {p: _known(self.names.step(p)) for p in replayed.took}
        scene, edge = self.names.scene, self.names.edge
        return Digest(  # every step of the path was decided, so it is in `took`
            replayed.made,
            len(replayed.path),
            _codes(steps[p] for p in replayed.path),
            self._scenes(replayed.shown),
            _codes(sorted(steps.values())),
            replayed.seq,
            tuple(self._scenes(scenes) for scenes in acted) if any(acted) else _NO_ACTS,
            chars(sorted(map(_known, [*map(scene, replayed.shown), *map(edge, replayed.edges)]))),
            chars(sorted(map(_known, [*map(scene, acted[0]), *map(edge, replayed.late)]))),
            replayed.views,
        )

    def _scenes(self, scenes: set[Any]) -> str:
        """The stored text of a set of scenes (their codes learnt already)."""
        return _codes(sorted(_known(self.names.scene(s)) for s in scenes)) if scenes else "[]"


def _known(code: int | None) -> int:
    assert code is not None  # learnt just before
    return code


def _codes(codes: Iterable[int]) -> str:
    return "[" + ",".join(map(str, codes)) + "]"


_SURROGATES = 0xD800  # characters from here to 0xDFFF cannot be stored as UTF-8: skipped


def chars(codes: Iterable[int]) -> str:
    """Codes as m018's lists store them: a character each (code 12 is `chr(12)`; from
    0xD800 on, past the surrogates), in the order given. Shorter than JSON (one byte a
    code below 128), and a reader unions and counts them by C code (`set`, `Counter`)."""
    listed = codes if type(codes) is list else list(codes)
    if not listed or max(listed) < _SURROGATES:  # nearly always: no code to shift, C code
        return "".join(map(chr, listed))
    return "".join(chr(c if c < _SURROGATES else c + 0x800) for c in listed)


def code_of(char: str) -> int:
    """The code a character of m018's lists stands for (`chars`)."""
    o = ord(char)
    return o if o < _SURROGATES else o - 0x800


def names(conn: sqlite3.Connection) -> dict[int, str | tuple[str, str]]:
    """Every code of `digest_names` but the edges', decoded: a scene id, or a (scene,
    choice)."""
    out: dict[int, str | tuple[str, str]] = {}
    for code, name in conn.execute(_NAMES):
        value = json.loads(name)
        if not isinstance(value, list):
            out[int(code)] = value
        elif len(value) == 2:
            out[int(code)] = (value[0], value[1])
    return out


def edge_names(conn: sqlite3.Connection) -> dict[int, tuple[str, str, str]]:
    """The edges' codes of `digest_names` (m018), decoded: (scene, choice, target)."""
    out: dict[int, tuple[str, str, str]] = {}
    for code, name in conn.execute(f"{_NAMES} WHERE name LIKE '[%,%,%]'"):
        value = json.loads(name)
        if isinstance(value, list) and len(value) == 3:
            out[int(code)] = (value[0], value[1], value[2])
    return out


_NAMES = "SELECT code, name FROM digest_names"
_ADD_NAME = "INSERT INTO digest_names (name) VALUES (?) RETURNING code"
_UPSERT = """INSERT INTO session_digests (session_id, made, depth, path, shown, took, seq)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT DO UPDATE SET made = excluded.made, depth = excluded.depth,
        path = excluded.path, shown = excluded.shown, took = excluded.took,
        seq = excluded.seq"""
_UPSERT_ACTS = """INSERT INTO session_digests (session_id, made, depth, path, shown, took, seq,
        timed_out, rewound, paused, skipped)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT DO UPDATE SET made = excluded.made, depth = excluded.depth,
        path = excluded.path, shown = excluded.shown, took = excluded.took,
        seq = excluded.seq, timed_out = excluded.timed_out, rewound = excluded.rewound,
        paused = excluded.paused, skipped = excluded.skipped"""
_UPSERT_EDGES = """INSERT INTO session_digests (session_id, made, depth, path, shown, took, seq,
        timed_out, rewound, paused, skipped, reached, clocked, views)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT DO UPDATE SET made = excluded.made, depth = excluded.depth,
        path = excluded.path, shown = excluded.shown, took = excluded.took,
        seq = excluded.seq, timed_out = excluded.timed_out, rewound = excluded.rewound,
        paused = excluded.paused, skipped = excluded.skipped, reached = excluded.reached,
        clocked = excluded.clocked, views = excluded.views"""
_UPSERT_LAST = """INSERT INTO session_digests (session_id, made, depth, path, shown, took, seq,
        timed_out, rewound, paused, skipped, reached, clocked, views, last_scene)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT DO UPDATE SET made = excluded.made, depth = excluded.depth,
        path = excluded.path, shown = excluded.shown, took = excluded.took,
        seq = excluded.seq, timed_out = excluded.timed_out, rewound = excluded.rewound,
        paused = excluded.paused, skipped = excluded.skipped, reached = excluded.reached,
        clocked = excluded.clocked, views = excluded.views, last_scene = excluded.last_scene"""
_UPDATE_LAST = """UPDATE session_digests SET made = ?2, depth = ?3, path = ?4, shown = ?5,
        took = ?6, seq = ?7, timed_out = ?8, rewound = ?9, paused = ?10, skipped = ?11,
        reached = ?12, clocked = ?13, views = ?14, last_scene = ?15
    WHERE session_id = ?1"""
_ROWS = f"""SELECT seq, type, scene, choice, target FROM events
    WHERE session_id = ? AND type IN {_KINDS_SQL} ORDER BY seq"""
_READ = "SELECT made, path, shown, took, seq FROM session_digests WHERE session_id = ?"
_READ_ACTS = """SELECT made, path, shown, took, seq, timed_out, rewound, paused, skipped
    FROM session_digests WHERE session_id = ?"""
_READ_EDGES = """SELECT made, path, shown, took, seq, timed_out, rewound, paused, skipped,
    reached, clocked, views FROM session_digests WHERE session_id = ?"""


def has_acts(conn: sqlite3.Connection) -> bool:
    """Whether the digests have m016's columns (`viewer_id` and the lists of `ACTS`).

    A file is read or written before m016 by the steps before it (m012's
    backfill runs this module's `rebuild`), so the writes ask."""
    return "skipped" in columns(conn, "session_digests")


def has_edges(conn: sqlite3.Connection) -> bool:
    """Whether the digests have m018's columns (`reached`, `clocked`, `views`, `last_scene`)."""
    return "clocked" in columns(conn, "session_digests")


def level(conn: sqlite3.Connection) -> int:
    """What the digests' table holds: `PLAIN` (m012), `ACTED` (m016) or `EDGES` (m018)."""
    found = columns(conn, "session_digests")
    return EDGES if "clocked" in found else ACTED if "skipped" in found else PLAIN


def write(
    conn: sqlite3.Connection,
    digests: Iterable[tuple[str, Digest]],
    held: int | None = None,
    last_scenes: dict[str, str] | None = None,
) -> None:
    """Store (or replace) the digests of sessions (their `ACTS` lists from m016 on, their
    edges and views from m018 on; `held`: the table's `level`, when the caller knows).

    `last_scenes`: the last scene some of these sessions are about to be moved to (the
    key press's `UPDATE sessions` follows), written with their digest from m018 on, so
    the trigger that copies it (m022's) has nothing left to write.
    """
    held = level(conn) if held is None else held
    if held == EDGES:
        rows = [
            (sid, d.made, d.depth, d.path, d.shown, d.took, d.seq, *d.acts)
            + (d.reached, d.clocked, d.views)
            for sid, d in digests
        ]
        if not last_scenes:
            conn.executemany(_UPSERT_EDGES, rows)
            return
        moved = [(*row, last_scenes[row[0]]) for row in rows if row[0] in last_scenes]
        if len(moved) < len(rows):
            conn.executemany(_UPSERT_EDGES, [row for row in rows if row[0] not in last_scenes])
        # a live session's digest exists (`started` made it): an UPDATE, one search
        update_else_insert(conn, _UPDATE_LAST, _UPSERT_LAST, moved)
        return
    if held == ACTED:
        conn.executemany(
            _UPSERT_ACTS,
            [(sid, d.made, d.depth, d.path, d.shown, d.took, d.seq, *d.acts) for sid, d in digests],
        )
        return
    conn.executemany(
        _UPSERT,
        [(sid, d.made, d.depth, d.path, d.shown, d.took, d.seq) for sid, d in digests],
    )


# the session's columns a digest copies (m015, m018's `last_scene`; as `sessions` names them)
COPIED = (
    "story_id", "content_hash", "started_at", "simulated", "outcome", "ending_id",
    "term_program", "terminal", "platform", "term_cols", "term_rows", "utc_offset_min",
    "viewer_id", "last_scene",
)  # fmt: skip
# (m015's own list stays as m015 wrote it: a migration's columns are history, these current)
_WHOLE = (
    "session_id", "made", "depth", "path", "shown", "took", "seq", "timed_out", "rewound",
    "paused", "skipped", "reached", "clocked", "views", *COPIED, "first_play", "attrs",
)  # fmt: skip
_INSERT_WHOLE = f"""INSERT INTO session_digests ({", ".join(_WHOLE)})
    VALUES ({", ".join("?" * len(_WHOLE))})"""


def attrs_literal(attrs: Iterable[tuple[str, Any]]) -> str | None:
    """`attrs` as m015's triggers copy them (`quote(key) || '=' || quote(value)`, by key,
    comma-separated; `''` for none), or None when a key or value is not plain text (the
    triggers then say it, not this)."""
    parts = []
    for key, value in sorted(attrs):
        if type(key) is not str or type(value) is not str or "\x00" in key + value:
            return None
        parts.append("'" + key.replace("'", "''") + "'='" + value.replace("'", "''") + "'")
    return ",".join(parts)


def insert_whole(
    conn: sqlite3.Connection, made: Iterable[tuple[str, Digest, tuple[Any, ...], int, str]]
) -> None:
    """Insert the digests of sessions new to the table with their copies of the session
    already in the row (`COPIED`'s values as `sessions` holds them, `first_play`, the
    `attrs_literal`), so none of m015's and m018's insert triggers has anything to copy:
    the bulk writer's sessions, whose rows it has in memory (at `EDGES` only). The row is
    the one `write` and the triggers make; a test compares them."""
    conn.executemany(
        _INSERT_WHOLE,
        [
            (sid, d.made, d.depth, d.path, d.shown, d.took, d.seq, *d.acts)
            + (d.reached, d.clocked, d.views, *copied, first, attrs)
            for sid, d, copied, first, attrs in made
        ],
    )


def started(conn: sqlite3.Connection, session_id: str) -> None:
    """A session was just created: its empty digest (kept if it has one already)."""
    e = EMPTY
    conn.execute(
        """INSERT INTO session_digests (session_id, made, depth, path, shown, took, seq)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        [session_id, e.made, e.depth, e.path, e.shown, e.took, e.seq],
    )


# -- the live paths: events change the rows in memory --------------------------------


@dataclass(slots=True)
class OpenDigest:
    """A session's digest as `Changes` holds it: codes, and their text as last written.

    The texts (`_codes` of each list; None: to be encoded again) spare a long
    session re-encoding its whole path at every event: a step is appended.
    """

    made: int
    path: list[int]
    shown: set[int]
    took: set[int]
    seq: int
    replay: bool = False  # replayed from the stored events when written
    path_text: str | None = None
    shown_text: str | None = None
    took_text: str | None = None
    acts: tuple[set[int], ...] = field(default_factory=lambda: (set(), set(), set(), set()))
    acts_text: list[str | None] = field(default_factory=lambda: list(_NO_ACTS))
    edges: set[int] = field(default_factory=set)  # m018's: the edges walked, the clock's
    late: set[int] = field(default_factory=set)
    views: int = 0
    reached_text: str | None = ""  # m018's lists as written (None: to be encoded again)
    clocked_text: str | None = ""


class Changes:
    """What stored events change in their sessions' digests, written by `write`.

    Each session's row is read once (at its first event) and written once;
    its codes come from `names` (the writer's, kept across transactions) or
    are learnt in this transaction. `kept`: the rows as the connection's
    owner last wrote them (`ops.WriterMemory`, which empties it whenever the
    file may have changed since): a session found there is not read again,
    and each row written is left there as written.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        names: Names | None = None,
        kept: dict[str, OpenDigest] | None = None,
    ) -> None:
        self.conn = conn
        self.book = Codebook(conn, names=names)
        self.kept_codes = self.book.names.kept  # committed codes: looked up first, in place
        self.open: dict[str, OpenDigest] = {}
        self.kept = kept

    def _level(self) -> int:
        """What the table holds (`level`, asked once per `Names`)."""
        names = self.book.names
        if names.level is None:
            names.level = level(self.conn)
        return names.level

    def event(self, op: dict[str, Any]) -> None:
        """An event op just stored (a new row in `events`): its session's digest follows."""
        kind = op["type"]
        if kind not in KINDS:
            return
        sid = op["session_id"]
        digest = self.open.get(sid)
        if digest is None:
            digest = self.kept.pop(sid, None) if self.kept is not None else None
            if digest is None:
                digest = self._read(sid)
            self.open[sid] = digest
        if digest.replay:
            return  # its events are replayed when written, this one with them
        seq, scene = op["seq"], op["scene"]
        late = seq < digest.seq
        if kind in DECISIONS:
            choice = op["choice"]
            if scene and choice:
                if late:  # where it goes in the path depends on what came after
                    digest.replay = True
                    return
                pair = (scene, choice)
                code = self.kept_codes.steps.get(pair)  # the writer's codes, else the book's
                if code is None:
                    code = self.book.step(pair)
                digest.path.append(code)
                if digest.path_text is not None:  # "[...]" -> "[...,code]"
                    comma = "," if len(digest.path) > 1 else ""
                    digest.path_text = f"{digest.path_text[:-1]}{comma}{code}]"
                if code not in digest.took:
                    digest.took.add(code)
                    digest.took_text = None
            digest.made += 1
            if scene:
                self._edge(digest, op, kind == "timeout_default")
            if kind == "timeout_default" and scene:
                self._act(digest, 0, scene)
        elif kind == "route_taken":
            if scene:
                self._edge(digest, op, False)
        elif kind == "scene_shown":
            digest.views += 1
            if scene:
                code = self.kept_codes.scenes.get(scene)
                if code is None:
                    code = self.book.scene(scene)
                if code not in digest.shown:
                    digest.shown.add(code)
                    digest.shown_text = digest.reached_text = None
        elif kind == "rewind":
            if scene:
                if late:
                    digest.replay = True
                    return
                self._rewind(digest, scene)
                self._act(digest, 1, scene)
        elif scene:  # a pause or a skipped reveal: where, whatever the order
            self._act(digest, ACT_OF[kind], scene)
        digest.seq = max(digest.seq, seq)

    def _act(self, digest: OpenDigest, which: int, scene: Any) -> None:
        """`scene` joins the digest's list `ACTS[which]`."""
        code = self.book.scene(scene)
        if code not in digest.acts[which]:
            digest.acts[which].add(code)
            digest.acts_text[which] = None
            if which == 0:
                digest.clocked_text = None

    def _edge(self, digest: OpenDigest, op: dict[str, Any], late: bool) -> None:
        """The edge of a decision or route joins the digest's `edges` (and `late`)."""
        edge = (op["scene"], op.get("choice") or "", op.get("target") or "")
        code = self.kept_codes.edges.get(edge)
        if code is None:
            code = self.book.edge(edge)
        if code not in digest.edges:
            digest.edges.add(code)
            digest.reached_text = None
        if late and code not in digest.late:
            digest.late.add(code)
            digest.clocked_text = None

    def _read(self, session_id: str) -> OpenDigest:
        held = self._level()
        read = _READ_EDGES if held == EDGES else _READ_ACTS if held == ACTED else _READ
        row = self.conn.execute(read, [session_id]).fetchone()
        if row is None:  # not kept (a hand-edited file): the events say what it is
            return OpenDigest(0, [], set(), set(), -1, replay=True)
        made, path, shown, took, seq, *lists = row
        digest = OpenDigest(
            made, json.loads(path), set(json.loads(shown)), set(json.loads(took)), seq
        )
        if held == EDGES:
            reached, clocked, digest.views = lists[4:]
            lists = lists[:4]
        for i, text in enumerate(lists):
            if text != "[]":
                digest.acts[i].update(json.loads(text))
                digest.acts_text[i] = text
        if held == EDGES:  # the edges: the codes that are not scenes
            digest.edges.update(set(map(code_of, reached)) - digest.shown)
            digest.late.update(set(map(code_of, clocked)) - digest.acts[0])
            digest.reached_text, digest.clocked_text = reached, clocked
        return digest

    def _rewind(self, digest: OpenDigest, scene: Any) -> None:
        self.book.decode(digest.path)
        value = self.book.names.value
        scenes = [value(code)[0] for code in digest.path]
        rewind(digest.path, scenes, scene)
        digest.path_text = None

    def write(self, last_scenes: dict[str, str] | None = None) -> None:
        """Store every digest changed so far (replaying those that must be), and start anew.

        `last_scenes`: the last scene sessions are about to be moved to (`write`)."""
        rows: list[tuple[str, Digest]] = []
        kept = self.kept
        for sid, d in self.open.items():
            if d.replay:
                replayed = replay(self.conn.execute(_ROWS, [sid]))
                rows.append((sid, self.book.encode(replayed)))
            else:
                if d.path_text is None:
                    d.path_text = _codes(d.path)
                if d.shown_text is None:
                    d.shown_text = _codes(sorted(d.shown))
                if d.took_text is None:
                    d.took_text = _codes(sorted(d.took))
                texts = d.acts_text
                for i, text in enumerate(texts):
                    if text is None:
                        texts[i] = _codes(sorted(d.acts[i]))
                if d.reached_text is None:
                    d.reached_text = chars(sorted(d.shown | d.edges))
                if d.clocked_text is None:
                    d.clocked_text = chars(sorted(d.acts[0] | d.late))
                digest = Digest(
                    d.made,
                    len(d.path),
                    d.path_text,
                    d.shown_text,
                    d.took_text,
                    d.seq,
                    (texts[0] or "[]", texts[1] or "[]", texts[2] or "[]", texts[3] or "[]"),
                    d.reached_text,
                    d.clocked_text,
                    d.views,
                )
                rows.append((sid, digest))
                if kept is not None:
                    kept[sid] = d  # as written: the next transaction need not read it
        if rows:
            write(self.conn, rows, self._level(), last_scenes)
        self.open.clear()


def event_added(conn: sqlite3.Connection, op: dict[str, Any]) -> None:
    """One event op just stored (the one-op path): its session's digest follows."""
    if op["type"] in KINDS:
        changes = Changes(conn)
        changes.event(op)
        changes.write()


# -- set-based: many sessions replayed from their events ------------------------------


def _refresh(conn: sqlite3.Connection, where: str) -> None:
    """Write the digest of every session `s` meeting `where`, streaming its events.

    The events come in the table's own order (session, seq) through the
    sessions' primary key; what is held at a time is one session and a batch
    of digests.
    """
    cursor = conn.execute(
        f"""SELECT s.session_id, e.seq, e.type, e.scene, e.choice, e.target FROM sessions s
        LEFT JOIN events e ON e.session_id = s.session_id AND e.type IN {_KINDS_SQL}
        WHERE {where}
        ORDER BY s.session_id, e.seq"""
    )
    book = Codebook(conn, whole=True)
    held = level(conn)  # the schema does not change between batches
    batch: list[tuple[str, Digest]] = []
    for session_id, rows in groupby(cursor, key=itemgetter(0)):
        events = ((r[1], r[2], r[3], r[4], r[5]) for r in rows if r[1] is not None)
        batch.append((session_id, book.encode(replay(events))))
        if len(batch) >= _BATCH:
            write(conn, batch, held)
            batch.clear()
    write(conn, batch, held)


def rebuild(conn: sqlite3.Connection) -> None:
    """Recompute every digest from the sessions and events held (in a transaction).

    Nothing to do before m012 has created the table (an earlier migration's
    rebuild of the aggregates runs this too; m012 then fills it). A table
    that m012 made before every session had a digest gets its `seq` column
    first.
    """
    if not has_table(conn, "session_digests"):
        return
    if not _has_seq(conn):
        conn.execute("ALTER TABLE session_digests ADD COLUMN seq INTEGER NOT NULL DEFAULT -1")
    conn.execute("DELETE FROM session_digests")
    _refresh(conn, "true")


def fill_acts(conn: sqlite3.Connection) -> None:
    """Write every digest's `ACTS` lists from the events (m016's backfill; in a transaction).

    Reads the events of the four types that fill them (and `seq` now counts),
    in the table's own order (session, seq): one pass, a session at a time,
    a batch of rows written at a time. A session without such events keeps
    the empty lists the columns default to.
    """
    book = Codebook(conn, whole=True)

    def lists(rows: Iterator[tuple[Any, ...]]) -> tuple[object, ...]:
        acts: tuple[set[Any], ...] = (set(), set(), set(), set())
        last = -1
        for _, seq, kind, scene in rows:
            if scene:
                acts[ACT_OF[kind]].add(scene)
            if kind in ("pause", "reveal_skipped"):  # the others counted in `seq` already
                last = max(last, seq)
        book.learn(set().union(*acts))
        return (*(book._scenes(scenes) for scenes in acts), last)

    _backfill(
        conn,
        """SELECT session_id, seq, type, scene FROM events
        WHERE type IN ('timeout_default', 'rewind', 'pause', 'reveal_skipped')
        ORDER BY session_id, seq""",
        """UPDATE session_digests SET timed_out = ?, rewound = ?, paused = ?,
        skipped = ?, seq = max(seq, ?) WHERE session_id = ?""",
        lists,
    )


def fill_edges(conn: sqlite3.Connection) -> None:
    """Write every digest's edges, the edges the clock chose and its views from the
    events (m018's backfill; in a transaction).

    Reads the events of the types that fill them (decisions, routes, scenes
    shown; `seq` now counts the routes too) in the table's own order
    (session, seq): one pass, a session at a time, a batch of rows written at
    a time. A session without such events keeps what the columns default to.
    """
    book = Codebook(conn, whole=True)

    def edges(rows: Iterator[tuple[Any, ...]]) -> tuple[object, ...]:
        digest = book.encode(replay(r[1:] for r in rows))
        return digest.reached, digest.clocked, digest.views, digest.seq

    _backfill(
        conn,
        """SELECT session_id, seq, type, scene, choice, target FROM events
        WHERE type IN ('choice_made', 'timeout_default', 'route_taken', 'scene_shown')
        ORDER BY session_id, seq""",
        """UPDATE session_digests SET reached = ?, clocked = ?, views = ?,
        seq = max(seq, ?) WHERE session_id = ?""",
        edges,
    )


def _backfill(
    conn: sqlite3.Connection,
    select: str,
    update: str,
    values: Callable[[Iterator[tuple[Any, ...]]], tuple[object, ...]],
) -> None:
    """For each session of `select`'s rows (session id first, in session order), run
    `update` with what `values` makes of its rows, then its id: one pass over the
    events, a batch of rows written at a time."""
    batch: list[tuple[object, ...]] = []
    for session_id, rows in groupby(conn.execute(select), key=itemgetter(0)):
        batch.append((*values(rows), session_id))
        if len(batch) >= _BATCH:
            conn.executemany(update, batch)
            batch.clear()
    conn.executemany(update, batch)


def outdated(conn: sqlite3.Connection) -> bool:
    """True for a table that m012 made before this rule (finished sessions only, no `seq`)."""
    return has_table(conn, "session_digests") and not _has_seq(conn)


def upgrade(conn: sqlite3.Connection) -> bool:
    """Bring an `outdated` table to the rule: every digest rebuilt, once (in the
    caller's transaction). True if it did."""
    if not outdated(conn):
        return False
    rebuild(conn)
    return True


def mark(conn: sqlite3.Connection, select: str, params: Any = ()) -> None:
    """Note the sessions `select` names (one column: session ids) for `refresh_marked`."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS digest_set (session_id TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM temp.digest_set")
    conn.execute(f"INSERT OR IGNORE INTO temp.digest_set {select}", params)


def refresh_marked(conn: sqlite3.Connection) -> None:
    """Recompute the digests of the sessions `mark` noted (their events changed)."""
    _refresh(conn, "s.session_id IN (SELECT session_id FROM temp.digest_set)")
    conn.execute("DELETE FROM temp.digest_set")


def _has_seq(conn: sqlite3.Connection) -> bool:
    return "seq" in columns(conn, "session_digests")
