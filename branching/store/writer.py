"""The background writer: one thread, one connection, one transaction per op.

Players call `submit(op)` from any thread and get a `Future[bool]`: True once
the op is committed, False once the store has given up for now and kept the
op for later (it is retried in the background, and spooled at close if still
unwritten). The future never raises, so a failing disk never crashes a player,
and the UI thread never waits on SQLite: under contention one commit can take
seconds.

Faults. A write that fails with a transient error (locked beyond the busy
timeout, disk full, read-only file, I/O error) is retried with backoff for
`retry_window` seconds. If it still fails, the op and every op after it go to
an in-memory backlog, in order (so a session's events stay in sequence); their
futures resolve False at once, and the backlog is retried with growing pauses
and a short busy timeout. An op that can never succeed (a constraint error) is
set aside at once. `close()` makes a last attempt and returns what is left,
which the store appends to the spool. Nothing is silently dropped: every
failure is logged on the `branching.store` logger and counted in `pending`.
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

from branching.store.db import immediate
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
    """True for errors that retrying cannot fix (constraint violations, malformed ops)."""
    permanent = (
        sqlite3.IntegrityError,
        sqlite3.ProgrammingError,
        sqlite3.InterfaceError,
        KeyError,
        TypeError,
        ValueError,
    )
    return isinstance(exc, permanent)


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
        """Wait until every submitted op is committed or kept; True if nothing is kept."""
        with self._idle:
            self._idle.wait_for(lambda: self._outstanding == 0, timeout)
            return self._outstanding == 0 and not self._backlog and not self._failed

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

    def _resolve(self, job: Job, committed: bool) -> None:
        if job.resolved:
            return
        job.resolved = True
        if not job.future.done():  # a caller may have cancelled it; the op is written anyway
            job.future.set_result(committed)
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
        except Exception as exc:  # every failure is kept, logged and retried or spooled
            self.last_error = f"{type(exc).__name__}: {exc}"
            text = str(exc)
            if not is_permanent(exc) and "locked" not in text and "busy" not in text:
                self._drop_connection()  # read-only, I/O, full: reopen on the next attempt
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
            if is_permanent(exc):
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

    def _retry_backlog(self) -> None:
        """Try the kept ops in order with a short busy timeout; stop at the first failure."""
        if not self._backlog:
            return
        busy_ms = min(PROBE_BUSY_MS, self._busy_ms)
        while self._backlog:
            job = self._backlog[0]
            exc = self._attempt(job, busy_ms)
            if exc is not None and not is_permanent(exc):
                self._pause = min(self._pause * 2, BACKLOG_PAUSE_MAX)
                return
            self._backlog.popleft()
            if exc is not None:
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
