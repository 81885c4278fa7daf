"""A random playthrough of a story, each step handed to recorders as a player hands it.

Two tests compare two recorders fed alike (the player's `StoreRecorder` on the
engine's states against one on their dicts, and against the simulator's
`SimSession`): both walk a story the same way here, choices, timeouts, rewinds
from an ending, going back, pauses and quits, and differ only in the odds
(`Walk`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from branching.play.engine import Playthrough

Call = Callable[..., None]  # call(name, *args, **kwargs): the recorders' method `name`


@dataclass(frozen=True, slots=True)
class Walk:
    steps: int  # at most this many steps
    stop_at_end: float  # chance to stop at an ending rather than rewind to an offer
    quit: float  # chance per step to quit
    pause: float  # ... to pause (before choosing)
    resume: bool  # a pause is followed by its resume
    relabel: bool  # one label in five is recorded as read, not as the template says


def random_walk(
    run: Playthrough,
    rng: random.Random,
    call: Call,
    walk: Walk,
    tick: Callable[[], None] = lambda: None,
) -> None:
    """Play `run` at random, handing every step to `call` (`tick` first, each step)."""
    call("started", run)
    for _ in range(walk.steps):
        tick()
        view = run.view
        if view.ending is not None or view.stuck is not None:
            if not view.offers or rng.random() < walk.stop_at_end:
                break
            offer = view.offers[rng.randrange(len(view.offers))].scene
            run.rewind_to(offer)
            call("rewound", run, offer, input="key")
            continue
        roll = rng.random()
        if roll < walk.quit:
            call("quit", run)
            break
        if roll < walk.pause:
            call("event", "pause", run, scene=view.scene)
            if walk.resume:
                call("event", "resume", run, scene=view.scene)
        if run.can_go_back and roll > 0.9:
            run.back()
            call("rewound", run, run.view.scene, input="key")
            continue
        choice = rng.choice([c for c in view.choices if not c.locked])
        timeout = rng.random() < 0.2
        label: Any = None
        if walk.relabel:
            label = choice.label if rng.random() < 0.8 else f"{choice.label} (as read)"
        run.choose(choice.id)
        call(
            "chose",
            run,
            view.scene,
            choice.id,
            choice.target,
            decide_ms=rng.randrange(100, 9000),
            input="timeout" if timeout else "key",
            timeout=timeout,
            label=label,
        )
        call("shown", run)
