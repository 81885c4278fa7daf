"""Erasure: `forget` one viewer entirely, `prune` raw events older than a date.

`forget` deletes the viewer's sessions, attributes and events in one
`BEGIN IMMEDIATE` transaction, rebuilds the totals (pruned part + recount),
then runs `VACUUM` and `wal_checkpoint(TRUNCATE)`: with `secure_delete` on,
that leaves no byte of the viewer's id in the database or its -wal file. It
also strips the viewer's records from the spool. If another program holds the
database open, the checkpoint cannot truncate the log: the result says so and
running `forget` again later finishes the job. Counts of events that were
pruned before are anonymous and stay in the totals.

A playthrough still in progress when its viewer is forgotten has a player
that carries on sending events. `forget` lists every playthrough it deletes
in `forgotten_sessions` (their random ids, never the viewer's), in the same
transaction, and every op for a listed playthrough is dropped when it arrives
from its player or a spool (`ops.apply_op`), and skipped by `merge`: nothing
it sends later is recorded, and nothing is left failing in the spool. The
result says how many were still in progress. A playthrough whose start had not
reached the database at all while `forget` ran (it sat in a player's memory
behind a lock) is not known to it: run `forget` again once that player stops.

The viewer is found with `viewers.lookup_id`: a name that matches nothing
under a key that recorded none of the database's viewers is an error.

Both refuse a missing or empty (0-byte) file rather than create a schema.

`prune` moves the counts of the events it deletes into the pruned part of the
totals in the same transaction, so totals never change. The aggregates
(`aggregates.py`) follow the events held, as a scan would: the sessions that
lose events are uncounted before the delete and counted again after it, and
their digests (`digests.py`) are replayed from the events they keep. A
forgotten session's digest goes with its row (`ON DELETE CASCADE`).
`forget` and `forget --simulated` recount them with the totals (`rebuild`). An event kept right
after one it deletes gets its whole state as a snapshot (the stored state is
a patch against the event before, `states.py`), so every state left can
still be exported.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from branching.store import aggregates, db, digests, spool, states, totals
from branching.store.clock import now_ts, parse_cutoff
from branching.store.paths import sidecar_paths, spool_path
from branching.store.records import ForgetResult, PrunePlan, PruneResult
from branching.store.store import Store
from branching.store.viewers import lookup_id


def _prepare(path: Path) -> None:
    """Migrate and load the spool of an existing, non-empty database; create nothing."""
    db.require_recorded(path)
    Store.open(path, create=False, create_key=False).close()


def forget(path: Path, viewer: str, *, viewer_key: Path | None = None) -> ForgetResult:
    """Delete every row of `viewer` and make sure none of its bytes remain in the files."""
    _prepare(path)
    conn = db.connect(path)
    try:
        vid = lookup_id(conn, path, viewer, viewer_key)
        with db.immediate(conn):
            mine = "SELECT session_id FROM sessions WHERE viewer_id = ?"
            outcomes: dict[str, str] = dict(
                conn.execute(
                    "SELECT session_id, outcome FROM sessions WHERE viewer_id = ?", [vid]
                ).fetchall()
            )
            sessions = set(outcomes)
            conn.executemany(
                "INSERT INTO forgotten_sessions (session_id, forgotten_at) VALUES (?, ?) "
                "ON CONFLICT DO NOTHING",
                [(session_id, now_ts()) for session_id in sorted(sessions)],
            )
            events = conn.execute(
                f"DELETE FROM events WHERE session_id IN ({mine})", [vid]
            ).rowcount
            conn.execute(f"DELETE FROM session_attrs WHERE session_id IN ({mine})", [vid])
            conn.execute("DELETE FROM sessions WHERE viewer_id = ?", [vid])
            totals.rebuild(conn)
        erased = _scrub(conn, path)
    except sqlite3.Error as exc:
        raise db.translate(exc, path) from None
    finally:
        conn.close()
    keep = _not_of(vid, sessions)
    drop = (vid.encode(), *(s.encode() for s in sessions))
    spooled = sum(spool.rewrite(f, keep, drop) for f in spool.files(spool_path(path)))
    unfinished = sum(outcome == "in_progress" for outcome in outcomes.values())
    return ForgetResult(
        sessions=len(sessions),
        events=events,
        spooled=spooled,
        fully_erased=erased,
        unfinished=unfinished,
    )


def forget_simulated(path: Path, story: str | None = None) -> tuple[int, int]:
    """Delete the sessions `branching simulate` played (of `story`, or all); (sessions, events).

    A rehearsal goes as it came: its sessions, attributes and events in one
    transaction, the totals rebuilt (pruned part + recount), the file compacted.
    They are not listed in `forgotten_sessions`: nobody is behind them, and the
    same audience may be simulated again.
    """
    _prepare(path)
    conn = db.connect(path)
    try:
        picked = "SELECT session_id FROM sessions WHERE simulated = 1"
        params: list[str] = []
        if story is not None:
            picked += " AND story_id = ?"
            params.append(story)
        with db.immediate(conn):
            events = conn.execute(
                f"DELETE FROM events WHERE session_id IN ({picked})", params
            ).rowcount
            conn.execute(f"DELETE FROM session_attrs WHERE session_id IN ({picked})", params)
            sessions = conn.execute(
                f"DELETE FROM sessions WHERE session_id IN ({picked})", params
            ).rowcount
            totals.rebuild(conn)
        _scrub(conn, path)
    except sqlite3.Error as exc:
        raise db.translate(exc, path) from None
    finally:
        conn.close()
    return sessions, events


def _scrub(conn: sqlite3.Connection, path: Path) -> bool:
    """VACUUM and truncate the WAL; True when the log is empty afterwards."""
    conn.execute("VACUUM")
    busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return busy == 0 and wal_size(path) == 0


def _not_of(vid: str, sessions: set[str]) -> Any:
    """A spool filter keeping every record that is not the viewer's (file order)."""
    theirs = set(sessions)

    def keep(record: dict[str, Any]) -> bool:
        if record.get("op") == "session" and record.get("viewer_id") == vid:
            theirs.add(str(record.get("session_id")))
            return False
        return record.get("session_id") not in theirs

    return keep


def prune_plan(path: Path, before: str) -> PrunePlan:
    """What `prune(path, before)` would drop, read without changing anything."""
    cutoff = parse_cutoff(before)
    _prepare(path)
    conn = db.reader(path)
    try:
        events, sessions, first, last = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT session_id), MIN(ts), MAX(ts) FROM events "
            "WHERE ts < ?",
            [cutoff],
        ).fetchone()
        kept = conn.execute("SELECT COUNT(*) FROM events WHERE ts >= ?", [cutoff]).fetchone()[0]
        unfinished = conn.execute(
            """SELECT COUNT(*) FROM sessions s WHERE s.outcome = 'in_progress'
            AND EXISTS (SELECT 1 FROM events e WHERE e.session_id = s.session_id AND e.ts < ?)""",
            [cutoff],
        ).fetchone()[0]
    except sqlite3.Error as exc:
        raise db.translate(exc, path) from None
    finally:
        conn.close()
    return PrunePlan(cutoff, events, sessions, unfinished, first, last, kept)


def prune(path: Path, before: str) -> PruneResult:
    """Drop raw events older than `before` (a date or date-time, UTC if naive); keep totals."""
    cutoff = parse_cutoff(before)
    _prepare(path)
    conn = db.connect(path)
    try:
        with db.immediate(conn):
            totals.move_to_pruned(conn, cutoff)
            aggregates.prune_out(conn, cutoff)
            digests.mark(conn, "SELECT DISTINCT session_id FROM events WHERE ts < ?", [cutoff])
            anchors = _anchors_after_prune(conn, cutoff)
            count = conn.execute("DELETE FROM events WHERE ts < ?", [cutoff]).rowcount
            conn.executemany(
                "UPDATE events SET state = ? WHERE session_id = ? AND seq = ?", anchors
            )
            aggregates.prune_in(conn)
            digests.refresh_marked(conn)  # those sessions' digests: from the events they keep
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        raise db.translate(exc, path) from None
    finally:
        conn.close()
    return PruneResult(events=count, cutoff=cutoff)


def _anchors_after_prune(conn: sqlite3.Connection, cutoff: str) -> list[tuple[str, str, int]]:
    """Snapshots for the kept events whose event before is pruned (`states.py`).

    An event stores its state as a patch against the event before it; where
    that one goes, the kept event gets its whole state, so export and resume
    still read every state that is left.
    """
    sessions = [
        row[0]
        for row in conn.execute(
            """SELECT DISTINCT session_id FROM events WHERE ts < ?
            INTERSECT SELECT DISTINCT session_id FROM events WHERE ts >= ?""",
            [cutoff, cutoff],
        )
    ]
    out: list[tuple[str, str, int]] = []
    for session_id in sessions:
        reader = states.StateReader()
        dropped_before = False
        rows = conn.execute(
            "SELECT seq, ts, state FROM events WHERE session_id = ? ORDER BY seq", [session_id]
        )
        for seq, ts, stored in rows:
            state = reader.read_text(seq, stored)
            dropped = ts < cutoff
            if dropped_before and not dropped and state is not None:
                out.append((states.dumps(states.snapshot(state)), session_id, seq))
            dropped_before = dropped
    return out


def wal_size(path: Path) -> int:
    """Bytes in the database's -wal file (0 when absent)."""
    wal = sidecar_paths(path)[0]
    return wal.stat().st_size if wal.exists() else 0
