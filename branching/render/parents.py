"""Where each scene of the terminal flowchart hangs: under its most-travelled way in.

The story is a graph with shared scenes and loops; the terminal flowchart is a
tree, so each scene is drawn once, under one parent, and its other ways in are
references. The parent is the way in (a choice or a route, one edge) that
brought the most traffic, among the ways in that can come first: an edge
u -> v where v dominates u (every way from the start to u passes v, as for
"Go back outside" from a room that can only be entered from v) is a loop back
and never a parent. Ties go to the edge earlier in story order (scenes as
written, each scene's choices then routes). A scene nobody reached (or every
scene, in the story map, which has no traffic) hangs under the way in by which
a breadth-first walk from the start first meets it, so the tree is the story's
shortest-first reading.

Preferred parents can still form a cycle the start never reaches (two scenes
of a loop with two entries, each preferring the other): then the heaviest way
into the cycle from a scene already placed decides, and the rest follow. Every
scene the usable edges reach from a root is placed, exactly once.

Plain data in, plain data out (`Way` by scene id); `layout.py` draws it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from branching.analytics.graph import FlowEdge, FlowGraph, FlowScene

VIRTUAL = ""  # the root above every root (scene ids are never empty)


@dataclass(frozen=True, slots=True)
class Way:
    """One way into a scene: edge number `index` of scene `source`."""

    source: str
    index: int
    edge: FlowEdge
    order: int  # position in story order, for ties

    @property
    def target(self) -> str:
        return self.edge.target


@dataclass(frozen=True, slots=True)
class Tree:
    """The parent way of every placed scene (roots have none), and the ways into each."""

    parent: dict[str, Way]
    ways_in: dict[str, list[Way]]
    reached: list[str]  # placed scenes, breadth-first from the roots


def build_tree(
    graph: FlowGraph,
    roots: Iterable[str],
    usable: Callable[[FlowScene, FlowEdge], bool],
) -> Tree:
    """Each scene reachable by `usable` edges from `roots`, under its most-travelled way in."""
    starts = [r for r in dict.fromkeys(roots) if r in graph.scenes]
    ways_in: dict[str, list[Way]] = {}
    ways_out: dict[str, list[Way]] = {}
    order = 0
    for scene in graph.scenes.values():
        for index, edge in enumerate(scene.edges):
            order += 1
            if edge.target in graph.scenes and usable(scene, edge):
                way = Way(scene.id, index, edge, order)
                ways_out.setdefault(scene.id, []).append(way)
                ways_in.setdefault(edge.target, []).append(way)
    first, reached = _breadth_first(starts, ways_out)
    idom = _dominators(starts, ways_out, ways_in)
    rank = {sid: n for n, sid in enumerate(reached)}
    preferred: dict[str, Way] = {}
    for sid in reached:
        if sid in starts:
            continue
        options = [
            w
            for w in ways_in.get(sid, [])
            if w.source in rank and w.source != sid and not _dominates(idom, sid, w.source)
        ]
        best = max(options, key=lambda w: (w.edge.count, -w.order), default=first[sid])
        preferred[sid] = best if best.edge.count > 0 else first[sid]
    parent = _attach(starts, reached, preferred, ways_in, rank)
    return Tree(parent, ways_in, reached)


def _breadth_first(
    starts: list[str], ways_out: dict[str, list[Way]]
) -> tuple[dict[str, Way], list[str]]:
    """The first way into each scene a breadth-first walk meets, and the order it meets them."""
    first: dict[str, Way] = {}
    seen = set(starts)
    reached = list(starts)
    queue = deque(starts)
    while queue:
        for way in ways_out.get(queue.popleft(), []):
            if way.target not in seen:
                seen.add(way.target)
                first[way.target] = way
                reached.append(way.target)
                queue.append(way.target)
    return first, reached


def _dominators(
    starts: list[str],
    ways_out: dict[str, list[Way]],
    ways_in: dict[str, list[Way]],
) -> dict[str, str]:
    """Immediate dominators (Cooper, Harvey and Kennedy's iteration) below a virtual root."""
    post: list[str] = []
    seen = {VIRTUAL}
    stack: list[tuple[str, Iterable[str]]] = [(VIRTUAL, iter(starts))]
    while stack:
        node, succ = stack[-1]
        nxt = next((s for s in succ if s not in seen), None)
        if nxt is None:
            post.append(node)
            stack.pop()
            continue
        seen.add(nxt)
        stack.append((nxt, iter([w.target for w in ways_out.get(nxt, [])])))
    number = {sid: n for n, sid in enumerate(post)}
    idom: dict[str, str] = {VIRTUAL: VIRTUAL}
    root_set = set(starts)
    changed = True
    while changed:
        changed = False
        for node in reversed(post):
            if node == VIRTUAL:
                continue
            preds = [VIRTUAL] if node in root_set else []
            preds += [w.source for w in ways_in.get(node, []) if w.source in number]
            new: str | None = None
            for p in preds:
                if p not in idom:
                    continue
                new = p if new is None else _meet(idom, number, p, new)
            if new is not None and idom.get(node) != new:
                idom[node] = new
                changed = True
    return idom


def _meet(idom: dict[str, str], number: dict[str, int], a: str, b: str) -> str:
    while a != b:
        while number[a] < number[b]:
            a = idom[a]
        while number[b] < number[a]:
            b = idom[b]
    return a


def _dominates(idom: dict[str, str], top: str, node: str) -> bool:
    """Does every way from the roots to `node` pass `top`?"""
    while True:
        if node == top:
            return True
        up = idom.get(node, VIRTUAL)
        if node == VIRTUAL or up == node:
            return False
        node = up


def _attach(
    starts: list[str],
    reached: list[str],
    preferred: dict[str, Way],
    ways_in: dict[str, list[Way]],
    rank: dict[str, int],
) -> dict[str, Way]:
    """Parents for every reached scene: the preferred one unless it would close a cycle."""
    waiting: dict[str, list[str]] = {}
    for sid, way in preferred.items():
        waiting.setdefault(way.source, []).append(sid)
    placed = set(starts)
    parent: dict[str, Way] = {}
    todo = deque(starts)
    while True:
        while todo:
            for child in waiting.get(todo.popleft(), []):
                if child not in placed:
                    placed.add(child)
                    parent[child] = preferred[child]
                    todo.append(child)
        left = [sid for sid in reached if sid not in placed]
        if not left:
            return parent
        # a cycle of preferences: enter it by its heaviest way from a placed scene
        options = [
            w
            for sid in left
            for w in ways_in.get(sid, [])
            if w.source in placed and w.source in rank
        ]
        way = max(options, key=lambda w: (w.edge.count, -rank[w.target], -w.order))
        placed.add(way.target)
        parent[way.target] = way
        todo.append(way.target)
