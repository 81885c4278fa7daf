"""Mermaid flowchart of the aggregated graph, for Markdown docs and wikis.

Nodes get short generated ids (`n0`, `n1`...) because scene ids may hold
characters Mermaid reads as syntax; every label is quoted and escaped by
`branching.escape.mermaid_label` (quotes, angle brackets, `&`, `#`, `|`,
backticks and `%%` as Mermaid's numeric entity codes, newlines as `<br/>`),
and the comment lines by `mermaid_comment` (one line each), so no title or
label can add a statement (`click ... href`) or a directive. Chapters are
subgraphs, endings are stadium shapes classed by kind, untaken edges dotted,
and each edge's stroke width grows with the square root of its traffic.

Mermaid refuses a diagram with more edges than its `maxEdges` setting (500
by default), so we stop with a clear message rather than hand over a file
that will not render.
"""

from __future__ import annotations

import math

from branching.analytics.graph import FlowGraph, FlowScene
from branching.errors import BranchingError
from branching.escape import mermaid_comment, mermaid_label
from branching.render.dot import box_note
from branching.render.figures import UNIT_SHORT, Figures, ended_here, plural
from branching.render.visible import visible

MAX_EDGES = 500
CLASSES = {
    "good": "fill:#c7e9c0,stroke:#41ab5d",
    "bad": "fill:#fcbba1,stroke:#cb181d",
    "secret": "fill:#dadaeb,stroke:#6a51a3",
    "neutral": "fill:#fdd0a2,stroke:#d94801",
    "ending": "fill:#fee391,stroke:#cc4c02",
    "unvisited": "fill:#f4f4f4,stroke:#b0b0b0,color:#909090,stroke-dasharray:3 3",
    "chapter": "fill:#fff3cc,stroke:#8c6d1f,stroke-width:2px",
    "chain": "fill:#f7f7f7,stroke:#555555,stroke-width:3px",
    "folded": "fill:#ececec,stroke:#888888,stroke-dasharray:2 2",
    "entry": "fill:#ffffff,stroke:#999999,color:#555555",
    "exit": "fill:#ffffff,stroke:#999999,color:#555555",
}
LEGEND = (
    "legend: line width = how often a way was taken; labels = share of the scene's exits · count",
    "legend: rounded = ending (green good, red bad, purple secret, orange neutral); "
    "dotted grey = nobody went there",
    "legend: yellow = a chapter; thick border = scenes in a row; "
    "dashed grey = rarely visited scenes, folded; white = a way in or out",
)


class TooManyEdges(BranchingError):
    """The diagram has more edges than Mermaid draws by default."""

    title = "Too many edges for Mermaid"


MAP_LEGEND = (
    "legend: the story map, no telemetry: no counts; dotted = offered only [if ...], "
    "[requires ...] or [once]",
    "legend: rounded = ending (green good, red bad, purple secret, orange neutral)",
)


def _label(scene: FlowScene, graph: FlowGraph, figures: Figures) -> str:
    if not graph.telemetry:  # the story map: what it is, never a count
        note = f"\n{box_note(scene)}" if box_note(scene) else ""
        if scene.is_ending:
            return f"{scene.ending_title or scene.title}\n{scene.ending_kind} ending"
        return f"{scene.title}{note}"
    if scene.is_ending:
        return f"{scene.ending_title or scene.title}\n{scene.ending_kind} ending · " + ended_here(
            scene, graph.unit, figures
        )
    note = f"\n{box_note(scene)}" if box_note(scene) else ""
    label = f"{scene.title}{note}\n{figures.count(scene.visits)} {plural(scene.visits, graph.unit)}"
    if scene.left:
        label += f"\n{figures.count(scene.left)} left here"
    return label


def to_mermaid(
    graph: FlowGraph, *, min_count: int = 0, depth: int | None = None, min_share: float = 0.0
) -> str:
    """The flowchart as Mermaid `flowchart TD` source."""
    figures = Figures(min_count)
    shown = visible(graph, depth=depth, min_share=min_share)
    if len(shown.edges) > MAX_EDGES:
        raise TooManyEdges(
            f"the flowchart has {len(shown.edges)} edges, more than Mermaid draws by default "
            f"(its maxEdges setting is {MAX_EDGES}): prune it with --min-share or --depth, "
            "raise maxEdges in your Mermaid configuration, or use --format dot or svg"
        )
    ids = {s.id: f"n{i}" for i, s in enumerate(shown.scenes)}
    about = UNIT_SHORT[graph.unit] if graph.telemetry else "the story map (no telemetry)"
    out = [
        "flowchart TD",
        f"    %% {mermaid_comment(graph.title)}: {about}",
        f"    %% from {mermaid_comment(f'{graph.source} · {graph.filters}')}",
    ]
    if extra := shown.caption(min_share, depth):
        out.append(f"    %% {mermaid_comment(extra)}")
    out += [f"    %% {mermaid_comment(note)}" for note in graph.notes]
    out += [f"    %% {line}" for line in (LEGEND if graph.telemetry else MAP_LEGEND)]
    chapters: dict[str | None, list[FlowScene]] = {}
    for scene in shown.scenes:
        chapters.setdefault(scene.chapter, []).append(scene)
    for number, (chapter, scenes) in enumerate(chapters.items()):
        nodes = []
        for s in scenes:
            open_, close = ("([", "])") if s.is_ending else ("[", "]")
            nodes.append(f"{ids[s.id]}{open_}{mermaid_label(_label(s, graph, figures))}{close}")
        if chapter is None:
            out += [f"    {n}" for n in nodes]
        else:
            out.append(f"    subgraph c{number}[{mermaid_label(chapter)}]")
            out += [f"        {n}" for n in nodes]
            out.append("    end")
    top = max((e.count for _, e in shown.edges), default=0)
    styles = []
    for index, (scene, edge) in enumerate(shown.edges):
        if not graph.telemetry:
            words = [w for w in (edge.label, f"[{edge.condition}]" if edge.condition else "") if w]
            arrow = "-.->" if edge.condition else "-->"
            label = f"|{mermaid_label(chr(10).join(words))}|" if words else ""
            out.append(f"    {ids[scene.id]} {arrow}{label} {ids[edge.target]}")
            continue
        figure = f"{figures.pct(edge.count, scene.base)} · {figures.count(edge.count)}"
        label = figure if edge.is_route else f"{edge.label}\n{figure}"
        arrow = "-.->" if edge.count == 0 else "-->"
        out.append(f"    {ids[scene.id]} {arrow}|{mermaid_label(label)}| {ids[edge.target]}")
        if edge.count and top and not figures.hidden(edge.count):
            styles.append(
                f"    linkStyle {index} stroke-width:{1 + 7 * math.sqrt(edge.count / top):.1f}px"
            )
    out += styles
    for name, style in CLASSES.items():
        out.append(f"    classDef {name} {style}")
    for scene in shown.scenes:
        if scene.is_ending:
            kind = scene.ending_kind if scene.ending_kind in CLASSES else "ending"
            out.append(f"    class {ids[scene.id]} {kind}")
        elif scene.is_box:
            out.append(f"    class {ids[scene.id]} {scene.kind}")
        if not scene.visits and graph.telemetry:
            out.append(f"    class {ids[scene.id]} unvisited")
    return "\n".join(out) + "\n"
