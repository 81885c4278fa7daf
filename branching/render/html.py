"""One self-contained HTML file a producer can mail: the flowchart plus the tables.

Nothing in it is fetched: the CSS is inline, the flowchart is an inline SVG
drawn by Graphviz (its XML prolog, DOCTYPE and namespace attributes, which
name w3.org addresses, are removed: HTML5 does not need them), and there are
no scripts, fonts or images from elsewhere. Without Graphviz the terminal
flowchart is embedded as text instead, with a note saying how to get the
drawing. Every string from a story or the database is escaped by
`branching.escape.html_text` (control characters made visible, then
`html.escape`); the SVG's text was escaped for DOT (`dot_string`) and then by
Graphviz as XML, so nothing in the data can add an element, an attribute or a
script to the page.
"""

from __future__ import annotations

import io
import re
import shutil

from rich.console import Console

from branching.analytics.graph import FlowGraph
from branching.analytics.rows import Report
from branching.escape import html_text
from branching.render.dot import run_dot, to_dot
from branching.render.figures import UNIT_SENTENCE, Figures
from branching.render.flowchart import Flowchart
from branching.render.tables import Column, Sheet, report_tables

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 2em auto; max-width: 72em; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 2em; }
p.meta, caption { color: #555; } p.note { color: #8a5a00; }
.chart { overflow-x: auto; border: 1px solid #ddd; border-radius: 6px; padding: .5em; }
.chart svg { max-width: 100%; height: auto; }
pre { font: 13px/1.3 ui-monospace, Menlo, Consolas, monospace; overflow-x: auto; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
caption { caption-side: bottom; text-align: left; font-size: .9em; padding-top: .3em; }
th, td { padding: .25em .7em; border-bottom: 1px solid #e4e4e4; vertical-align: top; }
th { text-align: left; background: #f4f6f8; } td.n { text-align: right;
font-variant-numeric: tabular-nums; }
"""
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


def graph_sheet(graph: FlowGraph) -> Sheet:
    """The flowchart's own figures as a table: every edge with its count and share."""
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


def _chart(graph: FlowGraph, *, min_count: int, depth: int | None, min_share: float) -> str:
    if shutil.which("dot") is not None:
        svg = run_dot(
            to_dot(graph, min_count=min_count, depth=depth, min_share=min_share), "svg"
        ).decode("utf-8")
        return f'<div class="chart">{inline_svg(svg)}</div>'
    console = Console(width=110, color_system=None, record=True, file=io.StringIO())
    console.print(
        Flowchart(graph, depth=depth, min_share=min_share, min_count=min_count, header=False)
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
) -> str:
    """The whole page."""
    figures = Figures(min_count)
    parts = [
        f"<h1>{html_text(graph.title)}: which way viewers went</h1>",
        f'<p class="meta">{html_text(UNIT_SENTENCE[graph.unit])}</p>',
        f'<p class="meta">From {html_text(graph.source)} · '
        f"{html_text(graph.filters)}"
        + (f" · counts below {min_count} hidden" if min_count else "")
        + "</p>",
    ]
    parts += [f'<p class="note">{html_text(note)}</p>' for note in graph.notes]
    parts.append(_chart(graph, min_count=min_count, depth=depth, min_share=min_share))
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
