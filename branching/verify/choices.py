"""Whether two choices at the same point make a difference, proven over the state space.

"No difference" has one exact meaning here. Take any state in which the
viewer stands at a choice point with both choices on offer, and follow every
way on from each choice. A way on *rejoins* the first time it enters a scene
that the other choice can also lead to. The two choices make no difference
when, from every such state:
- neither choice can end the story (or get stuck) before rejoining, and
- the states in which the two choices rejoin are exactly the same set,
  compared on everything a later condition can observe (the explorer's merged
  state: variables some way on still reads, capped visit counts of scenes that
  conditions name, `chosen()` picks that conditions name, turns).
So whichever one a viewer takes, they come back to the same scenes in the
same state, and from there everything that can happen (every choice, every
ending, reached the same ways) is the same. Text shown on the way differs, as
it should; a variable only *shown* in text (`{song}`) is not a condition, so
a choice that sets one is never called "no difference" (the verdict is
`unknown`, saying so).

Verdicts: `same` (proven over every state where both are offered: `states`
says how many), `differs` (with a witness in words: the variable, visit or
pick that differs where the branches rejoin and a scene that reads it, or the
ending one choice can reach first), `unknown` (the exploration hit its limits,
by default 200,000 states, so `stats` stays fast on a film-sized story). The
default budget counts states, never seconds: the same story gets the same
verdicts on a busy machine as on a quiet one, so the figures `stats` builds
on them never depend on the load (a time limit once made Signal's check run
out at a load of 6 and send `stats` into replaying every session).

The search is the simple one of `plain` (one dict of `space.Key` tuples),
plus, per state, the scenes reachable from it (one pass over the strongly
connected components). Standard library only (headless core).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal

from branching.expr.conditions import EvalError, Expression, Value
from branching.play.engine import Holds, listed_choices, open_routes
from branching.story.model import Scene, Story
from branching.verify.limits import Limits, Watch
from branching.verify.space import Key, StateSpace, Work

Verdict = Literal["same", "differs", "unknown"]
CHECK_LIMITS = Limits(max_states=200_000)  # states only: deterministic (see above)


def repeatable(verdicts: Iterable[ChoicePairVerdict]) -> bool:
    """Whether the same check with the same budget would give these very verdicts.

    A budget of states stops the search at the same place every time, so its
    `unknown` verdicts are as final as `same` and `differs`; one stopped by
    the clock, memory or a Ctrl-C (`settled` False) might go further on
    another run.
    """
    return all(v.settled for v in verdicts)


@dataclass(frozen=True, slots=True)
class ChoicePairVerdict:
    """Whether choices `a` and `b` at `scene` make a difference, and why."""

    scene: str
    a: str
    b: str
    verdict: Verdict
    states: int  # states at `scene` where both were on offer (all checked when `same`)
    why: str = ""  # the witness (differs) or what stopped the check (unknown)
    settled: bool = True  # False: stopped by chance (clock, memory, Ctrl-C), not the budget


@dataclass
class _PairGraph:
    """Every reachable state, numbered, with its moves."""

    keys: list[Key] = field(default_factory=list)
    index: dict[Key, int] = field(default_factory=dict)
    moves: list[list[int]] = field(default_factory=list)  # state -> successor states
    offered: list[dict[str, int]] = field(default_factory=list)  # choice id -> next state
    final: list[bool] = field(default_factory=list)  # an ending, or stuck
    complete: bool = True
    stopped: str = ""
    by_chance: bool = False  # stopped by the clock, memory or a Ctrl-C, not the state budget


def _holds(env: Work) -> Holds:
    def holds(expr: Expression, _key: str, _owner: str) -> bool:
        try:
            return bool(expr.evaluate(env))
        except EvalError:
            return False

    return holds


def _explore(story: Story, space: StateSpace, watch: Watch) -> _PairGraph:
    g = _PairGraph()

    def add(key: Key) -> int:
        found = g.index.get(key)
        if found is None:
            found = g.index[key] = len(g.keys)
            g.keys.append(key)
            g.moves.append([])
            g.offered.append({})
            g.final.append(False)
        return found

    queue = deque([add(space.start())])
    while queue:
        if watch.tick():
            g.complete, g.stopped, g.by_chance = False, watch.stopped or "", True
            break
        if watch.limits.max_states is not None and len(g.keys) > watch.limits.max_states and queue:
            g.complete, g.stopped = False, f"{watch.limits.max_states:,} states"
            break
        i = queue.popleft()
        key = g.keys[i]
        scene = story.scenes[key[0]]
        env = space.thaw(key)
        nexts: list[tuple[str, Key]] = []
        if scene.ending is None and scene.choices:
            for c, locked in listed_choices(scene, env, _holds(env)):
                if not locked:
                    nexts.append((c.id, space.take(key, c)))
        elif scene.ending is None:
            for route in open_routes(scene, _holds(env)):
                work = space.thaw(key)
                space.enter(work, route.goto)
                nexts.append(("", space.freeze(work)))
        g.final[i] = not nexts
        for choice, nxt in nexts:
            before = len(g.keys)
            j = add(nxt)
            if len(g.keys) > before:
                queue.append(j)
            g.moves[i].append(j)
            if choice:
                g.offered[i][choice] = j
    return g


def _reachable_scenes(g: _PairGraph, bit: dict[str, int]) -> list[int]:
    """Per state, the scenes (as a bit mask) reachable from it, itself included.

    Tarjan's strongly connected components, iteratively; a component's mask is
    its own scenes and every mask of the components it leads to (which Tarjan
    finishes first)."""
    n = len(g.keys)
    low, number, comp = [0] * n, [-1] * n, [-1] * n
    masks: list[int] = []
    on_stack, stack, counter = [False] * n, [], 0
    for root in range(n):
        if number[root] >= 0:
            continue
        work = [(root, 0)]
        number[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            v, k = work[-1]
            succ = g.moves[v]
            if k < len(succ):
                work[-1] = (v, k + 1)
                w = succ[k]
                if number[w] < 0:
                    number[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, 0))
                elif on_stack[w]:
                    low[v] = min(low[v], number[w])
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == number[v]:
                members = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    comp[w] = len(masks)
                    members.append(w)
                    if w == v:
                        break
                mask = 0
                for w in members:
                    mask |= bit[g.keys[w][0]]
                    for x in g.moves[w]:
                        if comp[x] >= 0 and comp[x] != comp[w]:
                            mask |= masks[comp[x]]
                masks.append(mask)
    return [masks[comp[i]] for i in range(n)]


def _rejoin(
    g: _PairGraph, start: int, meet: int, bit: dict[str, int]
) -> tuple[set[int], int | None]:
    """The states where the ways on from `start` first enter a scene in `meet`, and
    a final state (ending or stuck) reached before that, if any."""
    seen, out, queue = {start}, set(), deque([start])
    while queue:
        i = queue.popleft()
        if bit[g.keys[i][0]] & meet:
            out.add(i)
            continue
        if g.final[i]:
            return out, i
        for j in g.moves[i]:
            if j not in seen:
                seen.add(j)
                queue.append(j)
    return out, None


def _show(v: Value) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, str) else str(v)


class _Judge:
    """The verdicts for one story: the state graph is explored once, pairs judged on it."""

    def __init__(self, story: Story, limits: Limits) -> None:
        self.story = story
        self.space = StateSpace(story)
        self.watch = Watch(limits)
        self.graph = _explore(story, self.space, self.watch)
        self.bit = {sid: 1 << n for n, sid in enumerate(story.scenes)}
        self.reach = _reachable_scenes(self.graph, self.bit) if self.graph.complete else []
        self.shown = _shown_variables(story)
        self.at: dict[str, list[int]] = {}
        for i, key in enumerate(self.graph.keys):
            self.at.setdefault(key[0], []).append(i)

    def title(self, scene: str) -> str:
        found = self.story.scenes.get(scene)
        return found.title if found is not None and found.title else scene

    def label(self, scene: str, choice: str) -> str:
        found = self.story.scenes.get(scene)
        c = found.choice(choice) if found is not None else None
        return c.label.source if c is not None else choice

    def judge(self, scene_id: str, a: str, b: str) -> ChoicePairVerdict:
        g, story = self.graph, self.story
        scene = story.scenes.get(scene_id)
        if scene is None or scene.choice(a) is None or scene.choice(b) is None:
            return ChoicePairVerdict(scene_id, a, b, "unknown", 0, "the story has no such choice")
        shown = self._sets_shown(scene, a, b)
        at = self.at.get(scene_id, [])
        both = [i for i in at if a in g.offered[i] and b in g.offered[i]]
        if not g.complete:
            return ChoicePairVerdict(
                scene_id,
                a,
                b,
                "unknown",
                len(both),
                f"the check stopped at {g.stopped}",
                settled=not g.by_chance,
            )
        if not both:
            return ChoicePairVerdict(
                scene_id, a, b, "differs", 0, "they are never offered together"
            )
        for i in both:
            why = self._differs(g.offered[i][a], g.offered[i][b], scene_id, a, b)
            if why:
                return ChoicePairVerdict(scene_id, a, b, "differs", len(both), why)
            if self.watch.check():
                return ChoicePairVerdict(
                    scene_id,
                    a,
                    b,
                    "unknown",
                    len(both),
                    f"the check stopped at {self.watch.stopped}",
                    settled=False,
                )
        if shown:
            return ChoicePairVerdict(
                scene_id,
                a,
                b,
                "unknown",
                len(both),
                f"it sets {shown}, which the story shows in text; only conditions were compared",
            )
        return ChoicePairVerdict(scene_id, a, b, "same", len(both))

    def _sets_shown(self, scene: Scene, a: str, b: str) -> str:
        names: set[str] = set()
        for cid in (a, b):
            c = scene.choice(cid)
            if c is not None:
                names |= {n for n, _ in (*c.effect.set, *c.effect.add)}
        return ", ".join(sorted(names & self.shown))

    def _differs(self, sa: int, sb: int, scene: str, a: str, b: str) -> str:
        """'' when the ways on from `sa` and `sb` rejoin in the same states, else why not."""
        if sa == sb:
            return ""
        g = self.graph
        meet = self.reach[sa] & self.reach[sb]
        ga, end_a = _rejoin(g, sa, meet, self.bit)
        gb, end_b = _rejoin(g, sb, meet, self.bit)
        la, lb = self.label(scene, a), self.label(scene, b)
        for end, label in ((end_a, la), (end_b, lb)):
            if end is not None:
                where = self.title(g.keys[end][0])
                ends = self.story.scenes[g.keys[end][0]].ending is not None
                return (
                    f"after '{label}' the story can {'end at' if ends else 'get stuck at'} "
                    f"'{where}' before the two ways meet"
                )
        if ga == gb:
            return ""
        odd = sorted(ga ^ gb)
        for i in odd:  # best witness: the same scene, met in a different state
            mine, other, mine_label, other_label = (ga, gb, la, lb) if i in ga else (gb, ga, lb, la)
            twins = sorted(j for j in other if g.keys[j][0] == g.keys[i][0])
            if twins:
                return self._tell_apart(g.keys[i], g.keys[twins[0]], mine_label, other_label)
        first = g.keys[odd[0]][0]
        mine_label, other_label = (la, lb) if odd[0] in ga else (lb, la)
        return (
            f"'{mine_label}' can lead to '{self.title(first)}' before the two ways meet; "
            f"'{other_label}' reaches it only some other way"
        )

    def _tell_apart(self, mine: Key, other: Key, mine_label: str, other_label: str) -> str:
        space, where = self.space, self.title(mine[0])
        for name, x, y in zip(space.names, mine[1], other[1], strict=True):
            if x != y:
                return (
                    f"at '{where}' {name} is {_show(x)} after '{mine_label}' but {_show(y)} "
                    f"after '{other_label}'{self._read_at(('var', name), mine)}"
                )
        for scene, x, y in zip(space.counted, mine[2], other[2], strict=True):
            if x != y:
                return (
                    f"at '{where}' '{self.title(scene)}' was visited {x} time(s) after "
                    f"'{mine_label}' but {y} after '{other_label}', and a condition counts it"
                    f"{self._read_at(('visits', scene), mine)}"
                )
        for scene, choice in sorted(mine[3] ^ other[3]):
            pick = ("pick", scene + "\0" + choice)
            return (
                f"at '{where}' chosen('{scene}', '{choice}') tells '{mine_label}' from "
                f"'{other_label}'{self._read_at(pick, mine)}"
            )
        return f"at '{where}' turns() differs after '{mine_label}' and after '{other_label}'"

    def _read_at(self, part: tuple[str, str], state: Key) -> str:
        """' (read at SCENE)': a scene reachable from `state` with a condition reading `part`."""
        reach = self.reach[self.graph.index[state]] if self.reach else 0
        for sid, scene in self.story.scenes.items():
            if reach and not reach & self.bit[sid]:
                continue
            if any(part in self.space.reads(e) for e in _conditions(scene)):
                return f" (read at '{self.title(sid)}')"
        return ""


def _conditions(scene: Scene) -> Iterable[Expression]:
    yield from (v.condition for v in scene.text if v.condition is not None)
    for c in scene.choices:
        yield from (e for e in (c.condition, c.requires) if e is not None)
    yield from (r.condition for r in scene.routes if r.condition is not None)


def _shown_variables(story: Story) -> set[str]:
    """Variables some text or label shows (`{name}`)."""
    out: set[str] = set()
    for scene in story.scenes.values():
        for template in (*(v.text for v in scene.text), *(c.label for c in scene.choices)):
            for expr in template.expressions:
                out |= expr.variables
    return out


def compare_choices(
    story: Story,
    pairs: Iterable[tuple[str, str, str]] | None = None,
    limits: Limits = CHECK_LIMITS,
) -> list[ChoicePairVerdict]:
    """A verdict for each (scene, a, b); with `pairs` None, every pair of choices of
    every choice point, in story order. The state space is explored once."""
    judge = _Judge(story, limits)
    if pairs is None:
        pairs = [
            (scene.id, a.id, b.id)
            for scene in story.scenes.values()
            for a, b in combinations(scene.choices, 2)
        ]
    return [judge.judge(scene, a, b) for scene, a, b in pairs]
