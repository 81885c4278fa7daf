"""Packed states and their successors: one Python int per state, steps cached by what they read.

`explore` at the size of a film holds tens of millions of states, so a state
is not a tuple of objects but one int: each part of a `space.Key` (variables,
visit counts, choices taken, turns) gets a bit field sized by its domain (a
boolean one bit, an enum or a number the bits of an index into its values,
counts the bits of their cap; a part without a known bound 24 bits, and
running out of them is reported as a limit). Index 0 is always the initial
value, so the start of every field is 0. The scene is kept apart (the
searches hold one set or dict per scene).

A scene's successors depend only on the bits its conditions read and the
fields its steps count up (visits, turns, `add`): everything a step writes is
either a constant (`set`, a choice taken, a variable reset because it is dead
from the target on) or a function of those bits. So each step is stored as
`(clear, bits)`, the successor of any state `s` with the same read bits is
`(s & clear) | bits`, and the engine's rules (`space`, `listed_choices`,
`open_routes`, `Expression.evaluate`) run only once per distinct read bits,
on a decoded copy. Exact rules, at the price of a dict lookup per state.
Standard library only (headless core).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from branching.expr.conditions import EvalError, Expression, Value
from branching.play.engine import Holds, listed_choices, open_routes
from branching.story.model import Effect, Scene
from branching.verify.space import Key, StateSpace, Work

UNBOUNDED_BITS = 24
COST_CHOICE, COST_ROUTE = 1, 0

# (clear mask, bits to set, target scene index, label index, cost in choices)
Step = tuple[int, int, int, int, int]
OnZero = Callable[[int, int, str, Expression], None]


class PackOverflow(Exception):
    """A part of the state took more values than its bit field holds."""


@dataclass
class PackedField:
    """One part of a packed state: where it sits, and the values its indexes stand for."""

    offset: int
    width: int
    table: list[Value] = field(default_factory=list)
    index: dict[Value, int] = field(default_factory=dict)
    direct: bool = False  # counts: the value is its own index

    def code(self, value: Value) -> int:
        if self.direct:
            n = int(value)
            if n >> self.width:
                raise PackOverflow
            return n
        found = self.index.get(value)
        if found is None:
            found = len(self.table)
            if found >> self.width:
                raise PackOverflow
            self.table.append(value)
            self.index[value] = found
        return found

    def value(self, s: int) -> Value:
        raw = (s >> self.offset) & ((1 << self.width) - 1)
        return raw if self.direct else self.table[raw]

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.offset


def _bits(count: int) -> int:
    return max(1, (count - 1).bit_length())


class Packer:
    """Packs a `space.Key` (without its scene) into an int and back."""

    def __init__(self, space: StateSpace) -> None:
        self.space = space
        story = space.story
        literals: dict[str, set[Value]] = {}
        added: set[str] = set()
        for scene in story.scenes.values():
            for effect in (scene.on_enter, *(c.effect for c in scene.choices)):
                for name, value in effect.set:
                    literals.setdefault(name, set()).add(value)
                added.update(name for name, _ in effect.add)
        offset = 0
        self.parts: dict[tuple[str, str], PackedField] = {}
        self.vars: list[PackedField] = []
        for name in space.names:
            initial = space.initial[name]
            values = {initial} | literals.get(name, set())
            if isinstance(initial, bool):
                width = 1
            elif name not in added:
                width = _bits(len(values))
            elif name in space.var_caps and all(type(v) is int for v in values):
                way, cap = space.var_caps[name]
                low, high = (min(values), max(values | {cap})) if way > 0 else (-cap, max(values))
                width = _bits(int(high) - int(low) + 2)
            else:
                width = UNBOUNDED_BITS
            f = PackedField(offset, width)
            f.code(initial)
            offset += width
            self.vars.append(f)
            self.parts[("var", name)] = f
        self.counts: list[PackedField] = []
        for scene_id in space.counted:
            visit_cap = space.visit_caps[scene_id]
            width = UNBOUNDED_BITS if visit_cap is None else _bits(visit_cap + 1)
            f = PackedField(offset, width, direct=True)
            offset += f.width
            self.counts.append(f)
            self.parts[("visits", scene_id)] = f
        self.picks = sorted(space.observed_picks)
        for sid, cid in self.picks:
            self.parts[("pick", f"{sid}\0{cid}")] = PackedField(offset, 1, direct=True)
            offset += 1
        turns_cap = space.turns_cap
        self.turn = PackedField(
            offset, UNBOUNDED_BITS if turns_cap is None else _bits(turns_cap + 1), direct=True
        )
        if space.count_turns:
            self.parts[("turns", "")] = self.turn
            offset += self.turn.width
        self.width = offset

    def mask(self, parts: set[tuple[str, str]]) -> int:
        """The bits of the named parts (parts this state does not keep are ignored)."""
        out = 0
        for part in parts:
            f = self.parts.get(part)
            if f is not None:
                out |= f.mask
        return out

    def pack(self, key: Key) -> int:
        _, values, counts, picks, turn = key
        s = 0
        for f, v in zip(self.vars, values, strict=True):
            s |= f.code(v) << f.offset
        for f, n in zip(self.counts, counts, strict=True):
            s |= f.code(n) << f.offset
        for pick in picks:
            bit = self.parts.get(("pick", f"{pick[0]}\0{pick[1]}"))
            if bit is not None:
                s |= 1 << bit.offset
        if self.space.count_turns:
            s |= self.turn.code(turn) << self.turn.offset
        return s

    def unpack(self, scene: str, s: int) -> Key:
        picks = frozenset(
            p for p in self.picks if (s >> self.parts[("pick", f"{p[0]}\0{p[1]}")].offset) & 1
        )
        return (
            scene,
            tuple(f.value(s) for f in self.vars),
            tuple(int(f.value(s)) for f in self.counts),
            picks,
            int(self.turn.value(s)) if self.space.count_turns else 0,
        )


class Moves:
    """Per scene, the steps out of a packed state, computed once per distinct read bits."""

    def __init__(self, space: StateSpace, on_zero: OnZero | None = None) -> None:
        self.space = space
        self.packer = Packer(space)
        story = space.story
        self.scenes: list[Scene] = list(story.scenes.values())
        self.index = {s.id: i for i, s in enumerate(self.scenes)}
        self.on_zero = on_zero
        self.labels: list[tuple[str, ...]] = []  # ("choice", scene, number, id) | ("draw", ...)
        self.label_index: dict[tuple[str, ...], int] = {}
        self.cache: list[dict[int, tuple[Step, ...]]] = [{} for _ in self.scenes]
        self.stuck: dict[tuple[int, int], str] = {}  # (scene, read bits) -> why
        self.read: list[int] = []
        self.written: dict[tuple[int, str, int], int] = {}  # (scene, kind, position) -> mask
        self.taken: set[tuple[int, int]] = set()  # (scene, choice position) ever available
        for si, scene in enumerate(self.scenes):
            self.read.append(self._read_mask(scene))
            for c in scene.choices:
                self.written[(si, "c", c.index)] = self._write_mask(scene, c.effect, c.goto, c.id)
            for r, route in enumerate(scene.routes):
                self.written[(si, "r", r)] = self._write_mask(scene, Effect(), route.goto, None)

    # ------------------------------------------------------------ static masks

    def _entering(self, target: str) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """What entering `target` reads and writes: its visit count, its `on_enter`."""
        scene = self.space.story.scenes.get(target)
        reads = {("visits", target)}
        writes = {("visits", target)}
        if scene is not None:
            reads |= {("var", n) for n, _ in scene.on_enter.add}
            writes |= {("var", n) for n, _ in (*scene.on_enter.set, *scene.on_enter.add)}
        return reads, writes

    def _read_mask(self, scene: Scene) -> int:
        space = self.space
        parts: set[tuple[str, str]] = set()
        exprs = [v.condition for v in scene.text] + [r.condition for r in scene.routes]
        exprs += [e for c in scene.choices for e in (c.condition, c.requires)]
        for e in exprs:
            if e is not None:
                parts |= space.reads(e)
        for c in scene.choices:
            parts |= {("var", n) for n, _ in c.effect.add}
            parts |= self._entering(c.goto)[0]
            if c.once:
                parts.add(("pick", f"{scene.id}\0{c.id}"))
        if scene.choices:
            parts.add(("turns", ""))
        for r in scene.routes:
            parts |= self._entering(r.goto)[0]
        return self.packer.mask(parts)

    def _write_mask(self, scene: Scene, effect: Effect, target: str, choice: str | None) -> int:
        parts = {("var", n) for n, _ in (*effect.set, *effect.add)} | self._entering(target)[1]
        if choice is not None:
            parts |= {("turns", ""), ("pick", f"{scene.id}\0{choice}")}
        live = self.space.live.get(target)
        if live is not None:
            parts |= {("var", n) for n, on in zip(self.space.names, live, strict=True) if not on}
        return self.packer.mask(parts)

    # ------------------------------------------------------------ steps

    def label(self, label: tuple[str, ...]) -> int:
        found = self.label_index.get(label)
        if found is None:
            found = self.label_index[label] = len(self.labels)
            self.labels.append(label)
        return found

    def start(self) -> tuple[int, int]:
        """The start state: (scene index, packed state)."""
        key = self.space.start()
        return self.index[key[0]], self.packer.pack(key)

    def steps(self, si: int, s: int) -> tuple[Step, ...]:
        """The steps out of state `s` of scene `si` (computed once per read bits)."""
        k = s & self.read[si]
        found = self.cache[si].get(k)
        if found is None:
            found = self.cache[si][k] = self._compute(si, s, k)
        return found

    def _compute(self, si: int, s: int, k: int) -> tuple[Step, ...]:
        space, pack, scene = self.space, self.packer.pack, self.scenes[si]
        key = self.packer.unpack(scene.id, s)
        env = space.thaw(key)
        holds = self._judge(env, si, s)
        for variant in scene.text:
            if variant.condition is None or holds(variant.condition, "text", ""):
                break
        out: list[Step] = []
        if scene.ending is not None:
            return ()
        if scene.choices:
            listed = listed_choices(scene, env, holds)
            for n, (c, locked) in enumerate(listed, start=1):
                if locked:
                    continue
                w = self.written[(si, "c", c.index)]
                nxt = pack(space.take(key, c))
                lab = self.label(("choice", scene.id, str(n), c.id))
                out.append((~w, nxt & w, self.index[c.goto], lab, COST_CHOICE))
                self.taken.add((si, c.index))
            if not out:
                self.stuck[(si, k)] = f"no choice of '{scene.id}' can be taken"
            return tuple(out)
        routes = open_routes(scene, holds)
        for route in routes:
            w = self.written[(si, "r", scene.routes.index(route))]
            work = space.thaw(key)
            space.enter(work, route.goto)
            nxt = pack(space.freeze(work))
            lab = self.label(("draw", scene.id, route.goto)) if scene.random else -1
            out.append((~w, nxt & w, self.index[route.goto], lab, COST_ROUTE))
        if not out:
            self.stuck[(si, k)] = f"no route of '{scene.id}' holds"
        return tuple(out)

    def _judge(self, env: Work, si: int, s: int) -> Holds:
        on_zero = self.on_zero

        def holds(expr: Expression, key: str, owner: str) -> bool:
            try:
                return bool(expr.evaluate(env))
            except EvalError as exc:
                if on_zero is not None and "division by zero" in str(exc):
                    where = (
                        "a text variant"
                        if key == "text"
                        else f"the route to '{owner}'"
                        if key == "route"
                        else f"the '{key}' of choice '{owner}'"
                    )
                    on_zero(si, s, where, expr)
                return False

        return holds
