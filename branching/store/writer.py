"""The background writer: one thread, one connection, one transaction per op.

Players call `submit(op)` from any thread and get a `Future[bool]`: True once
the op is committed, False once it is kept on disk beside the database (in the
spool, appended and fsynced) because the database cannot be written now. A
database fault never makes the future raise, so a failing disk never crashes a
player, and the UI thread never waits on SQLite. A player waits on the future
(in a worker) before it shows the next scene, so whatever the viewer has moved
past is on disk: in the database or in the spool.

A key press (`submit_group`) submitted while the writer is idle (in
`Mode.DIRECT`, nothing queued or being written, not closing) is applied and
committed on the submitting thread itself, by the very code the writer thread
runs (`_take`), holding the writer's turn (`_turn`), so it is on disk when
`submit_group` returns: the player waits for it anyway, and this spares the
two hand-overs between threads (about 50 us of a 600 us key press). Only the
recorder submits groups, always from a worker that then waits on them, never
from a UI thread. Order is kept: anything submitted meanwhile queues behind
it (`_queued` counts what is queued or being applied), and a group submitted
behind queued ops is queued too. Should that press leave the writer out of
`Mode.DIRECT` (kept in the spool), the writer thread is woken (`_Wake`) to
load the spool back as usual; `notify` may then be called on the submitting
thread. The writer's connection grows its log once when it opens
(`db.reserve_wal`), so that commits overwrite the log instead of growing it.

Modes. Normally (`Mode.DIRECT`) each op is committed in its own transaction,
or a group of ops (`submit_group`: one key press, one future) in one, both
applied by `ops.apply_ops` (a single op as a group of one: `apply_op`'s rows
with fewer statements) with the writer's `ops.WriterMemory`, so what its
connection wrote before is not read again; a group whose transaction fails
in any way is rolled back whole and its ops go one by one through the path
below, so grouping changes only the number of commits and statements.
A write that fails with a fault of the file (locked, disk full, read-only
file, I/O error, as `db.classify` tells from SQLite's result code) is retried
until the database has stalled for `retry_window` seconds (1 s by default):
locked with no other connection committing meanwhile (`PRAGMA data_version`
tells; one long transaction holds it: `prune`, `forget`, a shell), or failing
otherwise that long. While other connections commit (several players at
once) it waits on, up to the busy timeout (10 s) in all, so contention never
sends events to the spool. Once stalled, the op is appended to the spool and
the writer switches to `Mode.SPOOLING`: every later op goes straight to the
spool, in order, without touching the database, so the player moves on at
once; `notify` tells the viewer, once. Every so
often (after 0.25 s, the pause doubling to 5 s while it fails), between ops,
it tries to load the spool back (`spool.load` + `replay.apply_batch`, after a
`BEGIN IMMEDIATE` probe with a 200 ms busy timeout, stopping between batches
when new ops wait); once the spool has been loaded to its end the writer is
back to `Mode.DIRECT` and `notify` says so. `close()` tries once more for up
to `CLOSE_BUDGET`; what is still in the spool then loads at the next open.
Only if the spool cannot be written either (it is a link, the disk is full)
are ops held in memory (`Mode.MEMORY`), in order, and written or spooled as
soon as one of the two works; `close()` returns what is still in memory.

An op SQLite refuses (a constraint, its size; or `InvalidInput`) can never be
committed: it is spooled at once (it may load elsewhere, or lands in
`.rejected` with its reason) and the writer carries on. Nothing is silently
dropped: every failure is logged on the `branching.store` logger, counted in
`pending`, and said in `warn`.

Bugs. An exception that is not about the database (`KeyError`, `TypeError`,
`AttributeError`, a misuse of the sqlite3 API...) is a bug in the program,
not bad data, so it is never set aside as a refused record: the op's
transaction is rolled back, the exception is logged with its traceback and
set on the op's future, so the caller's `result()` raises it, and the thread
carries on with the next op. Everything committed or kept before is
untouched. An op held in memory whose future already said "kept" (False) when
the bug struck is kept as promised and returned by `close()`; the error is
still logged and remembered in `bug`.
"""

from __future__ import annotations

import enum
import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from branching.store import spool
from branching.store.db import Fault, classify, immediate, reserve_wal, what_blocks
from branching.store.errors import StoreError
from branching.store.ops import Op, WriterMemory, apply_ops
from branching.store.replay import apply_batch, describe, probe
from branching.store.session import all_of, settle

log = logging.getLogger("branching.store")

PROBE_BUSY_MS = 200  # busy timeout while checking whether the database is free again
PAUSE_MIN = 0.25  # first pause between attempts to load the spool back
BACKLOG_PAUSE_MAX = 5.0  # longest pause between them
CLOSE_BUDGET = 1.0  # seconds a closing writer may spend loading the spool back

Notify = Callable[[str, str], None]  # (message, severity: information|warning|error)


class Mode(enum.Enum):
    """Where the writer puts ops now."""

    DIRECT = "direct"  # committed to the database
    SPOOLING = "spooling"  # appended to the spool: the database cannot be written
    MEMORY = "memory"  # held in memory: neither the database nor the spool can be written


@dataclass(eq=False)
class Job:
    """One op on its way to the database, with the future the caller holds."""

    op: Op
    future: Future[bool] = field(default_factory=Future)
    resolved: bool = False


@dataclass(eq=False)
class _PressGroup:
    """Ops queued together, to be committed in one transaction (one key press), with
    the one future their caller holds."""

    ops: list[Op]
    future: Future[bool]


class _Spill:
    """A request, queued behind every op, to hand over what is held in memory."""

    def __init__(self) -> None:
        self.future: Future[list[Op]] = Future()


class _Wake:
    """Wakes the writer thread: a group applied on its caller's thread left the writer
    out of `Mode.DIRECT`, and the thread must now try, every so often, to get back."""


Item = Job | _PressGroup | _Spill | _Wake  # what the writer's queue holds


def is_permanent(exc: BaseException) -> bool:
    """True when the record itself can never be written: SQLite refused it, or InvalidInput.

    Never true for a bug in the program (`KeyError`, `TypeError`, a misuse of
    the sqlite3 API): that is not a reason to set the record aside.
    """
    return classify(exc) is Fault.BAD_RECORD


def why(exc: BaseException, db_path: Path | None = None) -> str:
    """Why the database at `db_path` cannot be written, in words for the viewer.

    For a read-only fault, the file that stops SQLite is named (`db.what_blocks`:
    the database, its -wal, a stale -shm, the folder) when it can be found.
    """
    fault = classify(exc)
    if fault is Fault.BUSY:
        return "another program holds it locked"
    code = getattr(exc, "sqlite_errorcode", None)
    cannot_open = isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_CANTOPEN
    if db_path is not None and (fault is Fault.READONLY or cannot_open):
        blocked = what_blocks(db_path)
        if blocked is not None:
            return blocked
    if fault is Fault.READONLY:
        return "it is read-only"
    if fault is Fault.FULL:
        return "the disk is full"
    if fault is Fault.IO:
        return f"the system reports an error: {exc}"
    return describe(exc)


def _ignore(message: str, severity: str = "warning") -> None:
    pass


class Writer:
    """Owns the write connection and commits ops in submission order."""

    def __init__(
        self,
        connect: Callable[[int], sqlite3.Connection],
        *,
        busy_timeout_ms: int,
        retry_window: float,
        spool_path: Path,
        db_path: Path | None = None,
        notify: Notify | None = None,
        warn: Callable[[str], None] | None = None,
        spooling: str | None = None,
    ) -> None:
        self._connect = connect
        self._busy_ms = busy_timeout_ms
        self._first_busy_ms = max(1, min(busy_timeout_ms, int(retry_window * 1000)))
        self._retry_window = retry_window
        self._spool_path = spool_path
        self._db_path = db_path  # only to name what blocks it, in messages
        self._notify = notify or _ignore
        self._warn = warn or (lambda message: None)
        self._queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        # `spooling`: why earlier records wait in the spool; new ones must follow them
        self._mode = Mode.SPOOLING if spooling is not None else Mode.DIRECT
        self._backlog: deque[Job] = deque()  # Mode.MEMORY: ops neither written nor spooled
        self._failed: list[Job] = []  # refused or hit by a bug after being kept: never retried
        self._conn: sqlite3.Connection | None = None
        self._memory = WriterMemory()  # what its committed transactions wrote (`apply_ops`)
        self._conn_busy_ms = busy_timeout_ms
        self._outstanding = 0
        self._idle = threading.Condition()
        # who applies ops now (the writer thread, or a caller applying its group inline)
        self._turn = threading.Lock()
        self._queued = 0  # items put in the queue and not yet done by the thread (`_idle`)
        self._closing = False
        self._pause = PAUSE_MIN
        self._next_try = time.monotonic()
        self._told = False  # the viewer was told about this spell of keeping ops
        self._in_spool = 0  # this writer's ops in the spool, not loaded back yet
        self.spooled_total = 0  # ops this writer appended to the spool, ever
        self.loaded_back = 0  # spooled records this writer loaded back into the database
        self.reason = spooling  # why the database could not be written, in words
        self.last_error: str | None = None
        self.bug: BaseException | None = None  # the last program error met, see the docstring
        self._thread = threading.Thread(
            target=self._run, name="branching-store-writer", daemon=True
        )
        self._thread.start()

    # -- caller side ------------------------------------------------------------------

    def submit(self, op: Op) -> Future[bool]:
        """Queue `op`; the future resolves True when committed, False when kept on disk."""
        job = Job(op)
        self._put(job, 1)
        return job.future

    def _put(self, item: Item | None, ops: int) -> None:
        """Queue `item` for the writer thread (`ops` more outstanding)."""
        with self._idle:
            self._outstanding += ops
            self._queued += 1
            self._queue.put(item)

    def submit_group(self, ops: list[Op], future: Future[bool]) -> None:
        """Queue `ops` to commit in one transaction; `future` resolves once all are on disk.

        One commit for what belongs together (a key press: the choice, the
        scenes it shows, the ending): on disk together, at the cost of one.
        Should that transaction fail in any way, each op goes through the
        usual one-op path (retry, spool, set aside), so a group never changes
        what is kept, only how fast; `future` then says True only when every
        op was committed, False when any was kept instead, and raises the
        error of a bug that met any of them.
        """
        if not ops:
            settle(future, True)
            return
        group = _PressGroup(ops, future)
        with self._idle:
            inline = (
                self._mode is Mode.DIRECT
                and self._queued == 0
                and not self._closing
                and threading.current_thread() is not self._thread
            )
            self._outstanding += len(ops)
            if not inline:
                self._queued += 1
                self._queue.put(group)
                return
            self._queued += 1  # as if queued: what is submitted meanwhile waits behind it
        try:
            with self._turn:
                self._take(group)
        finally:
            with self._idle:
                self._queued -= 1
            if self._mode is not Mode.DIRECT:
                self._put(_Wake(), 0)  # the thread must now try to get back, every so often

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every submitted op is committed or kept; True if all were committed.

        False when ops are kept (spooled, or in memory), and once a bug has lost
        an op (see `bug`).
        """
        with self._idle:
            self._idle.wait_for(lambda: self._outstanding == 0, timeout)
            return self._outstanding == 0 and self.pending == 0 and self.bug is None

    @property
    def pending(self) -> int:
        """Ops kept (in the spool or in memory) because they could not be written yet."""
        return self._in_spool + len(self._backlog) + len(self._failed)

    @property
    def mode(self) -> Mode:
        return self._mode

    def spill(self) -> list[Op]:
        """Wait until every op queued so far is committed or kept; hand over none.

        Kept ops are already on disk (the spool); ops held in memory stay with
        the writer, which keeps trying, until `close()` returns them.
        """
        request = _Spill()
        self._put(request, 0)
        return request.future.result()

    def close(self, timeout: float | None = None) -> list[Op]:
        """Stop the thread after a last attempt; return the ops held in memory, in order."""
        with self._idle:
            self._closing = True  # no group is applied inline from now on
        self._put(None, 0)
        self._thread.join(timeout)
        return self._take_unwritten()

    def _take_unwritten(self) -> list[Op]:
        left = [job.op for job in self._failed] + [job.op for job in self._backlog]
        self._failed.clear()
        self._backlog.clear()
        return left

    # -- writer thread ----------------------------------------------------------------

    def _resolve(self, job: Job, committed: bool, error: BaseException | None = None) -> None:
        if job.resolved:
            return
        job.resolved = True
        if job.future.done():  # a caller may have cancelled it; the op is written anyway
            pass
        elif error is None:
            job.future.set_result(committed)
        else:
            job.future.set_exception(error)  # a bug: the caller's result() raises it
        with self._idle:
            self._outstanding -= 1
            self._idle.notify_all()

    def _run(self) -> None:
        while True:
            timeout = None
            if self._mode is not Mode.DIRECT:
                timeout = max(0.0, self._next_try - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                with self._turn:
                    if self._mode is not Mode.DIRECT:
                        self._recover(lambda: not self._queue.empty())
                continue
            try:
                with self._turn:
                    if item is None:
                        self._finish()
                        return
                    self._take(item)
                    if self._mode is not Mode.DIRECT and time.monotonic() >= self._next_try:
                        self._recover(lambda: not self._queue.empty())
            finally:
                with self._idle:
                    self._queued -= 1

    def _take(self, item: Item) -> None:
        if isinstance(item, _Wake):
            return
        if isinstance(item, _Spill):
            item.future.set_result([])
        elif isinstance(item, _PressGroup):
            if self._mode is not Mode.DIRECT or not self._write_group(item.ops):
                self._one_by_one(item)
                return
            settle(item.future, True)
            self._settled(len(item.ops))
        else:
            self._handle(item)

    def _handle(self, job: Job) -> None:
        if self._mode is Mode.DIRECT:
            self._write(job)
        elif self._mode is Mode.SPOOLING:
            self._to_spool([job])
        else:
            self._backlog.append(job)
            self._resolve(job, False)

    def _connection(self, busy_ms: int) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect(busy_ms)
            self._conn_busy_ms = busy_ms
            reserve_wal(self._conn)  # commits then overwrite the log instead of growing it
        if busy_ms != self._conn_busy_ms:
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
            self._conn_busy_ms = busy_ms
        return self._conn

    def _attempt(self, job: Job, busy_ms: int) -> BaseException | None:
        try:
            conn = self._connection(busy_ms)
            with immediate(conn):
                # `apply_op`'s rows, with fewer statements and what it wrote before kept
                apply_ops(conn, [job.op], self._memory.names, self._memory)
            self._memory.committed(conn)
        except Exception as exc:  # the caller decides by classify(): retry, set aside, report
            self.last_error = f"{type(exc).__name__}: {exc}"
            if classify(exc) not in (Fault.BUSY, Fault.BAD_RECORD):
                self._drop_connection()  # read-only, I/O, full, a bug: reopen on the next attempt
            return exc
        return None

    def _write_group(self, ops: list[Op]) -> bool:
        """Commit `ops` in one transaction, at the first attempt; False (and nothing
        committed) when that fails for any reason: the caller then writes them one by one."""
        try:
            conn = self._connection(min(self._first_busy_ms, PROBE_BUSY_MS))
            with immediate(conn):
                # as one by one, with fewer statements and what it wrote before kept
                apply_ops(conn, ops, self._memory.names, self._memory)
            self._memory.committed(conn)
        except Exception as exc:  # rolled back whole; the one-op path sorts it out
            if classify(exc) not in (Fault.BUSY, Fault.BAD_RECORD):
                self._drop_connection()
            return False
        return True

    def _one_by_one(self, group: _PressGroup) -> None:
        """Each op of `group` through the one-op path; then its future says how they went."""
        jobs = [Job(op) for op in group.ops]  # each accounted for in `_outstanding` already
        with self._idle:
            self._outstanding += 1  # the group itself, until its future is resolved
        for job in jobs:
            self._handle(job)
        all_of([job.future for job in jobs], group.future)  # all resolved by now
        self._settled(1)

    def _settled(self, n: int) -> None:
        with self._idle:
            self._outstanding -= n
            self._idle.notify_all()

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None
            self._memory = WriterMemory()

    def _write(self, job: Job) -> None:
        """Commit `job`; spool it (and keep spooling) once the database stalls.

        Stalled: locked with no other connection committing for the retry
        window (one long transaction holds it), or any other fault lasting
        that long. While others commit (mere contention), it waits on, up to
        the busy timeout in all.
        """
        start = time.monotonic()
        deadline = start + self._retry_window
        limit = start + max(self._retry_window, self._busy_ms / 1000)
        version = self._data_version()  # a few microseconds: commits by others, so far
        busy_ms = self._first_busy_ms
        delay = 0.05
        while True:
            exc = self._attempt(job, busy_ms)
            if exc is None:
                self._resolve(job, True)
                return
            fault = classify(exc)
            if fault is Fault.BUG:
                self._report_bug(job, exc)
                return
            if fault is Fault.BAD_RECORD:
                self._set_aside(job, exc)
                return
            now = time.monotonic()
            if fault is Fault.BUSY:
                seen = self._data_version()
                if version is not None and seen is not None and seen != version:
                    deadline = min(now + self._retry_window, limit)  # others commit: wait on
                version = seen if seen is not None else version
            left = deadline - now
            if fault is not Fault.BUSY:
                if left < delay:
                    left = 0.0
                else:
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)
                    left = deadline - time.monotonic()
            if left <= 0.01:
                self._start_keeping(exc)
                self._to_spool([job])
                return
            busy_ms = max(1, min(self._busy_ms, int(left * 1000)))

    def _data_version(self) -> int | None:
        """SQLite's count of commits by other connections, as this one sees it (None: unknown)."""
        try:
            conn = self._conn or self._connection(self._first_busy_ms)
            return int(conn.execute("PRAGMA data_version").fetchone()[0])
        except Exception:  # the attempt that follows reports what is wrong
            return None

    def _start_keeping(self, exc: BaseException) -> None:
        self.reason = why(exc, self._db_path)
        log.info("telemetry write failing (%s); keeping events in the spool", exc)
        self._mode = Mode.SPOOLING
        self._pause = PAUSE_MIN
        self._next_try = time.monotonic() + PAUSE_MIN

    def _to_spool(self, jobs: list[Job]) -> None:
        """Append `jobs` to the spool, fsynced, then resolve them False (kept)."""
        try:
            spool.append(self._spool_path, [job.op for job in jobs])
        except (OSError, StoreError) as exc:
            self._to_memory(jobs, exc)
            return
        self._in_spool += len(jobs)
        self.spooled_total += len(jobs)
        if not self._told:
            self._told = True
            self._notify(
                f"The telemetry database cannot be written now "
                f"({self.reason or 'see the log'}): your choices are kept beside it, in "
                f"{self._spool_path.name}, and loaded once it can be written.",
                "warning",
            )
        for job in jobs:
            self._resolve(job, False)

    def _to_memory(self, jobs: list[Job], exc: BaseException) -> None:
        if self._mode is not Mode.MEMORY:
            text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            message = (
                f"Neither the telemetry database ({self.reason or 'unwritable'}) nor "
                f"{self._spool_path} ({text}) can be written: choices are held in memory "
                "until one of them can; they are lost if the player is killed."
            )
            log.critical("%s", message)
            self._warn(message)
            self._notify(message, "error")
            self._mode = Mode.MEMORY
            self._told = True
        self._backlog.extend(jobs)
        for job in jobs:
            self._resolve(job, False)

    def _set_aside(self, job: Job, exc: BaseException) -> None:
        log.error("telemetry write refused (%s); the op is spooled", exc)
        try:
            spool.append(self._spool_path, [job.op])
        except (OSError, StoreError) as spool_exc:
            log.critical("cannot spool a refused telemetry op: %s", spool_exc)
            self._failed.append(job)
        else:
            self._in_spool += 1
            self.spooled_total += 1
        self._warn(
            f"the database refused a telemetry record ({describe(exc)}); it is kept in "
            f"{self._spool_path}"
        )
        self._resolve(job, False)

    def _report_bug(self, job: Job, exc: BaseException) -> None:
        """A program error, not bad data: hand it to the caller; never set it aside as refused."""
        self.bug = exc
        if job.resolved:  # its future already said "kept": keep the promise, return it at close
            log.error(
                "telemetry write failed with a program error; the kept op is held",
                exc_info=exc,
            )
            self._failed.append(job)
            return
        log.error("telemetry write failed with a program error; not recorded", exc_info=exc)
        self._resolve(job, False, error=exc)

    # -- getting back to the database ---------------------------------------------------

    def _recover(self, should_stop: Callable[[], bool]) -> None:
        """Try to get back to Mode.DIRECT: memory to the spool, the spool to the database."""
        now = time.monotonic()
        self._next_try = now + self._pause
        self._pause = min(self._pause * 2, BACKLOG_PAUSE_MAX)
        if self._backlog:
            jobs = list(self._backlog)
            try:
                spool.append(self._spool_path, [job.op for job in jobs])
            except (OSError, StoreError):
                pass  # the spool still cannot be written: they stay in memory
            else:
                self._backlog.clear()
                self._in_spool += len(jobs)
                self.spooled_total += len(jobs)
                self._mode = Mode.SPOOLING
        loaded = self._load(should_stop)
        if loaded is None or loaded.blocked is not None:
            return
        if loaded.interrupted:
            self._pause = PAUSE_MIN  # not the database's fault: go on soon
            self._next_try = time.monotonic() + PAUSE_MIN
            return
        while self._backlog:  # the spool cannot be written, the database can: write them
            job = self._backlog[0]
            exc = self._attempt(job, PROBE_BUSY_MS)
            if exc is not None and classify(exc) not in (Fault.BAD_RECORD, Fault.BUG):
                return
            self._backlog.popleft()
            if exc is not None and classify(exc) is Fault.BUG:
                self._report_bug(job, exc)
            elif exc is not None:
                self._failed.append(job)  # refused, and no spool to keep it in: close() has it
        self._back_to_direct()

    def _back_to_direct(self) -> None:
        was_told = self._told
        self._mode = Mode.DIRECT
        self._in_spool = 0
        self._pause = PAUSE_MIN
        self._told = False
        log.info("telemetry writes recovered")
        if was_told:
            self._notify(
                "The telemetry database can be written again: the choices kept beside "
                "it are loaded.",
                "information",
            )

    def _load(self, should_stop: Callable[[], bool]) -> spool.SpoolLoad | None:
        """Load the spool back with a short busy timeout; None if nothing could be tried."""
        try:
            conn = self._connection(PROBE_BUSY_MS)
        except Exception as exc:  # cannot even open it: try again later
            self.last_error = f"{type(exc).__name__}: {exc}"
            self._drop_connection()
            return None
        try:
            result = spool.load(
                self._spool_path,
                lambda records: apply_batch(conn, records),
                should_stop,
                ready=lambda: probe(conn),
            )
        except (OSError, StoreError) as exc:
            log.error("cannot load the telemetry spool %s: %s", self._spool_path, exc)
            self._warn(f"cannot load the telemetry spool {self._spool_path}: {exc}")
            self._drop_connection()
            return None
        self.loaded_back += result.written
        if result.blocked is not None:
            self.last_error = result.blocked
            self._drop_connection()
        for message in spool_warnings(self._spool_path, result):
            self._warn(message)
        return result

    def _finish(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            with self._idle:
                self._queued -= 1
            if item is not None:
                self._take(item)
        deadline = time.monotonic() + CLOSE_BUDGET
        while self._mode is not Mode.DIRECT:  # a last chance to load the spool back
            self._recover(lambda: time.monotonic() > deadline)
            if time.monotonic() + 0.1 >= deadline:
                break
            time.sleep(0.1)
        self._drop_connection()


def spool_warnings(path: Path, result: spool.SpoolLoad) -> list[str]:
    """What a load of the spool at `path` should tell the user (nothing when all went in)."""
    notes = list(result.refused)
    if result.rejected:
        reasons = "; ".join(result.reasons)
        notes.append(
            f"{result.rejected} spooled telemetry record(s) could not be loaded and were moved "
            f"to {spool.rejected_path(path)} ({reasons})"
        )
    if result.kept:
        notes.append(
            f"{result.kept} spooled telemetry record(s) were written by a newer branching; "
            f"they stay in {path} for it"
        )
    return notes
