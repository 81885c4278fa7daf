"""The spool: events that could not be written, kept beside the database.

When the database cannot be written within the writer's short window (locked
by a long `prune` or `forget`, disk full, read-only), the writer appends the
event here, as one JSON line, and fsyncs it before the player moves on; every
later event of the run follows it here, in order, until the spool has been
loaded back (see `writer.py`). Replaying is idempotent (events are keyed by
UUID), so a spool that is loaded twice, or by two processes at once, counts
nothing twice.

Files. Every file written here is opened with `O_NOFOLLOW` and created with
`O_CREAT | O_EXCL` at mode 0600 (the directory entry is fsynced after a
creation). A symbolic link, a hard link, something that is not a plain file
(a FIFO), or a file of another user is refused with `UnsafeFile` and never
read, renamed, written or re-moded: in a shared folder, `DB.spool ->
secret` must not be copied anywhere, nor a planted link appended to.

Loading. The loader renames the spool to a claim,
`<spool>.loading.<time_ns>.<pid>.<random>` (so new appends start a fresh
file, and claims sort in the order they were taken), locks it and streams it:
records are read line by line and handed to `apply` in batches of bounded size,
never the whole file at once. `apply` says which records of a batch can never
load (they go to `<spool>.rejected`, each with a `"rejected"` key giving the
reason) and which a newer branching wrote (they go back to the spool), or
raises `Blocked` when the database cannot be written now. Loading then stops,
and the claim is renamed to `...+<offset>` so that the next load continues at
the first record not yet written, before anything newer; a claim held by
another live loader stops loading the same way, because what follows it may
depend on it (a session's events need its session row). Lines that are not
records (a torn last line after a crash) are moved to `.rejected` as they are.

Appenders and the loader use `flock` on the spool file; an appender that
opened the old file re-checks after locking that its file is still the one at
the spool path, and reopens if not.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from branching.store.errors import UnsafeFile

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; spooling still works for one process
    fcntl = None  # type: ignore[assignment]

Record = dict[str, Any]

BATCH_RECORDS = 256  # records handed to `apply` at once
BATCH_BYTES = 4 << 20  # ...or fewer, when they add up to this many bytes
MAX_LINE = 32 << 20  # a longer line is not parsed: it is moved to .rejected as it is
CHUNK = 1 << 20
REASONS_KEPT = 3  # reasons remembered in a SpoolLoad for the warning

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # so a planted FIFO cannot hang us at open
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class Blocked(Exception):
    """Raised by a loader's `apply`: the database cannot take records now; the rest wait."""


@dataclass
class Applied:
    """What `apply` did with a batch: every record was written, except these."""

    rejected: dict[int, str] = field(default_factory=dict)  # index -> why it can never load
    kept: list[int] = field(default_factory=list)  # indexes a newer branching must load


@dataclass
class SpoolLoad:
    """What one `load` did."""

    written: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)  # the first few reasons for rejecting
    kept: int = 0  # records written by a newer branching, left in the spool
    blocked: str | None = None  # why loading stopped early (the rest waits, in order)
    interrupted: bool = False  # `should_stop` asked to stop; the rest waits, in order
    refused: list[str] = field(default_factory=list)  # files refused (links, not ours)

    @property
    def complete(self) -> bool:
        """Every claim was read to its end (nothing waits for a later load)."""
        return self.blocked is None and not self.interrupted

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < REASONS_KEPT and reason not in self.reasons:
            self.reasons.append(reason)


# -- opening files safely ------------------------------------------------------------


def rejected_path(path: Path) -> Path:
    """Where records and lines that can never load are kept, for a person to look at."""
    return path.with_name(path.name + ".rejected")


def _refusal(info: os.stat_result) -> str | None:
    """Why the file `info` describes must not be used as a spool file, or None."""
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a plain file"
    if info.st_nlink > 1:
        return "it has other names (hard links)"
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        return "it belongs to another user"
    return None


def _refused(path: Path, reason: str) -> UnsafeFile:
    return UnsafeFile(
        f"refusing to use {path}: {reason}; the store only uses plain files it created "
        "(move it away)"
    )


def check(path: Path) -> None:
    """Raise `UnsafeFile` unless `path` is absent or a plain file of ours (not followed)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    reason = _refusal(info)
    if reason is not None:
        raise _refused(path, reason)


def _open_fd(path: Path, flags: int, *, create: bool) -> tuple[int, bool]:
    """A descriptor for the plain file at `path`, never through a link; (fd, created).

    With `create`, a missing file is created 0600 with `O_EXCL`; an existing
    file keeps its mode.
    """
    base = flags | _NOFOLLOW | _NONBLOCK | _CLOEXEC
    while True:
        created = False
        try:
            fd = os.open(path, base)
        except FileNotFoundError:
            if not create:
                raise
            try:
                fd = os.open(path, base | os.O_CREAT | os.O_EXCL, 0o600)
                created = True
            except FileExistsError:
                continue  # another process created it first: open that one
        except OSError:
            check(path)  # a link (ELOOP), a FIFO without reader (ENXIO): say which
            raise
        try:
            reason = _refusal(os.fstat(fd))
        except BaseException:
            os.close(fd)
            raise
        if reason is not None:
            os.close(fd)
            raise _refused(path, reason)
        if _NONBLOCK and fcntl is not None:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_NONBLOCK)
        return fd, created


def _sync_dir(path: Path) -> None:
    """Make a new directory entry in `path`'s folder durable (best effort off POSIX)."""
    try:
        fd = os.open(path.parent, os.O_RDONLY | _CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _lock(fd: int, *, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive flock on `fd`; yields False when `wait` is off and it is taken."""
    if fcntl is None:
        yield True
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        yield False
        return
    try:
        yield True
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def _open_current(path: Path, flags: int, *, create: bool) -> Iterator[IO[bytes]]:
    """Open and lock the file that is at `path` now (not one renamed away meanwhile)."""
    while True:
        fd, created = _open_fd(path, flags, create=create)
        with os.fdopen(fd, "r+b" if flags & os.O_RDWR else "ab") as handle, _lock(fd):
            try:
                same = os.lstat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                if created:
                    _sync_dir(path)
                yield handle
                return


def _line(record: Record) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


def _append_bytes(path: Path, data: bytes) -> None:
    with _open_current(path, os.O_WRONLY | os.O_APPEND, create=True) as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def append(path: Path, records: list[Record]) -> None:
    """Append `records` as JSON lines to the spool at `path` (created 0600), durably.

    Returns once the lines are fsynced. Raises `UnsafeFile` for a link or a
    file that is not ours, `OSError` when the disk refuses.
    """
    if records:
        _append_bytes(path, b"".join(_line(r) for r in records))


# -- reading ----------------------------------------------------------------------------


def _parse(line: bytes) -> Record | None:
    """The record on `line`, or None when it is not one (torn, not JSON, not an op)."""
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if isinstance(record, dict) and isinstance(record.get("op"), str):
        return record
    return None


# -- loading ------------------------------------------------------------------------------

_CLAIM = ".loading."


def _claim_key(path: Path, claim: Path) -> tuple[int, str]:
    """Claims sort by when they were taken (older names, without a time, first)."""
    rest = claim.name[len(path.name) + len(_CLAIM) :]
    first = rest.split(".", 1)[0]
    return (int(first) if first.isdigit() and len(first) >= 19 else 0), claim.name


def _progress(claim: Path) -> tuple[Path, int]:
    """A claim's name without its progress mark, and the offset where loading continues."""
    name, sep, mark = claim.name.rpartition("+")
    if sep and mark.isdigit():
        return claim.with_name(name), int(mark)
    return claim, 0


def _marked(base: Path, offset: int) -> Path:
    return base if offset == 0 else base.with_name(f"{base.name}+{offset}")


def claims(path: Path) -> list[Path]:
    """Claims of the spool at `path` left by loaders (dead, stopped, or live), oldest first."""
    found = path.parent.glob(path.name + _CLAIM + "*")
    return sorted(found, key=lambda c: _claim_key(path, c))


def exists(path: Path) -> bool:
    """True when the spool at `path` or a claim of it is there (something may wait)."""
    return os.path.lexists(path) or bool(claims(path))


def files(path: Path) -> list[Path]:
    """Every file the spool at `path` may have left: itself, claims, rejected lines."""
    return [path, *claims(path), rejected_path(path)]


def _take(path: Path, result: SpoolLoad) -> Path | None:
    """Rename the spool to a new claim; None when there is none (or it is refused)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    reason = _refusal(info)
    if reason is not None:
        result.refused.append(str(_refused(path, reason)))
        return None
    claim = path.with_name(
        f"{path.name}{_CLAIM}{time.time_ns():020d}.{os.getpid()}.{uuid.uuid4().hex[:12]}"
    )
    try:
        os.rename(path, claim)
    except FileNotFoundError:
        return None  # another process claimed it first
    return claim


def load(
    path: Path,
    apply: Callable[[list[Record]], Applied],
    should_stop: Callable[[], bool] | None = None,
    ready: Callable[[], str | None] | None = None,
) -> SpoolLoad:
    """Replay the spool at `path` (and claims left before) through `apply`, streaming.

    See the module docstring. `ready()`, asked first when there is anything to
    load, says why the database cannot take records now (then nothing is
    claimed) or None. Returns what was written, rejected, kept, and whether
    (and why) loading stopped before the end.
    """
    result = SpoolLoad()
    if not exists(path):
        return result
    if ready is not None and (reason := ready()) is not None:
        result.blocked = reason
        return result
    pending = claims(path)
    mine = _take(path, result)
    if mine is not None:
        pending.append(mine)
    for claim in pending:
        try:
            fd, _ = _open_fd(claim, os.O_RDONLY, create=False)
        except FileNotFoundError:
            continue  # another loader finished it
        except UnsafeFile as exc:
            result.refused.append(str(exc))
            continue
        with os.fdopen(fd, "rb") as handle, _lock(fd, wait=claim == mine) as locked:
            if not locked:
                result.blocked = f"another program is loading {claim.name}"
                return result
            try:
                if os.lstat(claim).st_ino != os.fstat(fd).st_ino:
                    continue
            except FileNotFoundError:
                continue  # another loader finished it while we waited
            if not _Loader(claim, path, handle, apply, result).run(should_stop):
                return result
    return result


class _Loader:
    """Loads one locked claim in batches, remembering in its name how far it got."""

    def __init__(
        self,
        claim: Path,
        spool: Path,
        handle: IO[bytes],
        apply: Callable[[list[Record]], Applied],
        result: SpoolLoad,
    ) -> None:
        self.claim = claim
        self.spool = spool
        self.handle = handle
        self.apply = apply
        self.result = result
        self.base, self.begin = _progress(claim)  # begin: the first byte not yet loaded
        self.batch: list[Record] = []
        self.bad: list[bytes] = []
        self.size = 0

    def run(self, should_stop: Callable[[], bool] | None) -> bool:
        """Load to the end (True, the claim is removed) or stop (False, it is marked)."""
        handle = self.handle
        handle.seek(self.begin)
        pos = self.begin
        while True:
            line = handle.readline(MAX_LINE + 1)
            if not line:
                break
            start, pos = pos, pos + len(line)
            if len(line) > MAX_LINE and not line.endswith(b"\n"):
                if not self.flush(start):
                    return False
                pos = self.move_oversized(line, pos)
                self.result.reject(f"a line longer than {MAX_LINE >> 20} MB")
                self.mark(pos)
                continue
            body = line.rstrip(b"\r\n")
            if body.strip():
                record = _parse(body)
                if record is None:
                    self.bad.append(body + b"\n")
                else:
                    self.batch.append(record)
                self.size += len(body)
            if len(self.batch) + len(self.bad) >= BATCH_RECORDS or self.size >= BATCH_BYTES:
                if not self.flush(pos):
                    return False
                if should_stop is not None and should_stop():
                    self.result.interrupted = True
                    return False
        if not self.flush(pos):
            return False
        self.claim.unlink(missing_ok=True)
        return True

    def flush(self, end: int) -> bool:
        """Hand the batch (the lines up to `end`) to `apply`; False when it is blocked."""
        batch, bad = self.batch, self.bad
        rejected: list[Record] = []
        if batch:
            try:
                applied = self.apply(batch)
            except Blocked as exc:
                self.result.blocked = str(exc) or "the database cannot be written now"
                self.mark(self.begin)
                return False
            for i, reason in sorted(applied.rejected.items()):
                rejected.append({**batch[i], "rejected": reason})
                self.result.reject(reason)
            kept = [batch[i] for i in applied.kept]
            self.result.kept += len(kept)
            self.result.written += len(batch) - len(rejected) - len(kept)
            append(self.spool, kept)
        lines = b"".join(_line(r) for r in rejected) + b"".join(bad)
        if lines:
            _append_bytes(rejected_path(self.spool), lines)
        for _ in bad:
            self.result.reject("a line that is not a telemetry record (torn or damaged)")
        self.batch, self.bad, self.size = [], [], 0
        self.mark(end)
        return True

    def move_oversized(self, head: bytes, pos: int) -> int:
        """Copy a line too long to parse to .rejected as it is, chunk by chunk; its end."""
        with _open_current(
            rejected_path(self.spool), os.O_WRONLY | os.O_APPEND, create=True
        ) as out:
            out.write(head)
            chunk = head
            while not chunk.endswith(b"\n"):
                chunk = self.handle.readline(CHUNK)
                if not chunk:
                    out.write(b"\n")
                    break
                pos += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        return pos

    def mark(self, offset: int) -> None:
        """Remember in the claim's name that loading continues at `offset`."""
        self.begin = offset
        target = _marked(self.base, offset)
        if target != self.claim:
            os.rename(self.claim, target)
            self.claim = target


# -- rewriting (forget) -----------------------------------------------------------------


def rewrite(path: Path, keep: Callable[[Record], bool], drop: tuple[bytes, ...] = ()) -> int:
    """Drop the records `keep` rejects from a spool file, in place; returns how many.

    Lines that are not records (torn writes, kept for a person to look at) are
    dropped too when they contain any of the `drop` byte strings. The file is
    streamed: each kept line is moved forward over the dropped ones (the reader
    is always ahead of the writer), then the tail is overwritten with zeros and
    cut off, so the dropped bytes leave the file.
    """
    try:
        with _open_current(path, os.O_RDWR, create=False) as handle:
            return _compact(path, handle, keep, drop)
    except FileNotFoundError:
        return 0  # loaded (or renamed by its loader) meanwhile


def _compact(
    path: Path, handle: IO[bytes], keep: Callable[[Record], bool], drop: tuple[bytes, ...]
) -> int:
    base, mark = _progress(path)  # a claim: where its loader continues moves with the bytes
    moved_mark: int | None = None
    dropped = 0
    fd = handle.fileno()
    size = os.fstat(fd).st_size
    handle.seek(0)
    read_at = write_at = 0
    while True:
        line = handle.readline(MAX_LINE + 1)
        if not line:
            break
        start, read_at = read_at, read_at + len(line)
        if moved_mark is None and start >= mark:
            moved_mark = write_at
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            read_at = _skip_line(handle, read_at)
            wanted = not _contains(fd, start, read_at, drop)
        else:
            body = line.rstrip(b"\r\n")
            if not body.strip():
                continue
            record = _parse(body)
            if record is not None:
                wanted = keep(record)
                dropped += not wanted
            else:
                wanted = not any(needle in body for needle in drop)
        if wanted:
            _move(fd, start, read_at, write_at)
            write_at += read_at - start
    for at in range(write_at, size, CHUNK):
        _pwrite(fd, b"\0" * min(CHUNK, size - at), at)
    os.fsync(fd)
    os.ftruncate(fd, write_at)
    os.fsync(fd)
    if mark:
        os.rename(path, _marked(base, write_at if moved_mark is None else moved_mark))
    return dropped


def _pread(fd: int, size: int, at: int) -> bytes:
    """`size` bytes at offset `at`, leaving the descriptor's position as it was."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, at)
    here = os.lseek(fd, 0, os.SEEK_CUR)  # pragma: no cover - systems without pread
    try:
        os.lseek(fd, at, os.SEEK_SET)
        return os.read(fd, size)
    finally:
        os.lseek(fd, here, os.SEEK_SET)


def _pwrite(fd: int, data: bytes, at: int) -> None:
    """Write `data` at offset `at`, leaving the descriptor's position as it was."""
    if hasattr(os, "pwrite"):
        while data:
            written = os.pwrite(fd, data, at)
            data, at = data[written:], at + written
        return
    here = os.lseek(fd, 0, os.SEEK_CUR)  # pragma: no cover - systems without pwrite
    try:
        os.lseek(fd, at, os.SEEK_SET)
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.lseek(fd, here, os.SEEK_SET)


def _skip_line(handle: IO[bytes], pos: int) -> int:
    """Read past the rest of a long line; where it ends."""
    while True:
        chunk = handle.readline(CHUNK)
        pos += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return pos


def _contains(fd: int, start: int, end: int, needles: tuple[bytes, ...]) -> bool:
    """Any of `needles` in the bytes [start, end) of `fd`, read in overlapping chunks."""
    if not needles:
        return False
    overlap = max(len(n) for n in needles)
    at = start
    while at < end:
        chunk = _pread(fd, min(CHUNK + overlap, end - at), at)
        if not chunk:
            return False
        if any(n in chunk for n in needles):
            return True
        at += CHUNK
    return False


def _move(fd: int, start: int, end: int, to: int) -> None:
    """Copy the bytes [start, end) of `fd` to offset `to` <= start, front to back."""
    if to == start:
        return
    while start < end:
        chunk = _pread(fd, min(CHUNK, end - start), start)
        if not chunk:
            return
        _pwrite(fd, chunk, to)
        start += len(chunk)
        to += len(chunk)


# -- what commands that only read can say ---------------------------------------------


def waiting(path: Path) -> list[str]:
    """Warnings about the spool at `path` for a command that only reads the database."""
    notes: list[str] = []
    size = 0
    for f in (path, *claims(path)):
        try:
            info = os.lstat(f)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(info.st_mode):
            size += info.st_size
    if size:
        notes.append(
            f"telemetry kept in {path} ({_kb(size)}) is not in these figures yet: it is "
            "loaded the next time `branching play` (or `forget`, `prune`) opens the database"
        )
    try:
        rejected = os.lstat(rejected_path(path))
    except FileNotFoundError:
        return notes
    if stat.S_ISREG(rejected.st_mode) and rejected.st_size:
        notes.append(
            f"{rejected_path(path)} holds telemetry records that could not be loaded; "
            "each line says why"
        )
    return notes


def _kb(size: int) -> str:
    return f"{size} bytes" if size < 1024 else f"{(size + 1023) // 1024} KB"
