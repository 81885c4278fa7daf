"""One self-contained HTML file a producer can mail: the interactive flowchart and the tables.

Nothing in it is fetched: the CSS and our one script are inline
(`html_assets.py`), the flowchart is an inline SVG drawn by Graphviz (its XML
prolog, DOCTYPE and namespace attributes, which name w3.org addresses, are
removed: HTML5 does not need them), and there are no fonts or images from
elsewhere. The page pans, zooms, finds a scene by name and shows a scene's
numbers when it is clicked; the tables below hold every figure as text.
Without Graphviz the terminal flowchart is embedded as text instead, with a
note saying how to get the drawing.

Every string from a story or the database is escaped: in the page's HTML by
`branching.escape.html_text`; in the SVG, as DOT text (`dot_string`) which
Graphviz writes as XML; in the figures the script reads, as JSON
(`json_text`) with `<`, `>` and `&` written as `\\u003c`... so no text can
close the data block, and the script parses it with `JSON.parse` and shows it
with `textContent` only. Nothing in the data can add an element, an attribute
or a script to the page.
"""

from __future__ import annotations

import io
import re
import shutil

from rich.console import Console

from branching.analytics.graph import FlowGraph, FlowScene
from branching.analytics.rows import Report, Timing
from branching.escape import html_text, json_text
from branching.render.dot import box_note
from branching.render.figures import UNIT_SENTENCE, Figures, ended_here, plural, seconds, timed_out
from branching.render.flowchart import MAP_SENTENCE, Flowchart
from branching.render.graphviz import DEFAULT_TIMEOUT, draw
from branching.render.html_assets import SCRIPT, STYLE
from branching.render.tables import Column, Sheet, report_tables
from branching.render.visible import visible

_SVG_JUNK = [re.compile(p, re.S) for p in (r"<\?xml.*?\?>", r"<!DOCTYPE.*?>", r"<!--.*?-->")]
_SVG_NS = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')


def inline_svg(svg: str) -> str:
    """Graphviz SVG made fit to sit inside HTML5 with no outside references."""
    for pattern in _SVG_JUNK:
        svg = pattern.sub("", svg)
    return _SVG_NS.sub("", svg).strip()


def _table(sheet: Sheet, figures: Figures) -> str:
    head = "".join(f"<th>{html_text(c.name)}</th>" for c in sheet.columns)
    body = []
    for row in sheet.rows:
        cells = []
        for i, column in enumerate(sheet.columns):
            cls = ' class="n"' if column.kind != "text" else ""
            cells.append(f"<td{cls}>{html_text(sheet.cell(row, i, figures))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(sheet.columns)}">(none)</td></tr>')
    caption = f"<caption>{html_text(sheet.caption)}</caption>" if sheet.caption else ""
    return (
        f"<h2>{html_text(sheet.title)}</h2>\n<table>{caption}<thead><tr>{head}</tr>"
        f"</thead><tbody>{''.join(body)}</tbody></table>"
    )


def map_sheet(graph: FlowGraph) -> Sheet:
    """The story map as a table: every way out of every scene, with when it is offered."""
    rows = []
    for scene in graph.scenes.values():
        for e in scene.edges:
            target = graph.scenes.get(e.target)
            rows.append(
                (
                    scene.title,
                    e.label or ("(random)" if scene.kind == "random" else "(next)"),
                    target.title if target is not None else e.target,
                    e.condition or "always",
                )
            )
    return Sheet(
        "map",
        "Every way out of every scene",
        "The story map: no telemetry, so no counts.",
        (Column("scene"), Column("choice"), Column("goes to"), Column("offered")),
        tuple(rows),
    )


def graph_sheet(graph: FlowGraph) -> Sheet:
    """The flowchart's own figures as a table: every edge with its count and share."""
    if not graph.telemetry:
        return map_sheet(graph)
    rows = []
    for scene in graph.scenes.values():
        for e in scene.edges:
            rows.append(
                (
                    scene.title,
                    e.label or "(next)",
                    graph.scenes[e.target].title if e.target in graph.scenes else e.target,
                    e.count,
                    scene.share(e.count),
                )
            )
        if scene.left:
            rows.append((scene.title, "left here", "", scene.left, scene.share(scene.left)))
    return Sheet(
        "flow",
        "Every way out of every scene",
        UNIT_SENTENCE[graph.unit],
        (
            Column("scene"),
            Column("choice"),
            Column("goes to"),
            Column("count", "count"),
            Column("share", "share", 3),
        ),
        tuple(rows),
    )


LEGEND = (
    ("thin", "a way taken rarely"),
    ("thick", "a way taken often (line width: traffic)"),
    ("start", "where the story starts"),
    ("dashed", "no choice: the story moves on"),
    ("double", "scenes in a row, one box"),
    ("chapter", "a chapter (overview)"),
    ("dotted", "rarely visited scenes, folded"),
    ("good", "good ending"),
    ("bad", "bad ending"),
    ("secret", "secret ending"),
    ("neutral", "neutral ending"),
    ("none", "nobody went there"),
)


MAP_LEGEND = (
    ("thin", "a choice, or the story moving on"),
    ("start", "where the story starts"),
    ("dashed", "no choice here; a dashed arrow: offered only [if ...], [requires ...], [once]"),
    ("double", "scenes in a row, one box"),
    ("chapter", "a chapter (overview)"),
    ("good", "good ending"),
    ("bad", "bad ending"),
    ("secret", "secret ending"),
    ("neutral", "neutral ending"),
)


def _legend(story_map: bool = False) -> str:
    pairs = MAP_LEGEND if story_map else LEGEND
    items = "".join(f'<li><i class="{cls}"></i>{html_text(text)}</li>' for cls, text in pairs)
    return f'<ul class="legend">{items}</ul>'


def _facts(
    scene: FlowScene, graph: FlowGraph, figures: Figures, timing: dict[str, Timing]
) -> list[list[str]]:
    unit = graph.unit
    facts = [["kind", f"{scene.ending_kind} ending" if scene.is_ending else scene.kind]]
    if scene.chapter:
        facts.append(["chapter", scene.chapter])
    if note := box_note(scene):
        facts.append(["holds", note])
    if not graph.telemetry:  # the story map: no figures
        return facts + ([["timer", f"{scene.timer:g} s"]] if scene.timer else [])
    facts.append([plural(2, unit), figures.count(scene.visits)])
    if scene.is_ending:
        facts.append(["ended here", ended_here(scene, unit, figures)])
    elif scene.kind not in ("entry", "exit"):
        facts.append(
            ["left here", f"{figures.count(scene.left)} ({figures.pct(scene.left, scene.base)})"]
        )
    if scene.timer:
        facts.append(["timer", f"{scene.timer:g} s; " + timed_out(scene, unit, figures)])
    if (t := timing.get(scene.id)) is not None and t.decisions:
        facts.append(
            [
                "time to decide",
                f"median {seconds(t.median_ms)}, 90th percentile {seconds(t.p90_ms)}",
            ]
        )
    return facts


def scene_data(
    graph: FlowGraph, report: Report | None, figures: Figures, **shape: object
) -> dict[str, object]:
    """What the page's script shows for each drawn box, keyed by its SVG id (`s0`, `s1`...)."""
    shown = visible(graph, depth=shape.get("depth"), min_share=float(shape.get("min_share") or 0.0))  # type: ignore[arg-type]
    timing = {t.scene: t for t in report.timing} if report is not None else {}
    scenes: dict[str, object] = {}
    for number, scene in enumerate(shown.scenes):
        ways = []
        for e in scene.edges:
            target = graph.scenes.get(e.target)
            name = (target.ending_title or target.title) if target is not None else e.target
            label = e.label or ("(random)" if scene.kind == "random" else "(next)")
            figure = f"{figures.pct(e.count, scene.base)} · {figures.count(e.count)}"
            if e.timeouts:
                figure += f" · the clock chose {figures.count(e.timeouts)}"
            if not graph.telemetry:
                figure = e.condition or "always offered"
            ways.append([label, name, figure])
        scenes[f"s{number}"] = {
            "id": scene.id,
            "title": scene.ending_title or scene.title,
            "facts": _facts(scene, graph, figures, timing),
            "ways": ways,
            "counts": _counts(scene, figures) if graph.telemetry else None,
        }
    summary = {
        "unit": graph.unit if graph.telemetry else None,
        "sessions": figures.value(graph.sessions),
        "viewers": figures.value(graph.viewers),
        "completed": figures.value(graph.completed),
    }
    return {"scenes": scenes, "summary": summary if graph.telemetry else None}


def _counts(scene: FlowScene, figures: Figures) -> dict[str, object]:
    """The box's figures as numbers (the same as `--format json`), for other tools."""
    return {
        "visits": figures.value(scene.visits),
        "left_here": figures.value(scene.left),
        "ended_here": figures.value(scene.ended),
        "edges": [
            {"choice": e.choice or None, "target": e.target, "count": figures.value(e.count)}
            for e in scene.edges
        ],
    }


def _data_block(data: dict[str, object]) -> str:
    text = json_text(data, compact=True)
    for ch, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(ch, code)  # only ever inside JSON strings, where it means the same
    return f'<script type="application/json" id="flow-data">{text}</script>'


def _chart(
    graph: FlowGraph,
    report: Report | None,
    figures: Figures,
    timeout: float,
    *,
    depth: int | None,
    min_share: float,
) -> str:
    shape = {"min_count": figures.min_count, "depth": depth, "min_share": min_share}
    if shutil.which("dot") is not None:
        svg = draw(graph, "svg", timeout=timeout, legend=False, **shape).decode("utf-8")
        shown = visible(graph, depth=depth, min_share=min_share).scenes
        names = sorted({(s.ending_title or s.title) for s in shown})
        # the name as the option's text (its value by default), never in an attribute
        options = "".join(f"<option>{html_text(n)}</option>" for n in names)
        return (
            '<div class="tools"><input id="find" type="search" list="scene-names" '
            'placeholder="Find a scene by name" aria-label="Find a scene">'
            f'<datalist id="scene-names">{options}</datalist>'
            '<button id="go" type="button">Find</button>'
            '<button id="zoom-in" type="button" title="Zoom in">+</button>'
            '<button id="zoom-out" type="button" title="Zoom out">\u2212</button>'
            '<button id="fit" type="button">Fit</button><span id="found"></span></div>'
            + _legend(not graph.telemetry)
            + '<div class="split"><div class="chart" id="chart"><div id="canvas">'
            + inline_svg(svg)
            + '</div></div><aside class="panel" id="panel"><p>Click a scene to see its '
            "numbers, or find one by name. Drag to move, scroll or use + and \u2212 to "
            "zoom.</p></aside></div>"
            + _data_block(scene_data(graph, report, figures, depth=depth, min_share=min_share))
            + f"<script>{SCRIPT}</script>"
        )
    console = Console(width=110, color_system=None, record=True, file=io.StringIO())
    console.print(
        Flowchart(
            graph, depth=depth, min_share=min_share, min_count=figures.min_count, header=False
        )
    )
    return (
        '<p class="note">Graphviz is not installed, so the flowchart is shown as text '
        "(install the graphviz package for the drawing).</p>"
        f"<pre>{html_text(console.export_text())}</pre>"
    )


def to_html(
    graph: FlowGraph,
    report: Report | None = None,
    *,
    min_count: int = 0,
    depth: int | None = None,
    min_share: float = 0.0,
    layout_timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """The whole page."""
    figures = Figures(min_count)
    about = "which way viewers went" if graph.telemetry else "the story map"
    sentence = UNIT_SENTENCE[graph.unit] if graph.telemetry else MAP_SENTENCE
    parts = [
        f"<h1>{html_text(graph.title)}: {html_text(about)}</h1>",
        f'<p class="meta">{html_text(sentence)}</p>',
        f'<p class="meta">From {html_text(graph.source)} · '
        f"{html_text(graph.filters)}"
        + (f" · counts below {min_count} hidden" if min_count else "")
        + "</p>",
    ]
    parts += [f'<p class="note">{html_text(note)}</p>' for note in graph.notes]
    parts.append(
        _chart(
            graph,
            report,
            figures,
            layout_timeout,
            depth=depth,
            min_share=min_share,
        )
    )
    parts.append(_table(graph_sheet(graph), figures))
    if report is not None:
        parts += [_table(sheet, figures) for sheet in report_tables(report)]
    title = html_text(f"{graph.title}: flowchart")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
