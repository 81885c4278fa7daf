"""The part of the graph the drawn exports (DOT, Mermaid) show after pruning.

`--min-share` hides edges below the share; `--depth` hides scenes more than N
choices from the start. A scene is drawn when the walk from the start reaches
it through shown edges, or when it has traffic of its own but no shown way in
(so nothing with traffic disappears silently: it becomes a loose node).
What was hidden is counted for the caption.
"""

from __future__ import annotations

from dataclasses import dataclass

from branching.analytics.graph import FlowEdge, FlowGraph, FlowScene
from branching.analytics.overview import distances, roots


@dataclass(frozen=True, slots=True)
class Visible:
    scenes: tuple[FlowScene, ...]
    edges: tuple[tuple[FlowScene, FlowEdge], ...]
    hidden_edges: int
    hidden_count: int
    beyond_depth: int

    def caption(self, min_share: float, depth: int | None) -> str:
        parts = []
        if self.hidden_edges:
            parts.append(
                f"{self.hidden_edges} choices under {min_share * 100:g}% hidden "
                f"({self.hidden_count:,} taken)"
            )
        if self.beyond_depth:
            parts.append(f"{self.beyond_depth} scenes beyond depth {depth} hidden")
        return "; ".join(parts)


def visible(graph: FlowGraph, *, depth: int | None = None, min_share: float = 0.0) -> Visible:
    """The scenes and edges to draw (the story map has no shares: `min_share` is moot)."""
    min_share = min_share if graph.telemetry else 0.0
    dist = distances(graph, roots(graph))
    within = {sid for sid in graph.scenes if depth is None or dist.get(sid, 0) <= depth}
    shown: list[tuple[FlowScene, FlowEdge]] = []
    hidden = hidden_count = 0
    for scene in graph.scenes.values():
        if scene.id not in within:
            continue
        for edge in scene.edges:
            share = scene.share(edge.count) or 0.0
            if min_share and share < min_share:
                hidden += 1
                hidden_count += edge.count
            elif edge.target in within:
                shown.append((scene, edge))
    reached = set(roots(graph))
    frontier = list(reached)
    out_of: dict[str, list[str]] = {}
    for scene, edge in shown:
        out_of.setdefault(scene.id, []).append(edge.target)
    while frontier:
        for target in out_of.get(frontier.pop(), []):
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    keep = [
        s
        for s in graph.scenes.values()
        if s.id in within and (s.id in reached or (s.visits and s.id in dist))
    ]
    kept = {s.id for s in keep}
    edges = tuple((s, e) for s, e in shown if s.id in kept and e.target in kept)
    return Visible(tuple(keep), edges, hidden, hidden_count, len(graph.scenes) - len(within))
