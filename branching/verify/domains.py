"""What each variable can hold, and the conditions that can never hold given that.

The checker's one bounded analysis (STORY-FORMAT.md, "What the checker
reports": conditions that can never hold given the values the story assigns),
kept apart from the linear graph checks of `check` because it is a small
abstract interpreter of its own. Each variable's possible values are
over-approximated once (`_Domain`: its initial and `set` values, and for
`add`s small sums plus the reachable values beside every number the
conditions are written with); each distinct condition is evaluated over at
most `MAX_COMBINATIONS` combinations of the values it reads (visit counts and
`turns()` are sampled from `COUNTS`), and it is reported only when it is false
for all of them. Conditions doing arithmetic on a variable that `add` changes,
or comparing two such variables, are not judged (sampling cannot settle
them). A condition may also never hold for reasons of order that this does
not see: that is `explore`'s job. Standard library only (headless core).
"""

from __future__ import annotations

import ast
import math
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import product

from branching.expr.conditions import Expression, Value, format_value
from branching.story.model import Pos, Story

MAX_COMBINATIONS = 20_000
MAX_ADDS = 64  # `add` applications enumerated per variable
MAX_VALUES = 4_096  # values enumerated per variable; more: the variable is not analysed
HUGE = 10**12  # stands for "as large as loops make it"
COUNTS = (1, 0, 2, 3, 10**6)  # values tried for visits() and turns()
_TURNS = re.compile(r"\bturns\s*\(")

Axis = tuple[str, str, tuple[object, ...]]  # (kind, name, values): kind var/visits/chosen/turns
Found = tuple[Expression, Pos, str]  # a condition, where it is, what follows if it never holds


def never_holds(
    story: Story, found: list[Found], unreachable: frozenset[str]
) -> Iterator[tuple[Pos, str]]:
    """(where, warning) for each condition of `found` that can never hold.

    `unreachable` are scene ids no path reaches: their visit counts stay 0.
    """
    if not found:
        return
    sources = {expr.source for expr, _, _ in found}
    domains = _domains(story, _constants(sources))
    grown = frozenset(name for name, d in domains.items() if d.amounts)
    verdicts: dict[str, str | None] = {}  # source -> why it never holds (None: it can)
    for expr, pos, effect in found:
        if expr.source not in verdicts:
            risky = bool(expr.variables & grown) and _mixes(expr.source, grown)
            verdicts[expr.source] = None if risky else _why_never(expr, domains, unreachable)
        why = verdicts[expr.source]
        if why is not None:
            yield pos, f"condition '{expr.source.strip()}' can never hold{why} ({effect})"


def show_value(v: Value) -> str:
    """How a value reads in a warning: strings in quotes, the rest as in text."""
    return f'"{v}"' if isinstance(v, str) else format_value(v)


# ---------------------------------------------------------------- domains


@dataclass
class _Domain:
    """What a variable can hold: its initial and `set` values, plus sums of its `add`s."""

    base: list[Value]
    amounts: list[int | float] = field(default_factory=list)
    values: tuple[Value, ...] | None = None  # None: too many to enumerate

    def describe(self, name: str) -> str:
        base = _either([show_value(v) for v in self.base])
        if not self.amounts:
            return f"{name} is only ever {base}"
        steps = _either([f"{a:+}" for a in self.amounts])
        start = f"starts at {base}" if len(self.base) == 1 else f"is set only to {base}"
        return f"{name} {start} and changes only by {steps}"


def _either(shown: list[str]) -> str:
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _domains(story: Story, constants: set[int | float]) -> dict[str, _Domain]:
    out = {name: _Domain([value]) for name, value in story.state.items()}
    for scene in story.scenes.values():
        for effect in (scene.on_enter, *(c.effect for c in scene.choices)):
            for name, value in effect.set:
                if name in out and value not in out[name].base:
                    out[name].base.append(value)
            for name, amount in effect.add:
                if name in out and amount not in out[name].amounts and amount != 0:
                    out[name].amounts.append(amount)
    for d in out.values():
        d.values = _enumerate(d, constants) if d.amounts else tuple(d.base)
    return out


def _enumerate(d: _Domain, constants: set[int | float]) -> tuple[Value, ...] | None:
    """Base values plus sums of up to MAX_ADDS amounts, likely matches first."""
    sums: set[int | float] = {0}
    frontier: set[int | float] = {0}
    for _ in range(MAX_ADDS):
        frontier = {s + a for s in frontier for a in d.amounts} - sums
        sums |= frontier
        if len(sums) * len(d.base) > MAX_VALUES:
            return None
        if not frontier:
            break
    numbers = [b for b in d.base if isinstance(b, int | float) and not isinstance(b, bool)]
    is_int = all(isinstance(x, int) for x in numbers + d.amounts)
    extra = _near(sorted(constants), numbers, d.amounts, is_int)
    if any(a > 0 for a in d.amounts):
        extra.append(max(numbers) + HUGE)
    if any(a < 0 for a in d.amounts):
        extra.append(min(numbers) - HUGE)
    found = [b + s for s in sorted(sums) for b in numbers]
    cast = int if is_int else float
    return tuple(dict.fromkeys(cast(v) for v in extra + found))


def _near(
    constants: list[int | float], base: list[int | float], amounts: list[int | float], is_int: bool
) -> list[int | float]:
    """Values `add`s could reach at and beside each number the conditions compare with.

    Whole numbers: per starting value, the nearest reachable values at or below
    and at or above each of c-1, c and c+1 (reachable: a multiple of the
    amounts' gcd away, in a direction some amount goes), so any range between
    written numbers that holds a reachable value yields one. Fractions: the
    numbers, the midpoints between them, and one beyond each end.
    """
    up, down = any(a > 0 for a in amounts), any(a < 0 for a in amounts)
    out: list[int | float] = []
    if is_int:
        step = math.gcd(*(int(a) for a in amounts))
        marks = {int(c) for c in constants if isinstance(c, int) or c.is_integer()}
        marks |= {m for c in constants for m in (math.floor(c) - 1, math.ceil(c) + 1)}
        for b in base:
            for m in sorted(marks):
                below = m - (m - int(b)) % step  # the nearest b + k*step <= m
                above = below if below == m else below + step
                out += [v for v in (below, above) if (v >= b or down) and (v <= b or up)]
        return out
    points = sorted(c for c in constants if abs(c) <= sys.float_info.max)  # no float beyond
    mids = [(x + y) / 2 for x, y in zip(points, points[1:], strict=False)]
    ends = [points[0] - 1, points[-1] + 1] if points else []
    return [
        v for v in points + mids + ends if any((v >= b or down) and (v <= b or up) for b in base)
    ]


def _constants(sources: Iterable[str]) -> set[int | float]:
    """Every number written in the conditions (already validated: parsing is safe)."""
    found: set[int | float] = set()
    for source in sources:
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree):
            value = node.value if isinstance(node, ast.Constant) else None
            if type(value) is int or type(value) is float:
                if type(value) is int or math.isfinite(value):  # ints may not fit a float
                    found.update((value, -value))
    return found


def _mixes(source: str, grown: frozenset[str]) -> bool:
    """Whether the condition does arithmetic on, or compares two of, the variables `add` changes.

    Their values are only sampled (small sums, values near the written numbers,
    a huge one), which judges a comparison with a number exactly but not
    `gold * 2 == 1008` or `gold == debt`: such conditions are not judged.
    """

    def reads(node: ast.AST) -> bool:
        return any(isinstance(n, ast.Name) and n.id in grown for n in ast.walk(node))

    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp | ast.UnaryOp) and not isinstance(node.op, ast.Not):
            if reads(node):
                return True
        if isinstance(node, ast.Compare):
            if sum(reads(o) for o in (node.left, *node.comparators)) > 1:
                return True
    return False


# ---------------------------------------------------------------- evaluating over them


@dataclass(frozen=True, slots=True)
class _DomainEnv:
    """One combination of values: conditions.Env over plain mappings."""

    values: Mapping[str, Value]
    counts: Mapping[str, int]
    picks: Mapping[tuple[str, str], bool]
    turn: int

    def var(self, name: str) -> Value:
        return self.values[name]

    def visits(self, scene: str) -> int:
        return self.counts.get(scene, 0)

    def chosen(self, scene: str, choice: str) -> bool:
        return self.picks.get((scene, choice), False)

    def turns(self) -> int:
        return self.turn


def _axes(
    expr: Expression, domains: Mapping[str, _Domain], unreachable: frozenset[str]
) -> list[Axis] | None:
    axes: list[Axis] = []
    for name in sorted(expr.variables):
        domain = domains.get(name)
        if domain is None or domain.values is None:
            return None
        axes.append(("var", name, domain.values))
    if expr.uses_functions:
        for scene, choice in dict.fromkeys((r.scene, r.choice) for r in expr.scene_refs):
            never = scene in unreachable
            if choice is None:
                axes.append(("visits", scene, (0,) if never else COUNTS))
            else:
                axes.append(("chosen", f"{scene}\0{choice}", (False,) if never else (True, False)))
        if _TURNS.search(expr.source):
            axes.append(("turns", "", COUNTS))
    return axes


def _why_never(
    expr: Expression, domains: Mapping[str, _Domain], unreachable: frozenset[str]
) -> str | None:
    """None when `expr` can hold (or is too costly to tell); else the reason, for the message."""
    axes = _axes(expr, domains, unreachable)
    if axes is None or math.prod(len(values) for _, _, values in axes) > MAX_COMBINATIONS:
        return None
    for combo in product(*(values for _, _, values in axes)):
        env: dict[str, dict[object, object]] = {"var": {}, "visits": {}, "chosen": {}}
        turn = 0
        for (kind, name, _), value in zip(axes, combo, strict=True):
            if kind == "turns":
                turn = value  # type: ignore[assignment]
            elif kind == "chosen":
                scene, _, choice = name.partition("\0")
                env[kind][(scene, choice)] = value
            else:
                env[kind][name] = value
        if expr.holds(_DomainEnv(env["var"], env["visits"], env["chosen"], turn)):  # type: ignore[arg-type]
            return None
    reasons = [domains[name].describe(name) for kind, name, _ in axes if kind == "var"]
    scenes = dict.fromkeys(r.scene for r in expr.scene_refs if r.scene in unreachable)
    reasons += [f"scene '{scene}' is unreachable" for scene in scenes]
    return ": " + "; ".join(reasons) if reasons else ""
