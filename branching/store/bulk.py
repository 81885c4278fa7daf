"""The bulk write path: many ops committed in large transactions, for synthetic audiences.

A player commits each op on its own (it must be on disk before the next scene
shows); a simulator produces a million at once and waits for none of them.
`BulkWriter` commits once per `batch` ops, in one `BEGIN IMMEDIATE`
transaction each. A session whose `session` op is in the batch and which the
database does not hold yet (nor `forget` deleted) is written the fast way:
its row is worked out in memory from all its ops (last scene, outcome, a
rewind reopening an ending, exactly as `ops.py` moves it), then sessions,
attributes and events go in with `executemany` (the running totals
`traversals`, `scene_views`, `session_ends` are views of the aggregates since m020); the
aggregates (`aggregates.py`) of those sessions are counted in memory too
(`aggregates.Tally`) and summed over each class, a group of sessions of one
class and attribute set at a time (`aggregates.add_grouped`), in the same
transaction;
`aggregates.add_sessions`, the set-based SQL of the migration's backfill,
gives the same rows. The digests of the sessions a batch creates
(`digests.py`: every session has one) are replayed from the ops in memory,
never read back. The running totals are summed from the same tallies.
The rows keyed by session id (events, attributes, digests) go in sorted by
it: one pass over each table's pages rather than a random page per session.

A session still open at the end of its batch (in progress) is held in
memory for up to `hold` more batches before it is written: a simulated
viewer who gave up comes back a few hundred sessions later and the session
is then finished as abandoned. Written already, that finish went through the
live path, which moves the session's aggregates out of one class and into
another with a dozen statements (a tenth of the writer's time); held, it is
one more change in memory. The rows are the same either way; a session still
open after `hold` batches is written open, and `close` writes every held
session. What is held is lost with the batch when the writer fails, as the
batch itself is.

A session can also come worked out already: `prepare` turns a new session's
ops into its `SessionUnit` (rows, counts, what its digest reads) where the
ops are made, in a simulation's worker processes, so the writing process,
the one that cannot share its work, only sums and inserts; the message is
smaller too (rows, not op dicts). A prepared unit whose session the database
holds already gives its ops back (`SessionUnit.ops`, exactly as sent) and
they go the usual way, so the rows are those of the ops either way.

Everything else (the story's registration, ops for sessions committed
earlier) goes through `ops.apply_op`, the live path. A test commits the same
ops both ways and compares every table. A batch that fails rolls back whole
and raises; batches already committed stay.

Opening goes through `Store.open` (creating and migrating the file, with the
same checks as every command), and the database keeps its usual pragmas.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any

from branching.store import aggregates, db, digests
from branching.store.ops import CONTEXT_COLUMNS, SPOOL_VERSION, Op, apply_op, event_row

BATCH_OPS = 150_000  # about 2,600 sessions of `signal`: more sessions share each aggregate row
HOLD_BATCHES = 3  # batches an open session may wait for its finish before it is written
SESSION_COLUMNS = (
    "session_id", "story_id", "content_hash", "viewer_id", "started_at", "ended_at", "outcome",
    "ending_id", "ending_kind", "seed", "last_scene", "last_scene_seq",
    *CONTEXT_COLUMNS, "simulated",
)  # fmt: skip


@dataclass
class BulkCounts:
    """What a bulk write did."""

    sessions: int = 0
    events: int = 0
    skipped: int = 0  # the audience's ops that changed nothing (already there)


class BulkWriter:
    """Commits ops in large transactions; use as a context manager."""

    def __init__(self, path: Path, *, batch: int = BATCH_OPS, hold: int = HOLD_BATCHES) -> None:
        from branching.store.store import Store

        Store.open(path, create_key=False).close()  # create, check and migrate
        self.path = path
        self.batch = batch
        self.hold = hold
        self.counts = BulkCounts()
        self._pending: list[Op | SessionUnit] = []
        self._held: dict[str, SessionUnit] = {}  # open sessions not written yet, by id
        self._size = 0  # ops queued (a prepared session: its events)
        self._conn: sqlite3.Connection | None = db.connect(path)

    def add(self, ops: Iterable[Op | SessionUnit]) -> None:
        """Queue `ops` (or sessions `prepare` worked out), committing whenever a batch is full.

        A batch counts ops: a prepared session counts as its events.
        """
        for op in ops:
            self._pending.append(op)
            self._size += len(op.events) if type(op) is SessionUnit else 1
        if self._size >= self.batch:
            self.commit()

    def commit(self, *, final: bool = False) -> None:
        """Commit what is queued, in one transaction (`final`: the sessions held too)."""
        if self._conn is None or not (self._pending or (final and self._held)):
            return
        pending, self._pending, self._size = self._pending, [], 0
        try:
            with db.immediate(self._conn) as conn:
                self._write(conn, pending, final)
        except sqlite3.Error as exc:
            raise db.translate(exc, self.path) from None

    def _write(
        self, conn: sqlite3.Connection, pending: list[Op | SessionUnit], final: bool
    ) -> None:
        counts = self.counts
        fresh = _fresh_sessions(conn, pending)
        units = self._held  # sessions still open from earlier batches come first
        for held in units.values():
            held.age += 1
        for item in pending:
            if not isinstance(item, SessionUnit):
                self._one(conn, item, fresh, units)
            elif item.sid in fresh and item.sid not in units:  # worked out already (`prepare`)
                units[item.sid] = item
                counts.sessions += 1
                counts.events += len(item.events)
            else:
                for op in item.ops():  # not new after all: op by op, as it was sent
                    self._one(conn, op, fresh, units)
        ready: dict[str, SessionUnit] = {}
        self._held = {}
        for sid, unit in units.items():
            if final or unit.age >= self.hold or unit.row["outcome"] != "in_progress":
                ready[sid] = unit
            else:
                self._held[sid] = unit
        _write_units(conn, ready)

    def _one(
        self, conn: sqlite3.Connection, op: Op, fresh: set[str], units: dict[str, SessionUnit]
    ) -> None:
        """One op: into its session's unit, or a new unit, or through the live path."""
        counts = self.counts
        sid = op.get("session_id")
        kind = op.get("op")
        unit = units.get(sid) if isinstance(sid, str) else None
        if unit is None:
            if kind == "session" and sid in fresh:
                units[sid] = SessionUnit(op)
                counts.sessions += 1
            elif apply_op(conn, op):
                counts.events += kind == "event"
                counts.sessions += kind == "session"
            elif kind != "story":  # the story registered already is no record of the audience's
                counts.skipped += 1
        elif kind == "session":
            counts.skipped += 1
        elif kind == "event":
            unit.event(op)
            counts.events += 1
        elif kind == "finish":
            unit.finish(op)
        else:
            raise ValueError(f"unknown store operation {kind!r}")

    def close(self) -> None:
        try:
            self.commit(final=True)
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> BulkWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None and self._conn is not None:
            self._pending.clear()  # what failed is not committed half-way
            self._size = 0
            self._held.clear()
        self.close()


def prepare(ops: list[Op]) -> list[Op | SessionUnit]:
    """A new session's ops worked out where they were made, ready for `BulkWriter.add`.

    The ops of the session created in `ops` (its `session` op and every later
    op of it that `SessionUnit.ops` gives back exactly) become one
    `SessionUnit`, in the place of its `session` op; every other op stays as
    it is, in order. A simulation's workers call it, so the writing process
    gets each session's rows and counts made (and a smaller message: rows, not
    op dicts). The writer gives a session the database holds already back its
    ops, so the rows are those of the ops, whichever way they came.
    """
    first = next((i for i, op in enumerate(ops) if op.get("op") == "session"), None)
    if first is None or not isinstance(ops[first].get("session_id"), str):
        return list(ops)
    unit = SessionUnit.made(ops[first])
    out: list[Op | SessionUnit] = [*ops[:first], unit]
    rest = ops[first + 1 :]
    for n, op in enumerate(rest):
        if op.get("session_id") != unit.sid:
            out.append(op)  # another session's (a viewer's earlier one, finished late)
        elif not unit.take(op):
            out.extend(rest[n:])  # from here on, op by op: its events stay in order
            break
    unit.seal()
    return out


_EVENT_KEYS = (
    "v",
    "op",
    "session_id",
    "story_id",
    "content_hash",
    "seq",
    "ts",
    "type",
    "scene",
    "choice",
    "target",
    "decide_ms",
    "input",
    "label",
    "state",
)  # fmt: skip  (an event op as `ops.event_op` makes it, in its order)
_DIGEST_KINDS = digests.KINDS  # the event types a digest reads
_FINISH_KEYS = ("v", "op", "session_id", "outcome", "ending_id", "ending_kind", "ended_at")


class SessionUnit:
    """One session new to the database, worked out in memory from its ops."""

    __slots__ = (
        "sid", "row", "attrs", "events", "tally", "_replay", "_replayed", "labels", "age", "_made",
    )  # fmt: skip

    def __init__(self, op: Op) -> None:
        sid = op["session_id"]
        self.sid: str = sid
        self.row = _session_row(op)
        self.attrs = [(sid, k, v) for k, v in sorted(op.get("attrs", {}).items())]
        self.events: list[list[Any]] = []
        self.tally = aggregates.Tally()
        self._replay: list[digests.Row] | None = []  # the events a digest reads
        self._replayed: digests.Replayed | None = None  # `seal`ed: what they hold instead
        self.labels: Counter[tuple[str, str, str]] = Counter()
        self.age = 0  # batches it was held over, open
        # `prepare`'s: the session op, and each finish op with the events before it
        self._made: tuple[Op, list[tuple[int, Op]]] | None = None

    def take(self, op: Op) -> bool:
        """Add one later op of the session if `ops` can give it back exactly (`prepare`)."""
        if self._made is None:
            return False
        session, finishes = self._made
        kind = op.get("op")
        if kind == "event" and (
            tuple(op) == _EVENT_KEYS
            and op["v"] == SPOOL_VERSION
            and op["story_id"] == session["story_id"]
            and op["content_hash"] == session["content_hash"]
        ):
            self.event(op)
            return True
        if kind == "finish" and tuple(op) == _FINISH_KEYS and op["v"] == SPOOL_VERSION:
            self.finish(op)
            finishes.append((len(self.events), op))
            return True
        return False

    def ops(self) -> list[Op]:
        """The ops this unit was made of, as they were sent (`prepare`'s units only)."""
        assert self._made is not None, "only a prepared unit gives its ops back"
        session, finishes = self._made
        out: list[Op] = [session]
        story, content = session["story_id"], session["content_hash"]
        done = 0
        for before, finish in [*finishes, (len(self.events), None)]:
            for row in self.events[done:before]:
                sid, seq, ts, kind, scene, choice, target, decide_ms, input_, state, label = row
                out.append(
                    {
                        "v": SPOOL_VERSION,
                        "op": "event",
                        "session_id": sid,
                        "story_id": story,
                        "content_hash": content,
                        "seq": seq,
                        "ts": ts,
                        "type": kind,
                        "scene": scene,
                        "choice": choice,
                        "target": target,
                        "decide_ms": decide_ms,
                        "input": input_,
                        "label": label,
                        "state": state,
                    }
                )
            done = before
            if finish is not None:
                out.append(finish)
        return out

    @classmethod
    def made(cls, op: Op) -> SessionUnit:
        """A unit for the `session` op `op`, to be fed its events as rows (`row`) and its
        finish ops (`take`) where they are made: `prepare` without the event ops."""
        unit = cls(op)
        unit._made = (op, [])
        return unit

    def event(self, op: Op) -> None:
        """Add one event op of the session (as `ops.apply_op` would)."""
        self.row_event(event_row(op))

    def row_event(self, event: list[Any]) -> None:
        """Add one event of the session as its `events` row (`ops.event_row`'s columns)."""
        row = self.row
        self.events.append(event)
        _, seq, ts, t, scene, choice, target, decide_ms, _, _, label = event
        tally = self.tally
        tally.add(t, scene, choice, target, decide_ms)
        if ts > tally.last_ts:
            tally.last_ts = ts
        if label is not None:
            self.labels[(scene, choice, label)] += 1
        if t in _DIGEST_KINDS:
            replay = self._replay
            (self._rows() if replay is None else replay).append((seq, t, scene, choice, target))
        if t == "scene_shown":
            if row["last_scene_seq"] < seq:
                row["last_scene"] = scene
                row["last_scene_seq"] = seq
        elif t == "rewind" and row["outcome"] == "ending":
            row.update(outcome="in_progress", ending_id=None, ending_kind=None, ended_at=None)

    def seal(self) -> None:
        """Replay its digest's events now (`prepare`: in the worker), keeping what they hold."""
        self._replayed = self.replayed()
        self._replay = None

    def replayed(self) -> digests.Replayed:
        """What its events hold for its digest (`digests.replay`)."""
        if self._replay is None:
            assert self._replayed is not None
            return self._replayed
        return digests.replay(sorted(self._replay, key=itemgetter(0)))

    def _rows(self) -> list[digests.Row]:
        """The events a digest reads (taken back from the rows when `seal`ed)."""
        if self._replay is None:
            kinds = digests.KINDS
            self._replay = [(r[1], r[3], r[4], r[5], r[6]) for r in self.events if r[3] in kinds]
            self._replayed = None
        return self._replay

    def finish(self, op: Op) -> None:
        self.row.update(
            outcome=op["outcome"],
            ending_id=op["ending_id"],
            ending_kind=op["ending_kind"],
            ended_at=op["ended_at"],
        )


def _write_units(conn: sqlite3.Connection, units: dict[str, SessionUnit]) -> None:
    """Insert the sessions of `units` with their running totals, aggregates and digests."""
    if not units:
        return
    rows = {sid: unit.row for sid, unit in units.items()}
    attrs = [a for unit in units.values() for a in unit.attrs]
    # the keyed tables take their rows in key order: one pass over the b-tree's pages
    # instead of a random page for each session (session ids are random)
    events = chain.from_iterable(units[sid].events for sid in sorted(units))
    _insert(conn, rows, sorted(attrs), events)
    tallies = {sid: unit.tally for sid, unit in units.items()}
    firsts = aggregates.add_grouped(conn, rows, attrs, tallies)  # as add_sessions sums them
    book = digests.Codebook(conn)  # every session it creates, replayed from its ops
    made = [(sid, book.encode(unit.replayed())) for sid, unit in units.items()]  # codes in order
    made.sort(key=itemgetter(0))
    if digests.level(conn) != digests.EDGES:
        digests.write(conn, made)
        return _write_labels(conn, units)
    whole = []  # with their copies of the session: no insert trigger has work left
    plain = []  # an attribute not plain text: the triggers copy it, as ever
    copied = digests.COPIED
    for sid, digest in made:
        literal = digests.attrs_literal((k, v) for _, k, v in units[sid].attrs)
        if literal is None:
            plain.append((sid, digest))
        else:
            row = rows[sid]
            whole.append((sid, digest, tuple(row[c] for c in copied), int(sid in firsts), literal))
    digests.insert_whole(conn, whole)
    digests.write(conn, plain)
    _write_labels(conn, units)


def _write_labels(conn: sqlite3.Connection, units: dict[str, SessionUnit]) -> None:
    """Add the choice labels of `units`' events to `choice_labels`."""
    labels: Counter[tuple[str, str, str, str, str]] = Counter()
    for unit in units.values():
        story = (unit.row["story_id"], unit.row["content_hash"])
        for key, n in unit.labels.items():
            labels[(*story, *key)] += n
    conn.executemany(
        """INSERT INTO choice_labels (story_id, content_hash, scene, choice, label, count)
        VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET count = count + excluded.count""",
        [(*key, n) for key, n in labels.items()],
    )


def _fresh_sessions(conn: sqlite3.Connection, pending: list[Op | SessionUnit]) -> set[str]:
    """Sessions created in `pending` that the database neither holds nor has forgotten."""
    created = {
        op.sid if isinstance(op, SessionUnit) else op["session_id"]
        for op in pending
        if isinstance(op, SessionUnit) or op.get("op") == "session"
    }
    if not created:
        return set()
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS bulk_new (session_id TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM temp.bulk_new")
    conn.executemany("INSERT OR IGNORE INTO temp.bulk_new VALUES (?)", [(s,) for s in created])
    known = {
        row[0]
        for row in conn.execute(
            """SELECT n.session_id FROM temp.bulk_new n
            WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = n.session_id)
               OR EXISTS (SELECT 1 FROM forgotten_sessions f WHERE f.session_id = n.session_id)"""
        )
    }
    return created - known


def _session_row(op: Op) -> dict[str, Any]:
    context = op.get("context") or {}
    row: dict[str, Any] = {column: None for column in SESSION_COLUMNS}
    row.update(
        session_id=op["session_id"],
        story_id=op["story_id"],
        content_hash=op["content_hash"],
        viewer_id=op["viewer_id"],
        started_at=op["started_at"],
        outcome="in_progress",
        seed=op.get("seed"),
        last_scene_seq=0,
        simulated=int(op.get("simulated") is True),
        **{k: context.get(k) for k in CONTEXT_COLUMNS},
    )
    return row


def _insert(
    conn: sqlite3.Connection,
    rows: dict[str, dict[str, Any]],
    attrs: list[tuple[str, str, str]],
    events: Iterable[list[Any]],
) -> None:
    columns = ", ".join(SESSION_COLUMNS)
    marks = ", ".join("?" for _ in SESSION_COLUMNS)
    conn.executemany(
        f"INSERT INTO sessions ({columns}) VALUES ({marks})",
        [[row[c] for c in SESSION_COLUMNS] for row in rows.values()],
    )
    conn.executemany("INSERT INTO session_attrs (session_id, key, value) VALUES (?, ?, ?)", attrs)
    conn.executemany(
        """INSERT INTO events (session_id, seq, ts, type, scene, choice, target,
                               decide_ms, input, state, label)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        events,
    )
    # `traversals`, `scene_views` and `session_ends` are views of the aggregates (m020):
    # `aggregates.add_grouped` keeps them
