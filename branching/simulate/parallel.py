"""The audience's streams played in worker processes, merged in the fixed order.

`simulate_parallel(story, audience, jobs)` yields what `run.simulate` yields
(the same ops in the same order, each new session worked out into its rows
and counts in the worker, made as rows from the start: `run.simulate_prepared`,
which gives what `bulk.prepare` makes of the ops; the writer commits the same
rows from either), with each of the audience's shards
played in a worker process of its own: a simulation spends most of its time
in the engine and the recorder, which one Python process runs on one core,
while the parent process writes to SQLite. The parent takes one chunk from
each worker in turn, as `run.interleave` does, so the rows never depend on
which worker ran faster. Workers are forked (they inherit the loaded story,
which cannot be pickled), each behind a bounded queue, so memory stays
bounded however far ahead a worker runs. Where `fork` is not available, or
one job is asked for, everything runs in this process.

A worker's heap is mostly the memos its shard fills (`Steps`, `SimPatches`:
hundreds of thousands of frames, views and state dicts that live to the end),
which the garbage collector's full passes walked again and again, freeing
nothing: a third of a worker's time. A worker therefore sets aside what it
inherited (`gc.freeze`) and collects less often (`WORKER_GC`); what it plays
holds no reference cycles worth collecting sooner, and the process ends with
its shard. The writing parent does the same while it writes
(`rare_collections`, used by the `simulate` and `demo` commands).

The workers run a little below the parent's priority (`WORKER_NICE`): the
parent's work (sums and inserts) cannot be shared, and three busy processes
on two cores gave it two thirds of a core, so the whole run went at the
parent's pace on two thirds of a core (it spent longer waiting for a core than
running: `/proc/self/schedstat`). Below it, the two workers share what it
leaves; it never waits behind them for a core. Only a little below: the
workers must still keep up with it on a machine busy with other work.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from branching.errors import BranchingError
from branching.simulate.audience import Audience
from branching.simulate.run import (
    SHARDS,
    Shard,
    chunks,
    registration,
    shard_count,
    simulate_prepared,
)
from branching.store.bulk import SessionUnit
from branching.store.ops import Op
from branching.story.model import Story

QUEUED_CHUNKS = 24  # chunks a worker may run ahead: more than a batch between two (decisions.md)
WORKER_GC = (500_000, 50, 1000)  # a worker's collector thresholds (Python's: 700, 10, 10)
WORKER_NICE = 2  # a worker's priority below the writing parent's (decisions.md)


class SimulationFailed(BranchingError):
    """A worker process stopped with an error."""


def simulate_parallel(
    story: Story, audience: Audience, jobs: int
) -> Iterator[Sequence[Op | SessionUnit]]:
    """`run.simulate(story, audience)`, its shards played in up to `jobs` processes.

    A worker hands on each new session worked out already (`bulk.prepare`: its
    rows and counts), which `BulkWriter.add` takes as it takes the ops.
    """
    shards = shard_count(audience, SHARDS)
    if jobs < 2 or shards < 2 or "fork" not in multiprocessing.get_all_start_methods():
        yield from simulate_prepared(story, audience)
        return
    context = multiprocessing.get_context("fork")
    queues: list[Any] = [context.Queue(QUEUED_CHUNKS) for _ in range(shards)]
    workers = [
        context.Process(target=_work, args=(story, audience, n, shards, queues[n]), daemon=True)
        for n in range(shards)
    ]
    for worker in workers:
        worker.start()
    try:
        yield [registration(story, audience)]
        live = list(range(shards))
        while live:
            for n in list(live):
                kind, payload = queues[n].get()
                if kind == "done":
                    live.remove(n)
                elif kind == "error":
                    raise SimulationFailed(f"a simulation worker failed:\n{payload}")
                else:
                    yield from payload
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()


@contextmanager
def rare_collections() -> Iterator[None]:
    """Collect garbage rarely while the block runs (the writing parent's setting).

    What exists already (modules, the story) is set aside for good
    (`gc.freeze`, as `startup.resume_gc` does), and the thresholds are a
    worker's until the block ends: the writer's objects (ops, rows, counts)
    hold no cycles, and the collector's passes over them cost the parent a
    sixth of its CPU.
    """
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*WORKER_GC)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _work(story: Story, audience: Audience, shard: int, shards: int, queue: Any) -> None:
    """A worker: play one shard, putting its sessions on `queue` a chunk at a time."""
    try:
        os.nice(WORKER_NICE)  # the parent, whose work cannot be shared, goes first
    except OSError:
        pass
    gc.freeze()
    gc.set_threshold(*WORKER_GC)
    try:
        for chunk in chunks(Shard(story, audience, shard, shards, prepared=True).sessions()):
            queue.put(("chunk", chunk))
        queue.put(("done", None))
    except BaseException:  # noqa: BLE001 - whatever it was, the parent must hear of it
        queue.put(("error", traceback.format_exc(limit=8)))
