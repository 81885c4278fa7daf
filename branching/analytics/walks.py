"""Figures that need each session's story in order: paths, progress, "no difference".

One pass over the events of the picked sessions, session by session in
sequence order (`walk`: portable queries, a batch of sessions at a time, on
SQLite, DuckDB or Spark alike), replays what the engine did, ONE SESSION AT
A TIME:
- the path is the list of choices taken, with a rewind (or going back)
  removing the choices it undid, so a complete path is the way the viewer
  actually reached their ending;
- progress is the length of that path when the session stopped;
- for "choices that make no difference", each decision remembers the state
  the viewer was in when choosing and every (scene, variables) stop after it
  until the next rewind. Two choices at the same point, from the same
  variables, make no difference when every session that took either one later
  passed the same stop with the same variables: the branches rejoined with the
  same state. Visit counts are left out of "state" on purpose (two branches
  always visit different scenes); a later `chosen()` test could still tell the
  branches apart, so this is only a candidate: `no_difference` says "no
  difference" only where the explorer proved it on the story
  (`verify.choices`), drops the pairs it proved different, and words the rest
  for what they are (seen in N sessions, not proven).

Memory does not grow with the events or the sessions (issue 14): when a
session's last event has been read, what the figures need of it is one row
in the TEMP table `walked` of the walk's own private in-memory SQLite
(`Walks.conn`, whatever engine the events come from: its unit, depth,
whether it completed, and its path written as one character per distinct
choice), and the session is forgotten. Paths and progress are then counted
by SQL over that table (SQLite sorts on disk), so "distinct viewers per
path" needs no set of viewers in Python. What stays in memory is bounded by
the story: one character per (scene, choice), one id per distinct (scene,
variables) stop, and the no-difference groups keyed by (scene, variables
when choosing), whose stop sets only shrink as sessions agree.

Where paths and progress are all a report needs of the walk (no pair of
choices waits on what sessions saw), the Parquet engines skip the pass:
an export of layout 3 stores each session's path and depth (`stored_walk`:
one row per session), and on an older export DuckDB folds each session's
decisions and rewinds into its path in one query (`folded_walk`). Either
way `walked` is then a table (or view) of the engine, counted there by the
same `paths` and `progress`; docs/decisions.md says why each exists.

Events store the state as snapshots and patches (`store.states`); the pass
follows the chain of every event of a session, as `StateReader` does, but
keeps only the two keys a stop reads (`scene`, `vars`): the rest of a patch
(the `chosen` pairs, visit counts, which grow with the session) is not
rebuilt at every event.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations, groupby, islice
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from branching.analytics.engines import Queryable, Row, duckdb_core, query, stream
from branching.analytics.filters import Unit
from branching.analytics.rows import Flag, PathShare, Progress
from branching.analytics.scan import ChosenSessions
from branching.analytics.shape import Shape
from branching.store.digests import rewind
from branching.store.states import SNAPSHOT, apply, dumps, is_snapshot

if TYPE_CHECKING:  # the explorer's verdicts are only passed through here
    from branching.verify.choices import ChoicePairVerdict

Stop = tuple[str, str]  # (scene, variables as JSON text)
_DECISIONS = frozenset({"choice_made", "timeout_default"})
_WALKED = frozenset({*_DECISIONS, "rewind", "scene_shown", "ending_reached"})
_KEYS = ("scene", "vars")  # what a stop reads of the engine state
_BATCH = 2000  # `walked` rows written at a time
PROGRESS_EVERY = 200  # sessions walked between two calls of `walk`'s `progress`
WALK_BATCH = 1000  # sessions whose events one query of the walk reads


class _StopReader:
    """`StateReader` of one session, projected on the keys a stop reads.

    The same chain (a snapshot, then patches on the event just before; a gap
    or an unreadable patch makes the state unknown until the next snapshot),
    but each patch is applied to `scene` and `vars` only. The stop of an
    unchanged state is the same object, and variables that did not change are
    not written out again.
    """

    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None
        self._seq: int | None = None
        self._stop: Stop | None = None
        self._stop_of: dict[str, Any] | None = None
        self._vars: object = None
        self._vars_text = ""

    def read(self, seq: int, text: str | None) -> Stop | None:
        """The stop at event `seq`, from its stored state (JSON text or NULL)."""
        follows = self._seq is not None and seq == self._seq + 1
        self._seq = seq
        if text is None:
            if not follows:
                self.state = None
            return self._stop_at()
        try:
            stored = json.loads(text)
        except (TypeError, ValueError, RecursionError):
            stored = {}  # unreadable: the state here is unknown
        if is_snapshot(stored):
            whole = stored[SNAPSHOT]
            self.state = (
                {k: whole[k] for k in _KEYS if k in whole} if isinstance(whole, dict) else None
            )
        elif not follows:
            self.state = None  # the event before is missing: unknown until a snapshot
        elif stored is None:
            pass  # a JSON null: unchanged, as StateReader reads it
        elif self.state is None or not isinstance(stored, dict):
            self.state = None
        else:
            try:
                self.state = _project(self.state, stored)
            except (TypeError, AttributeError, ValueError):
                self.state = None  # not a patch (a hand-edited row): unknown, never a crash
        return self._stop_at()

    def _stop_at(self) -> Stop | None:
        state = self.state
        if state is self._stop_of:
            return self._stop
        self._stop_of = state
        self._stop = None
        if state is not None:
            scene, variables = state.get("scene"), state.get("vars")
            if scene is not None and variables is not None:
                if variables is not self._vars:
                    self._vars, self._vars_text = variables, dumps(variables)
                self._stop = (scene if isinstance(scene, str) else dumps(scene), self._vars_text)
        return self._stop


class _WholeStopReader(_StopReader):
    """The stop at each event from the whole state stored with it, as the Parquet
    export stores it (`store.parquet`: the engine state after the event as compact
    JSON, NULL where the state is unknown): the same stops `_StopReader` rebuilds
    from the database's snapshots and patches. Most events repeat the state of the
    one before; the same text is not read twice."""

    def __init__(self) -> None:
        super().__init__()
        self._text: str | None = None

    def read(self, seq: int, text: str | None) -> Stop | None:
        if text is not None and text == self._text:
            return self._stop_at()
        self._text = text
        try:
            whole = json.loads(text) if text is not None else None
        except (TypeError, ValueError, RecursionError):
            whole = None  # unreadable: the state here is unknown
        self.state = {k: whole[k] for k in _KEYS if k in whole} if isinstance(whole, dict) else None
        return self._stop_at()


def _project(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`states.apply(old, patch)` on the keys a stop reads (a new dict)."""
    new = dict(old)
    for key in patch.get("-", ()):
        if key in _KEYS:
            new.pop(key, None)
    for key, value in patch.get("~", {}).items():
        if key in _KEYS:
            new[key] = value
    for key, sub in patch.get(">", {}).items():
        if key in _KEYS:
            base = new.get(key)
            new[key] = apply(base if isinstance(base, dict) else {}, sub)
    plus, minus = patch.get("+", {}), patch.get("<", {})
    sets = [key for key in (*plus, *minus) if key in _KEYS]
    if sets:  # a sorted set under `scene` or `vars`: never recorded, but exact anyway
        part = {k: new[k] for k in sets if k in new}
        part = apply(
            part,
            {
                "+": {k: plus[k] for k in sets if k in plus},
                "<": {k: minus[k] for k in sets if k in minus},
            },
        )
        new.update(part)
    return new


@dataclass
class _Session:
    session_id: str
    viewer: str
    outcome: str
    ending: str | None
    steps: list[str] = field(default_factory=list)  # one character per (scene, choice)
    scenes: list[str] = field(default_factory=list)  # the scene of each step
    stops: list[int] = field(default_factory=list)  # stop ids since the last rewind
    open: list[tuple[str, str, int, int]] = field(default_factory=list)  # scene, choice, pre, i
    last: int | None = None  # the stop id of the latest stop
    last_scene: str | None = None


@dataclass
class Walks:
    """What the pass keeps; `paths`, `progress` and `no_difference` read it.

    `add` records one finished session in `walked`; `common` and `decided` are
    the no-difference groups, keyed by stop ids (`stop_id`, `stops`).
    """

    unit: Unit
    conn: sqlite3.Connection = field(
        default_factory=lambda: sqlite3.connect(":memory:", check_same_thread=False)
    )
    common: dict[tuple[str, int], dict[str, set[int]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    decided: Counter[tuple[str, str]] = field(default_factory=Counter)  # (scene, choice) passes
    stop_ids: dict[tuple[str, bytes], int] = field(default_factory=dict)
    step_codes: dict[tuple[str, str], str] = field(default_factory=dict)
    step_of: dict[str, tuple[str, str]] = field(default_factory=dict)
    completed: int = 0
    _pending: list[tuple[str, str, int, int, str | None, str | None]] = field(default_factory=list)
    _stops: list[tuple[int, str, str]] = field(default_factory=list)
    _last_stop: Stop | None = None
    _last_id: int = -1
    # set by `stored_walk` and `folded_walk`: `walked` is a table (or view) of this
    # engine, its paths ordered as their steps' (scene, choice) are: the export's text
    # (`store.parquet.path_text`), or two characters a step (`_fold_codes`; `pairs`)
    engine: Queryable | None = None
    pairs: dict[str, tuple[str, str]] | None = None

    def __post_init__(self) -> None:
        self.conn.execute("DROP TABLE IF EXISTS temp.walked")
        self.conn.execute(
            """CREATE TEMP TABLE walked (session_id TEXT, viewer_id TEXT, depth INTEGER,
            ended INTEGER, path TEXT, ending TEXT)"""
        )
        self.conn.execute("DROP TABLE IF EXISTS temp.stops")
        self.conn.execute("CREATE TEMP TABLE stops (id INTEGER PRIMARY KEY, scene TEXT, vars TEXT)")

    def code(self, scene: str, choice: str) -> str:
        """The one character that stands for (scene, choice) in a stored path."""
        found = self.step_codes.get((scene, choice))
        if found is None:
            n = len(self.step_codes) + 1  # never NUL
            found = chr(n if n < 0xD800 else n + 0x800)  # no surrogates: UTF-8 can hold it
            self.step_codes[(scene, choice)] = found
            self.step_of[found] = (scene, choice)
        return found

    def stop_id(self, stop: Stop) -> int:
        """The id of a (scene, variables) stop: one per distinct stop of the pass.

        Kept in memory as the scene and a 16-byte digest of the variables (a
        film's 60 variables are a kilobyte of JSON); the text goes to the TEMP
        table `stops`, read back only for the stops a flag names.
        """
        if stop is self._last_stop:
            return self._last_id
        key = (stop[0], hashlib.blake2b(stop[1].encode(), digest_size=16).digest())
        found = self.stop_ids.get(key)
        if found is None:
            found = self.stop_ids[key] = len(self.stop_ids)
            self._stops.append((found, *stop))
            if len(self._stops) >= _BATCH:
                self._write_stops()
        self._last_stop, self._last_id = stop, found
        return found

    def _write_stops(self) -> None:
        self.conn.executemany("INSERT INTO temp.stops VALUES (?, ?, ?)", self._stops)
        self._stops.clear()

    def stops(self, ids: Iterable[int]) -> dict[int, Stop]:
        """The (scene, variables) of each stop id in `ids`."""
        self._write_stops()
        wanted, out = sorted(set(ids)), {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for i, scene, variables in self.conn.execute(
                f"SELECT id, scene, vars FROM temp.stops WHERE id IN ({marks})", chunk
            ):
                out[int(i)] = (scene, variables)
        return out

    def add(
        self,
        session_id: str,
        viewer: str,
        depth: int,
        ended: bool,
        path: str | None = None,
        ending: str | None = None,
    ) -> None:
        """Record one finished session: its depth, and its path when it completed."""
        self._pending.append((session_id, viewer, depth, int(ended), path, ending))
        if len(self._pending) >= _BATCH:
            self.conn.executemany(
                "INSERT INTO temp.walked VALUES (?, ?, ?, ?, ?, ?)", self._pending
            )
            self._pending.clear()

    def flush(self) -> None:
        """Write the sessions `add` holds, and count the units that completed."""
        if self._pending:
            self.conn.executemany(
                "INSERT INTO temp.walked VALUES (?, ?, ?, ?, ?, ?)", self._pending
            )
            self._pending.clear()
        self.completed = int(self.rows(f"SELECT {_count(self.unit)} FROM walked WHERE ended")[0][0])

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Rows of `sql` over `walked`, wherever it is (the walk's SQLite or the engine)."""
        if self.engine is not None:
            return query(self.engine, sql, params)
        return self.conn.execute(sql, list(params)).fetchall()  # `walked`: the TEMP table

    def decode(self, path: str) -> tuple[tuple[str, str], ...]:
        """The (scene, choice) steps of a stored path."""
        if self.engine is None:
            return tuple(self.step_of[c] for c in path)
        if self.pairs is not None:
            return tuple(self.pairs[path[i : i + 2]] for i in range(0, len(path), 2))
        from branching.store.parquet import PATH_STEP, STEP_PART  # the export's path text

        steps = (step.split(STEP_PART, 1) for step in path.split(PATH_STEP)) if path else ()
        return tuple((scene, choice) for scene, choice in steps)

    def close_decisions(self, s: _Session) -> None:
        for scene, choice, pre, index in s.open:
            future = set(s.stops[index:])
            group = self.common[(scene, pre)]
            group[choice] = group[choice] & future if choice in group else future
            self.decided[(scene, choice)] += 1
        s.open.clear()
        s.stops.clear()

    def finish(self, s: _Session) -> None:
        self.close_decisions(s)
        ended = s.outcome == "ending"
        path = "".join(s.steps) if ended else None
        self.add(
            s.session_id, s.viewer, len(s.steps), ended, path, (s.ending or "") if ended else None
        )


def _count(unit: Unit) -> str:
    """SQL counting `walked` rows in `unit` (a viewer once, however many sessions)."""
    return "COUNT(DISTINCT viewer_id)" if unit == "viewers" else "COUNT(*)"


def _rewind(s: _Session, scene: str) -> None:
    rewind(s.steps, s.scenes, scene)  # the store's digests undo steps the same way


def _replay(
    walks: Walks,
    s: _Session,
    rows: Iterable[tuple[Any, ...]],
    read: Callable[[int, str | None], Stop | None],
) -> None:
    """Follow one session's events (in `seq` order): its path, its stops, its decisions."""
    steps, scenes, stops, opened = s.steps, s.scenes, s.stops, s.open
    code, stop_id = walks.code, walks.stop_id
    last, last_scene = s.last, s.last_scene
    for _, seq, kind, scene, choice, stored in rows:
        stop = read(seq, stored)  # every event: each patches the one before
        if kind not in _WALKED:
            continue
        if kind in _DECISIONS:
            if scene and choice:
                steps.append(code(scene, choice))
                scenes.append(scene)
                if last is not None and last_scene == scene:
                    opened.append((scene, choice, last, len(stops)))
        elif kind == "rewind" and scene:
            _rewind(s, scene)
            walks.close_decisions(s)
        if stop is not None:
            last = stop_id(stop)
            stops.append(last)
            last_scene = stop[0]
    s.last, s.last_scene = last, last_scene


def _unobserved(seq: int, text: str | None) -> Stop | None:
    return None


def needs_observing(
    taken: Iterable[tuple[str, str]],
    verdicts: Mapping[tuple[str, str, str], ChoicePairVerdict] | None,
) -> bool:
    """Whether some pair of the (scene, choice)s `taken` lacks the explorer's verdict.

    Only such a pair can be flagged from what sessions saw; without one, the
    walk need not rebuild any state.
    """
    if verdicts is None:
        return True
    by_scene: dict[str, set[str]] = defaultdict(set)
    for scene, choice in taken:
        by_scene[scene].add(choice)
    for scene, choices in by_scene.items():
        for a, b in combinations(sorted(choices), 2):
            verdict = verdicts.get((scene, a, b)) or verdicts.get((scene, b, a))
            if verdict is None or verdict.verdict not in ("same", "differs"):
                return True
    return False


def walk(
    src: Queryable,
    chosen: ChosenSessions,
    unit: Unit,
    *,
    observe: bool = True,
    progress: Callable[[int], None] | None = None,
) -> Walks:
    """Replay every picked session once, one at a time, in order.

    The chosen sessions stream in the order of their key (`session_key` on a
    Parquet export that has it, else the session id), and their events are
    read `WALK_BATCH` sessions at a time: one portable query per batch, by
    the batch's range of keys (on SQLite, the events' primary key; on the
    Parquet engines, the row groups that hold them) and its session ids,
    ordered by key and sequence number. No engine sorts more than a batch's
    events (ten million events' states do not fit in DuckDB's memory to
    sort), and Python holds one batch of sessions and one session's events.

    `observe=False` when no pair of choices needs what sessions saw (the
    explorer decided every pair taken): the states are then not read at all.
    `progress(n)` hears every `PROGRESS_EVERY` sessions how many were walked
    (it may stop the walk by raising; on SQLite, `report.build_report` also
    interrupts the query under way through the progress handler).
    """
    if not observe:
        found = stored_walk(src, chosen, unit)
        if found is None and folds_in_sql(src):
            found = folded_walk(src, chosen, unit)
        if found is not None:
            if progress is not None:
                progress(0)  # one query: a stop is heard once it is done
            return found
    walks = Walks(unit)
    key = "session_key" if getattr(src, "keyed", False) else "session_id"
    # the database stores states as snapshots and patches; the export, whole
    reader = _StopReader if getattr(src, "dialect", "sqlite") == "sqlite" else _WholeStopReader
    sessions = chosen.stream(
        src,
        f"""SELECT p.session_id, p.viewer_id, s.outcome, s.ending_id, s.{key}
        FROM picked p JOIN sessions s ON s.session_id = p.session_id ORDER BY s.{key}""",
    )
    walked = 0
    for batch in _batches(sessions, WALK_BATCH):
        ids = [known[0] for known in batch]
        events = stream(
            src,
            f"""SELECT e.session_id, e.seq, e.type, e.scene, e.choice,
                   {"e.state" if observe else "NULL"}
            FROM events e WHERE e.{key} BETWEEN ? AND ?
              AND e.session_id IN ({", ".join("?" for _ in ids)})
            ORDER BY e.{key}, e.seq""",
            [batch[0][4], batch[-1][4], *ids],
        )
        pending = iter(batch)
        for session_id, rows in groupby(events, key=itemgetter(0)):
            walked += 1
            if progress is not None and walked % PROGRESS_EVERY == 0:
                progress(walked)
            for known in pending:  # the sessions before this one have no events
                s = _Session(*known[:4])
                if known[0] == session_id:
                    break
                walks.finish(s)
            else:
                break  # not a session of the batch: cannot happen, the ids are the batch's
            _replay(walks, s, rows, reader().read if observe else _unobserved)
            walks.finish(s)
        for known in pending:
            walks.finish(_Session(*known[:4]))
    walks.flush()
    return walks


_STORED = """SELECT p.viewer_id AS viewer_id, s.depth AS depth,
       COALESCE(s.outcome = 'ending', FALSE) AS ended,
       CASE WHEN s.outcome = 'ending' THEN COALESCE(s.path, '') END AS path,
       CASE WHEN s.outcome = 'ending' THEN COALESCE(s.ending_id, '') END AS ending
FROM picked p JOIN sessions s ON s.session_id = p.session_id"""


def stored_walk(src: Queryable, chosen: ChosenSessions, unit: Unit) -> Walks | None:
    """`walk(observe=False)` from the paths the export stores with each session.

    An export of layout 3 writes each session's path and depth from the store's
    digests (`store.parquet.path_text`: the same replay, `digests.replay`), so
    the engine reads one row per chosen session, no event: `walked` is kept
    there (`Engine.keep`: a TEMP table, or a temporary view on Spark) and
    `paths` and `progress` count over it. None when the source has no such
    column, or a chosen session has none (a path the export could not write):
    its events are read instead.
    """
    if not getattr(src, "stored_paths", False) or isinstance(src, sqlite3.Connection):
        return None
    src.keep("walked", f"WITH {chosen.sql}\n{_STORED}", chosen.params)
    if int(query(src, "SELECT COUNT(*) FROM walked WHERE depth IS NULL")[0][0]):
        return None
    walks = Walks(unit, engine=src)
    walks.flush()
    return walks


# -- the walk as one query, on DuckDB ------------------------------------------------------
# Each step of a path is two characters, its scene's and its choice's: scenes from
# U+4E00 and choices (numbered within their scene) from U+3400, ranges that never meet,
# hold no regex or SQL character and whose order is the ids' order. A rewind is `|`
# and its scene's character. Each event's code, packed under its `seq` so that sorting
# a session's codes puts them in `seq` order: a step `scene * _SCENE + choice`, a
# rewind `_REWIND + scene`.
_SCENE_CHAR, _CHOICE_CHAR = 0x4E00, 0x3400
_MOST_SCENES, _MOST_CHOICES = 0xA000 - _SCENE_CHAR, 0x4DC0 - _CHOICE_CHAR
_SCENE, _REWIND, _SEQ = 1 << 13, 1 << 28, 1 << 30
# a session's codes -> its tokens, as one text split at each rewind: `parts[1]` is
# the steps before the first rewind, each later part a rewind's scene then the steps
# after it; the fold cuts, at each rewind, from the latest step at that scene on
# (`digests.rewind`: nothing when no step there is left), and adds the steps after
_TOKEN = f"""lambda x: CASE WHEN x % {_SEQ} >= {_REWIND}
    THEN '|' || chr(CAST({_SCENE_CHAR} + x % {_SEQ} - {_REWIND} AS INTEGER))
    ELSE chr(CAST({_SCENE_CHAR} + (x % {_SEQ}) // {_SCENE} AS INTEGER))
      || chr(CAST({_CHOICE_CHAR} + x % {_SCENE} AS INTEGER)) END"""
_FOLD = """list_reduce(parts[2:], lambda acc, x: CASE WHEN instr(acc, x[1]) > 0
    THEN acc[:length(acc) - instr(reverse(acc), x[1])] ELSE acc END || x[2:], parts[1])"""
_FOLDED = f"""{{picked}}, codes(scene, choice, code) AS (VALUES {{codes}}),
coded AS (
    SELECT e.session_id AS session_id, e.seq * {_SEQ} + c.code AS code
    FROM picked p JOIN events e ON e.session_id = p.session_id
    JOIN codes c ON c.scene = e.scene
      AND c.choice = CASE WHEN e.type = 'rewind' THEN '' ELSE e.choice END
      AND (c.code >= {_REWIND}) = (e.type = 'rewind')
    WHERE e.type IN ('choice_made', 'timeout_default', 'rewind')),
split AS (
    SELECT session_id, string_split(array_to_string(
        list_transform(list_sort(list(code), 'ASC'), {_TOKEN}), ''), '|') AS parts
    FROM coded GROUP BY session_id),
folded AS (SELECT session_id, {_FOLD} AS path FROM split)
SELECT p.viewer_id, COALESCE(length(f.path), 0) // 2 AS depth,
       COALESCE(s.outcome = 'ending', FALSE) AS ended,
       CASE WHEN s.outcome = 'ending' THEN COALESCE(f.path, '') END AS path,
       CASE WHEN s.outcome = 'ending' THEN COALESCE(s.ending_id, '') END AS ending
FROM picked p JOIN sessions s ON s.session_id = p.session_id
LEFT JOIN folded f ON f.session_id = p.session_id"""


def folds_in_sql(src: Queryable) -> bool:
    """Whether `src` folds the paths in one query (`folded_walk`): DuckDB 1.3 or later
    (its `lambda` syntax), over a Parquet export."""
    if getattr(src, "dialect", "sqlite") != "duckdb":
        return False
    major, minor = (int(n) for n in duckdb_core().__version__.split(".")[:2])
    return (major, minor) >= (1, 3)


def _fold_codes(src: Queryable) -> list[tuple[str, str, int]] | None:
    """(scene, choice, code) of every step the events hold and (scene, '', code) of
    every scene with a step, for rewinds to it (`_FOLDED`); None when the story has
    more scenes or choices at a scene than the characters (`_MOST_SCENES`)."""
    found = query(
        src,
        """SELECT DISTINCT e.scene, e.choice FROM events e
        WHERE e.type IN ('choice_made', 'timeout_default')
          AND e.scene IS NOT NULL AND e.scene <> '' AND e.choice IS NOT NULL AND e.choice <> ''""",
    )
    by_scene: dict[str, list[str]] = defaultdict(list)
    for scene, choice in sorted((str(s), str(c)) for s, c in found):
        by_scene[scene].append(choice)
    if len(by_scene) > _MOST_SCENES or any(len(c) > _MOST_CHOICES for c in by_scene.values()):
        return None
    codes = []
    for j, (scene, choices) in enumerate(sorted(by_scene.items())):
        codes += [(scene, choice, j * _SCENE + i) for i, choice in enumerate(choices)]
        codes.append((scene, "", _REWIND + j))
    return codes


def folded_walk(src: Queryable, chosen: ChosenSessions, unit: Unit) -> Walks | None:
    """`walk(observe=False)` as one query of the engine: its table `walked` (a TEMP
    table of the connection), the same rows `walk` writes, paths coded two
    characters a step (see `_TOKEN`). None when the story is too big to code.

    Each session's decisions and rewinds are coded by a join to the codes,
    gathered with their `seq` into one sorted list per session, and folded by
    the rewinds (`_FOLD`): the rule of `digests.rewind`, a set-based query
    instead of a read of every event through Python (at ten million events
    the `paths` and `progress` tables took 2-78 s that way on a loaded
    machine, 1.2-7.6 s this way). `paths` and `progress` count over `walked`
    where it is.
    """
    codes = _fold_codes(src)
    if codes is None:
        return None
    pairs = {
        chr(_SCENE_CHAR + code // _SCENE) + chr(_CHOICE_CHAR + code % _SCENE): (scene, choice)
        for scene, choice, code in codes
        if choice
    }
    walks = Walks(unit, engine=src, pairs=pairs)
    sql = _FOLDED.format(
        picked=f"WITH {chosen.sql}",
        codes=", ".join("(?, ?, ?)" for _ in codes) if codes else "(NULL, NULL, NULL)",
    )
    params = (*chosen.params, *(v for row in codes for v in row))
    query(src, f"CREATE OR REPLACE TEMP TABLE walked AS {sql}", params)
    walks.flush()
    return walks


def _batches(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    """`rows` in lists of `size` (the last one shorter)."""
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def label_of(shape: Shape, scene: str, choice: str) -> str:
    found = shape.scenes.get(scene)
    c = found.choice(choice) if found else None
    return c.label if c else f"{scene}/{choice}"


def paths(walks: Walks, shape: Shape, top: int) -> list[PathShare]:
    """The `top` most common complete paths, then one row for all the others.

    Ranked by how many units took them, ties by the path itself (its scenes
    and choices, then its ending), as ever. The grouped rows stream through a
    heap of `top`, so no list of every path is built.
    """
    if walks.engine is not None:
        return _ranked_paths(walks, shape, top)
    groups = 0

    def counted() -> Iterable[tuple[tuple[tuple[str, str], ...], str, int, str]]:
        nonlocal groups
        for path, ending, n in walks.conn.execute(
            f"""SELECT path, ending, {_count(walks.unit)} FROM temp.walked WHERE ended
            GROUP BY path, ending"""
        ):
            groups += 1
            yield walks.decode(path), ending, int(n), path

    ranked = heapq.nsmallest(top, counted(), key=lambda r: (-r[2], r[0], r[1]))
    out = [
        PathShare(
            tuple(label_of(shape, s, c) for s, c in steps),
            shape.title_of(ending) if ending else "",
            n,
            walks.completed,
        )
        for steps, ending, n, _ in ranked
    ]
    if groups > len(ranked):
        conn = walks.conn
        conn.execute("DROP TABLE IF EXISTS temp.shown_paths")
        conn.execute("CREATE TEMP TABLE shown_paths (path TEXT, ending TEXT)")
        conn.executemany(
            "INSERT INTO temp.shown_paths VALUES (?, ?)", [(p, e) for _, e, _, p in ranked]
        )
        (others,) = conn.execute(
            f"""SELECT {_count(walks.unit)} FROM temp.walked w WHERE ended AND NOT EXISTS
            (SELECT 1 FROM temp.shown_paths t WHERE t.path = w.path AND t.ending = w.ending)"""
        ).fetchone()
        out.append(PathShare((), "", int(others), walks.completed, other=True))
    return out


def _ranked_paths(walks: Walks, shape: Shape, top: int) -> list[PathShare]:
    """`paths` over a `walked` table of the engine (`folded_walk`): ranked there.

    Its paths are ordered as their steps are (`_fold_codes`), so `ORDER BY n
    DESC, path, ending` is `paths`' own order, and only the `top` rows leave the
    engine; the others are counted there too.
    """
    count = _count(walks.unit)
    ranked = walks.rows(
        f"""SELECT path, ending, n, COUNT(*) OVER () FROM (
            SELECT path, ending, {count} AS n FROM walked WHERE ended GROUP BY path, ending) g
        ORDER BY n DESC, path, ending LIMIT {int(top)}"""
    )
    out = [
        PathShare(
            tuple(label_of(shape, s, c) for s, c in walks.decode(str(path))),
            shape.title_of(str(ending)) if ending else "",
            int(n),
            walks.completed,
        )
        for path, ending, n, _ in ranked
    ]
    if ranked and int(ranked[0][3]) > len(ranked):
        shown = " OR ".join("(path = ? AND ending = ?)" for _ in ranked)
        (others,) = walks.rows(
            f"SELECT {count} FROM walked WHERE ended AND NOT ({shown})",
            [v for path, ending, _, _ in ranked for v in (path, ending)],
        )[0]
        out.append(PathShare((), "", int(others), walks.completed, other=True))
    return out


# up to this many choices, "how far sessions got" has a row per depth; deeper
# stories get buckets whose last depths run 0, 2, 5, 10, 20, 50, 100, 200...
EXACT_DEPTHS = 10


def depth_buckets(most: int) -> list[tuple[int, int]]:
    """(first, last) depth of each row needed to cover depths 0..`most`."""
    if most <= EXACT_DEPTHS:
        return [(n, n) for n in range(most + 1)]
    out, first, scale = [(0, 0)], 1, 1
    while first <= most:
        for step in (2, 5, 10):
            if first <= most:
                out.append((first, step * scale))
                first = step * scale + 1
        scale *= 10
    return out


def progress(walks: Walks) -> list[Progress]:
    """Units by choice points passed, split by whether they reached an ending.

    A row per depth for short stories; 1-2-5 buckets (0, 1-2, 3-5, 6-10, 11-20,
    21-50...) once a session passed more than `EXACT_DEPTHS` choice points. A
    bucket counts the distinct units in it, so a viewer whose sessions stopped
    at depths 3 and 4 counts once in 3-5.
    """
    walks.flush()
    (most,) = walks.rows("SELECT COALESCE(MAX(depth), -1) FROM walked")[0]
    buckets = depth_buckets(int(most))
    if not buckets:
        return []
    bucket = " ".join(f"WHEN depth <= {last} THEN {i}" for i, (_, last) in enumerate(buckets))
    who = {
        (int(i), bool(ended)): int(n)
        for i, ended, n in walks.rows(
            f"""SELECT CASE {bucket} END, ended, {_count(walks.unit)} FROM walked
            GROUP BY 1, 2"""
        )
    }
    return [
        Progress(
            first, who.get((i, True), 0), who.get((i, False), 0), None if first == last else last
        )
        for i, (first, last) in enumerate(buckets)
    ]


def observed_rejoins(walks: Walks) -> dict[tuple[str, str, str], Stop]:
    """(scene, a, b) -> a stop where their sessions met again with the same variables,
    for the pairs whose sessions always did (from every starting state seen)."""
    met: dict[tuple[str, str, str], list[set[int] | None]] = defaultdict(list)
    for (scene, _pre), group in walks.common.items():
        for a, b in combinations(sorted(group), 2):
            met[(scene, a, b)].append((group[a] & group[b]) or None)
    always = {pair: seen for pair, seen in met.items() if all(m is not None for m in seen)}
    named = walks.stops(i for seen in always.values() for both in seen if both for i in both)
    return {
        pair: min(min(named[i] for i in both) for both in seen if both)
        for pair, seen in sorted(always.items())
        if seen
    }


def no_difference(
    walks: Walks,
    shape: Shape,
    verdicts: Mapping[tuple[str, str, str], ChoicePairVerdict] | None = None,
) -> list[Flag]:
    """Pairs of choices that make no difference, worded by how sure we are.

    With `verdicts` (the explorer's, on the story file): a pair proven `same`
    is flagged "no difference" (proof "explorer") whether or not sessions took
    it; a pair proven `differs` is never flagged; a pair the sessions always
    rejoined on but the explorer could not decide is flagged with what was seen
    (proof "observed") and why it is not proven. Without `verdicts` (the story
    was named by id: only its stored structure is known, not its conditions),
    every pair the sessions rejoined on is worded as seen, never as "always".
    """
    seen = observed_rejoins(walks)
    flags: dict[tuple[str, str, str], Flag] = {}
    for (scene, a, b), stop in seen.items():
        verdict = None
        if verdicts is not None:
            verdict = verdicts.get((scene, a, b)) or verdicts.get((scene, b, a))
        if verdict is not None and verdict.verdict == "differs":
            continue
        if verdict is not None and verdict.verdict == "same":
            continue  # flagged below, with the proof
        if verdicts is None:
            why = "the story was named by id: its stored structure has no conditions"
        elif verdict is None:
            why = "the story file has no such choices"
        else:
            why = verdict.why
        n = walks.decided[(scene, a)] + walks.decided[(scene, b)]
        flags[(scene, a, b)] = Flag(
            "no-difference",
            scene,
            shape.title_of(scene),
            f"all {n} times they were taken, viewers who took '{label_of(shape, scene, a)}' or "
            f"'{label_of(shape, scene, b)}' met again at '{shape.title_of(stop[0])}' with the "
            f"same variables (not proven: {why})",
            proof="observed",
        )
    for (scene, a, b), verdict in (verdicts or {}).items():
        if verdict.verdict == "same":
            flags[(scene, a, b)] = Flag(
                "no-difference",
                scene,
                shape.title_of(scene),
                f"'{label_of(shape, scene, a)}' and '{label_of(shape, scene, b)}' make no "
                "difference: whichever is taken, the story comes back to the same scenes in "
                f"the same state (proven over {verdict.states} "
                f"state{'s' if verdict.states != 1 else ''})",
                proof="explorer",
            )
    return [flags[k] for k in sorted(flags)]
