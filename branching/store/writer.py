"""The background writer: one thread, one connection, one transaction per op.

Players call `submit(op)` from any thread and get a `Future[bool]`: True once
the op is committed, False once the store has given up for now and kept the
op for later (it is retried in the background, and spooled at close if still
unwritten). A database fault never makes the future raise, so a failing disk
never crashes a player, and the UI thread never waits on SQLite: under
contention one commit can take seconds.

Faults, told apart by `db.classify` (SQLite's result code, not the message).
A write that fails with a transient error (locked beyond the busy timeout,
disk full, read-only file, I/O error) is retried with backoff for
`retry_window` seconds. If it still fails, the op and every op after it go to
an in-memory backlog, in order (so a session's events stay in sequence); their
futures resolve False at once, and the backlog is retried with growing pauses
and a short busy timeout. An op that can never succeed (SQLite refuses the
record: a constraint, its size; or `InvalidInput`) is set aside at once.
`close()` makes a last attempt and returns what is left, which the store
appends to the spool. Nothing is silently dropped: every failure is logged on
the `branching.store` logger and counted in `pending`.

Bugs. An exception that is not about the database (`KeyError`, `TypeError`,
`AttributeError`, a misuse of the sqlite3 API...) is a bug in the program,
not bad data, so it is never set aside as a refused record: the op's
transaction is rolled back, the exception is logged with its traceback and
set on the op's future, so the caller's `result()` raises it, and the thread
carries on with the next op. Everything committed or kept before is
untouched. An op whose future already said "kept" (False) when the bug
struck is kept as promised and spooled; the error is still logged and
remembered in `bug`.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from branching.store.db import Fault, classify, immediate
from branching.store.ops import Op, apply_op

log = logging.getLogger("branching.store")

PROBE_BUSY_MS = 200
BACKLOG_PAUSE_MAX = 5.0


@dataclass(eq=False)
class Job:
    """One op on its way to the database, with the future the caller holds."""

    op: Op
    future: Future[bool] = field(default_factory=Future)
    resolved: bool = False


class _Spill:
    """A request, queued behind every op, to hand over what is still unwritten."""

    def __init__(self) -> None:
        self.future: Future[list[Op]] = Future()


def is_permanent(exc: BaseException) -> bool:
    """True when the record itself can never be written: SQLite refused it, or InvalidInput.

    Never true for a bug in the program (`KeyError`, `TypeError`, a misuse of
    the sqlite3 API): that is not a reason to set the record aside.
    """
    return classify(exc) is Fault.BAD_RECORD


class Writer:
    """Owns the write connection and commits ops in submission order."""

    def __init__(
        self,
        connect: Callable[[int], sqlite3.Connection],
        *,
        busy_timeout_ms: int,
        retry_window: float,
    ) -> None:
        self._connect = connect
        self._busy_ms = busy_timeout_ms
        self._retry_window = retry_window
        self._queue: queue.SimpleQueue[Job | _Spill | None] = queue.SimpleQueue()
        self._backlog: deque[Job] = deque()
        self._failed: list[Job] = []
        self._conn: sqlite3.Connection | None = None
        self._conn_busy_ms = busy_timeout_ms
        self._outstanding = 0
        self._idle = threading.Condition()
        self._pause = 0.25
        self.last_error: str | None = None
        self.bug: BaseException | None = None  # the last program error met, see the docstring
        self._thread = threading.Thread(
            target=self._run, name="branching-store-writer", daemon=True
        )
        self._thread.start()

    # -- caller side ------------------------------------------------------------------

    def submit(self, op: Op) -> Future[bool]:
        """Queue `op`; the future resolves True when committed, False when kept for later."""
        job = Job(op)
        with self._idle:
            self._outstanding += 1
        self._queue.put(job)
        return job.future

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every submitted op is committed or kept; True if all were committed.

        False when ops are kept, and once a bug has lost an op (see `bug`).
        """
        with self._idle:
            self._idle.wait_for(lambda: self._outstanding == 0, timeout)
            return (
                self._outstanding == 0
                and not self._backlog
                and not self._failed
                and self.bug is None
            )

    @property
    def pending(self) -> int:
        """Ops kept in memory because they could not be written yet."""
        return len(self._backlog) + len(self._failed)

    def spill(self) -> list[Op]:
        """After every op queued so far, retry the kept ones once and hand over the rest.

        The returned ops are no longer retried here: the caller spools them.
        """
        request = _Spill()
        self._queue.put(request)
        return request.future.result()

    def close(self, timeout: float | None = None) -> list[Op]:
        """Stop the thread after a last attempt; return the ops still unwritten, in order."""
        self._queue.put(None)
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
            timeout = self._pause if self._backlog else None
            try:
                job = self._queue.get(timeout=timeout)
            except queue.Empty:
                self._retry_backlog()
                continue
            if job is None:
                self._finish()
                return
            if isinstance(job, _Spill):
                self._retry_backlog()
                job.future.set_result(self._take_unwritten())
            elif self._backlog:
                self._keep(job)
                self._retry_backlog()
            else:
                self._write_with_retry(job)

    def _attempt(self, job: Job, busy_ms: int) -> BaseException | None:
        try:
            if self._conn is None:
                self._conn = self._connect(busy_ms)
                self._conn_busy_ms = busy_ms
            if busy_ms != self._conn_busy_ms:
                self._conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
                self._conn_busy_ms = busy_ms
            with immediate(self._conn):
                apply_op(self._conn, job.op)
        except Exception as exc:  # the caller decides by classify(): retry, set aside, report
            self.last_error = f"{type(exc).__name__}: {exc}"
            if classify(exc) not in (Fault.BUSY, Fault.BAD_RECORD):
                self._drop_connection()  # read-only, I/O, full, a bug: reopen on the next attempt
            return exc
        return None

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None

    def _write_with_retry(self, job: Job) -> None:
        start = time.monotonic()
        delay = 0.05
        while True:
            exc = self._attempt(job, self._busy_ms)
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
            if time.monotonic() - start + delay > self._retry_window:
                log.warning("telemetry write failing (%s); keeping events to retry", exc)
                self._pause = 0.25
                self._keep(job)
                return
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _keep(self, job: Job) -> None:
        self._backlog.append(job)
        self._resolve(job, False)

    def _set_aside(self, job: Job, exc: BaseException) -> None:
        log.error("telemetry write refused (%s); the op will be spooled", exc)
        self._failed.append(job)
        self._resolve(job, False)

    def _report_bug(self, job: Job, exc: BaseException) -> None:
        """A program error, not bad data: hand it to the caller; never set it aside as refused."""
        self.bug = exc
        if job.resolved:  # its future already said "kept": keep the promise, spool it at close
            log.error(
                "telemetry write failed with a program error; the kept op will be spooled",
                exc_info=exc,
            )
            self._failed.append(job)
            return
        log.error("telemetry write failed with a program error; not recorded", exc_info=exc)
        self._resolve(job, False, error=exc)

    def _retry_backlog(self) -> None:
        """Try the kept ops in order with a short busy timeout; stop at the first failure."""
        if not self._backlog:
            return
        busy_ms = min(PROBE_BUSY_MS, self._busy_ms)
        while self._backlog:
            job = self._backlog[0]
            exc = self._attempt(job, busy_ms)
            fault = None if exc is None else classify(exc)
            if exc is not None and fault not in (Fault.BAD_RECORD, Fault.BUG):
                self._pause = min(self._pause * 2, BACKLOG_PAUSE_MAX)
                return
            self._backlog.popleft()
            if exc is not None and fault is Fault.BUG:
                self._report_bug(job, exc)
            elif exc is not None:
                self._set_aside(job, exc)
        self._pause = 0.25
        log.info("telemetry writes recovered")

    def _finish(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                continue
            if isinstance(job, _Spill):
                job.future.set_result([])
            elif self._backlog:
                self._keep(job)
            else:
                self._write_with_retry(job)
        self._retry_backlog()
        self._drop_connection()
