"""The bulk write path: many ops committed in large transactions, for synthetic audiences.

A player commits each op on its own (it must be on disk before the next scene
shows); a simulator produces a million at once and waits for none of them.
`BulkWriter` commits once per `batch` ops, in one `BEGIN IMMEDIATE`
transaction each. A session whose `session` op is in the batch and which the
database does not hold yet (nor `forget` deleted) is written the fast way:
its row is worked out in memory from all its ops (last scene, outcome, a
rewind reopening an ending, exactly as `ops.py` moves it), then sessions,
attributes and events go in with `executemany` and the running totals
(`traversals`, `scene_views`, `session_ends`) with one upsert per key; the
aggregates (`aggregates.py`) of those sessions are counted in memory too
(`aggregates.Tally`) and summed over each class, in the same transaction;
`aggregates.add_sessions`, the set-based SQL of the migration's backfill,
gives the same rows. The digests of the sessions a batch creates
(`digests.py`: every session has one) are replayed from the ops in memory,
never read back. The running totals are summed from the same tallies.

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
from operator import itemgetter
from pathlib import Path
from typing import Any

from branching.store import aggregates, db, digests
from branching.store.ops import CONTEXT_COLUMNS, Op, apply_op, event_row

BATCH_OPS = 50_000  # about 900 sessions of `signal`: more sessions share each aggregate row
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
    skipped: int = 0  # ops that changed nothing (already there)


class BulkWriter:
    """Commits ops in large transactions; use as a context manager."""

    def __init__(self, path: Path, *, batch: int = BATCH_OPS, hold: int = HOLD_BATCHES) -> None:
        from branching.store.store import Store

        Store.open(path, create_key=False).close()  # create, check and migrate
        self.path = path
        self.batch = batch
        self.hold = hold
        self.counts = BulkCounts()
        self._pending: list[Op] = []
        self._held: dict[str, _Unit] = {}  # open sessions not written yet, by id
        self._conn: sqlite3.Connection | None = db.connect(path)

    def add(self, ops: Iterable[Op]) -> None:
        """Queue `ops`, committing whenever a batch is full."""
        self._pending.extend(ops)
        if len(self._pending) >= self.batch:
            self.commit()

    def commit(self, *, final: bool = False) -> None:
        """Commit what is queued, in one transaction (`final`: the sessions held too)."""
        if self._conn is None or not (self._pending or (final and self._held)):
            return
        pending, self._pending = self._pending, []
        try:
            with db.immediate(self._conn) as conn:
                self._write(conn, pending, final)
        except sqlite3.Error as exc:
            raise db.translate(exc, self.path) from None

    def _write(self, conn: sqlite3.Connection, pending: list[Op], final: bool) -> None:
        counts = self.counts
        fresh = _fresh_sessions(conn, pending)
        units = self._held  # sessions still open from earlier batches come first
        for held in units.values():
            held.age += 1
        for op in pending:
            sid = op.get("session_id")
            kind = op.get("op")
            unit = units.get(sid) if isinstance(sid, str) else None
            if unit is None:
                if kind == "session" and sid in fresh:
                    units[sid] = _Unit(op)
                    counts.sessions += 1
                elif apply_op(conn, op):
                    counts.events += kind == "event"
                    counts.sessions += kind == "session"
                else:
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
        ready: dict[str, _Unit] = {}
        self._held = {}
        for sid, unit in units.items():
            if final or unit.age >= self.hold or unit.row["outcome"] != "in_progress":
                ready[sid] = unit
            else:
                self._held[sid] = unit
        _write_units(conn, ready)

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
            self._held.clear()
        self.close()


class _Unit:
    """One session new to the database, worked out in memory from its ops."""

    __slots__ = ("row", "attrs", "events", "tally", "replay", "labels", "age")

    def __init__(self, op: Op) -> None:
        sid = op["session_id"]
        self.row = _session_row(op)
        self.attrs = [(sid, k, v) for k, v in sorted(op.get("attrs", {}).items())]
        self.events: list[list[Any]] = []
        self.tally = aggregates.Tally()
        self.replay: list[digests.Row] = []  # the events a digest reads
        self.labels: Counter[tuple[str, str, str]] = Counter()
        self.age = 0  # batches it was held over, open

    def event(self, op: Op) -> None:
        """Add one event op of the session (as `ops.apply_op` would)."""
        row = self.row
        self.events.append(event_row(op))
        t, scene, choice, seq = op["type"], op["scene"], op["choice"], op["seq"]
        tally = self.tally
        tally.add(t, scene, choice, op["target"], op["decide_ms"])
        if op["ts"] > tally.last_ts:
            tally.last_ts = op["ts"]
        label = op.get("label")
        if label is not None:
            self.labels[(scene, choice, label)] += 1
        if t in digests.KINDS:
            self.replay.append((seq, t, scene, choice))
        if t == "scene_shown":
            if row["last_scene_seq"] < seq:
                row["last_scene"] = scene
                row["last_scene_seq"] = seq
        elif t == "rewind" and row["outcome"] == "ending":
            row.update(outcome="in_progress", ending_id=None, ending_kind=None, ended_at=None)

    def finish(self, op: Op) -> None:
        self.row.update(
            outcome=op["outcome"],
            ending_id=op["ending_id"],
            ending_kind=op["ending_kind"],
            ended_at=op["ended_at"],
        )


def _write_units(conn: sqlite3.Connection, units: dict[str, _Unit]) -> None:
    """Insert the sessions of `units` with their running totals, aggregates and digests."""
    if not units:
        return
    rows = {sid: unit.row for sid, unit in units.items()}
    attrs = [a for unit in units.values() for a in unit.attrs]
    events = [e for unit in units.values() for e in unit.events]
    walked: Counter[tuple[str, str, str, str, str]] = Counter()
    timeouts: Counter[tuple[str, str, str, str, str]] = Counter()
    views: Counter[tuple[str, str, str]] = Counter()
    labels: Counter[tuple[str, str, str, str, str]] = Counter()
    for unit in units.values():
        story = (unit.row["story_id"], unit.row["content_hash"])
        for edge, (n, t) in unit.tally.edges.items():
            walked[(*story, *edge)] += n
            timeouts[(*story, *edge)] += t
        for scene, (v, _) in unit.tally.scenes.items():
            if v:
                views[(*story, scene)] += v
        for key, n in unit.labels.items():
            labels[(*story, *key)] += n
    _insert(conn, rows, attrs, events, walked, timeouts, views)
    tallies = {sid: unit.tally for sid, unit in units.items()}
    aggregates.add_tallied(conn, rows, attrs, tallies)  # summed in memory, as add_sessions
    book = digests.Codebook(conn)  # every session it creates, replayed from its ops
    digests.write(
        conn,
        [
            (sid, book.encode(digests.replay(sorted(unit.replay, key=itemgetter(0)))))
            for sid, unit in units.items()
        ],
    )
    conn.executemany(
        """INSERT INTO choice_labels (story_id, content_hash, scene, choice, label, count)
        VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET count = count + excluded.count""",
        [(*key, n) for key, n in labels.items()],
    )


def _fresh_sessions(conn: sqlite3.Connection, pending: list[Op]) -> set[str]:
    """Sessions created in `pending` that the database neither holds nor has forgotten."""
    created = {op["session_id"] for op in pending if op.get("op") == "session"}
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
    events: list[list[Any]],
    walked: Counter[tuple[str, str, str, str, str]],
    timeouts: Counter[tuple[str, str, str, str, str]],
    views: Counter[tuple[str, str, str]],
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
    conn.executemany(
        """INSERT INTO traversals (story_id, content_hash, scene, choice, target, count, timeouts)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT DO UPDATE SET count = count + excluded.count,
                                  timeouts = timeouts + excluded.timeouts""",
        [(*key, n, timeouts[key]) for key, n in walked.items()],
    )
    conn.executemany(
        """INSERT INTO scene_views (story_id, content_hash, scene, count) VALUES (?, ?, ?, ?)
        ON CONFLICT DO UPDATE SET count = count + excluded.count""",
        [(*key, n) for key, n in views.items()],
    )
    ends: Counter[tuple[str, str, str, str, str]] = Counter(
        (
            r["story_id"],
            r["content_hash"],
            r["last_scene"] or "",
            r["outcome"],
            r["ending_id"] or "",
        )
        for r in rows.values()
    )
    conn.executemany(
        """INSERT INTO session_ends (story_id, content_hash, last_scene, outcome, ending_id, count)
        VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET count = count + excluded.count""",
        [(*key, n) for key, n in ends.items()],
    )
