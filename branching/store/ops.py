"""The four writes the store performs, as plain dicts, and how each is applied.

An op is what the writer thread commits, what the spool file holds (one JSON
line per op) and what a spool load replays, so all three share this code.
Every op is idempotent: stories and sessions are inserted once, events are
keyed by (session, sequence number) and only a newly inserted event adds to
the running totals, so replaying a spool that was partly written already
counts nothing twice. A different event at a (session, seq) already taken is
refused (`InvalidInput`: a spool sets it aside). Each op is applied inside the
caller's `BEGIN IMMEDIATE` transaction.

An event op (version 2) is `{"v": 2, "op": "event", "session_id", "story_id",
"content_hash", "seq", "ts", "type", "scene", "choice", "target",
"decide_ms", "input", "state", "label"}`, where `state` is the JSON text
of the stored form (`states.py`: a snapshot, a patch against event `seq - 1`,
or None for no change) or None, and `label` the choice's label as the viewer
saw it, only where it differs from the template (else None; older ops have no
`label`). Version 1 ops (older spool files) carried an `event_id` UUID, now
ignored, and the whole state, which is stored as a snapshot.

Every change to a session row (created, its last scene, finished, reopened by
a rewind from an ending) also moves its count in the aggregates, in the same
transaction (`totals.session_moved`; `session_ends` is a view of them since
m020). Every session's digest (`digests.py`)
is created with it and changed by each event of a type it reads (`DIGESTED`),
in the event's transaction.

An op for a playthrough that `forget` deleted (listed in `forgotten_sessions`)
is dropped and counts as done: a player still open when its viewer was
forgotten carries on, and nothing it sends afterwards is kept or spooled.

The writer commits a key press (a group of ops) through `apply_ops`, which
leaves every row exactly as `apply_op` one op at a time does (a test compares
every table on a simulated audience) with far fewer statements run (about 12
calls into SQLite for a key press of 3.5 events since m020, 13 before it, 32
one by one): each session read once, what its events add summed in memory and
upserted once per row.
`apply_op` stays the reference, and the path every op takes when a spool
loads or the bulk writer replays. The writer applies single ops through
`apply_ops` too, and keeps what its transactions wrote (`WriterMemory`: each
session's class, standing, stored events' marks and digest) for the next,
as long as nothing else has written: a key press then reads nothing at all.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from branching.store import decide_acts, digests
from branching.store.aggregates import LiveCounts, LiveSession, class_moved, read_session
from branching.store.errors import InvalidInput
from branching.store.states import StateChain, snapshot
from branching.store.totals import event_added, session_added, session_moved

Op = dict[str, Any]
SPOOL_VERSION = 2  # 2: events keyed by (session, seq), state as snapshot/patch (m007)

EVENT_TYPES = frozenset(
    {
        "session_started",
        "scene_shown",
        "reveal_skipped",
        "choice_made",
        "timeout_default",
        "route_taken",
        "rewind",
        "pause",
        "resume",
        "ending_reached",
        "stuck",
        "quit",
    }
)
INPUTS = frozenset({"key", "mouse", "timeout", "scripted"})
OUTCOMES = frozenset({"ending", "abandoned", "stuck", "quit"})
DECISION_TYPES = digests.DECISIONS  # the events a viewer decided by
COUNTED = DECISION_TYPES | {"route_taken"}
NEEDS_SCENE = COUNTED | {"scene_shown", "ending_reached"}
ACTS = decide_acts.KINDS  # rewinds, pauses, skipped reveals: counted per scene (m013)
DIGESTED = digests.KINDS  # the event types a session's digest is replayed from
MAX_LABEL = 1000  # characters of a rendered choice label


def to_json(value: Any, what: str) -> str:
    """Compact JSON text for `value`, or InvalidInput naming `what`."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} cannot be recorded as JSON: {exc}") from None


def event_op(
    session: dict[str, Any],
    seq: int,
    ts: str,
    kind: str,
    fields: dict[str, Any],
    chain: StateChain | None = None,
) -> Op:
    """A validated event op for `session` (its ids) with sequence number `seq`.

    `fields["state"]` is the whole engine state after the event (a JSON-able
    dict, or what `chain` takes: `StateChain.kind`) or None. With `chain` (one
    per session, fed in `seq` order) it is stored as a patch against the
    previous event's state, or nothing when unchanged; without, as a snapshot
    (None stays None: no change).
    """
    if kind not in EVENT_TYPES:
        raise InvalidInput(f"unknown event type {kind!r}; known: {', '.join(sorted(EVENT_TYPES))}")
    get = fields.get
    input_ = get("input")
    if input_ is not None and input_ not in INPUTS:
        raise InvalidInput(f"unknown input {input_!r}; known: {', '.join(sorted(INPUTS))}")
    scene, choice, target = get("scene"), get("choice"), get("target")
    if kind in NEEDS_SCENE and not scene:
        raise InvalidInput(f"a {kind} event needs the scene")
    if kind in DECISION_TYPES and not choice:
        raise InvalidInput(f"a {kind} event needs the choice id")
    if kind == "route_taken" and not target:
        raise InvalidInput("a route_taken event needs the target scene")
    decide_ms = get("decide_ms")
    if decide_ms is not None and (type(decide_ms) is not int or decide_ms < 0):
        raise InvalidInput(f"decide_ms must be whole milliseconds >= 0, not {decide_ms!r}")
    label = get("label")
    if label is not None and (
        kind not in DECISION_TYPES or not isinstance(label, str) or not 0 < len(label) <= MAX_LABEL
    ):
        raise InvalidInput(f"a label (1 to {MAX_LABEL} characters) goes only with a choice event")
    state = get("state")
    if state is not None and not (
        chain.takes(state) if chain is not None else isinstance(state, dict)
    ):
        wanted = "a JSON object" if chain is None or chain.kind is dict else chain.kind.__name__
        raise InvalidInput(f"the state must be {wanted}, not {type(state).__name__}")
    if chain is not None:
        try:
            text = chain.encode_text(state)
        except (TypeError, ValueError, RecursionError) as exc:
            chain.restart()  # nothing of it is stored: the next state is a snapshot
            raise InvalidInput(f"the state cannot be recorded as JSON: {exc}") from None
    else:
        text = None if state is None else to_json(snapshot(state), "the state")
    return {
        "v": SPOOL_VERSION,
        "op": "event",
        "session_id": session["session_id"],
        "story_id": session["story_id"],
        "content_hash": session["content_hash"],
        "seq": seq,
        "ts": ts,
        "type": kind,
        "scene": scene,
        "choice": choice,
        "target": target,
        "decide_ms": decide_ms,
        "input": input_,
        "label": label,
        "state": text,
    }


def apply_op(conn: sqlite3.Connection, op: Op) -> bool:
    """Apply one op inside the caller's transaction; True if it changed anything."""
    kind = op.get("op")
    handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise InvalidInput(f"unknown store operation {kind!r}")
    if kind != "story" and _forgotten(conn, op.get("session_id")):
        return False  # `forget` deleted this playthrough: what its player sends later is dropped
    return handler(conn, op)


def _forgotten(conn: sqlite3.Connection, session_id: object) -> bool:
    if not isinstance(session_id, str):
        return False  # the handler reports a malformed op
    row = conn.execute(
        "SELECT 1 FROM forgotten_sessions WHERE session_id = ?", [session_id]
    ).fetchone()
    return row is not None


def _apply_story(conn: sqlite3.Connection, op: Op) -> bool:
    cur = conn.execute(
        """INSERT INTO stories (story_id, content_hash, title, author, version_label,
                                structure, registered_at)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        [
            op["story_id"],
            op["content_hash"],
            op["title"],
            op["author"],
            op["version_label"],
            op["structure"],
            op["registered_at"],
        ],
    )
    return cur.rowcount > 0


CONTEXT_COLUMNS = (
    "terminal",
    "term_program",
    "term_cols",
    "term_rows",
    "platform",
    "locale",
    "utc_offset_min",
    "app_version",
)


def _apply_session(conn: sqlite3.Connection, op: Op) -> bool:
    context = op.get("context") or {}
    cur = conn.execute(
        f"""INSERT INTO sessions (session_id, story_id, content_hash, viewer_id, started_at,
                                  seed, simulated, {", ".join(CONTEXT_COLUMNS)})
        VALUES (?, ?, ?, ?, ?, ?, ?, {", ".join("?" for _ in CONTEXT_COLUMNS)})
        ON CONFLICT DO NOTHING""",
        [
            op["session_id"],
            op["story_id"],
            op["content_hash"],
            op["viewer_id"],
            op["started_at"],
            op.get("seed"),
            int(op.get("simulated") is True),  # only `branching simulate` marks its sessions
            *(context.get(c) for c in CONTEXT_COLUMNS),
        ],
    )
    if cur.rowcount == 0:
        return False
    conn.executemany(
        "INSERT INTO session_attrs (session_id, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [(op["session_id"], key, value) for key, value in sorted(op.get("attrs", {}).items())],
    )
    session_added(conn, op["session_id"])
    digests.started(conn, op["session_id"])
    return True


def event_row(op: Op) -> list[Any]:
    """The `events` row of an event op, in the columns of `_INSERT_EVENT`."""
    state = op["state"]
    if op.get("v", SPOOL_VERSION) < 2 and "event_id" in op:
        # a version 1 op (an older spool) carries the whole state, or none at all
        state = '{"=":null}' if state is None else '{"=":' + state + "}"
    return [
        op["session_id"],
        op["seq"],
        op["ts"],
        op["type"],
        op["scene"],
        op["choice"],
        op["target"],
        op["decide_ms"],
        op["input"],
        state,
        op.get("label"),  # ops before labels were recorded have none
    ]


def _apply_event(conn: sqlite3.Connection, op: Op) -> bool:
    row = event_row(op)
    cur = conn.execute(_INSERT_EVENT, row)
    if cur.rowcount == 0:
        _check_same_event(conn, row)
        return False
    kind = op["type"]
    event_added(conn, op)
    if kind in DIGESTED:  # the session's digest follows (`digests.Changes`)
        digests.event_added(conn, op)
    if op.get("label") is not None:
        conn.execute(
            _ADD_LABEL,
            [op["story_id"], op["content_hash"], op["scene"], op["choice"], op["label"], 1],
        )
    if kind == "rewind":  # going back from an ending continues the same playthrough
        session_moved(
            conn,
            op["session_id"],
            """UPDATE sessions SET outcome = 'in_progress', ending_id = NULL,
                                   ending_kind = NULL, ended_at = NULL
            WHERE session_id = ? AND outcome = 'ending'""",
            [op["session_id"]],
        )
    elif kind == "scene_shown":
        session_moved(
            conn,
            op["session_id"],
            """UPDATE sessions SET last_scene = ?, last_scene_seq = ?
            WHERE session_id = ? AND last_scene_seq < ?""",
            [op["scene"], op["seq"], op["session_id"], op["seq"]],
        )
    return True


_EVENT_COLUMNS = (
    *("session_id", "seq", "ts", "type", "scene", "choice", "target"),
    *("decide_ms", "input", "state", "label"),
)
_NULLABLE = 4  # the columns of `event_row` from `scene` on may be NULL


def _insert_event_sql(marks: list[str]) -> str:
    """`INSERT` of an `events` row with one value mark (`?` or `NULL`) per column."""
    return (
        f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) VALUES ({', '.join(marks)})"
        " ON CONFLICT (session_id, seq) DO NOTHING"
    )


_INSERT_EVENT = _insert_event_sql(["?"] * len(_EVENT_COLUMNS))
_INSERT_WITH_NULLS: dict[tuple[bool, ...], str] = {}


def insert_event(conn: sqlite3.Connection, row: list[Any]) -> int:
    """Insert an `events` row (`event_row`) unless its (session, seq) is taken: 1, else 0.

    `_INSERT_EVENT` with the row's NULLs written into the statement rather than bound:
    the sqlite3 module passes every `None` parameter through its adapter protocol
    (two failed attribute lookups: about 3,300 instructions each), and a key press's
    events bind three or four each (a scene shown has no choice, target, time to
    decide or label). One statement per pattern of NULLs (a few in practice, 128 at
    most), each prepared once in the connection's statement cache.
    """
    nulls = tuple([value is None for value in row[_NULLABLE:]])
    sql = _INSERT_WITH_NULLS.get(nulls)
    if sql is None:
        sql = _insert_event_sql(["?"] * _NULLABLE + ["NULL" if null else "?" for null in nulls])
        _INSERT_WITH_NULLS[nulls] = sql
    values = row[:_NULLABLE] + [value for value in row[_NULLABLE:] if value is not None]
    return int(conn.execute(sql, values).rowcount)


_ADD_LABEL = """INSERT INTO choice_labels (story_id, content_hash, scene, choice, label, count)
    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET count = count + excluded.count"""


def _check_same_event(conn: sqlite3.Connection, row: list[Any]) -> None:
    """An event already stored at this (session, seq) must be this one (a replay)."""
    found = conn.execute(
        "SELECT ts, type, scene, choice, target FROM events WHERE session_id = ? AND seq = ?",
        row[:2],
    ).fetchone()
    if found is not None and list(found) != [row[2], row[3], row[4], row[5], row[6]]:
        raise InvalidInput(
            f"event {row[1]} of playthrough {row[0]} is already recorded as a different event"
        )


def _apply_finish(conn: sqlite3.Connection, op: Op) -> bool:
    changed = session_moved(
        conn,
        op["session_id"],
        """UPDATE sessions SET outcome = ?, ending_id = ?, ending_kind = ?, ended_at = ?
        WHERE session_id = ?""",
        [op["outcome"], op["ending_id"], op["ending_kind"], op["ended_at"], op["session_id"]],
    )
    return changed > 0


_HANDLERS = {
    "story": _apply_story,
    "session": _apply_session,
    "event": _apply_event,
    "finish": _apply_finish,
}


# -- a group of ops in one transaction (one key press) ----------------------------------


class WriterMemory:
    """What the writer's connection knows of the sessions it wrote, across its transactions.

    A key press needs each session's class and standing, what its stored
    events already hold (the "first time in this session" columns) and its
    digest. Read once and then kept as each group leaves them, they spare
    every later press of the session its reads (which also grew with the
    session: a lookup into its events). Trusted only while nothing else has
    written: `begin` (inside the transaction's `BEGIN IMMEDIATE`, so no one
    commits meanwhile) forgets everything unless the previous transaction
    that used it committed (`committed`) and since then no other connection
    committed (`PRAGMA data_version`) and this connection changed nothing
    else (`total_changes`: a spool load, a one-op write). An op that may
    change other sessions (a new session, a rewind, anything unusual) makes
    it forget everything; a finish, that session. `names` is the writer's
    cache of digest codes (`digests.Names`), confirmed by the same commit.
    """

    LIMIT = 256  # sessions kept: a player writes one at a time, a kiosk a few

    def __init__(self) -> None:
        self.names = digests.Names()
        self.sessions: dict[str, LiveSession] = {}
        self.digests: dict[str, digests.OpenDigest] = {}
        self._mark: tuple[int, int] | None = None  # (data_version, total_changes) at commit
        self._version = -1
        self._confirmed = False

    def begin(self, conn: sqlite3.Connection) -> None:
        """A transaction starts on `conn` (already holding the write lock)."""
        self.names.begin()
        version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        if not self._confirmed or self._mark != (version, conn.total_changes):
            self.forget()
        self._version = version
        self._confirmed = False

    def committed(self, conn: sqlite3.Connection) -> None:
        """The transaction that used it committed on `conn`: what it holds is the file's."""
        self.names.committed()
        self._mark = (self._version, conn.total_changes)
        self._confirmed = True

    def forget(self, session_id: str | None = None) -> None:
        """Forget one session (None: every session)."""
        if session_id is None:
            self.sessions.clear()
            self.digests.clear()
        else:
            self.sessions.pop(session_id, None)
            self.digests.pop(session_id, None)

    def keep(self, session: LiveSession) -> None:
        if len(self.sessions) >= self.LIMIT:
            self.forget()
        self.sessions[session.session_id] = session


def apply_ops(
    conn: sqlite3.Connection,
    ops: list[Op],
    names: digests.Names | None = None,
    memory: WriterMemory | None = None,
) -> list[bool]:
    """Apply `ops` in order inside the caller's transaction; what `apply_op` says of each.

    Every table is left exactly as applying the ops one by one leaves it (a
    test compares every row), with a fraction of the statements: each session
    is read once (forgotten?, its class, standing and what its events hold,
    `aggregates.read_session`), each event is inserted at once, and what the
    events add to the totals and aggregates is summed in memory and upserted
    once per row; the session's standing moves once, from where it stood to
    where it ends, in `agg_sessions` from the first to the last only (op by
    op, a row only passed through gains one and loses it, and is deleted at
    zero: nothing is left of it).
    Ops that change a session's class or attributes (a session, a finish, a
    rewind; and anything unusual) go through `apply_op`, after what was
    summed so far is written.
    `names`: the connection owner's cache of digest codes (`digests.Names`; the
    owner calls its `committed` after the commit), so a key press looks none up.
    `memory`: the owner's `WriterMemory` (its `names` are used then; the owner
    calls its `committed` after the commit), so a press reads nothing its
    connection wrote before.
    """
    group = _GroupSums(conn, names, memory)
    summable = [_summable(op) for op in ops]
    if memory is None:
        for op, flag in zip(ops, summable, strict=True):
            if flag:
                group.scenes.setdefault(op["session_id"], set()).add(op.get("scene") or "")
    done: list[bool] = []
    for op, flag in zip(ops, summable, strict=True):
        if flag:
            done.append(group.event(op))
        elif _finishing(op):
            done.append(group.finish(op))
        else:
            group.write()
            group.unsure()
            done.append(apply_op(conn, op))
    group.write(final=True)
    return done


def _summable(op: Op) -> bool:
    """An event op that moves no session's class (version 2, not a rewind), its fields
    of the types a player sends (so Python's `or ""` and SQL's COALESCE agree)."""
    get = op.get
    if get("op") != "event" or get("type") == "rewind" or get("v", SPOOL_VERSION) < 2:
        return False
    decide_ms = get("decide_ms")
    if (
        type(get("session_id")) is not str
        or type(get("ts")) is not str
        or type(get("seq")) is not int
        or (decide_ms is not None and type(decide_ms) is not int)
    ):
        return False
    for field in _TEXTS:  # each None or text (`_text`), without a call each
        value = get(field)
        if value is not None and type(value) is not str:
            return False
    return True


_TEXTS = ("scene", "choice", "target", "label")


def _finishing(op: Op) -> bool:
    """A finish op with the field types a player sends."""
    return (
        op.get("op") == "finish"
        and isinstance(op.get("session_id"), str)
        and isinstance(op.get("outcome"), str)
        and all(_text(op.get(f)) for f in ("ending_id", "ending_kind", "ended_at"))
    )


def _text(value: object) -> bool:
    return value is None or type(value) is str


class _Moves:
    """A session's standings, from the first to the latest, in a group (see `apply_ops`)."""

    __slots__ = ("later", "standings")

    def __init__(self, first: tuple[str, str]) -> None:
        self.later = False  # a later scene was shown: the session row's last scene moves
        self.standings = [first]  # the standings the aggregates move through


class _GroupSums:
    """What a run of summable ops has read and added so far; `write` stores it."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        names: digests.Names | None = None,
        memory: WriterMemory | None = None,
    ) -> None:
        self.conn = conn
        self.memory = memory
        kept = None
        if memory is not None:
            memory.begin(conn)
            names, kept = memory.names, memory.digests
        elif names is not None:
            names.begin()
        # each session's row read once (or kept from before), written once
        self.digests = digests.Changes(conn, names, kept)
        self.scenes: dict[str, set[str]] = {}  # per session, the scenes of the group's events
        self._reset()

    def unsure(self) -> None:
        """An op about to go through `apply_op` may change any session: forget them all."""
        if self.memory is not None:
            self.memory.forget()

    def _session(self, sid: str, scenes: list[str]) -> LiveSession | bool:
        """The session (kept in memory, else read: every scene when kept afterwards)."""
        memory = self.memory
        if memory is None:
            return read_session(self.conn, sid, scenes)
        kept = memory.sessions.get(sid)
        if kept is not None:
            return kept
        session = read_session(self.conn, sid, None)
        if isinstance(session, LiveSession):
            memory.keep(session)
        return session

    def _reset(self) -> None:
        self.sessions: dict[str, LiveSession | bool] = {}
        self.moves: dict[str, _Moves] = {}
        self.counts = LiveCounts()
        self.labels: dict[tuple[Any, ...], int] = {}

    def event(self, op: Op) -> bool:
        sid = op["session_id"]
        session = self.sessions.get(sid)
        if session is None:
            scenes = sorted(self.scenes.get(sid) or {op.get("scene") or ""})
            session = self.sessions[sid] = self._session(sid, scenes)
        if session is False:
            return False  # `forget` deleted this playthrough
        if session is True:  # not stored: the one-op path says what happens
            self.write()
            self.unsure()
            return apply_op(self.conn, op)
        assert isinstance(session, LiveSession)
        row = event_row(op)
        if insert_event(self.conn, row) == 0:
            _check_same_event(self.conn, row)
            return False
        if op["type"] in DIGESTED:
            self.digests.event(op)
        self._count(session, op)
        return True

    def _count(self, session: LiveSession, op: Op) -> None:
        """What `_apply_event` (with `aggregates.event_added`) adds, added up in memory."""
        kind, scene, counts = op["type"], op["scene"], self.counts
        label = op.get("label")
        if label is not None:
            key = (op["story_id"], op["content_hash"], scene, op["choice"], label)
            self.labels[key] = self.labels.get(key, 0) + 1
        if kind in COUNTED:
            timeout = kind == "timeout_default"
            edge = (scene or "", op["choice"] or "", op["target"] or "")
            edges = session.edges
            if timeout:
                new_timeout = edge not in session.edge_timeouts
                counts.edge(session, edge, [1, 1, edge not in edges, new_timeout])
                session.edge_timeouts.add(edge)
                if scene and edge[0] not in session.scene_timeouts:
                    counts.scene(session, scene, [0, 0, 1])
                session.scene_timeouts.add(edge[0])
            else:
                counts.edge(session, edge, [1, 0, edge not in edges, False])
            edges.add(edge)
        elif kind == "scene_shown":
            if scene is not None:
                counts.scene(session, scene, [1, scene not in session.shown, 0])
                session.shown.add(scene)
            self._moved(session, op)
        elif kind in ACTS and scene is not None:
            counts.act(session, scene, kind)
        if kind == "choice_made" and op["decide_ms"] is not None and scene is not None:
            counts.decided(session, scene, op["decide_ms"])
        counts.active(op["story_id"], op["ts"])

    def _moved(self, session: LiveSession, op: Op) -> None:
        """A scene shown: the session's last scene, as `session_moved` moves it."""
        last, outcome, ending, ended = session.standing
        moves = self.moves.get(op["session_id"])
        if moves is None:
            moves = self.moves[op["session_id"]] = _Moves((last or "", ending or ""))
        if op["seq"] <= session.last_seq:
            return  # the UPDATE changes nothing
        session.last_seq = op["seq"]
        session.standing = (op["scene"], outcome, ending, ended)
        moves.later = True
        if op["scene"] != last:  # the standing differs: the aggregates move
            moves.standings.append((op["scene"] or "", ending or ""))

    def finish(self, op: Op) -> bool:
        """`_apply_finish`, with the session read once and its class moved in memory."""
        self.write()
        conn, sid = self.conn, op["session_id"]
        kept = self.memory.sessions.get(sid) if self.memory is not None else None
        session = read_session(conn, sid, []) if kept is None else kept
        if self.memory is not None:
            self.memory.forget(sid)  # its standing and class change below
        if session is False:
            return False  # `forget` deleted this playthrough
        if session is True:  # not stored: the one-op path says what happens
            self.unsure()
            return apply_op(conn, op)
        assert isinstance(session, LiveSession)
        last, outcome, ending, _ended = old = session.standing
        new = (last, op["outcome"], op["ending_id"], op["ended_at"])
        changed = conn.execute(
            """UPDATE sessions SET outcome = ?, ending_id = ?, ending_kind = ?, ended_at = ?
            WHERE session_id = ?""",
            [op["outcome"], op["ending_id"], op["ending_kind"], op["ended_at"], sid],
        ).rowcount
        if changed and new != old:
            counts = LiveCounts()
            counts.standing(session, outcome, (last or "", ending or ""), -1)
            counts.standing(session, new[1], (last or "", new[2] or ""), 1)
            if new[3]:
                counts.active(session.story_id, new[3])
            counts.write(conn)
            if outcome != new[1]:
                class_moved(conn, session, new[1])
        return changed > 0

    def write(self, *, final: bool = False) -> None:
        """Store what was added up, and forget what was read (the next op may change it;
        `final`: there is none, so nothing is made afresh)."""
        conn = self.conn
        counts = self.counts
        moved: dict[str, str] = {}  # the last scenes the sessions move to, with their digests
        for sid, moves in self.moves.items():
            session = self.sessions[sid]
            if moves.later and isinstance(session, LiveSession) and session.standing[0]:
                moved[sid] = session.standing[0]
        self.digests.write(moved)  # first: the session's trigger then finds its copy made
        for sid, moves in self.moves.items():
            session = self.sessions[sid]
            assert isinstance(session, LiveSession)
            last, outcome, _ending, ended = session.standing
            if moves.later:
                conn.execute(
                    "UPDATE sessions SET last_scene = ?, last_scene_seq = ? WHERE session_id = ?",
                    [last, session.last_seq, sid],
                )
            if len(moves.standings) > 1:  # a standing only passed through nets nothing
                counts.standing(session, outcome, moves.standings[0], -1)
                counts.standing(session, outcome, moves.standings[-1], 1)
                if ended:
                    counts.active(session.story_id, ended)
        counts.write(conn)
        if self.labels:
            conn.executemany(_ADD_LABEL, [(*k, n) for k, n in self.labels.items()])
        if not final:
            self._reset()
