"""The straightforward exhaustive search, kept as the yardstick for `explore`.

One breadth-first search over `space.Key` tuples held in a dict, evaluating
every condition of every state through the engine's rules: what `explore`
did before states were packed. It is slow and hungry (about a kilobyte per
state) but simple enough to trust, so the tests compare the packed searches
with it on small stories (the same counts, the same shortest depths, the same
reached scenes), and benchmarks/bench_explore.py measures the speed-up
against it. Standard library only (headless core).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from branching.expr.conditions import EvalError, Expression
from branching.play.engine import Holds, listed_choices, open_routes
from branching.story.model import Story
from branching.verify.space import Key, StateSpace, Work


@dataclass
class PlainCount:
    """What the plain search saw: states, and per scene the fewest choices to get there."""

    states: int = 0
    complete: bool = True
    depth: dict[str, int] = field(default_factory=dict)  # scene -> fewest choices
    taken: set[tuple[str, str]] = field(default_factory=set)  # choices available somewhere
    stuck: set[str] = field(default_factory=set)  # scenes where some state is stuck


def plain_search(story: Story, raw: bool = False, max_states: int | None = None) -> PlainCount:
    """Every state reachable from the start, one dict entry each (0-1 breadth-first)."""
    space = StateSpace(story, raw=raw)
    out = PlainCount()
    dist: dict[Key, int] = {}
    queue: deque[tuple[int, Key]] = deque()
    start = space.start()
    dist[start] = 0
    queue.append((0, start))
    while queue:
        d, key = queue.popleft()
        if dist[key] != d:
            continue
        scene = story.scenes[key[0]]
        out.depth[scene.id] = min(out.depth.get(scene.id, d), d)
        env = space.thaw(key)
        holds = _holds(env)
        successors: list[tuple[Key, int]] = []
        if scene.ending is not None:
            pass
        elif scene.choices:
            for c, locked in listed_choices(scene, env, holds):
                if not locked:
                    successors.append((space.take(key, c), 1))
                    out.taken.add((scene.id, c.id))
        else:
            for route in open_routes(scene, holds):
                work = space.thaw(key)
                space.enter(work, route.goto)
                successors.append((space.freeze(work), 0))
        if scene.ending is None and not successors:
            out.stuck.add(scene.id)
        for nxt, cost in successors:
            old = dist.get(nxt)
            if old is not None and old <= d + cost:
                continue
            if old is None and max_states is not None and len(dist) >= max_states:
                out.complete = False
                continue
            dist[nxt] = d + cost
            if cost:
                queue.append((d + cost, nxt))
            else:
                queue.appendleft((d, nxt))
    out.states = len(dist)
    return out


def _holds(env: Work) -> Holds:
    def holds(expr: Expression, _key: str, _owner: str) -> bool:
        try:
            return bool(expr.evaluate(env))
        except EvalError:
            return False

    return holds
