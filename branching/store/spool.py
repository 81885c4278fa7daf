"""The spool: events that could not be written, kept beside the database.

When the database stays unwritable (locked for too long, disk full, read-only)
the writer keeps ops in memory and retries; whatever is still unwritten when
the store closes is appended here as JSON lines (0600, fsynced) and replayed
at the next open. Replaying is idempotent (events are keyed by UUID), so a
spool that is loaded twice, or by two processes at once, counts nothing twice.

Appenders and the loader use `flock` on the spool file. The loader first
renames the spool to a private name (so new appends start a fresh file), then
locks and reads it; an appender that opened the old file re-checks after
locking that its file is still the one at the spool path, and reopens if not.
Lines that cannot be parsed (a torn last line after a crash) are moved to
`<db>.spool.rejected`, never silently dropped.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; spooling still works for one process
    fcntl = None  # type: ignore[assignment]

Record = dict[str, Any]


@contextlib.contextmanager
def _locked(handle: IO[bytes]) -> Iterator[None]:
    if fcntl is not None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _open_0600(path: Path, flags: int) -> IO[bytes]:
    fd = os.open(path, flags | os.O_CREAT, 0o600)
    return os.fdopen(fd, "r+b" if flags & os.O_RDWR else "ab")


@contextlib.contextmanager
def _open_current(path: Path, flags: int) -> Iterator[IO[bytes]]:
    """Open and lock the file that is at `path` now (not one renamed away meanwhile)."""
    while True:
        with _open_0600(path, flags) as handle, _locked(handle):
            try:
                same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                yield handle
                return


def append(path: Path, records: list[Record]) -> None:
    """Append `records` as JSON lines to the spool at `path` (created 0600), durably."""
    if not records:
        return
    data = "".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n" for r in records)
    with _open_current(path, os.O_WRONLY | os.O_APPEND) as handle:
        handle.write(data.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())


def _parse(raw: bytes) -> tuple[list[Record], list[bytes]]:
    records: list[Record] = []
    bad: list[bytes] = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            bad.append(line)
            continue
        if isinstance(record, dict) and isinstance(record.get("op"), str):
            records.append(record)
        else:
            bad.append(line)
    return records, bad


def files(path: Path) -> list[Path]:
    """Every file the spool at `path` may have left: itself, claims, rejected lines."""
    claims = sorted(path.parent.glob(path.name + ".loading.*"))
    return [path, *claims, path.with_name(path.name + ".rejected")]


def _claims(path: Path) -> list[Path]:
    """Rename the spool to a private name; also pick up claims a dead loader left."""
    claims = sorted(path.parent.glob(path.name + ".loading.*"))
    if path.exists():
        claim = path.with_name(f"{path.name}.loading.{os.getpid()}.{uuid.uuid4().hex}")
        try:
            os.rename(path, claim)
            claims.append(claim)
        except FileNotFoundError:
            pass  # another process claimed it first
    return claims


def load(path: Path, apply: Callable[[list[Record]], list[Record]]) -> int:
    """Replay every spooled record through `apply`, which returns the ones it could not write.

    Unwritten records go back to the spool; unparseable lines to `.rejected`.
    Returns the number of records written.
    """
    written = 0
    for claim in _claims(path):
        try:
            handle = open(claim, "r+b")
        except FileNotFoundError:
            continue
        with handle:
            if fcntl is not None:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live loader holds it
            records, bad = _parse(handle.read())
            left = apply(records)
            append(path, left)
            if bad:
                with _open_current(
                    path.with_name(path.name + ".rejected"), os.O_WRONLY | os.O_APPEND
                ) as rejected:
                    rejected.write(b"".join(line + b"\n" for line in bad))
                    os.fsync(rejected.fileno())
            claim.unlink(missing_ok=True)
            written += len(records) - len(left)
    return written


def rewrite(path: Path, keep: Callable[[Record], bool], drop: tuple[bytes, ...] = ()) -> int:
    """Drop the records `keep` rejects from a spool file, in place; returns how many.

    Lines that are not records (torn writes, kept for a person to look at) are
    dropped too when they contain any of the `drop` byte strings.
    """
    if not path.exists():
        return 0
    with _open_current(path, os.O_RDWR) as handle:
        records, bad = _parse(handle.read())
        kept = [r for r in records if keep(r)]
        bad = [line for line in bad if not any(needle in line for needle in drop)]
        data = b"".join(
            json.dumps(r, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"
            for r in kept
        ) + b"".join(line + b"\n" for line in bad)
        handle.seek(0)
        handle.write(data)
        handle.write(b"\0" * max(0, os.fstat(handle.fileno()).st_size - len(data)))
        handle.flush()
        os.fsync(handle.fileno())
        handle.truncate(len(data))
        os.fsync(handle.fileno())
    return len(records) - len(kept)
