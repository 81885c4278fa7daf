"""Loading spooled records into the database: in batches, each record on its own.

`apply_batch(conn, records)` is the `apply` that `spool.load` calls. A batch is
one `BEGIN IMMEDIATE` transaction (one fsync for up to a few hundred records)
and every record in it runs inside its own savepoint, so a record that cannot
load is rolled back alone and the others are committed.

Which failures stop loading, and which set one record aside, is decided by
`db.classify`:

- A fault of the file (`Fault.BUSY`, `READONLY`, `FULL`, `IO`, `CORRUPT`,
  `NOT_A_DATABASE`), or of the moment (SQLite's SCHEMA, INTERRUPT, NOMEM and
  ABORT codes, a `MemoryError`), says nothing about the record: the whole
  batch is rolled back and `spool.Blocked` is raised, so the batch and
  everything after it wait, in order, for a later load. So does a failure of
  `BEGIN` or `COMMIT` itself, unless SQLite refused a record there.
- Anything else met while applying one record is about that record and can
  only happen again: SQLite refused it (a constraint, its size), the record is
  malformed (a missing field: `KeyError`; a wrong type: `TypeError`; a seed
  beyond SQLite's 64-bit integers: `OverflowError`), or SQLite gave another
  error for it. It is rejected with its reason (`spool` moves it to
  `.rejected`), and loading goes on. A record from a spool is data read from
  a file, so even an error of the bug class is the record's, not a reason to
  hold every later record back forever; the writer, which applies records the
  program just built, still treats such an error as a bug (see `writer.py`).
- A record written by a newer branching (a higher `"v"`) is kept for it.

If SQLite rolls the whole transaction back on a record's error, or the commit
itself fails for a reason of a record (a deferred check), the batch is retried
without the records already rejected, or one record at a time.
"""

from __future__ import annotations

import sqlite3

from branching.store import db
from branching.store.db import Fault, classify
from branching.store.ops import SPOOL_VERSION, apply_op
from branching.store.spool import Applied, Blocked, Record

FILE_FAULTS = frozenset(
    {Fault.BUSY, Fault.READONLY, Fault.FULL, Fault.IO, Fault.CORRUPT, Fault.NOT_A_DATABASE}
)
REASON_CHARS = 300


def describe(exc: BaseException) -> str:
    """One line saying what `exc` was, for the .rejected file and warnings."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


# Result codes that say "not now" whatever the record (db.classify calls them OTHER).
_NOT_NOW = frozenset(
    {sqlite3.SQLITE_SCHEMA, sqlite3.SQLITE_INTERRUPT, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_ABORT}
)


def blocks(exc: BaseException) -> bool:
    """True when `exc` is about the database file (or the moment), not about the record."""
    if isinstance(exc, MemoryError):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(exc, sqlite3.Error) and isinstance(code, int) and code & 0xFF in _NOT_NOW:
        return True
    return classify(exc) in FILE_FAULTS


def probe(conn: sqlite3.Connection) -> str | None:
    """Why the database cannot take a write now (it is locked), or None: it may.

    `BEGIN IMMEDIATE` takes the write lock and is rolled back at once: this
    tells a locked database from a free one without claiming the spool. A
    read-only or full database is only found out by a write (`Blocked`).
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except Exception as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return describe(exc) if blocks(exc) else None
    return None


class _Again(Exception):
    """SQLite rolled the transaction back for one record: run the batch again without it."""


def apply_batch(conn: sqlite3.Connection, records: list[Record]) -> Applied:
    """Write `records` in one transaction, each in its own savepoint (see the docstring)."""
    applied = Applied()
    for i, record in enumerate(records):
        version = record.get("v", SPOOL_VERSION)
        if type(version) is not int:
            applied.rejected[i] = f"unknown spool format version {version!r}"
        elif version > SPOOL_VERSION:
            applied.kept.append(i)  # written by a newer branching: keep it for that version
    skip = set(applied.kept)
    while True:
        try:
            _run(conn, records, applied, skip)
        except _Again:
            continue
        except Blocked:
            raise
        except Exception as exc:  # BEGIN, a savepoint or COMMIT failed, not one record
            if classify(exc) is not Fault.BAD_RECORD:
                raise Blocked(describe(exc)) from exc
            left = [i for i in range(len(records)) if i not in skip and i not in applied.rejected]
            if len(left) > 1:
                return _one_by_one(conn, records, applied, skip)
            for i in left:
                applied.rejected[i] = describe(exc)
        return applied


def _run(conn: sqlite3.Connection, records: list[Record], applied: Applied, skip: set[int]) -> None:
    with db.immediate(conn):
        for i, record in enumerate(records):
            if i in skip or i in applied.rejected:
                continue
            conn.execute("SAVEPOINT spooled")
            try:
                apply_op(conn, record)
            except Exception as exc:
                if blocks(exc):
                    raise Blocked(describe(exc)) from exc
                applied.rejected[i] = describe(exc)
                if not conn.in_transaction:
                    raise _Again from None
                conn.execute("ROLLBACK TO spooled")
            conn.execute("RELEASE spooled")


def _one_by_one(
    conn: sqlite3.Connection, records: list[Record], applied: Applied, skip: set[int]
) -> Applied:
    """A commit failed for a reason of some record: find which, one transaction each."""
    for i, record in enumerate(records):
        if i in skip or i in applied.rejected:
            continue
        single = apply_batch(conn, [record])
        if single.rejected:
            applied.rejected[i] = single.rejected[0]
    return applied
