"""Exhaustive search of a story's (scene, state) space: which endings can be reached, and how.

The checker reasons about the graph and each variable's possible values on
their own; `explore` plays every playthrough at once, breadth-first, with the
rules of the engine (STORY-FORMAT.md, "Precise rules"): choices numbered as
players number them, `set` then `add`, visits counted on entry, `on_enter`,
`once`, `if`/`requires`, `next` taking the first route that holds and `random`
branching into *every* eligible route. For each ending it keeps the shortest
proof (fewest choices), and it reports the states that get stuck and the
conditions that met a division by zero.

What a state keeps (only what conditions can observe, so equal futures share
one state and loops stay finite) and how a step changes it live in `observe`;
this module owns the search over those states and its findings. Going back
(`rewind`) returns to earlier states and adds none. The search stops at
`max_states`, and then says the result is not proven.

Proofs are replayable with `Playthrough.choose_number`; a path through a
`random` scene also lists the draws it needs. Headless core: standard library.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from branching.expr.conditions import EvalError, Expression
from branching.play.engine import Holds, listed_choices, open_routes
from branching.story.model import Scene, Story
from branching.verify.space import Key, StateSpace, Work

DEFAULT_MAX_STATES = 200_000

Label = tuple[Any, ...] | None  # ("choice", ChoiceStep) or ("draw", scene, goto)


@dataclass(frozen=True, slots=True)
class ChoiceStep:
    """One choice of a proof: its number as the player lists it, and its id."""

    scene: str
    number: int
    choice: str


@dataclass(frozen=True, slots=True)
class Proof:
    """How to get somewhere: the choices to take, and the random draws needed on the way."""

    steps: tuple[ChoiceStep, ...] = ()
    draws: tuple[tuple[str, str], ...] = ()  # (random scene, scene drawn), in order

    @property
    def numbers(self) -> list[int]:
        return [s.number for s in self.steps]

    @property
    def choices(self) -> list[str]:
        return [s.choice for s in self.steps]

    def __str__(self) -> str:
        text = (
            "choices " + ",".join(map(str, self.numbers)) + f" ({', '.join(self.choices)})"
            if self.steps
            else "at the start, no choice needed"
        )
        if self.draws:
            text += "; random draws " + ", ".join(f"{s} -> {g}" for s, g in self.draws)
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "numbers": self.numbers,
            "choices": self.choices,
            "scenes": [s.scene for s in self.steps],
            "draws": [list(d) for d in self.draws],
        }


@dataclass(frozen=True, slots=True)
class EndingFound:
    scene: str
    kind: str
    title: str
    path: Proof


@dataclass(frozen=True, slots=True)
class StuckState:
    scene: str
    reason: str
    path: Proof


@dataclass(frozen=True, slots=True)
class ZeroDivision:
    """A condition that divided by zero (so it counted as false) in a reachable state."""

    scene: str
    where: str
    condition: str
    path: Proof


@dataclass(frozen=True)
class Exploration:
    """What the search found. `complete` False: it stopped at `max_states`, nothing is proven."""

    story: str
    endings: tuple[EndingFound, ...]
    unreached: tuple[str, ...]  # ending scene ids never reached
    stuck: tuple[StuckState, ...]
    zero_divisions: tuple[ZeroDivision, ...]
    states: int
    complete: bool
    max_states: int

    @property
    def ok(self) -> bool:
        """Every ending proven reachable, no stuck state, and the search finished."""
        return self.complete and not self.unreached and not self.stuck

    def as_dict(self) -> dict[str, Any]:
        return {
            "story": self.story,
            "states": self.states,
            "complete": self.complete,
            "max_states": self.max_states,
            "endings": [
                {"scene": e.scene, "kind": e.kind, "title": e.title, "path": e.path.as_dict()}
                for e in self.endings
            ],
            "unreached": list(self.unreached),
            "stuck": [
                {"scene": s.scene, "reason": s.reason, "path": s.path.as_dict()} for s in self.stuck
            ],
            "zero_divisions": [
                {
                    "scene": z.scene,
                    "where": z.where,
                    "condition": z.condition,
                    "path": z.path.as_dict(),
                }
                for z in self.zero_divisions
            ],
        }

    def report(self) -> str:
        """The findings in plain words, one per line."""
        lines = [
            f"Explored {self.states:,} state(s)"
            + (
                "; the search is complete."
                if self.complete
                else f"; stopped at the limit of {self.max_states:,}: the search is not complete, "
                "so nothing below is proven absent."
            )
        ]
        lines.append(
            f"Endings reached: {len(self.endings)} of {len(self.endings) + len(self.unreached)}"
        )
        lines += [f"  {e.scene} ({e.kind}: {e.title}): {e.path}" for e in self.endings]
        if self.unreached:
            lines.append("Endings never reached: " + ", ".join(self.unreached))
        for s in self.stuck:
            lines.append(f"Stuck at {s.scene}: {s.reason}; reached by {s.path}")
        for z in self.zero_divisions:
            lines.append(
                f"Division by zero at {z.scene} in {z.where} '{z.condition}'; reached by {z.path}"
            )
        return "\n".join(lines)


def explore(story: Story, max_states: int = DEFAULT_MAX_STATES) -> Exploration:
    """Search every state of `story` (loaded without errors) reachable from its start."""
    return _Search(story, max_states).run()


# ---------------------------------------------------------------- the search


@dataclass
class _Found:
    endings: dict[str, EndingFound] = field(default_factory=dict)
    stuck: dict[tuple[str, str], StuckState] = field(default_factory=dict)
    zero: dict[tuple[str, str, str], ZeroDivision] = field(default_factory=dict)


class _Search:
    def __init__(self, story: Story, max_states: int) -> None:
        self.story = story
        self.max_states = max_states
        self.space = StateSpace(story)
        self.dist: dict[Key, int] = {}
        self.parent: dict[Key, tuple[Key | None, Label]] = {}
        self.queue: deque[tuple[int, Key]] = deque()
        self.auto: dict[Key, list[Key]] = {}  # scenes with routes -> their successors
        self.found = _Found()
        self.complete = True
        self.current: Key | None = None

    def push(self, key: Key, dist: int, parent: Key | None, label: Label) -> None:
        old = self.dist.get(key)
        if old is not None and old <= dist:
            return
        if old is None and len(self.dist) >= self.max_states:
            self.complete = False
            return
        self.dist[key] = dist
        self.parent[key] = (parent, label)
        if parent is not None and self.dist[parent] == dist:
            self.queue.appendleft((dist, key))
        else:
            self.queue.append((dist, key))

    def run(self) -> Exploration:
        story = self.story
        if story.start in story.scenes:
            self.push(self.space.start(), 0, None, None)
        while self.queue:
            dist, key = self.queue.popleft()
            if self.dist.get(key) != dist:
                continue  # reached again by a shorter path since it was queued
            self.expand(key, dist)
        self.stuck_loops()
        endings = story.endings()
        found = self.found
        reached = tuple(found.endings[s.id] for s in endings if s.id in found.endings)
        return Exploration(
            story=story.id,
            endings=reached,
            unreached=tuple(s.id for s in endings if s.id not in found.endings),
            stuck=tuple(found.stuck.values()),
            zero_divisions=tuple(found.zero.values()),
            states=len(self.dist),
            complete=self.complete,
            max_states=self.max_states,
        )

    def expand(self, key: Key, dist: int) -> None:
        self.current = key
        scene = self.story.scenes.get(key[0])
        if scene is None:
            self.stuck(key, f"unknown scene '{key[0]}'")
            return
        env = self.space.thaw(key)
        for variant in scene.text:
            if variant.condition is None or self.holds(variant.condition, env, "a text variant"):
                break
        if scene.ending is not None:
            if scene.id not in self.found.endings:
                self.found.endings[scene.id] = EndingFound(
                    scene.id, scene.ending.kind, scene.ending.title, self.path(key)
                )
        elif scene.choices:
            self.expand_choices(key, dist, scene, env)
        else:
            self.expand_routes(key, dist, scene, env)

    def expand_choices(self, key: Key, dist: int, scene: Scene, env: Work) -> None:
        listed = listed_choices(scene, env, self.judge(env))
        available = [(n, c) for n, (c, locked) in enumerate(listed, start=1) if not locked]
        if not available:
            self.stuck(key, f"no choice of '{scene.id}' can be taken")
        for n, c in available:
            self.push(
                self.space.take(key, c), dist + 1, key, ("choice", ChoiceStep(scene.id, n, c.id))
            )

    def expand_routes(self, key: Key, dist: int, scene: Scene, env: Work) -> None:
        routes = open_routes(scene, self.judge(env))
        if not routes:
            self.stuck(key, f"no route of '{scene.id}' holds")
            return
        successors = self.auto.setdefault(key, [])
        for r in routes:
            w = self.space.thaw(key)
            self.space.enter(w, r.goto)
            nxt = self.space.freeze(w)
            successors.append(nxt)
            label = ("draw", scene.id, r.goto) if scene.random else None
            self.push(nxt, dist, key, label)

    def judge(self, env: Work) -> Holds:
        """`holds` bound to `env`, in the shape the engine's rules take."""

        def holds(expr: Expression, key: str, owner: str) -> bool:
            try:
                return bool(expr.evaluate(env))
            except EvalError as exc:  # only now is it worth saying where
                where = (
                    f"the route to '{owner}'"
                    if key == "route"
                    else f"the '{key}' of choice '{owner}'"
                )
                return self.failed(exc, expr, where)

        return holds

    def holds(self, expr: Expression, env: Work, where: str) -> bool:
        try:
            return bool(expr.evaluate(env))
        except EvalError as exc:
            return self.failed(exc, expr, where)

    def failed(self, exc: EvalError, expr: Expression, where: str) -> bool:
        """Note a division by zero at `where` (once per place); the condition is false."""
        if "division by zero" in str(exc) and self.current is not None:
            scene = self.current[0]
            mark = (scene, where, expr.source)
            if mark not in self.found.zero:
                self.found.zero[mark] = ZeroDivision(
                    scene, where, expr.source.strip(), self.path(self.current)
                )
        return False

    def stuck(self, key: Key, reason: str) -> None:
        mark = (key[0], reason)
        if mark not in self.found.stuck:
            self.found.stuck[mark] = StuckState(key[0], reason, self.path(key))

    def stuck_loops(self) -> None:
        """Scenes without choices whose routes only ever lead back among themselves."""
        escapes = {
            k
            for k, succ in self.auto.items()
            if any(s not in self.auto or s not in self.dist for s in succ)
        }
        if len(escapes) == len(self.auto):
            return
        into: dict[Key, list[Key]] = {}
        for k, succ in self.auto.items():
            for s in succ:
                into.setdefault(s, []).append(k)
        todo = list(escapes)
        while todo:
            for prev in into.get(todo.pop(), ()):
                if prev not in escapes:
                    escapes.add(prev)
                    todo.append(prev)
        trapped = sorted((k for k in self.auto if k not in escapes), key=self.dist.__getitem__)
        covered: set[Key] = set()
        for k in trapped:  # one report per trap: all it leads to is trapped with it
            if k in covered:
                continue
            self.stuck(k, "a loop of scenes with no choice")
            todo = [k]
            while todo:
                for s in self.auto.get(todo.pop(), ()):
                    if s not in covered:
                        covered.add(s)
                        todo.append(s)

    def path(self, key: Key) -> Proof:
        steps: list[ChoiceStep] = []
        draws: list[tuple[str, str]] = []
        at: Key | None = key
        while at is not None:
            prev, label = self.parent[at]
            if label is not None and label[0] == "choice":
                steps.append(label[1])
            elif label is not None:
                draws.append((label[1], label[2]))
            at = prev
        return Proof(tuple(reversed(steps)), tuple(reversed(draws)))
