"""The aggregated graph as JSON, so other tools can draw or analyse it.

Format `branching-flowgraph/1`: the story, what the counts count (`unit`,
with the denominator in words, and `counts`: each figure's meaning), where
they came from, and every scene with
its visits, drop-off and edges. Counts hidden by `--min-count` are `null`
(with `hidden_below` saying so), never a made-up number. The story map
(`"telemetry": false`) has every count `null`, and each edge's `condition`
("if ...", "requires ...", "once") says when it is offered. Strings are exactly
as recorded; `branching.escape.json_text` writes the characters that could
drive a terminal as `\\uXXXX`, so the file is also safe to print.
"""

from __future__ import annotations

from typing import Any

from branching.analytics.graph import FlowEdge, FlowGraph, FlowScene
from branching.escape import json_text
from branching.render.figures import UNIT_SENTENCE, Figures

FORMAT = "branching-flowgraph/1"
# what each figure counts, in the README's vocabulary (`unit`: sessions, viewers or times)
COUNTS = {
    "sessions": "playthroughs chosen by the filters, whatever the unit",
    "viewers": "unique viewers of those sessions, whatever the unit",
    "completed": "reached an ending (outcome 'ending'), in the unit (sessions in `times`)",
    "visits": "reached the scene, in the unit (`times`: every time it was shown)",
    "edges.count": "took the choice, in the unit (`times`: every pass)",
    "edges.timeouts": "the clock took the choice, in the unit (`times`: every time)",
    "left_here": "did not complete and this was their last scene (sessions in `times`)",
    "ended_here": "completed at this ending, in the unit (sessions in `times`)",
    "timed_out": "the clock chose here, in the unit (`times`: every time)",
}


def _edge(scene: FlowScene, edge: FlowEdge, f: Figures) -> dict[str, Any]:
    share = f.share(edge.count, scene.base)
    return {
        "choice": edge.choice or None,
        "route": edge.is_route,
        "label": edge.label or None,
        "template": edge.template,  # the label as written, when `label` is as viewers saw it
        "target": edge.target,
        "count": f.value(edge.count),
        "share": None if share is None else round(share, 6),
        "timeouts": f.value(edge.timeouts),
        "default": edge.default,
        "tags": list(edge.tags),
        "in_this_version": not edge.retired,
        "condition": edge.condition or None,
    }


def _scene(scene: FlowScene, f: Figures) -> dict[str, Any]:
    return {
        "id": scene.id,
        "title": scene.title,
        "kind": scene.kind,
        "chapter": scene.chapter,
        "tags": list(scene.tags),
        "ending": (
            {"kind": scene.ending_kind, "title": scene.ending_title} if scene.is_ending else None
        ),
        "timer": scene.timer,
        "visits": f.value(scene.visits),
        "left_here": f.value(scene.left),
        "ended_here": f.value(scene.ended) if scene.is_ending else None,
        "timed_out": f.value(scene.timed_out) if scene.timer else None,
        "share_base": f.value(scene.base),
        "in_this_version": not scene.retired,
        "edges": [_edge(scene, e, f) for e in scene.edges],
    }


def graph_dict(graph: FlowGraph, *, min_count: int = 0) -> dict[str, Any]:
    """The graph as plain JSON-able data."""
    f = Figures(min_count) if graph.telemetry else _Absent()
    return {
        "format": FORMAT,
        "story": {
            "id": graph.story_id,
            "title": graph.title,
            "start": graph.start,
            "chapters": list(graph.chapters),
        },
        "telemetry": graph.telemetry,
        "unit": graph.unit if graph.telemetry else None,
        "denominator": UNIT_SENTENCE[graph.unit] if graph.telemetry else None,
        "counts": COUNTS if graph.telemetry else None,
        "source": graph.source,
        "filters": graph.filters,
        "sessions": f.value(graph.sessions),
        "viewers": f.value(graph.viewers),
        "completed": f.value(graph.completed),
        "hidden_below": min_count or None,
        "notes": list(graph.notes),
        "scenes": [_scene(s, f) for s in graph.scenes.values()],
    }


class _Absent(Figures):
    """The story map's figures: there are none, so every count is null."""

    def value(self, n: int | None) -> int | None:
        return None

    def share(self, n: int | None, base: int | None) -> float | None:
        return None


def to_json(graph: FlowGraph, *, min_count: int = 0) -> str:
    """The graph as indented JSON text."""
    return json_text(graph_dict(graph, min_count=min_count), indent=2) + "\n"
