"""Stage 2 of a story's figures, read in processes of their own, a part at a time.

The parts of the report that must read the events (`data.SCAN_PARTS`) take
0.1-0.9 s each at ten million events, most of it Python. Read on a thread of
the app they share the interpreter lock with the UI thread, which draws
stage 1 meanwhile: each part took about twice as long, a tab switch waited
for the read, and the second core stayed idle. So `ProcessReader` keeps a
few reading processes (`serving`: started with the app, so their imports are
paid while the story list shows; they import neither textual, rich nor
OpenSSL's hashes: `NO_OPENSSL`) and reads the parts in them, two at once,
the tab on show first: a scan thread of the story screen only hands out
parts and relays what comes back. When the producer switches to a tab
whose parts wait while the processes read parts of other tabs, as many as
it waits for are stopped, the least read first, and read again later
(`_make_way`), so the tab on show never waits behind a long part nobody is
looking at (Segments' two parts start at once).
`ThreadReader` reads them one after the other in the calling thread (the old
way; the Pilot tests that hold a read use it).

Both answer `read(job, progress, deliver)`: it returns when every part is in
(each handed to `deliver` as it comes), raises `ReportStopped` as soon as
`progress` says stop (a newer read, or the producer left: each process is
told at once, and its read stops at its next progress check; one that
does not answer within `STOP_GRACE` is ended and another started), and
raises a part's error as it was raised in the process (or, when it cannot
travel between processes, as a `PartFailed` with the same title and words).
A process that dies is replaced, and its part fails with a clear message.

No textual here: this is tested without an app.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Pipe, wait
from typing import Any, Protocol

from branching.analytics.report import ReportStopped
from branching.analytics.rows import Report
from branching.tui.dashboard import serving
from branching.tui.dashboard.data import Selection
from branching.tui.dashboard.serving import PartFailed, resolve

PROCESSES = 2  # parts read at once: the machine this is measured on has two cores
STOP_GRACE = 1.0  # seconds a stopped process has to say so before it is ended
POLL = 0.02  # seconds between two looks at `progress` while parts are read
READ = "branching.tui.dashboard.data:read_report"  # what a process calls for a part
# run first in a reading process: `import hashlib` then finds no OpenSSL and uses the hashes
# built into Python (what a part hashes: the paths' stops, a viewer's name), the same digests
NO_OPENSSL = "import sys; sys.modules['_hashlib'] = None"

Part = tuple[str, tuple[str, ...]]  # (its name, the report tables it reads)
PartProgress = Callable[[str, int, int], bool]  # (part, done, total) -> go on
Deliver = Callable[[str, Report], None]  # (part, its report)


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


class ThreadReader:
    """The parts one after the other, in the calling thread, through `function`
    (`data.read_report`'s signature)."""

    def __init__(self, function: Callable[..., Report] | None = None) -> None:
        self.function = function

    def start(self) -> None:
        pass

    def read(self, job: ScanJob, progress: PartProgress, deliver: Deliver) -> None:
        read = self.function or resolve(READ)
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


# -- the reading processes -----------------------------------------------------------------


def _command(fd: int, target: str) -> list[str]:
    # OpenSSL's libcrypto is kept out of the process (3.3 MB of its memory): hashlib then
    # gives Python's own sha256 and blake2b, the same digests (`NO_OPENSSL`)
    call = f"{NO_OPENSSL}; from {serving.__name__} import main; main({fd}, {target!r})"
    return [sys.executable, "-c", call]


def _environment() -> dict[str, str]:
    """The app's environment, with its module path: a process finds what the app finds."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


class _Process:
    """One reading process (`serving`), the pipe to it, and the job it is reading (0: none)."""

    def __init__(self, target: str) -> None:
        self.conn, theirs = Pipe()
        fd = theirs.fileno()
        self.process = subprocess.Popen(  # (stdin, stdout, stderr: nothing may print)
            _command(fd, target),
            pass_fds=(fd,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_environment(),
        )
        theirs.close()
        self.job = 0
        self.part: Part = ("", ())
        self.within = 0.0  # how far its part is, 0..1
        self.ready = False
        self.stopped_at: float | None = None  # when it was told to stop its job

    def alive(self) -> bool:
        return self.process.poll() is None

    def ask(self, job: int, scan: ScanJob, part: Part) -> None:
        self.job, self.part, self.within, self.stopped_at = job, part, 0.0, None
        request = (job, os.getcwd(), scan.db, scan.story, scan.selection, part[1])
        self.conn.send(request)

    def tell_stop(self) -> None:
        if self.job and self.stopped_at is None:
            self.stopped_at = time.monotonic()
            with contextlib.suppress(OSError):  # (gone: its end says so)
                self.conn.send(("stop", self.job))

    def end(self, wait: float = 0.2) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        try:
            self.process.wait(wait)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(1)
        self.conn.close()


class ProcessReader:
    """Parts read in `processes` reading processes at once (see the module docstring)."""

    def __init__(self, processes: int = PROCESSES, *, target: str = READ) -> None:
        self.size = processes
        self.target = target
        self.pool: list[_Process] = []
        self.jobs = 0
        self.lock = threading.Lock()  # one read at a time (a stopped one may still unwind)

    def start(self) -> None:
        """Start the processes now (their imports take a moment), if not yet started."""
        with self.lock:
            self._fill()

    def close(self) -> None:
        with self.lock:
            for process in self.pool:
                process.end()
            self.pool = []

    def _fill(self) -> None:
        self.pool = [p for p in self.pool if p.alive()]
        while len(self.pool) < self.size:
            self.pool.append(_Process(self.target))

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
        """Parts of the tab on show wait and too few processes are free for them: stop
        as many parts nobody is looking at, the least read first (read again later).
        Segments is two parts: both start at once, not one after the other."""
        waiting = sum(1 for part in todo if part[0] in wanted)
        if not waiting:
            return
        free = sum(1 for p in self.pool if p.ready and not p.job)
        coming = sum(1 for at in aside if at in mine and any(p.job == at for p in self.pool))
        others = [
            p
            for p in self.pool
            if p.job in mine and p.stopped_at is None and p.part[0] not in wanted
        ]
        others.sort(key=lambda p: p.within)
        for p in others[: max(0, waiting - free - coming)]:
            aside[p.job] = p.part
            p.tell_stop()

    def _poll(
        self, mine: set[int], aside: dict[int, Part], progress: PartProgress, deliver: Deliver
    ) -> list[Part]:
        """Wait a moment for the processes; act on what they say. The parts to read again."""
        again: list[Part] = []
        ends = {id(p.conn): p for p in self.pool}  # (a process that ends closes its end)
        for ready in wait([p.conn for p in self.pool], timeout=POLL):
            p = ends[id(ready)]
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
        self._replace(p)
        code = p.process.returncode
        if ours:
            raise PartFailed(
                "Cannot read the figures",
                f"the process reading them ended unexpectedly (exit code {code})",
            )

    def _replace(self, p: _Process) -> None:
        p.end(wait=1)
        self.pool[self.pool.index(p)] = _Process(self.target)


_SHARED: ProcessReader | None = None


def shared_reader() -> ProcessReader:
    """The process's one `ProcessReader`: every dashboard of a process reads with it
    (the CLI runs one; a test session runs many, and starts the processes once)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = ProcessReader()
        atexit.register(_SHARED.close)
    return _SHARED
