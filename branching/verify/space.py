"""What `explore` keeps of a playthrough in each state, and how a step changes it.

A state is only what the story's conditions can observe, so equal futures
share one state: variables that conditions read, and only while some way on
may read them before setting them again (live variables); visit counts only
of scenes that conditions name (`visited()` only needs "at least once");
`turns()` only when a condition calls it; choices taken only when `chosen()`
names them or they are `once`. A count, or a variable that only ever grows
(or only shrinks), compared only against numbers is capped just beyond the
largest of them, which keeps loops finite; any other use keeps it exact.

With `raw=True` a state keeps every variable of the story instead, read or
not and never merged (the caps stay: without them a loop never ends): that is
the full count `explore` reports beside the merged one.

This module owns that analysis of the story's conditions (done once, over
their syntax trees), the frozen state (`Key`) and its working copy (`Work`),
and the engine's rules for a step on them (`set` then `add`, visits counted on
entry, `on_enter`). `explore` owns the search over the states and what it
reports. Standard library only (headless core).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterator

from branching.expr.conditions import Expression, Value
from branching.story.model import Choice, Effect, Scene, Story

Key = tuple[str, tuple[Value, ...], tuple[int, ...], frozenset[tuple[str, str]], int]


class Work:
    """A state being computed (conditions.Env)."""

    __slots__ = ("scene", "vars", "counts", "picks", "turn")

    def __init__(
        self,
        scene: str,
        variables: dict[str, Value],
        counts: dict[str, int],
        picks: set[tuple[str, str]],
        turn: int,
    ) -> None:
        self.scene, self.vars, self.counts, self.picks, self.turn = (
            scene,
            variables,
            counts,
            picks,
            turn,
        )

    def var(self, name: str) -> Value:
        return self.vars[name]

    def visits(self, scene: str) -> int:
        return self.counts.get(scene, 0)

    def chosen(self, scene: str, choice: str) -> bool:
        return (scene, choice) in self.picks

    def turns(self) -> int:
        return self.turn


class StateSpace:
    """Which parts of a playthrough a state keeps, and the steps between states."""

    def __init__(self, story: Story, raw: bool = False) -> None:
        """`raw`: keep every variable of the story, read or not, and never merge by liveness
        (the full state a viewer is in); otherwise only what can still matter."""
        self.story = story
        self.raw = raw
        caps = _caps(story)
        growth = _growth(story)
        self.names = [n for n in story.state if raw or ("var", n) in caps]
        self.var_caps: dict[str, tuple[int, int]] = {}  # name -> (direction, cap)
        for name in self.names:
            cap, way = caps.get(("var", name)), growth.get(name, 0)
            if cap is not None and way:
                self.var_caps[name] = (way, cap)
        self.initial = {n: story.state[n] for n in self.names}
        self.everything = (True,) * len(self.names)
        self.live = {} if raw else _live(story, self.names)
        # per scene, the positions of the variables no way on reads (reset when frozen)
        self._dead = {
            scene: tuple(i for i, on in enumerate(live) if not on)
            for scene, live in self.live.items()
        }
        self._initial = [self.initial[n] for n in self.names]
        self.visit_caps = {scene: cap for (kind, scene), cap in caps.items() if kind == "visits"}
        self.counted = list(self.visit_caps)
        self.count_turns = ("turns", "") in caps
        self.turns_cap = caps.get(("turns", ""))
        self.observed_picks = {
            (s.id, c.id) for s in story.scenes.values() for c in s.choices if c.once
        }
        for expr in _story_conditions(story):
            self.observed_picks.update(
                (r.scene, r.choice) for r in expr.scene_refs if r.choice is not None
            )

    def start(self) -> Key:
        """The state at the start: the start scene entered (it must exist)."""
        story = self.story
        counts = dict.fromkeys(self.counted, 0)  # every counted scene, in order (see `freeze`)
        w = Work(story.start, {n: story.state[n] for n in self.names}, counts, set(), 0)
        self.enter(w, story.start)
        return self.freeze(w)

    def freeze(self, w: Work) -> Key:
        """The state `w` stands for: capped, with variables no way on reads reset."""
        values = w.vars
        for name, (way, cap) in self.var_caps.items():
            v = values[name]
            if (way > 0 and v > cap) or (way < 0 and v < -cap):  # type: ignore[operator]
                values[name] = type(v)(cap if way > 0 else -cap)
        # `values` and `w.counts` hold every name of `names` and `counted`, in that order
        # (made so by `start` and `thaw`; a step only changes values), so their values
        # are the state's tuples as they are
        dead = self._dead.get(w.scene)
        if dead:
            kept = list(values.values())
            initial = self._initial
            for i in dead:
                kept[i] = initial[i]
            frozen = tuple(kept)
        else:
            frozen = tuple(values.values())
        return (w.scene, frozen, tuple(w.counts.values()), frozenset(w.picks), w.turn)

    def thaw(self, key: Key) -> Work:
        """A fresh working copy of a state."""
        scene, values, counts, picks, turn = key
        return Work(
            scene,
            dict(zip(self.names, values, strict=True)),
            dict(zip(self.counted, counts, strict=True)),
            set(picks),
            turn,
        )

    def enter(self, w: Work, target: str) -> None:
        """Move `w` into scene `target`: count the visit, then its `on_enter`."""
        w.scene = target
        if target in self.visit_caps:
            cap = self.visit_caps[target]
            count = w.counts.get(target, 0) + 1
            w.counts[target] = count if cap is None else min(count, cap)
        scene = self.story.scenes.get(target)
        if scene is not None:
            self.apply(w, scene.on_enter)

    def reads(self, expr: Expression) -> set[tuple[str, str]]:
        """The parts of a state `expr` may read: ('var', name), ('visits', scene),
        ('pick', scene + NUL + choice) or ('turns', ''); a superset is safe."""
        found: set[tuple[str, str]] = {("var", n) for n in expr.variables}
        for ref in expr.scene_refs:
            if ref.choice is None:
                found.add(("visits", ref.scene))
            else:
                found.add(("pick", f"{ref.scene}\0{ref.choice}"))
        if expr.uses_functions and "turns" in expr.source:
            found.add(("turns", ""))
        return found

    def apply(self, w: Work, effect: Effect) -> None:
        """`set` then `add`, on the variables that conditions read (the others never matter)."""
        values = w.vars
        for name, value in effect.set:
            if name in values:
                values[name] = value
        for name, amount in effect.add:
            if name in values:
                values[name] = values[name] + amount  # type: ignore[operator]

    def take(self, key: Key, choice: Choice) -> Key:
        """The state after taking `choice` in state `key`."""
        w = self.thaw(key)
        self.apply(w, choice.effect)
        if (w.scene, choice.id) in self.observed_picks:
            w.picks.add((w.scene, choice.id))
        if self.count_turns:
            cap = self.turns_cap
            w.turn = w.turn + 1 if cap is None else min(w.turn + 1, cap)
        self.enter(w, choice.goto)
        return self.freeze(w)


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


def _number(node: ast.AST) -> int | float | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _number(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value  # type: ignore[return-value]  # kept an int: it may not fit a float
    return None


def _compared(tree: ast.AST, variables: frozenset[str]) -> dict[int, int | float]:
    """id(node) -> the largest number it is compared with, for reads compared only to numbers."""
    out: dict[int, int | float] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and all(
            type(op) not in (ast.In, ast.NotIn) for op in node.ops
        ):
            operands = [node.left, *node.comparators]
            numbers = [_number(o) for o in operands]
            reads = [o for o, n in zip(operands, numbers, strict=True) if n is None]
            if len(reads) == 1 and _observed(reads[0], variables) is not None:
                top = max(abs(n) for n in numbers if n is not None)
                if type(top) is int or math.isfinite(top):
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
    return {name: (1 if up == {True} else -1 if up == {False} else 0) for name, up in signs.items()}


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
                into.setdefault(target, []).append((sid, mask(n for n, _ in (*sets, *entered))))
    todo = list(story.scenes)
    while todo:
        target = todo.pop()
        for source, killed in into.get(target, ()):
            grown = live[source] | (live[target] & ~killed)
            if grown != live[source]:
                live[source] = grown
                todo.append(source)
    return {sid: tuple(bool(m & bit[n]) for n in names) for sid, m in live.items()}
