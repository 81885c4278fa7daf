"""Stage 2 of a story's figures, read in processes of their own, a part at a time.

The parts of the report that must read the events (`data.SCAN_PARTS`) take
0.1-0.9 s each at ten million events, most of it Python. Read on a thread of
the app they share the interpreter lock with the UI thread, which draws
stage 1 meanwhile: each part took about twice as long, a tab switch waited
for the read, and the second core stayed idle. So `ProcessReader` keeps a
few reading processes (`spawn`, started with the app, so their imports are
paid while the story list shows) and reads the parts in them, two at once,
the tab on show first: a scan thread of the story screen only hands out parts
and relays what comes back. When the producer switches to a tab whose parts
wait while both processes read parts of other tabs, the one least read is
stopped and read again later (`_make_way`), so the tab on show never waits
behind a long part nobody is looking at.
`ThreadReader` reads them one after the other in the calling thread (the old
way; the Pilot tests that hold a read use it).

Both answer `read(job, progress, deliver)`: it returns when every part is in
(each handed to `deliver` as it comes), raises `ReportStopped` as soon as
`progress` says stop (a newer read, or the producer left: each process is
told at once, and its read stops at SQLite's next progress check; one that
does not answer within `STOP_GRACE` is ended and another started), and
raises a part's error as it was raised in the process (or, when it cannot
travel between processes, as a `PartFailed` with the same title and words).
A process that dies is replaced, and its part fails with a clear message.

No textual here: this is tested without an app.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import import_module
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from branching.analytics.report import ReportStopped
from branching.analytics.rows import Report
from branching.errors import BranchingError
from branching.tui.dashboard.data import Selection

PROCESSES = 2  # parts read at once: the machine this is measured on has two cores
PROGRESS_EVERY = 0.1  # seconds between two progress messages of a part
STOP_GRACE = 1.0  # seconds a stopped process has to say so before it is ended
POLL = 0.02  # seconds between two looks at `progress` while parts are read
READ = "branching.tui.dashboard.data:read_report"  # what a process calls for a part

Part = tuple[str, tuple[str, ...]]  # (its name, the report tables it reads)
PartProgress = Callable[[str, int, int], bool]  # (part, done, total) -> go on
Deliver = Callable[[str, Report], None]  # (part, its report)


class PartFailed(BranchingError):
    """A part's error that could not travel from its process as it was raised."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__(message)
        self.title = title

    def __reduce__(self) -> tuple[Any, ...]:
        return (PartFailed, (self.title, str(self)))


@dataclass(frozen=True, slots=True)
class ScanJob:
    """What to read: the selection of one story, its parts, and the tab on show.

    `wanted()` names the parts to read first (the tab on show); it is asked
    each time a part is handed out, so switching tabs changes what comes next.
    """

    db: str
    story: str
    selection: Selection
    parts: tuple[Part, ...]
    wanted: Callable[[], Sequence[str]] = tuple


class Reader(Protocol):
    """Reads a job's parts (see the module docstring)."""

    def start(self) -> None: ...

    def read(self, job: ScanJob, progress: PartProgress, deliver: Deliver) -> None: ...


def _next(todo: list[Part], wanted: Sequence[str]) -> Part:
    return next((p for p in todo if p[0] in wanted), todo[0])


def _resolve(target: str) -> Callable[..., Report]:
    module, _, name = target.partition(":")
    function: Callable[..., Report] = getattr(import_module(module), name)
    return function


class ThreadReader:
    """The parts one after the other, in the calling thread, through `function`
    (`data.read_report`'s signature)."""

    def __init__(self, function: Callable[..., Report] | None = None) -> None:
        self.function = function

    def start(self) -> None:
        pass

    def read(self, job: ScanJob, progress: PartProgress, deliver: Deliver) -> None:
        read = self.function or _resolve(READ)
        todo = list(job.parts)
        while todo:
            name, tables = part = _next(todo, job.wanted())
            todo.remove(part)
            report = read(
                job.db,
                job.story,
                job.selection,
                lambda done, total, at=name: progress(at, done, total),
                tables=tables,
            )
            if not progress(name, 0, 0):
                raise ReportStopped("the read was stopped before the report was finished")
            deliver(name, report)


# -- the reading process -------------------------------------------------------------------


def _serve(conn: Connection, stop: Any, target: str) -> None:
    """A reading process: read each part asked for, say how far it is, send it back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the app's, not ours
    quiet = os.open(os.devnull, os.O_WRONLY)  # nothing may print over the dashboard
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    read = _resolve(target)
    conn.send(("ready", 0))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return  # the app is gone
        if request is None:
            return
        job, cwd, db, story, selection, tables = request
        os.chdir(cwd)  # the app's: the database and a story may be named relative to it
        last = time.monotonic()

        def progress(done: int, total: int, job: int = job) -> bool:
            nonlocal last
            if stop.value == job:
                return False
            if time.monotonic() - last >= PROGRESS_EVERY:
                last = time.monotonic()
                conn.send(("progress", job, done, total))
            return True

        try:
            report = read(db, story, selection, progress, tables=tables)
        except ReportStopped:
            conn.send(("stopped", job))
            continue
        except Exception as error:  # sent back: the app shows it in words
            conn.send(("failed", job, _portable(error)))
            continue
        conn.send(("stopped", job) if stop.value == job else ("done", job, report))


def _portable(error: Exception) -> Exception:
    """`error` if it survives the trip between processes as it is, else in words."""
    try:
        back = pickle.loads(pickle.dumps(error))
        if type(back) is type(error) and str(back) == str(error):
            return error
    except Exception:  # noqa: S110 - any failure to travel: say it in words instead
        pass
    title = getattr(error, "title", "") or "Unexpected error"
    return PartFailed(str(title), str(error) or type(error).__name__)


class _Process:
    """One reading process, the pipe to it, and the job it is reading (0: none)."""

    def __init__(self, context: Any, target: str) -> None:
        self.conn, theirs = context.Pipe()
        self.stop = context.RawValue("q", 0)  # the job it must stop (shared memory)
        self.process: BaseProcess = context.Process(
            target=_serve, args=(theirs, self.stop, target), daemon=True, name="dashboard-read"
        )
        self.process.start()
        theirs.close()
        self.job = 0
        self.part: Part = ("", ())
        self.within = 0.0  # how far its part is, 0..1
        self.ready = False
        self.stopped_at: float | None = None  # when it was told to stop its job

    def ask(self, job: int, scan: ScanJob, part: Part) -> None:
        self.job, self.part, self.within, self.stopped_at = job, part, 0.0, None
        request = (job, os.getcwd(), scan.db, scan.story, scan.selection, part[1])
        self.conn.send(request)

    def tell_stop(self) -> None:
        if self.job and self.stopped_at is None:
            self.stop.value = self.job
            self.stopped_at = time.monotonic()

    def end(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(0.2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1)
        self.conn.close()


class ProcessReader:
    """Parts read in `processes` reading processes at once (see the module docstring)."""

    def __init__(self, processes: int = PROCESSES, *, target: str = READ) -> None:
        self.size = processes
        self.target = target
        self.pool: list[_Process] = []
        self.jobs = 0
        self.lock = threading.Lock()  # one read at a time (a stopped one may still unwind)
        self.context = multiprocessing.get_context("spawn")  # no fork under threads
        # the helper that spawning starts once needs a real stderr: Textual swaps
        # sys.stderr for its own while an app runs, so start it now, before one does
        resource_tracker.ensure_running()

    def start(self) -> None:
        """Start the processes now (their imports take a moment), if not yet started."""
        with self.lock:
            self._fill()

    def close(self) -> None:
        with self.lock:
            for process in self.pool:
                process.end()
            self.pool = []

    def peak_kib(self) -> list[int]:
        """The peak memory of each reading process (for the benchmark), in KiB."""
        out = []
        for p in self.pool:
            try:
                with open(f"/proc/{p.process.pid}/status") as status:
                    out += [int(line.split()[1]) for line in status if line.startswith("VmHWM")]
            except OSError:
                pass
        return out

    def _fill(self) -> None:
        self.pool = [p for p in self.pool if p.process.is_alive()]
        while len(self.pool) < self.size:
            self.pool.append(_Process(self.context, self.target))

    def read(self, job: ScanJob, progress: PartProgress, deliver: Deliver) -> None:
        with self.lock:
            self._fill()
            try:
                self._read(job, progress, deliver)
            finally:
                for p in self.pool:
                    p.tell_stop()  # whatever it was reading, nobody waits for it now

    def _read(self, job: ScanJob, progress: PartProgress, deliver: Deliver) -> None:
        todo = list(job.parts)
        mine: set[int] = set()  # the jobs this read handed out
        aside: dict[int, Part] = {}  # of those, the ones stopped for the tab on show's
        left = len(todo)
        while left:
            for idle in self.pool:  # hand the next parts to the idle processes
                if todo and idle.ready and not idle.job:
                    part = _next(todo, job.wanted())
                    todo.remove(part)
                    self.jobs += 1
                    mine.add(self.jobs)
                    idle.ask(self.jobs, job, part)
            self._make_way(todo, job.wanted(), mine, aside)
            for again in self._reap(aside) + self._poll(mine, aside, progress, deliver):
                todo.append(again)  # stopped to make way, or ended: read it later
                todo.sort(key=job.parts.index)
                progress(again[0], 0, 1)
            left = len(todo) + sum(1 for p in self.pool if p.job in mine and p.job not in aside)
            left += sum(1 for at in aside if any(p.job == at for p in self.pool))
            if not progress("", 0, 0):
                raise ReportStopped("the read was stopped before the report was finished")

    def _make_way(
        self, todo: list[Part], wanted: Sequence[str], mine: set[int], aside: dict[int, Part]
    ) -> None:
        """A part of the tab on show waits and no process is free: stop the part least
        read of those nobody is looking at (it is read again later)."""
        if not any(part[0] in wanted for part in todo):
            return
        if any(p.ready and not p.job for p in self.pool) or any(
            at in mine for at in aside if any(p.job == at for p in self.pool)
        ):
            return  # one is free, or one is already stopping for it
        others = [
            p
            for p in self.pool
            if p.job in mine and p.stopped_at is None and p.part[0] not in wanted
        ]
        if others:
            p = min(others, key=lambda p: p.within)
            aside[p.job] = p.part
            p.tell_stop()

    def _poll(
        self, mine: set[int], aside: dict[int, Part], progress: PartProgress, deliver: Deliver
    ) -> list[Part]:
        """Wait a moment for the processes; act on what they say. The parts to read again."""
        again: list[Part] = []
        ends = {p.conn: p for p in self.pool} | {p.process.sentinel: p for p in self.pool}
        for ready in wait(list(ends), timeout=POLL):
            p = ends[ready]
            if p not in self.pool:
                continue  # replaced already (its pipe and its end both woke us)
            try:
                news = p.conn.recv() if p.conn.poll() else None
            except (EOFError, OSError):
                news = None
            at = p.job
            if news is None:
                self._died(p, at in mine and at not in aside)
                news = ("stopped", at)
            elif news[1] != at and news[0] != "ready":
                continue  # left over from a read that was stopped
            if at in aside and news[0] in ("stopped", "failed"):
                again.append(aside.pop(at))
                p.job = 0
                continue
            self._heard(p, news, mine, progress, deliver)
        return again

    def _heard(
        self,
        p: _Process,
        news: tuple[Any, ...],
        mine: set[int],
        progress: PartProgress,
        deliver: Deliver,
    ) -> None:
        """Act on what a process said about its job."""
        kind, at = news[0], news[1]
        if kind == "ready":
            p.ready = True
            return
        name = p.part[0]
        if kind == "progress":
            p.within = news[2] / news[3] if news[3] else 0.0
            if at in mine and not progress(name, news[2], news[3]):
                raise ReportStopped("the read was stopped before the report was finished")
            return
        p.job = 0  # done, failed or stopped: free for the next part
        if at not in mine:
            return
        if kind == "failed":
            raise news[2]
        if kind == "stopped":  # not by this read: stopped from outside
            raise ReportStopped("the read was stopped before the report was finished")
        deliver(name, news[2])

    def _reap(self, aside: dict[int, Part]) -> list[Part]:
        """End the processes that were told to stop and did not say so in time;
        the parts of `aside` they were reading."""
        now = time.monotonic()
        ended = []
        for p in list(self.pool):
            late = p.stopped_at is not None and now - p.stopped_at > STOP_GRACE
            if late and p.job and not p.conn.poll():  # (its answer may wait unread)
                if p.job in aside:
                    ended.append(aside.pop(p.job))
                p.process.kill()
                self._replace(p)
        return ended

    def _died(self, p: _Process, ours: bool) -> None:
        code = p.process.exitcode
        self._replace(p)
        if ours:
            raise PartFailed(
                "Cannot read the figures",
                f"the process reading them ended unexpectedly (exit code {code})",
            )

    def _replace(self, p: _Process) -> None:
        p.process.join(1)
        p.conn.close()
        self.pool[self.pool.index(p)] = _Process(self.context, self.target)


_SHARED: ProcessReader | None = None


def shared_reader() -> ProcessReader:
    """The process's one `ProcessReader`: every dashboard of a process reads with it
    (the CLI runs one; a test session runs many, and starts the processes once)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = ProcessReader()
        atexit.register(_SHARED.close)
    return _SHARED
