"""Graphviz DOT of the aggregated flowchart, and running Graphviz's `dot` on it.

Edge width grows with the square root of the traffic (so a path taken ten
times as often is about three times as thick, and thin paths stay visible),
colour deepens with the share of the scene's exits, labels give the percent
and count. Chapters are clusters; endings are octagons filled by kind; scenes
and choices nobody reached are grey and dashed. Every string is a DOT quoted
string made by `branching.escape.dot_string` (never an HTML-like `<...>`
label), so no story title, label or recorded value can add a statement or an
attribute; it also writes `&` as `&amp;`, so Graphviz, which reads entities in
labels and copies them into SVG, draws the text as written and the SVG stays
valid XML.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import textwrap
from collections.abc import Mapping

from branching.analytics.graph import FlowEdge, FlowGraph, FlowScene
from branching.errors import BranchingError
from branching.escape import dot_string as quote
from branching.render.figures import UNIT_SHORT, Figures, ended_here, plural
from branching.render.visible import visible

FONT = "Helvetica"
LOW, HIGH = (0xB3, 0xCD, 0xE3), (0x08, 0x30, 0x6B)  # light to dark blue
ENDING_FILL = {"good": "#c7e9c0", "bad": "#fcbba1", "secret": "#dadaeb", "neutral": "#fdd0a2"}
GREY = "#b0b0b0"


class GraphvizMissing(BranchingError):
    """Graphviz's `dot` program is needed and is not installed."""

    title = "Graphviz is not installed"


class GraphvizFailed(BranchingError):
    """`dot` refused the input or crashed."""

    title = "Graphviz failed"


def share_colour(share: float) -> str:
    """A blue that deepens with `share` (0..1)."""
    t = max(0.0, min(1.0, share)) ** 0.7
    rgb = (round(lo + (hi - lo) * t) for lo, hi in zip(LOW, HIGH, strict=True))
    return "#" + "".join(f"{c:02x}" for c in rgb)


def _wrap(text: str, width: int = 24) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def box_note(scene: FlowScene) -> str:
    """What a box of a reduced picture holds, in words ('' for a plain scene)."""
    n = len(scene.members)
    return {
        "chain": f"{n} scenes in a row",
        "chapter": f"chapter of {n} {'scene' if n == 1 else 'scenes'}",
        "folded": f"{n} scenes folded",
    }.get(scene.kind, "")


BOX_STYLE: dict[str, dict[str, str]] = {
    "chapter": {"shape": "box3d", "style": "filled", "fillcolor": "#fff3cc", "fontsize": "14"},
    "chain": {"peripheries": "2"},
    "folded": {"style": "rounded,filled,dotted", "fillcolor": "#ececec"},
    "entry": {"shape": "cds", "style": "filled", "fillcolor": "#ffffff", "fontcolor": "#555555"},
    "exit": {"shape": "cds", "style": "filled", "fillcolor": "#ffffff", "fontcolor": "#555555"},
}


def _node(scene: FlowScene, graph: FlowGraph, figures: Figures, number: int) -> str:
    lines = [_wrap(scene.ending_title or scene.title, 28)]
    attrs: dict[str, str] = {"id": f"s{number}"}
    if note := box_note(scene):
        lines.append(note)
    if not graph.telemetry:  # the story map: what the scene is, never a count
        return _map_node(scene, graph, lines, attrs)
    if scene.kind == "chapter":  # the overview: two lines a box, so it fits a screen
        n = len(scene.members)
        lines = [f"{_wrap(scene.title, 34)} · {n} {'scene' if n == 1 else 'scenes'}"]
        figure = f"{figures.count(scene.visits)} {plural(scene.visits, graph.unit)}"
        if scene.left:
            figure += f" · {figures.count(scene.left)} left ({figures.pct(scene.left, scene.base)})"
        lines.append(figure)
    elif scene.is_ending:
        lines.append(f"{scene.ending_kind} ending")
        lines.append(ended_here(scene, graph.unit, figures))
        attrs.update(
            shape="doubleoctagon", fillcolor=ENDING_FILL.get(scene.ending_kind or "", "#fee391")
        )
    elif scene.kind in ("entry", "exit"):
        lines.append(f"{figures.count(scene.visits)} {plural(scene.visits, graph.unit)}")
    else:
        lines.append(f"{figures.count(scene.visits)} {plural(scene.visits, graph.unit)}")
        if scene.left:
            lines.append(
                f"{figures.count(scene.left)} left here ({figures.pct(scene.left, scene.base)})"
            )
        if scene.kind in ("next", "random"):
            attrs.update(style="rounded,filled,dashed")
    attrs.update(BOX_STYLE.get(scene.kind, {}))
    if scene.id == graph.start:
        attrs.update(penwidth="2.5")
    if not scene.visits:
        attrs.update(color=GREY, fontcolor=GREY, fillcolor="#f4f4f4")
    attrs["label"] = "\n".join(lines)
    body = ", ".join(f"{k}={quote(v)}" for k, v in attrs.items())
    return f"{quote(scene.id)} [{body}];"


def _map_node(scene: FlowScene, graph: FlowGraph, lines: list[str], attrs: dict[str, str]) -> str:
    if scene.is_ending:
        lines.append(f"{scene.ending_kind} ending")
        attrs.update(
            shape="doubleoctagon", fillcolor=ENDING_FILL.get(scene.ending_kind or "", "#fee391")
        )
    elif scene.timer:
        lines.append(f"timer {scene.timer:g} s")
    if scene.kind in ("next", "random"):
        attrs.update(style="rounded,filled,dashed")
    attrs.update(BOX_STYLE.get(scene.kind, {}))
    if scene.id == graph.start:
        attrs.update(penwidth="2.5")
    attrs["label"] = "\n".join(lines)
    body = ", ".join(f"{k}={quote(v)}" for k, v in attrs.items())
    return f"{quote(scene.id)} [{body}];"


def _map_edge(scene: FlowScene, edge: FlowEdge) -> str:
    label = "" if edge.is_route else _wrap(edge.label)
    if edge.condition:
        label += ("\n" if label else "") + _wrap(f"[{edge.condition}]", 30)
    attrs = {"label": label, "color": "#4d4d4d", "penwidth": "1.2"}
    if edge.condition:
        attrs.update(style="dashed", fontcolor="#7a4f00")
    body = ", ".join(f"{k}={quote(v)}" for k, v in attrs.items())
    return f"{quote(scene.id)} -> {quote(edge.target)} [{body}];"


MAP_LEGEND = (
    "How to read it",
    "the story map: no telemetry, so no counts",
    "arrow: a choice (its label) or the story moving on · bold box: the start",
    "dashed arrow: offered only sometimes: [if ...], [requires ...], [once]",
    "dashed box: no choice here · double box: scenes in a row, one box",
    "3-D box: a chapter · arrow box: a way in or out",
    "octagon: an ending (green good, red bad, purple secret, orange neutral)",
)

LEGEND = (
    "How to read it",
    "line width: how often a way was taken · darker blue: a larger share of the exits",
    "on a line: share · count · bold box: the start · grey dashed: nobody went",
    "dashed box: no choice here · double box: scenes in a row, one box",
    "3-D box: a chapter · arrow box: a way in or out · dotted grey: rarely visited",
    "octagon: an ending (green good, red bad, purple secret, orange neutral)",
)


def legend_node(story_map: bool = False) -> str:
    """The legend as one note-shaped node, so it survives every layout."""
    label = "\\l".join(MAP_LEGEND if story_map else LEGEND) + "\\l"
    return (
        f'"legend:" [id="legend", shape=note, style=filled, fillcolor="#fafafa", '
        f'color="#bbbbbb", fontsize=11, label="{label}"];'
    )


def _edge(scene: FlowScene, edge: FlowEdge, top: int, figures: Figures) -> str:
    share = figures.share(edge.count, scene.base)
    figure = f"{figures.pct(edge.count, scene.base)} · {figures.count(edge.count)}"
    label = figure if edge.is_route else f"{_wrap(edge.label)}\n{figure}"
    attrs = {"label": label}
    if edge.count == 0:
        attrs.update(color=GREY, fontcolor=GREY, style="dashed", penwidth="0.8")
    else:
        width = 0.8 + 7.2 * math.sqrt(edge.count / top) if top else 1.0
        colour = share_colour(share) if share is not None else "#777777"
        attrs.update(color=colour, penwidth=f"{width:.2f}")
        if figures.hidden(edge.count):
            attrs["penwidth"] = "1.00"
    if edge.retired:
        attrs["style"] = "dotted"
    body = ", ".join(f"{k}={quote(v)}" for k, v in attrs.items())
    return f"{quote(scene.id)} -> {quote(edge.target)} [{body}];"


def to_dot(
    graph: FlowGraph,
    *,
    min_count: int = 0,
    depth: int | None = None,
    min_share: float = 0.0,
    clusters: bool = True,
    newrank: bool = False,
    positions: Mapping[str, tuple[float, float]] | None = None,
    legend: bool = True,
) -> str:
    """The flowchart as a DOT digraph.

    `clusters=False` draws chapters without boxes around them, `newrank` asks
    dot for its other ranking, and `positions` (points, by scene id) fixes
    every node where we put it, for `neato -n2` (see `render.graphviz`).
    """
    figures = Figures(min_count)
    shown = visible(graph, depth=depth, min_share=min_share)
    caption = [
        f"{graph.title}: which way viewers went",
        UNIT_SHORT[graph.unit],
        f"from {graph.source} · {graph.filters}",
    ]
    if not graph.telemetry:
        caption = [f"{graph.title}: the story map", "no telemetry: scenes, choices and endings"]
    if extra := shown.caption(min_share, depth):
        caption.append(extra)
    caption += [_wrap(note, 110) for note in graph.notes]
    extra_attrs = ", newrank=true" if newrank else ""
    if any(s.kind == "chapter" for s in shown.scenes):
        extra_attrs += ", ranksep=0.2"
    if positions is not None:
        extra_attrs += ", splines=false, overlap=true"  # routing around nodes can take minutes
    out = [
        f"digraph {quote(graph.story_id or 'story')} {{",
        f"  graph [rankdir=TB, ranksep=0.45, labelloc=t, fontname={quote(FONT)}, fontsize=16, "
        f"nodesep=0.35, label={quote(chr(10).join(caption))}{extra_attrs}];",
        f'  node [shape=box, style="rounded,filled", fillcolor="#f7f7f7", '
        f"fontname={quote(FONT)}, fontsize=12];",
        f"  edge [fontname={quote(FONT)}, fontsize=10, arrowsize=0.7];",
    ]
    if legend:
        node = legend_node(not graph.telemetry)
        if positions is not None and "legend:" in positions:
            x, y = positions["legend:"]
            node = node[:-2] + f", pos={quote(f'{x:.1f},{y:.1f}!')}];"
        out.append("  " + node)
    by_chapter: dict[str | None, list[FlowScene]] = {}
    for scene in shown.scenes:
        by_chapter.setdefault(scene.chapter if clusters else None, []).append(scene)
    index = {s.id: i for i, s in enumerate(shown.scenes)}  # SVG ids: s0, s1... (html.py)
    for cluster, (chapter, scenes) in enumerate(by_chapter.items()):
        nodes = []
        for s in scenes:
            node = _node(s, graph, figures, index[s.id])
            if positions is not None and s.id in positions:
                x, y = positions[s.id]
                node = node[:-2] + f", pos={quote(f'{x:.1f},{y:.1f}!')}];"
            nodes.append(f"    {node}")
        if chapter is None:
            out += [n[2:] for n in nodes]
            continue
        out.append(f"  subgraph {quote(f'cluster_{cluster}')} {{")
        out.append(
            f'    label={quote(chapter)}; style="rounded,dashed"; color="#999999"; '
            f'fontcolor="#555555";'
        )
        out += nodes
        out.append("  }")
    if legend and positions is None and graph.start in {s.id for s in shown.scenes}:
        if not clusters or graph.scenes[graph.start].chapter is None:  # beside, not above
            out.append(f'  {{rank=same; "legend:"; {quote(graph.start)}}}')
    top = max((e.count for _, e in shown.edges), default=0)
    if graph.telemetry:
        out += [f"  {_edge(s, e, top, figures)}" for s, e in shown.edges]
    else:
        out += [f"  {_map_edge(s, e)}" for s, e in shown.edges]
    out.append("}")
    return "\n".join(out) + "\n"


def run_dot(source: str, fmt: str) -> bytes:
    """Render DOT `source` with Graphviz to `fmt` (svg, png); clear errors when it cannot."""
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing(
            f"--format {fmt} needs Graphviz's `dot` program: install the `graphviz` package "
            "(Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz), "
            "or use --format dot and render the file elsewhere"
        )
    try:
        done = subprocess.run(
            [exe, f"-T{fmt}"],
            input=source.encode("utf-8"),
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GraphvizFailed(f"could not run {exe}: {exc}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise GraphvizFailed(f"dot -T{fmt} failed: {message}")
    return done.stdout
