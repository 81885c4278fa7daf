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
never read back.
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
from branching.store.ops import CONTEXT_COLUMNS, COUNTED, Op, apply_op, event_row

BATCH_OPS = 20_000
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

    def __init__(self, path: Path, *, batch: int = BATCH_OPS) -> None:
        from branching.store.store import Store

        Store.open(path, create_key=False).close()  # create, check and migrate
        self.path = path
        self.batch = batch
        self.counts = BulkCounts()
        self._pending: list[Op] = []
        self._conn: sqlite3.Connection | None = db.connect(path)

    def add(self, ops: Iterable[Op]) -> None:
        """Queue `ops`, committing whenever a batch is full."""
        self._pending.extend(ops)
        if len(self._pending) >= self.batch:
            self.commit()

    def commit(self) -> None:
        """Commit what is queued, in one transaction."""
        if not self._pending or self._conn is None:
            return
        pending, self._pending = self._pending, []
        try:
            with db.immediate(self._conn) as conn:
                self._write(conn, pending)
        except sqlite3.Error as exc:
            raise db.translate(exc, self.path) from None

    def _write(self, conn: sqlite3.Connection, pending: list[Op]) -> None:
        counts = self.counts
        fresh = _fresh_sessions(conn, pending)
        rows: dict[str, dict[str, Any]] = {}
        attrs: list[tuple[str, str, str]] = []
        events: list[list[Any]] = []
        walked: Counter[tuple[str, str, str, str, str]] = Counter()
        timeouts: Counter[tuple[str, str, str, str, str]] = Counter()
        views: Counter[tuple[str, str, str]] = Counter()
        labels: Counter[tuple[str, str, str, str, str]] = Counter()
        tallies: dict[str, aggregates.Tally] = {}
        replays: dict[str, list[digests.Row]] = {}  # each session's events a digest reads
        for op in pending:
            sid = op.get("session_id")
            kind = op.get("op")
            if sid not in fresh:
                if apply_op(conn, op):
                    counts.events += kind == "event"
                    counts.sessions += kind == "session"
                else:
                    counts.skipped += 1
                continue
            if kind == "session":
                if sid in rows:
                    counts.skipped += 1
                    continue
                rows[sid] = _session_row(op)
                tallies[sid] = aggregates.Tally()
                replays[sid] = []
                attrs += [(sid, k, v) for k, v in sorted(op.get("attrs", {}).items())]
                counts.sessions += 1
            elif kind == "event":
                row = rows[sid]
                events.append(event_row(op))
                counts.events += 1
                tally = tallies[sid]
                tally.add(op["type"], op["scene"], op["choice"], op["target"], op["decide_ms"])
                if op["ts"] > tally.last_ts:
                    tally.last_ts = op["ts"]
                story = (row["story_id"], row["content_hash"])
                if op.get("label") is not None:
                    labels[(*story, op["scene"], op["choice"], op["label"])] += 1
                t = op["type"]
                if t in digests.KINDS:
                    replays[sid].append((op["seq"], t, op["scene"], op["choice"]))
                if t in COUNTED:
                    key = (*story, op["scene"] or "", op["choice"] or "", op["target"] or "")
                    walked[key] += 1
                    timeouts[key] += t == "timeout_default"
                elif t == "rewind" and row["outcome"] == "ending":
                    row.update(outcome="in_progress", ending_id=None, ending_kind=None)
                    row["ended_at"] = None
                elif t == "scene_shown":
                    views[(*story, op["scene"])] += 1
                    if row["last_scene_seq"] < op["seq"]:
                        row.update(last_scene=op["scene"], last_scene_seq=op["seq"])
            elif kind == "finish":
                rows[sid].update(
                    outcome=op["outcome"],
                    ending_id=op["ending_id"],
                    ending_kind=op["ending_kind"],
                    ended_at=op["ended_at"],
                )
            else:
                raise ValueError(f"unknown store operation {kind!r}")
        _insert(conn, rows, attrs, events, walked, timeouts, views)
        aggregates.add_tallied(conn, rows, attrs, tallies)  # summed in memory, as add_sessions
        book = digests.Codebook(conn)  # every session it creates, replayed from its ops
        digests.write(
            conn,
            [
                (sid, book.encode(digests.replay(sorted(replays[sid], key=itemgetter(0)))))
                for sid in rows
            ],
        )
        conn.executemany(
            """INSERT INTO choice_labels (story_id, content_hash, scene, choice, label, count)
            VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET count = count + excluded.count""",
            [(*key, n) for key, n in labels.items()],
        )

    def close(self) -> None:
        try:
            self.commit()
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> BulkWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None and self._conn is not None:
            self._pending.clear()  # what failed is not committed half-way
        self.close()


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
