"""The two sweeps of `explore` over packed states, scene by scene in topological order.

Both visit the strongly connected components of the scene graph in
topological order (Tarjan's algorithm): once a component is done, no state
can ever enter it again, so each scene's states are finished before any later
scene's are looked at.

- `Reduced` keeps the states with liveness merging (`space`), one dict per
  scene from packed state to an int holding its shortest distance in choices,
  the label of the step that got there and its parent: that gives every proof
  and finding. Inside a component with a loop it runs a bucket queue by
  distance (steps through `next`/`random` cost 0, choices 1); elsewhere one
  pass suffices. Then a backward pass in reverse order finds the states from
  which no ending can be reached any more.
- `count_raw` counts the full states (every variable, no merging) with no
  parents at all: it holds only the sets of scenes reached and not yet
  processed, and frees each scene's set once it is processed, so its memory
  is bounded by the widest cut of the film, not by the total. It works in
  batches of at most `BATCH` states and asks the watch to `afford` each
  batch (its new states, and the table of the set it goes into should that
  grow) before making it, so a memory limit stops it before it is crossed.

This order was chosen over one breadth-first search because film-like
stories are nearly acyclic: the raw count never needs a global visited set,
and shortest distances are settled scene by scene. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice

from branching.expr.conditions import Expression
from branching.verify.limits import CHECK_EVERY, Watch, int_bytes, table_growth
from branching.verify.packed import Moves, PackOverflow

DIST_BITS = 24
DIST_MASK = (1 << DIST_BITS) - 1
BATCH = 1 << 15  # states of a scene stepped together by the full count
_GROUPING = 200  # bytes per state to group a batch by read bits, at worst (a list each)
_BATCH_SET = 128  # bytes per state of a batch's own set table, at worst
_QUEUED = 80  # bytes per state in the merged search's queue: a (scene, state) tuple
_SMALL_TABLES = 80  # bytes per state for dicts still small enough to grow many times
_AFTER_BYTES = 256  # bytes per state of the passes after the search (sets, tuples, lists)


def components(moves: Moves, start: int) -> list[tuple[list[int], bool]]:
    """Scene components reachable from `start`, in topological order; True: it loops."""
    succ = [
        sorted({moves.index[c.goto] for c in s.choices} | {moves.index[r.goto] for r in s.routes})
        for s in moves.scenes
    ]
    return _tarjan(succ, start)


def route_loops(moves: Moves) -> list[list[int]]:
    """The loops of scenes with no choice and no ending, joined by their routes alone:
    the only way the engine can go round forever without stopping at a choice."""
    auto = [not s.choices and s.ending is None for s in moves.scenes]
    succ = [
        sorted({moves.index[r.goto] for r in s.routes if auto[moves.index[r.goto]]})
        if auto[si]
        else []
        for si, s in enumerate(moves.scenes)
    ]
    out: list[list[int]] = []
    seen: set[int] = set()
    for si in range(len(succ)):
        if auto[si] and si not in seen:
            for comp, loops in _tarjan(succ, si):
                if comp[0] in seen:
                    continue
                seen.update(comp)
                if loops:
                    out.append(comp)
    return out


def _tarjan(succ: list[list[int]], start: int) -> list[tuple[list[int], bool]]:
    """Tarjan's strongly connected components of the graph `succ` reachable from
    `start`, in topological order; True where a component loops."""
    n = len(succ)
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    out: list[tuple[list[int], bool]] = []
    counter = 0
    work: list[tuple[int, int]] = [(start, 0)]
    while work:
        v, i = work.pop()
        if i == 0:
            index[v] = low[v] = counter
            counter += 1
            stack.append(v)
            on_stack[v] = True
        recursed = False
        while i < len(succ[v]):
            w = succ[v][i]
            i += 1
            if index[w] == -1:
                work.append((v, i))
                work.append((w, 0))
                recursed = True
                break
            if on_stack[w]:
                low[v] = min(low[v], index[w])
        if recursed:
            continue
        if low[v] == index[v]:
            comp: list[int] = []
            while True:
                w = stack.pop()
                on_stack[w] = False
                comp.append(w)
                if w == v:
                    break
            comp.sort()
            out.append((comp, len(comp) > 1 or v in succ[v]))
        if work:
            parent = work[-1][0]
            low[parent] = min(low[parent], low[v])
    out.reverse()
    return out


class Reduced:
    """The merged states, each with its shortest distance and the step that got there."""

    def __init__(self, moves: Moves, watch: Watch, max_states: int | None) -> None:
        self.moves = moves
        self.watch = watch
        self.max_states = max_states
        n = len(moves.scenes)
        self.scene_bits = max(1, n.bit_length())
        bound = sum(
            len(s.choices) * (len(s.choices) + 1) // 2 + len(s.routes) for s in moves.scenes
        )
        self.label_bits = max(1, (bound + 2).bit_length())
        self.info: list[dict[int, int]] = [{} for _ in range(n)]
        self.states = 0
        self.full = False  # max_states reached: known states are still expanded
        self.stuck: dict[tuple[int, str], int] = {}  # (scene, reason) -> state
        self.zero: dict[tuple[int, str, str], int] = {}  # (scene, where, source) -> state
        self.done: list[int] = []  # scenes whose states were all expanded
        self.order: list[tuple[list[int], bool]] = []
        moves.on_zero = self._zero
        width = moves.packer.width
        # a new state: its packed int, the int of its distance and parent, a queue entry
        self._each = int_bytes(width) + int_bytes(width + n.bit_length() + 64) + _QUEUED
        watch.reserve = self._ahead

    def _ahead(self, grown: int) -> int:
        """Bytes the next `CHECK_EVERY` new states may take before the watch looks again:
        as much as the last ones took (`grown`: the steps cached per distinct read bits
        can outweigh the states), at least the states themselves, plus the table of
        each scene's dict they could make grow."""
        grow = max(grown, CHECK_EVERY * self._each) + CHECK_EVERY * _SMALL_TABLES
        for held in self.info:
            if len(held) >= CHECK_EVERY:
                grow += table_growth(held, CHECK_EVERY)
        return grow

    def _zero(self, si: int, s: int, where: str, expr: Expression) -> None:
        self.zero.setdefault((si, where, expr.source), s)

    def encode(self, dist: int, label: int, parent_scene: int, parent: int) -> int:
        return (
            (((parent << self.scene_bits) | parent_scene) << self.label_bits | (label + 1))
            << DIST_BITS
        ) | dist

    def parent(self, info: int) -> tuple[int, int, int] | None:
        """(label, parent scene, parent state), or None at the start."""
        rest = info >> DIST_BITS
        label = (rest & ((1 << self.label_bits) - 1)) - 1
        rest >>= self.label_bits
        ps = rest & ((1 << self.scene_bits) - 1)
        if ps == len(self.moves.scenes):
            return None
        return label, ps, rest >> self.scene_bits

    def add(self, t: int, ns: int, nd: int, label: int, si: int, s: int) -> bool:
        """Record a step into (t, ns) at distance nd; True when it is new or shorter."""
        td = self.info[t]
        old = td.get(ns)
        if old is None:
            if self.max_states is not None and self.states >= self.max_states:
                self.full = True
                return False
            self.states += 1
            self.watch.tick()
        elif (old & DIST_MASK) <= nd:
            return False
        td[ns] = self.encode(nd, label, si, s)
        return True

    def run(self) -> None:
        moves, watch = self.moves, self.watch
        si0, s0 = moves.start()
        self.info[si0][s0] = self.encode(0, -1, len(moves.scenes), 0)
        self.states = 1
        self.order = components(moves, si0)
        for comp, loops in self.order:
            if watch.stopped is not None:
                return
            if loops:
                self._loop(comp)
            else:
                self._once(comp[0])
            if watch.stopped is None:
                self.done.extend(comp)

    def _expand(self, si: int, s: int, dist: int) -> tuple[tuple[int, int, int, int, int], ...]:
        steps = self.moves.steps(si, s)
        if not steps and self.moves.scenes[si].ending is None:
            reason = self.moves.stuck.get((si, s & self.moves.read[si]), "stuck")
            self.stuck.setdefault((si, reason), s)
        return steps

    def _once(self, si: int) -> None:
        if self.moves.scenes[si].ending is not None:
            for s in self.info[si]:
                self._expand(si, s, 0)  # text variants only: a division by zero is noted
            return
        add, watch = self.add, self.watch
        for s, inf in self.info[si].items():
            if watch.stopped is not None:
                return
            d = inf & DIST_MASK
            for clear, bits, t, label, cost in self._expand(si, s, d):
                add(t, (s & clear) | bits, d + cost, label, si, s)

    def _loop(self, comp: list[int]) -> None:
        inside = set(comp)
        buckets: dict[int, list[tuple[int, int]]] = {}
        for si in comp:
            for s, inf in self.info[si].items():
                buckets.setdefault(inf & DIST_MASK, []).append((si, s))
        add, info, watch = self.add, self.info, self.watch
        while buckets:
            d = min(buckets)
            todo = buckets.pop(d)
            i = 0
            while i < len(todo):
                if watch.stopped is not None:
                    return
                si, s = todo[i]
                i += 1
                if info[si][s] & DIST_MASK != d:
                    continue  # reached again by a shorter path
                for clear, bits, t, label, cost in self._expand(si, s, d):
                    ns = (s & clear) | bits
                    if add(t, ns, d + cost, label, si, s) and t in inside:
                        (todo if cost == 0 else buckets.setdefault(d + cost, [])).append((t, ns))

    # ------------------------------------------------------------ after the search

    def doomed(self) -> dict[int, list[int]] | None:
        """Per scene, the states from which no ending can be reached (all states expanded);
        None when the memory limit stopped the pass (its sets would not fit)."""
        moves, info = self.moves, self.info
        bad: dict[int, set[int]] = {}
        for comp, loops in reversed(self.order):
            if not self.watch.afford(sum(len(info[si]) for si in comp) * _AFTER_BYTES):
                return None
            alive: dict[int, set[int]] = {si: set() for si in comp}
            changed = True
            while changed:
                changed = False
                for si in reversed(comp):
                    if moves.scenes[si].ending is not None:
                        if len(alive[si]) != len(info[si]):
                            alive[si] = set(info[si])
                        continue
                    here = alive[si]
                    for s in info[si]:
                        if s in here:
                            continue
                        for clear, bits, t, _label, _cost in moves.steps(si, s):
                            ns = (s & clear) | bits
                            if (ns in alive[t]) if t in alive else (ns not in bad.get(t, ())):
                                here.add(s)
                                changed = loops
                                break
            for si in comp:
                dead = set(info[si]) - alive[si]
                if dead:
                    bad[si] = dead
        return {si: sorted(v, key=lambda s: info[si][s] & DIST_MASK) for si, v in bad.items()}

    def trapped(self) -> list[tuple[int, int]] | None:
        """States in loops of scenes with no choice that never lead out of the loop;
        None when the memory limit stopped the pass."""
        moves = self.moves
        out: list[tuple[int, int]] = []
        # loops of route-only scenes, even inside a larger loop through choices (a
        # `next` back to itself until a flag that nothing here sets)
        for comp in route_loops(moves):
            if not self.watch.afford(sum(len(self.info[si]) for si in comp) * _AFTER_BYTES):
                return None
            inside = set(comp)
            escapes: set[tuple[int, int]] = set()
            into: dict[tuple[int, int], list[tuple[int, int]]] = {}
            for si in comp:
                for s in self.info[si]:
                    for clear, bits, t, _label, _cost in moves.steps(si, s):
                        if t not in inside:
                            escapes.add((si, s))
                        else:
                            into.setdefault((t, (s & clear) | bits), []).append((si, s))
            todo = list(escapes)
            while todo:
                for prev in into.get(todo.pop(), ()):
                    if prev not in escapes:
                        escapes.add(prev)
                        todo.append(prev)
            stuck = [(si, s) for si in comp for s in self.info[si] if (si, s) not in escapes]
            if stuck:
                out.append(min(stuck, key=lambda p: self.info[p[0]][p[1]] & DIST_MASK))
        return out

    def dist(self, si: int, s: int) -> int:
        return self.info[si][s] & DIST_MASK

    def path(self, si: int, s: int) -> list[int]:
        """The labels of the steps from the start to (si, s), in order (-1: a plain `next`)."""
        labels: list[int] = []
        at: tuple[int, int] | None = (si, s)
        while at is not None:
            up = self.parent(self.info[at[0]][at[1]])
            if up is None:
                break
            labels.append(up[0])
            at = (up[1], up[2])
        labels.reverse()
        return labels


def count_raw(moves: Moves, watch: Watch) -> tuple[int, bool]:
    """How many full (scene, state) pairs can be reached; False when it stopped early."""
    si0, s0 = moves.start()
    n = len(moves.scenes)
    pending: list[set[int]] = [set() for _ in range(n)]
    pending[si0].add(s0)
    each = int_bytes(moves.packer.width) + _BATCH_SET

    def cost(t: int, size: int) -> int:
        return size * each + table_growth(pending[t], size)

    total = 0
    try:
        for comp, loops in components(moves, si0):
            if loops:
                total += _raw_loop(moves, comp, pending, watch, total)
            else:
                si = comp[0]
                here, pending[si] = pending[si], set()
                total += len(here)
                if moves.scenes[si].ending is None:
                    for t, states in _raw_step(moves, si, here, watch, cost):
                        pending[t] |= states
                del here
                _over(watch, total)
            if watch.stopped is not None:
                return total, False
    except PackOverflow:
        watch.stopped = "a value range too large to pack"
        return total, False
    except MemoryError:
        pending.clear()
        watch.out_of_memory()
        return total, False
    return total, True


def _raw_step(
    moves: Moves, si: int, here: set[int], watch: Watch, cost: Callable[[int, int], int]
) -> Iterator[tuple[int, set[int]]]:
    """The successors of the states `here` of scene `si`, as (target, states) batches.

    `here` goes in batches of at most `BATCH` states, grouped by the bits the
    scene reads; each group goes through each of its steps in one set
    comprehension, so the per-state work stays in C. Before each set is made,
    `watch.afford(cost(target, size))` must agree; when it does not (or a
    limit stops the search) no more batches come. The caller merges each set
    before asking for the next, so only one is held at a time.
    """
    read = moves.read[si]
    cache = moves.cache[si]
    source = iter(here)
    while True:
        batch = list(islice(source, BATCH))
        if not batch:
            return
        if read:
            if not watch.afford(len(batch) * _GROUPING):
                return
            groups: dict[int, list[int]] = {}
            for s in batch:
                k = s & read
                g = groups.get(k)
                if g is None:
                    groups[k] = [s]
                else:
                    g.append(s)
        else:
            groups = {0: batch}
        for k, states in groups.items():
            steps = cache.get(k)
            if steps is None:
                steps = moves.steps(si, states[0])
            for clear, bits, t, _label, _cost in steps:
                if not watch.afford(cost(t, len(states))):
                    return
                yield t, {(s & clear) | bits for s in states}
        del groups
        if watch.tick(len(batch)):
            return


def _over(watch: Watch, total: int) -> bool:
    """Stop the count at `max_states` full states (its only bound besides time and memory)."""
    cap = watch.limits.max_states
    if cap is not None and total > cap and watch.stopped is None:
        watch.stopped = f"the limit of {cap:,} full states"
    return watch.stopped is not None


def _raw_loop(
    moves: Moves, comp: list[int], pending: list[set[int]], watch: Watch, before: int
) -> int:
    """A component with loops: rounds over its scenes until no new state appears."""
    inside = set(comp)
    seen = {si: pending[si] for si in comp}
    fresh = {si: set(pending[si]) for si in comp}
    each = int_bytes(moves.packer.width) + _BATCH_SET

    def cost(t: int, size: int) -> int:
        if t in inside:
            return size * each + table_growth(seen[t], size) + table_growth(fresh[t], size)
        return size * each + table_growth(pending[t], size)

    held = sum(len(v) for v in seen.values())
    while any(fresh.values()):
        for si in comp:
            here, fresh[si] = fresh[si], set()
            if not here or moves.scenes[si].ending is not None:
                continue
            for t, states in _raw_step(moves, si, here, watch, cost):
                if t in inside:
                    states -= seen[t]
                    seen[t] |= states
                    fresh[t] |= states
                    held += len(states)
                else:
                    pending[t] |= states
            del here
            if watch.stopped is not None or _over(watch, before + held):
                return sum(len(v) for v in seen.values())
    total = sum(len(v) for v in seen.values())
    for si in comp:
        pending[si] = set()
    return total
