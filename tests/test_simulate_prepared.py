"""The simulation's shortcuts give exactly what the long way gives.

- `bulk.prepare` (a worker works out each new session's rows and counts) must
  give back every op it folded, and the writer must commit the same rows from
  prepared sessions as from ops, also for sessions the database holds already;
- a `prepared` shard (the workers' way: each session made as rows from the
  start, no event ops) must give exactly what `prepare` makes of its ops;
- `engine_texts.state_patch` (patches from the engine's states) must be the store's
  own `states.diff` of their dict forms, value types included;
- `frames.FrameBook` must put a frame of equal value in place of a new one;
- the workers play at a lower priority than the writing parent, whose work
  cannot be shared (`parallel.WORKER_NICE`).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import sqlite3
import time
from datetime import date
from pathlib import Path

import pytest

from branching.play.engine import Frame, Passage, Playthrough, State, Steps
from branching.simulate.audience import Audience
from branching.simulate.frames import FrameBook
from branching.simulate.parallel import simulate_parallel
from branching.simulate.run import Shard, simulate, simulate_prepared
from branching.simulate.texts import SimChain, SimPatches
from branching.store.bulk import BulkWriter, SessionUnit, prepare
from branching.store.engine_texts import state_patch
from branching.store.ops import Op
from branching.store.states import StateChain, diff
from branching.story.loader import load_story
from tests.test_store_group_apply import every_row

ROOT = Path(__file__).resolve().parent.parent
SIGNAL = ROOT / "stories" / "signal"


def _batches(sessions: int = 40, seed: int = 4) -> list[list[Op]]:
    story = load_story(SIGNAL)
    audience = Audience(
        sessions=sessions, viewers=15, seed=seed, start=date(2026, 1, 1), end=date(2026, 1, 5)
    )
    return list(simulate(story, audience))


def _unfold(items: list[Op | SessionUnit]) -> list[Op]:
    return [
        op for item in items for op in (item.ops() if isinstance(item, SessionUnit) else [item])
    ]


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return every_row(conn)
    finally:
        conn.close()


def test_a_prepared_session_gives_back_exactly_the_ops_it_was_made_of() -> None:
    batches = _batches()
    folded = 0
    for ops in batches:
        items = prepare(ops)
        folded += sum(isinstance(item, SessionUnit) for item in items)
        assert _unfold(items) == ops
    assert folded == 40  # every session was worked out
    late = [items[0] for items in map(prepare, batches) if not isinstance(items[0], SessionUnit)]
    assert any(op.get("op") == "finish" for op in late)  # an earlier session's, kept as an op


def test_sessions_made_as_rows_are_what_prepare_makes_of_their_ops(tmp_path: Path) -> None:
    story = load_story(SIGNAL)
    audience = Audience(
        sessions=120, viewers=40, seed=6, start=date(2026, 1, 1), end=date(2026, 1, 5)
    )
    from_ops = [prepare(ops) for ops in simulate(story, audience)]
    made = list(simulate_prepared(story, audience))
    assert [_unfold(items) for items in made] == [_unfold(items) for items in from_ops]
    units = 0
    for mine, theirs in zip(made, from_ops, strict=True):
        assert [type(item) for item in mine] == [type(item) for item in theirs]
        for a, b in zip(mine, theirs, strict=True):
            if isinstance(a, SessionUnit) and isinstance(b, SessionUnit):
                units += 1
                assert (a.row, a.attrs, a.events, a.tally, a.labels) == (
                    b.row,
                    b.attrs,
                    b.events,
                    b.tally,
                    b.labels,
                )
                assert a.replayed() == b.replayed()
    assert units == 120
    late = [items[0] for items in made[1:] if not isinstance(items[0], SessionUnit)]
    assert late and all(op["op"] == "finish" for op in late)  # a viewer's earlier session
    for name, batches in (("ops.db", from_ops), ("rows.db", made)):
        with BulkWriter(tmp_path / name, batch=700) as writer:
            for items in batches:
                writer.add(items)
    assert _rows(tmp_path / "ops.db") == _rows(tmp_path / "rows.db")


def test_an_op_a_unit_cannot_give_back_stays_an_op_and_the_rows_are_the_same(
    tmp_path: Path,
) -> None:
    batches = _batches()
    odd = [dict(op) for op in batches[3]]
    events = [i for i, op in enumerate(odd) if op["op"] == "event"]
    odd[events[2]]["extra"] = "kept"  # not an op `SessionUnit.ops` could rebuild
    batches[3] = odd
    items = prepare(odd)
    assert isinstance(items[0], SessionUnit) and len(items[0].events) == 2
    assert _unfold(items) == odd  # the rest of the session went on as ops, in order
    for name, prepared in (("plain.db", False), ("prepared.db", True)):
        with BulkWriter(tmp_path / name, batch=300) as writer:
            for ops in batches:
                writer.add(prepare(ops) if prepared else ops)
    assert _rows(tmp_path / "plain.db") == _rows(tmp_path / "prepared.db")


def test_prepared_sessions_the_database_holds_already_are_skipped_as_their_ops_are(
    tmp_path: Path,
) -> None:
    batches = _batches()
    counts = {}
    for name, prepared in (("plain.db", False), ("prepared.db", True)):
        for _ in range(2):  # the same seed twice into one database
            with BulkWriter(tmp_path / name, batch=500) as writer:
                for ops in batches:
                    writer.add(prepare(ops) if prepared else ops)
            counts[name] = writer.counts
    assert _rows(tmp_path / "plain.db") == _rows(tmp_path / "prepared.db")
    assert counts["plain.db"] == counts["prepared.db"]
    assert counts["prepared.db"].sessions == 0 and counts["prepared.db"].skipped > 0


def _state(rng: random.Random) -> State:
    values = [0, 1, 1.0, -0.0, 0.0, True, False, "a", "b", 2.5]
    names = ["x", "y", "z", "w"]
    kept = [n for n in names if rng.random() < 0.8]
    rng.shuffle(kept)  # key order is part of a state
    pairs = {(rng.choice("abc"), rng.choice("pq")) for _ in range(rng.randrange(4))}
    return State(
        rng.choice(["s1", "s2"]),
        {n: rng.choice(values) for n in kept},
        {s: rng.randrange(3) for s in ("s1", "s2") if rng.random() < 0.7},
        frozenset(pairs),
        rng.randrange(3),
    )


def test_patches_from_engine_states_are_the_stores_own() -> None:
    rng = random.Random(9)
    differing = 0
    for _ in range(3000):
        old, new = _state(rng), _state(rng)
        expected = diff(old.to_dict(), new.to_dict())
        assert state_patch(old, new) == expected
        if expected is not None:
            differing += 1
            text = json.dumps(expected, separators=(",", ":"), ensure_ascii=False)
            assert SimPatches().patch(old, new) == text  # key order and types included
    assert differing > 2000


def test_a_simulated_chain_writes_the_texts_the_stores_chain_writes() -> None:
    rng = random.Random(5)
    states = [_state(rng) for _ in range(400)]
    states = [s for s in states for _ in range(rng.randrange(1, 3))]  # unchanged states too
    ours, theirs = SimChain(SimPatches()), StateChain(checkpoint=500)
    texts = [(ours.text(s), theirs.encode_text(s.to_dict())) for s in states]
    assert all(a == b for a, b in texts)
    assert any(a is None for a, _ in texts) and any(a and a.startswith('{"="') for a, _ in texts)


def test_a_frame_reached_again_by_the_same_step_is_the_first_one() -> None:
    story = load_story(SIGNAL)
    book = FrameBook()
    start = Playthrough.start(story, 1, Steps()).frames[-1]
    assert book.canonical(None, "", start) is start
    twin = Frame(start.state, tuple(start.passages))
    assert twin is not start and book.canonical(None, "", twin) is start
    elsewhere = Frame(start.state, (Passage("other", "Other", None, ""),))
    assert book.canonical(None, "", elsewhere) is elsewhere  # other scenes: another stop
    other_twin = Frame(start.state, tuple(start.passages))
    assert book.canonical(start, "a choice", other_twin) is other_twin  # another step


def test_a_stream_walking_shared_frames_records_what_it_records_without() -> None:
    story = load_story(SIGNAL)
    audience = Audience(
        sessions=300, viewers=120, seed=8, start=date(2026, 1, 1), end=date(2026, 1, 3)
    )
    shared, alone = Shard(story, audience, 0, 1), Shard(story, audience, 0, 1)
    alone.frames = FrameBook(limit=0)  # keeps nothing: every frame is its own
    assert list(shared.sessions()) == list(alone.sessions())
    assert len(shared.frames._by_step) > 0  # the shared stream did share frames


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="workers need fork"
)
def test_the_workers_give_way_to_the_writing_parent() -> None:
    story = load_story(SIGNAL)
    audience = Audience(
        sessions=3000, viewers=1000, seed=2, start=date(2026, 1, 1), end=date(2026, 1, 5)
    )
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    batches = simulate_parallel(story, audience, jobs=2)
    next(batches)  # the registration: the workers are started
    seen: dict[int, int] = {}
    deadline = time.monotonic() + 30  # a wait for the workers to start, not a speed check
    while len(seen) < 2 and time.monotonic() < deadline:
        for child in multiprocessing.active_children():
            if child.pid is not None:
                try:
                    nice = os.getpriority(os.PRIO_PROCESS, child.pid)
                except OSError:  # ended already
                    continue
                if nice > ours:
                    seen[child.pid] = nice
        time.sleep(0.01)
    sessions = sum(1 for items in batches for item in items if isinstance(item, SessionUnit))
    assert len(seen) == 2  # both workers, below the parent
    assert sessions == 3000  # and they played the whole audience
