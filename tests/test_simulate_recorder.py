"""A simulated session records exactly what a player's `StoreRecorder` sends its `SessionWriter`.

`simulate.sessions.SimSession` is the simulator's own lean recorder (no lock,
no futures, no key press groups). Both are driven here with the same calls
on random playthroughs of every bundled story, with the same clock and ids,
and must hand the store the very same ops, state texts included.
"""

from __future__ import annotations

import random
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from branching.play.engine import Playthrough, Steps
from branching.recording import StoreRecorder
from branching.simulate.sessions import SimClock, SimSession
from branching.simulate.texts import SimPatches
from branching.store.ops import Op
from branching.store.session import SessionWriter
from branching.store.states import Patches
from branching.story.loader import load_story
from tests.random_walk import Walk, random_walk

STORIES = Path(__file__).resolve().parent.parent / "stories"


class _Pair:
    """A simulated session and a player's recorder on a collecting writer, fed alike."""

    def __init__(self, rng: random.Random, clock: SimClock, steps: Steps, story_id: str) -> None:
        self.sim = SimSession(
            rng,
            clock,
            story_id=story_id,
            content_hash="hash",
            viewer_id="viewer",
            seed=1,
            attrs={"region": "NL"},
            context={"platform": "simulated"},
            patches=SimPatches(),
        )
        self.ops: list[Op] = []
        ids = {"session_id": self.sim.session_id, "story_id": story_id, "content_hash": "hash"}
        writer = SessionWriter(
            self._collect, lambda: None, ids, next_seq=1, clock=clock.ts, patches=Patches()
        )
        self.writer = writer
        self.player = StoreRecorder(writer, steps=steps, group=False)

    def _collect(self, op: Op) -> Future[bool]:
        self.ops.append(op)
        done: Future[bool] = Future()
        done.set_result(True)
        return done

    def both(self, call: str, *args: Any, **kwargs: Any) -> None:
        getattr(self.sim, call)(*args, **kwargs)
        getattr(self.player, call)(*args, **kwargs)


def _drive(story_name: str, seed: int) -> _Pair:
    story = load_story(STORIES / story_name)
    rng = random.Random(seed)
    clock = SimClock(datetime(2026, 1, 1, tzinfo=UTC))
    steps = Steps()
    pair = _Pair(random.Random(seed), clock, steps, story.id)
    walk = Walk(steps=60, stop_at_end=0.3, quit=0.05, pause=0.15, resume=True, relabel=True)
    random_walk(
        Playthrough.start(story, seed, steps),
        rng,
        pair.both,
        walk,
        tick=lambda: clock.advance(rng.randrange(0, 3000)),
    )
    if rng.random() < 0.5:
        pair.sim.finish("abandoned")
        pair.writer.finish("abandoned")
    return pair


@pytest.mark.parametrize("story_name", ["signal", "lighthouse.yaml", "tutorial"])
def test_a_simulated_session_records_what_the_player_records(story_name: str) -> None:
    events = 0
    for seed in range(25):
        pair = _drive(story_name, seed)
        assert pair.sim.ops[0]["op"] == "session"
        assert pair.sim.ops[1:] == pair.ops
        events += len(pair.ops)
    assert events > 25 * 3  # playthroughs went somewhere


def test_a_label_differing_from_the_story_is_kept_and_one_as_written_is_not() -> None:
    kept = [op.get("label") for seed in range(20) for op in _drive("signal", seed).sim.ops]
    assert any(label is not None and label.endswith("(as read)") for label in kept)
    assert all(label is None or "{" not in label for label in kept)
