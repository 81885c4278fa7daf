"""Erasure: `forget` one viewer entirely, `prune` raw events older than a date.

`forget` deletes the viewer's sessions, attributes and events in one
`BEGIN IMMEDIATE` transaction, rebuilds the totals (pruned part + recount),
then runs `VACUUM` and `wal_checkpoint(TRUNCATE)`: with `secure_delete` on,
that leaves no byte of the viewer's id in the database or its -wal file. It
also strips the viewer's records from the spool. If another program holds the
database open, the checkpoint cannot truncate the log: the result says so and
running `forget` again later finishes the job. Counts of events that were
pruned before are anonymous and stay in the totals.

`prune` moves the counts of the events it deletes into the pruned part of the
totals in the same transaction, so totals never change.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from branching.store import db, spool, totals
from branching.store.clock import parse_cutoff
from branching.store.paths import sidecar_paths, spool_path
from branching.store.records import ForgetResult, PruneResult
from branching.store.store import Store


def _prepare(path: Path, viewer_key: Path | None = None) -> Store:
    """Open (migrate, load the spool) without creating anything."""
    return Store.open(path, create=False, viewer_key=viewer_key, create_key=False)


def forget(path: Path, viewer: str, *, viewer_key: Path | None = None) -> ForgetResult:
    """Delete every row of `viewer` and make sure none of its bytes remain in the files."""
    store = _prepare(path, viewer_key)
    try:
        vid = store.viewer_id(viewer)
    finally:
        store.close()
    conn = db.connect(path)
    try:
        with db.immediate(conn):
            mine = "SELECT session_id FROM sessions WHERE viewer_id = ?"
            sessions = {row[0] for row in conn.execute(mine, [vid])}
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
    return ForgetResult(sessions=len(sessions), events=events, spooled=spooled, fully_erased=erased)


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


def prune(path: Path, before: str) -> PruneResult:
    """Drop raw events older than `before` (a date or date-time, UTC if naive); keep totals."""
    cutoff = parse_cutoff(before)
    _prepare(path).close()
    conn = db.connect(path)
    try:
        with db.immediate(conn):
            totals.move_to_pruned(conn, cutoff)
            count = conn.execute("DELETE FROM events WHERE ts < ?", [cutoff]).rowcount
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        raise db.translate(exc, path) from None
    finally:
        conn.close()
    return PruneResult(events=count, cutoff=cutoff)


def wal_size(path: Path) -> int:
    """Bytes in the database's -wal file (0 when absent)."""
    wal = sidecar_paths(path)[0]
    return wal.stat().st_size if wal.exists() else 0
