"""Exhaustive search of a story's (scene, state) space: which endings can be reached, and how.

The checker reasons about the graph and each variable's possible values on
their own; `explore` plays every playthrough at once, breadth-first, with the
rules of the engine (STORY-FORMAT.md, "Precise rules"): choices numbered as
players number them, `set` then `add`, visits counted on entry, `on_enter`,
`once`, `if`/`requires`, `next` taking the first route that holds and `random`
branching into *every* eligible route. For each ending it keeps the shortest
proof (fewest choices), and it reports the states that get stuck and the
conditions that met a division by zero.

A state is only what the story's conditions can observe, so equal futures
share one state: variables that conditions read, and only while some way on
may read them before setting them again (live variables); visit counts only
of scenes that conditions name (`visited()` only needs "at least once");
`turns()` only when a condition calls it; choices taken only when `chosen()`
names them or they are `once`. A count, or a variable that only ever grows
(or only shrinks), compared only against numbers is capped just beyond the
largest of them, which keeps loops finite; any other use keeps it exact. Going
back (`rewind`) returns to earlier states and adds none. The search stops at
`max_states`, and then says the result is not proven.

Proofs are replayable with `Playthrough.choose_number`; a path through a
`random` scene also lists the draws it needs. Headless core: standard library.
"""

from __future__ import annotations

import ast
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from branching.conditions import EvalError, Expression, Value
from branching.model import Choice, Effect, Scene, Story

DEFAULT_MAX_STATES = 200_000

Key = tuple[str, tuple[Value, ...], tuple[int, ...], frozenset[tuple[str, str]], int]
Label = tuple[Any, ...] | None  # ("choice", Step) or ("draw", scene, goto)


@dataclass(frozen=True, slots=True)
class Step:
    """One choice of a proof: its number as the player lists it, and its id."""

    scene: str
    number: int
    choice: str


@dataclass(frozen=True, slots=True)
class Proof:
    """How to get somewhere: the choices to take, and the random draws needed on the way."""

    steps: tuple[Step, ...] = ()
    draws: tuple[tuple[str, str], ...] = ()  # (random scene, scene drawn), in order

    @property
    def numbers(self) -> list[int]:
        return [s.number for s in self.steps]

    @property
    def choices(self) -> list[str]:
        return [s.choice for s in self.steps]

    def __str__(self) -> str:
        text = ("choices " + ",".join(map(str, self.numbers)) + f" ({', '.join(self.choices)})"
                if self.steps else "at the start, no choice needed")
        if self.draws:
            text += "; random draws " + ", ".join(f"{s} -> {g}" for s, g in self.draws)
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"numbers": self.numbers, "choices": self.choices,
                "scenes": [s.scene for s in self.steps],
                "draws": [list(d) for d in self.draws]}


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
            "endings": [{"scene": e.scene, "kind": e.kind, "title": e.title,
                         "path": e.path.as_dict()} for e in self.endings],
            "unreached": list(self.unreached),
            "stuck": [{"scene": s.scene, "reason": s.reason, "path": s.path.as_dict()}
                      for s in self.stuck],
            "zero_divisions": [{"scene": z.scene, "where": z.where, "condition": z.condition,
                                "path": z.path.as_dict()} for z in self.zero_divisions],
        }

    def report(self) -> str:
        """The findings in plain words, one per line."""
        lines = [f"Explored {self.states:,} state(s)"
                 + ("; the search is complete." if self.complete else
                    f"; stopped at the limit of {self.max_states:,}: the search is not complete, "
                    "so nothing below is proven absent.")]
        lines.append(f"Endings reached: {len(self.endings)} of "
                     f"{len(self.endings) + len(self.unreached)}")
        lines += [f"  {e.scene} ({e.kind}: {e.title}): {e.path}" for e in self.endings]
        if self.unreached:
            lines.append("Endings never reached: " + ", ".join(self.unreached))
        for s in self.stuck:
            lines.append(f"Stuck at {s.scene}: {s.reason}; reached by {s.path}")
        for z in self.zero_divisions:
            lines.append(f"Division by zero at {z.scene} in {z.where} '{z.condition}'; "
                         f"reached by {z.path}")
        return "\n".join(lines)


def explore(story: Story, max_states: int = DEFAULT_MAX_STATES) -> Exploration:
    """Search every state of `story` (loaded without errors) reachable from its start."""
    return _Search(story, max_states).run()


# ---------------------------------------------------------------- what conditions observe


def _story_conditions(story: Story) -> Iterator[Expression]:
    for scene in story.scenes.values():
        yield from (v.condition for v in scene.text if v.condition is not None)
        for c in scene.choices:
            yield from (e for e in (c.condition, c.requires) if e is not None)
        yield from (r.condition for r in scene.routes if r.condition is not None)


def _observed(node: ast.AST, variables: frozenset[str]) -> tuple[str, str] | None:
    """What a node reads: ('var', name), ('visits'|'visited', scene) or ('turns', '')."""
    if isinstance(node, ast.Name) and node.id in variables:
        return ("var", node.id)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        if name == "turns":
            return ("turns", "")
        if name in ("visits", "visited") and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                return (name, arg.value)
    return None


def _number(node: ast.AST) -> float | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _number(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)  # type: ignore[arg-type]
    return None


def _compared(tree: ast.AST, variables: frozenset[str]) -> dict[int, float]:
    """id(node) -> the largest number it is compared with, for reads compared only to numbers."""
    out: dict[int, float] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and all(type(op) not in (ast.In, ast.NotIn)
                                                 for op in node.ops):
            operands = [node.left, *node.comparators]
            numbers = [_number(o) for o in operands]
            reads = [o for o, n in zip(operands, numbers, strict=True) if n is None]
            if len(reads) == 1 and _observed(reads[0], variables) is not None:
                top = max(abs(n) for n in numbers if n is not None)
                if math.isfinite(top):
                    out[id(reads[0])] = top
    return out


def _caps(story: Story) -> dict[tuple[str, str], int | None]:
    """What conditions read, each with the cap that keeps them exact (None: no cap).

    A read compared only against numbers behaves the same for every value above
    the largest of them, so a value that only grows can be capped just above it:
    counts of visits and turns, and variables whose every `add` is positive (or,
    capped from below, negative). Anything else is kept exact.
    """
    caps: dict[tuple[str, str], int | None] = {}
    for expr in _story_conditions(story):
        if not expr.variables and not expr.uses_functions:
            continue
        try:
            tree = ast.parse(expr.source.strip(), mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError):  # pragma: no cover
            continue
        compared = _compared(tree, expr.variables)
        for node in ast.walk(tree):
            found = _observed(node, expr.variables)
            if found is None:
                continue
            kind, name = found
            key = ("visits", name) if kind == "visited" else found
            if kind == "visited" and id(node) not in compared:
                cap: int | None = 1  # used as a truth value: "at least once"
            elif id(node) in compared:
                cap = math.floor(compared[id(node)]) + 1
            else:
                cap = None
            old = caps.get(key, 0)
            caps[key] = None if cap is None or old is None else max(old, cap)
    return caps


def _growth(story: Story) -> dict[str, int]:
    """Per variable changed by `add`: 1 only ever up, -1 only ever down, 0 both ways."""
    signs: dict[str, set[bool]] = {}
    for scene in story.scenes.values():
        for effect in (scene.on_enter, *(c.effect for c in scene.choices)):
            for name, amount in effect.add:
                signs.setdefault(name, set()).add(amount > 0)
    return {name: (1 if up == {True} else -1 if up == {False} else 0)
            for name, up in signs.items()}


def _live(story: Story, names: list[str]) -> dict[str, tuple[bool, ...]]:
    """Per scene, which variables may still be read before they are next `set`.

    A variable that every way on from a scene sets before reading it cannot
    change what happens next, so states that differ only there are one state
    (classic live-variable analysis over the scene graph, to a fixed point).
    """
    bit = {n: 1 << i for i, n in enumerate(names)}

    def mask(found: Iterator[str]) -> int:
        return sum({bit[n] for n in found if n in bit})

    def reads(scene: Scene) -> int:
        exprs = [v.condition for v in scene.text] + [r.condition for r in scene.routes]
        exprs += [e for c in scene.choices for e in (c.condition, c.requires)]
        return mask(n for e in exprs if e is not None for n in e.variables)

    live = {sid: reads(scene) for sid, scene in story.scenes.items()}
    into: dict[str, list[tuple[str, int]]] = {}  # target -> (source, variables set on the way)
    for sid, scene in story.scenes.items():
        ways = [(c.goto, c.effect.set) for c in scene.choices]
        for target, sets in ways + [(r.goto, ()) for r in scene.routes]:
            if target in story.scenes:
                entered = story.scenes[target].on_enter.set
                into.setdefault(target, []).append(
                    (sid, mask(n for n, _ in (*sets, *entered))))
    todo = list(story.scenes)
    while todo:
        target = todo.pop()
        for source, killed in into.get(target, ()):
            grown = live[source] | (live[target] & ~killed)
            if grown != live[source]:
                live[source] = grown
                todo.append(source)
    return {sid: tuple(bool(m & bit[n]) for n in names) for sid, m in live.items()}


# ---------------------------------------------------------------- the search


class _Work:
    """A state being computed (conditions.Env)."""

    __slots__ = ("scene", "vars", "counts", "picks", "turn")

    def __init__(self, scene: str, variables: dict[str, Value], counts: dict[str, int],
                 picks: set[tuple[str, str]], turn: int) -> None:
        self.scene, self.vars, self.counts, self.picks, self.turn = (
            scene, variables, counts, picks, turn)

    def var(self, name: str) -> Value:
        return self.vars[name]

    def visits(self, scene: str) -> int:
        return self.counts.get(scene, 0)

    def chosen(self, scene: str, choice: str) -> bool:
        return (scene, choice) in self.picks

    def turns(self) -> int:
        return self.turn


@dataclass
class _Found:
    endings: dict[str, EndingFound] = field(default_factory=dict)
    stuck: dict[tuple[str, str], StuckState] = field(default_factory=dict)
    zero: dict[tuple[str, str, str], ZeroDivision] = field(default_factory=dict)


class _Search:
    def __init__(self, story: Story, max_states: int) -> None:
        self.story = story
        self.max_states = max_states
        caps = _caps(story)
        growth = _growth(story)
        self.names = [n for n in story.state if ("var", n) in caps]  # the others never matter
        self.var_caps: dict[str, tuple[int, int]] = {}  # name -> (direction, cap)
        for name in self.names:
            cap, way = caps[("var", name)], growth.get(name, 0)
            if cap is not None and way:
                self.var_caps[name] = (way, cap)
        self.initial = {n: story.state[n] for n in self.names}
        self.live = _live(story, self.names)
        self.everything = (True,) * len(self.names)
        self.visit_caps = {scene: cap for (kind, scene), cap in caps.items() if kind == "visits"}
        self.counted = list(self.visit_caps)
        self.count_turns = ("turns", "") in caps
        self.turns_cap = caps.get(("turns", ""))
        self.observed_picks = {(s.id, c.id) for s in story.scenes.values()
                               for c in s.choices if c.once}
        for expr in _story_conditions(story):
            self.observed_picks.update((r.scene, r.choice) for r in expr.scene_refs
                                       if r.choice is not None)
        self.dist: dict[Key, int] = {}
        self.parent: dict[Key, tuple[Key | None, Label]] = {}
        self.queue: deque[tuple[int, Key]] = deque()
        self.auto: dict[Key, list[Key]] = {}  # scenes with routes -> their successors
        self.found = _Found()
        self.complete = True
        self.current: Key | None = None

    # -- states ---------------------------------------------------------------------

    def freeze(self, w: _Work) -> Key:
        values = w.vars
        for name, (way, cap) in self.var_caps.items():
            v = values[name]
            if (way > 0 and v > cap) or (way < 0 and v < -cap):  # type: ignore[operator]
                values[name] = type(v)(cap if way > 0 else -cap)
        live = self.live.get(w.scene, self.everything)
        return (w.scene, tuple(values[n] if on else self.initial[n]
                               for n, on in zip(self.names, live, strict=True)),
                tuple(w.counts.get(s, 0) for s in self.counted), frozenset(w.picks),
                w.turn)

    def thaw(self, key: Key) -> _Work:
        scene, values, counts, picks, turn = key
        return _Work(scene, dict(zip(self.names, values, strict=True)),
                     dict(zip(self.counted, counts, strict=True)), set(picks), turn)

    def enter(self, w: _Work, target: str) -> None:
        w.scene = target
        if target in self.visit_caps:
            cap = self.visit_caps[target]
            count = w.counts.get(target, 0) + 1
            w.counts[target] = count if cap is None else min(count, cap)
        scene = self.story.scenes.get(target)
        if scene is not None:
            self.apply(w, scene.on_enter)

    def apply(self, w: _Work, effect: Effect) -> None:
        """`set` then `add`, on the variables that conditions read (the others never matter)."""
        values = w.vars
        for name, value in effect.set:
            if name in values:
                values[name] = value
        for name, amount in effect.add:
            if name in values:
                values[name] = values[name] + amount  # type: ignore[operator]

    def take(self, key: Key, choice: Choice) -> Key:
        w = self.thaw(key)
        self.apply(w, choice.effect)
        if (w.scene, choice.id) in self.observed_picks:
            w.picks.add((w.scene, choice.id))
        if self.count_turns:
            cap = self.turns_cap
            w.turn = w.turn + 1 if cap is None else min(w.turn + 1, cap)
        self.enter(w, choice.goto)
        return self.freeze(w)

    # -- the search -------------------------------------------------------------------

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
            w = _Work(story.start, {n: story.state[n] for n in self.names}, {}, set(), 0)
            self.enter(w, story.start)
            self.push(self.freeze(w), 0, None, None)
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
        env = self.thaw(key)
        for variant in scene.text:
            if variant.condition is None or self.holds(variant.condition, env, "a text variant"):
                break
        if scene.ending is not None:
            if scene.id not in self.found.endings:
                self.found.endings[scene.id] = EndingFound(
                    scene.id, scene.ending.kind, scene.ending.title, self.path(key))
        elif scene.choices:
            self.expand_choices(key, dist, scene, env)
        else:
            self.expand_routes(key, dist, scene, env)

    def expand_choices(self, key: Key, dist: int, scene: Scene, env: _Work) -> None:
        number, available = 0, []
        for c in scene.choices:
            if c.condition is not None and not self.holds(c.condition, env, f"the 'if' of "
                                                          f"choice '{c.id}'"):
                continue
            if c.once and (scene.id, c.id) in env.picks:
                continue
            number += 1
            if c.requires is None or self.holds(c.requires, env, f"the 'requires' of "
                                                f"choice '{c.id}'"):
                available.append((number, c))
        if not available:
            self.stuck(key, f"no choice of '{scene.id}' can be taken")
        for n, c in available:
            self.push(self.take(key, c), dist + 1, key, ("choice", Step(scene.id, n, c.id)))

    def expand_routes(self, key: Key, dist: int, scene: Scene, env: _Work) -> None:
        routes = []
        for r in scene.routes:
            if r.condition is None or self.holds(r.condition, env, f"the route to '{r.goto}'"):
                routes.append(r)
                if scene.next:
                    break
        if not routes:
            self.stuck(key, f"no route of '{scene.id}' holds")
            return
        successors = self.auto.setdefault(key, [])
        for r in routes:
            w = self.thaw(key)
            self.enter(w, r.goto)
            nxt = self.freeze(w)
            successors.append(nxt)
            label = ("draw", scene.id, r.goto) if scene.random else None
            self.push(nxt, dist, key, label)

    def holds(self, expr: Expression, env: _Work, where: str) -> bool:
        try:
            return bool(expr.evaluate(env))
        except EvalError as exc:
            if "division by zero" in str(exc) and self.current is not None:
                scene = self.current[0]
                mark = (scene, where, expr.source)
                if mark not in self.found.zero:
                    self.found.zero[mark] = ZeroDivision(scene, where, expr.source.strip(),
                                                         self.path(self.current))
            return False

    def stuck(self, key: Key, reason: str) -> None:
        mark = (key[0], reason)
        if mark not in self.found.stuck:
            self.found.stuck[mark] = StuckState(key[0], reason, self.path(key))

    def stuck_loops(self) -> None:
        """Scenes without choices whose routes only ever lead back among themselves."""
        escapes = {k for k, succ in self.auto.items()
                   if any(s not in self.auto or s not in self.dist for s in succ)}
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
        steps: list[Step] = []
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
