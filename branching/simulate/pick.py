"""How a simulated viewer picks among the choices it can take.

- `random`: every available choice alike (or by the persona's weights);
- `least-used`: the choice taken least so far in the whole simulation, ties
  drawn at random, which covers a story fast (ChoiceScript's randomtest does
  the same);
- `default`: the clock always chooses (the choice point's default).

A viewer playing again leans away from what it chose before, as people do when
they replay to find another ending.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections import Counter
from collections.abc import Sequence
from itertools import accumulate
from typing import TypeVar

from branching.play.engine import ChoiceView
from branching.simulate.personas import Persona
from branching.story.model import Scene

AGAIN_WEIGHT = 0.3  # a choice this viewer took in an earlier session weighs this much
T = TypeVar("T")


def pick(
    rng: random.Random,
    strategy: str,
    scene: Scene,
    open_: list[ChoiceView],
    *,
    persona: Persona | None,
    used: Counter[tuple[str, str]],
    taken_before: set[tuple[str, str]],
) -> ChoiceView:
    """One of `open_` (the unlocked choices of `scene`, never empty) for this viewer."""
    if strategy == "default":
        return next((c for c in open_ if c.default), open_[0])
    if strategy == "least-used":
        low = min(used[(scene.id, c.id)] for c in open_)
        fewest = [c for c in open_ if used[(scene.id, c.id)] == low]
        return fewest[0] if len(fewest) == 1 else rng.choice(fewest)
    weights = []
    for c in open_:
        w = 1.0
        if persona is not None:
            choice = scene.choice(c.id)
            if choice is not None:
                w = persona.weight(scene.id, choice)
        if (scene.id, c.id) in taken_before:
            w *= AGAIN_WEIGHT
        weights.append(w)
    if sum(weights) <= 0:  # a persona weighed every open choice 0: it still has to choose
        return rng.choice(open_)
    return weighted(rng, open_, weights)


def weighted(rng: random.Random, population: Sequence[T], weights: Sequence[float]) -> T:
    """`rng.choices(population, weights=weights)[0]`: the very same draw, a third of the cost.

    The same arithmetic as the standard library's (cumulative weights, one
    `random()` times their total, a bisection), without its general checks:
    the weights here are finite and their total positive.
    """
    cumulative = list(accumulate(weights))
    return population[
        bisect(cumulative, rng.random() * (cumulative[-1] + 0.0), 0, len(cumulative) - 1)
    ]
