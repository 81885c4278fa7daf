"""A player's recorder stores the same state texts from the engine's states as from their dicts.

`StoreRecorder` hands its `SessionWriter` the engine's `State`s, whose texts
`store.engine_texts.EngineTexts` writes (`state_patch`), where it used to hand
`State.to_dict()` to the store's generic `states.diff`. Both are driven here
with the same calls on random playthroughs of every bundled story (choices,
timeouts, rewinds, going back, pauses, endings, quits) and must hand the store
the very same ops, state texts included.
"""

from __future__ import annotations

import random
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from branching.play.engine import Playthrough, Steps
from branching.recording import StoreRecorder
from branching.store.engine_texts import EngineTexts, state_patch
from branching.store.errors import InvalidInput
from branching.store.ops import Op
from branching.store.session import SessionWriter
from branching.store.states import CHECKPOINT_EVENTS, diff, dumps
from branching.story.loader import load_story
from tests.random_walk import Walk, random_walk

STORIES = Path(__file__).resolve().parent.parent / "stories"
IDS = {"session_id": "s-1", "story_id": "story", "content_hash": "hash"}


class _Collected:
    """A session writer whose ops are collected, never written."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.writer = SessionWriter(self._collect, lambda: None, dict(IDS), 1, clock=lambda: "t")

    def _collect(self, op: Op) -> Future[bool]:
        self.ops.append(op)
        done: Future[bool] = Future()
        done.set_result(True)
        return done


def _drive(story_name: str, seed: int) -> tuple[list[Op], list[Op]]:
    """The ops of the same calls through the engine's states and through their dicts."""
    story = load_story(STORIES / story_name)
    rng = random.Random(seed)
    engine, dicts = _Collected(), _Collected()
    recorders = [
        StoreRecorder(engine.writer, group=False),
        StoreRecorder(dicts.writer, steps=Steps(), group=False),  # `to_dict`, `diff`
    ]

    def both(call: str, *args: Any, **kwargs: Any) -> None:
        for recorder in recorders:
            getattr(recorder, call)(*args, **kwargs)

    walk = Walk(steps=80, stop_at_end=0.2, quit=0.03, pause=0.1, resume=False, relabel=False)
    random_walk(Playthrough.start(story, seed), rng, both, walk)
    return engine.ops, dicts.ops


@pytest.mark.parametrize("story_name", ["signal", "lighthouse.yaml", "tutorial"])
def test_the_engine_states_are_stored_as_their_dicts_were(story_name: str) -> None:
    patched = 0
    for seed in range(30):
        engine_ops, dict_ops = _drive(story_name, seed)
        assert engine_ops == dict_ops
        patched += sum(1 for op in engine_ops if op.get("state") and '"="' not in op["state"])
    assert patched > 100  # patches were compared, not only snapshots


def test_state_patch_is_diff_of_the_dicts() -> None:
    story = load_story(STORIES / "signal")
    rng = random.Random(7)
    states = []
    for seed in range(20):
        run = Playthrough.start(story, seed)
        states.append(run.state)
        while run.view.choices and len(states) < 40 * (seed + 1):
            run.choose(rng.choice([c for c in run.view.choices if not c.locked]).id)
            states.append(run.state)
            if run.can_go_back and rng.random() < 0.2:
                run.back()
                states.append(run.state)
    for _ in range(2000):  # any two states, near or far apart
        old, new = rng.choice(states), rng.choice(states)
        assert state_patch(old, new) == diff(old.to_dict(), new.to_dict())
    texts = EngineTexts()
    for old, new in zip(states, states[1:], strict=False):
        patch = diff(old.to_dict(), new.to_dict())
        assert texts.patch(old, new) == (None if patch is None else dumps(patch))
        assert texts.whole(new) == dumps({"=": new.to_dict()})


def test_a_recorder_s_session_refuses_a_dict_state() -> None:
    collected = _Collected()
    recorder = StoreRecorder(collected.writer, group=False)
    with pytest.raises(InvalidInput, match="the state must be State, not dict"):
        recorder.session.record("pause", scene="wake", state={"scene": "wake"})
    assert collected.ops == []


def test_a_long_session_still_takes_snapshots() -> None:
    story = load_story(STORIES / "signal")
    run = Playthrough.start(story, 1)
    collected = _Collected()
    recorder = StoreRecorder(collected.writer, group=False)
    recorder.started(run)
    while len(collected.ops) < 3 * CHECKPOINT_EVENTS:  # back and forth: a change each time
        if run.can_go_back:
            run.back()
            recorder.rewound(run, run.view.scene, input="key")
        else:
            choice = next(c for c in run.view.choices if not c.locked)
            run.choose(choice.id)
            recorder.chose(run, run.view.scene, choice.id, choice.target, decide_ms=10, input="key")
            recorder.shown(run)
    snapshots = [op for op in collected.ops if op.get("state") and op["state"].startswith('{"="')]
    assert len(snapshots) >= 2  # the first, then at least one checkpoint


def test_the_variables_patch_follows_diff_on_every_kind_of_value() -> None:
    from branching.store.engine_texts import _flat_diff

    rng = random.Random(3)
    pool: list[Any] = [0, 1, 2, 1.0, -0.0, 0.0, True, False, "", "a", "é", 300, 10**20, 2.5]
    for _ in range(3000):
        old = {f"k{i}": rng.choice(pool) for i in rng.sample(range(8), rng.randrange(0, 8))}
        new = {k: (rng.choice(pool) if rng.random() < 0.3 else v) for k, v in old.items()}
        for k in rng.sample(range(8), rng.randrange(0, 3)):
            if rng.random() < 0.5:
                new.pop(f"k{k}", None)
            else:
                new[f"k{k}"] = rng.choice([*pool, [1, 2], {"x": 1}, ["a", "b"]])
        assert _flat_diff(old, new) == diff(old, new), (old, new)


def test_engine_texts_are_written_as_dumps_writes_them() -> None:
    from branching.store.engine_texts import json_text

    for value in [
        {"~": {"scene": "hub", "turns": 10}, ">": {"vars": {"~": {"x": True}}}},
        {"=": {"vars": {"name": "Zoë \u2028\x00", "n": -0.0, "big": 1e300, "i": 10**20}}},
        ["a", [], {}],
        "text",
        None,
    ]:
        assert json_text(value) == dumps(value)
    for bad in [{"x": float("nan")}, {"x": float("inf")}]:
        with pytest.raises(ValueError):
            json_text(bad)
    with pytest.raises(TypeError):
        json_text({"x": object()})
