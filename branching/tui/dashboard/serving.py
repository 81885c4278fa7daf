"""A reading process of the dashboard: what runs in it, and what crosses its pipe.

`reading.ProcessReader` starts each one as `python -c` calling `main(fd)`
with one end of a socket pair, not through `multiprocessing`'s spawn: spawn
runs the app's main script again in each process (a benchmark or a test
runner imports textual with it) and starts its resource tracker, a process of
its own (12 MB) that nothing here needs. A process imports this module, `data`
and the analytics, never textual nor rich: about 25 MB before it reads.

It reads one part at a time, as asked: a request is `(job, folder, db,
story, selection, tables)`; it answers `("ready", 0)` once, then for each
job `("progress", job, done, total)` now and then and one of `("done", job,
report)`, `("failed", job, error)` or `("stopped", job)`. While it reads,
the only thing the app sends is `("stop", job)` (or None: the app is
leaving), looked for at each progress check, so a read stops within
milliseconds of being told; a stop that comes after its answer is ignored.

Memory is bounded here, not in the analytics: SQLite's heap is held to
`SQLITE_HEAP` for the whole process (a report's reads ask for a 32 MB page
cache, which at ten million events made each process 25-30 MB bigger and no
faster: the file's pages are in the system's cache), and what a part freed is
given back to the system before the next (`malloc_trim`), so a process that
read a big part does not keep its pages while it reads small ones.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import pickle
import signal
import sqlite3
import time
from collections.abc import Callable
from importlib import import_module
from multiprocessing.connection import Connection
from typing import Any

from branching.analytics.report import ReportStopped
from branching.analytics.rows import Report
from branching.errors import BranchingError

PROGRESS_EVERY = 0.1  # seconds between two progress messages of a part
LOOK_EVERY = 0.005  # seconds between two looks for a stop while a part is read
SQLITE_HEAP = 2 * 1024 * 1024  # bytes: SQLite's soft heap limit in a reading process
# what a report's first read imports on the way (about 0.08 s): imported before the
# process says it is ready, while the story list shows, so its first part starts warm
WARM = (
    "branching.analytics.stats_rollup",
    "branching.analytics.segments_rollup",
    "branching.analytics.tags_rollup",
    "branching.analytics.viewers_rollup",
    "branching.store.migrations",
)


class PartFailed(BranchingError):
    """A part's error that could not travel from its process as it was raised."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__(message)
        self.title = title

    def __reduce__(self) -> tuple[Any, ...]:
        return (PartFailed, (self.title, str(self)))


def resolve(target: str) -> Callable[..., Report]:
    """The function `module:name` names (`data.read_report`'s signature)."""
    module, _, name = target.partition(":")
    function: Callable[..., Report] = getattr(import_module(module), name)
    return function


def portable(error: Exception) -> Exception:
    """`error` if it survives the trip between processes as it is, else in words."""
    try:
        back = pickle.loads(pickle.dumps(error))
        if type(back) is type(error) and str(back) == str(error):
            return error
    except Exception:  # noqa: S110 - any failure to travel: say it in words instead
        pass
    title = getattr(error, "title", "") or "Unexpected error"
    return PartFailed(str(title), str(error) or type(error).__name__)


def _bounded() -> Callable[[], None]:
    """Bound SQLite's heap for this process; the call that gives freed memory back."""
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        conn.execute(f"PRAGMA soft_heap_limit = {SQLITE_HEAP}")  # process-wide
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc's, if this is glibc

    def give_back() -> None:
        gc.collect()
        if trim is not None:  # (elsewhere the allocator keeps what it has)
            trim(0)

    return give_back


def main(fd: int, target: str) -> None:
    """Serve the app at the other end of the socket `fd`: read each part asked for."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the app's, not ours
    conn = Connection(fd)
    give_back = _bounded()
    read = resolve(target)
    for module in WARM:
        with contextlib.suppress(ImportError):  # (only a head start: the read imports it)
            import_module(module)
    conn.send(("ready", 0))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the app is gone
        if request is None:
            return
        if request[0] == "stop":
            continue  # for a job already answered
        if not _serve(conn, read, request):
            return
        give_back()


def _serve(conn: Connection, read: Callable[..., Report], request: tuple[Any, ...]) -> bool:
    """Read one part and answer; False when the app left meanwhile."""
    job, cwd, db, story, selection, tables = request
    os.chdir(cwd)  # the app's: the database and a story may be named relative to it
    last = looked = time.monotonic()
    stop = leave = False

    def progress(done: int, total: int) -> bool:
        nonlocal last, looked, stop, leave
        now = time.monotonic()
        if now - looked >= LOOK_EVERY:
            looked = now
            try:
                while not stop and conn.poll():
                    told = conn.recv()
                    leave = told is None
                    stop = leave or told == ("stop", job)
            except (EOFError, OSError):
                stop = leave = True
        if stop:
            return False
        if now - last >= PROGRESS_EVERY:
            last = now
            conn.send(("progress", job, done, total))
        return True

    try:
        report = read(db, story, selection, progress, tables=tables)
        answer: tuple[Any, ...] = ("stopped", job) if stop else ("done", job, report)
    except ReportStopped:
        answer = ("stopped", job)
    except Exception as error:  # sent back: the app shows it in words
        answer = ("failed", job, portable(error))
    if leave:
        return False
    try:
        conn.send(answer)
    except OSError:
        return False
    return True
