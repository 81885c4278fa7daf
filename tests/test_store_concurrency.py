"""Several processes recording into one new file at once: no error, nothing lost.

The processes start together on a file that does not exist yet, so this also
proves the explicit initialisation at open: migrations run under
`BEGIN IMMEDIATE` and the later openers find nothing left to apply.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from branching.store import Store, db
from tests.test_store_api import rows, story, totals_consistent

PROCESSES = 4
CHOICES = 500
PER_SESSION = 20


def record_choices(path: str, worker: int, choices: int, barrier: Any, results: Any) -> None:
    """One kiosk: `choices` choice events (each after its scene), every commit awaited."""
    barrier.wait()
    failures = 0
    store = Store.open(path)
    store.register_story(story())
    for start in range(0, choices, PER_SESSION):
        session = store.start_session("breakfast", "hash-1", f"viewer-{worker}-{start}")
        for step in range(min(PER_SESSION, choices - start)):
            choice = ("puffs", "frosties")[(worker + step) % 2]
            failures += not session.record("scene_shown", scene="kitchen").result()
            failures += not session.record(
                "choice_made",
                scene="kitchen",
                choice=choice,
                target="bus",
                decide_ms=step,
                input="scripted",
                state={"step": step},
            ).result()
        failures += not session.finish("quit").result()
        session.close()
    store.close()
    results.put((worker, failures, len(store.warnings)))


def test_four_processes_record_into_one_new_file_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    workers = [
        ctx.Process(target=record_choices, args=(str(path), n, CHOICES, barrier, results))
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    outcomes = sorted(results.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0] * PROCESSES
    assert outcomes == [(n, 0, 0) for n in range(PROCESSES)]
    assert rows(path, "SELECT COUNT(*) FROM events WHERE type = 'choice_made'") == [
        (PROCESSES * CHOICES,)
    ]
    assert rows(path, "SELECT SUM(count) FROM traversals") == [(PROCESSES * CHOICES,)]
    assert totals_consistent(path)
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]
    assert not path.with_name("shared.db.spool").exists()


def open_and_close(path: str, barrier: Any, results: Any) -> None:
    """A program opening the file as a writer (switching it to write-ahead logging)."""
    barrier.wait()
    try:
        db.connect(Path(path)).close()
        results.put("")
    except Exception as exc:  # the failure is the result: reported, not raised
        results.put(str(exc) or repr(exc))


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(),
    reason="the openers need fork to start together quickly",
)
def test_programs_opening_a_new_file_at_the_same_moment_all_get_in(tmp_path: Path) -> None:
    # eight at a time, twenty times over: one switching a new file to write-ahead
    # logging made others fail at once with "database is locked" (about 1 opening in
    # 20 did before `db._to_wal`), whatever the busy timeout
    ctx = multiprocessing.get_context("fork")
    failures: list[str] = []
    for round_ in range(20):
        path = tmp_path / f"kiosk-{round_}.db"
        db.create_file(path)
        barrier, results = ctx.Barrier(8), ctx.Queue()
        openers = [
            ctx.Process(target=open_and_close, args=(str(path), barrier, results)) for _ in range(8)
        ]
        for opener in openers:
            opener.start()
        failures += [r for r in (results.get(timeout=60) for _ in openers) if r]
        for opener in openers:
            opener.join(timeout=60)
    assert failures == []
