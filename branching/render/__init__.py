"""Drawing the aggregated story graph and the stats, in every format producers use.

`flowchart.Flowchart` is the terminal flowchart (a Rich renderable, also used
by the Textual dashboard); `dot`, `mermaid`, `json` and `html` export the same
`FlowGraph`; `tables` and `report_io` draw `branching stats`. Nothing here
queries a database: renderers take the plain values `branching.analytics`
returns, so a graph from the running totals, from raw events or from a CSV of
counts computed elsewhere draws the same way.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from branching.analytics.graph import FlowGraph
from branching.lazy import exports

if TYPE_CHECKING:
    from branching.render.dot import GraphvizFailed, GraphvizMissing, run_dot, to_dot
    from branching.render.flowchart import Flowchart
    from branching.render.graphviz import DEFAULT_TIMEOUT, draw
    from branching.render.html import to_html
    from branching.render.json import graph_dict, to_json
    from branching.render.mermaid import TooManyEdges, to_mermaid

# name -> the module that defines it, imported on first use (PEP 562): a PNG or JSON
# flowchart imports neither Rich nor the HTML page's code (0.03-0.04 s of its start)
_LAZY = {
    "GraphvizFailed": "dot",
    "GraphvizMissing": "dot",
    "run_dot": "dot",
    "to_dot": "dot",
    "Flowchart": "flowchart",
    "DEFAULT_TIMEOUT": "graphviz",
    "draw": "graphviz",
    "to_html": "html",
    "graph_dict": "json",
    "to_json": "json",
    "TooManyEdges": "mermaid",
    "to_mermaid": "mermaid",
}

__getattr__, __dir__ = exports(__name__, _LAZY)

DEFAULT_FILE_WIDTH = 100

__all__ = [
    "Flowchart",
    "GraphvizFailed",
    "GraphvizMissing",
    "DEFAULT_TIMEOUT",
    "TooManyEdges",
    "draw",
    "graph_dict",
    "run_dot",
    "terminal",
    "to_dot",
    "to_html",
    "to_json",
    "to_mermaid",
]


def terminal(
    graph: FlowGraph,
    *,
    depth: int | None = None,
    min_share: float = 0.0,
    min_count: int = 0,
    ascii_only: bool = False,
    width: int | None = None,
    output: str | None = None,
) -> str | None:
    """Print the flowchart to the terminal (None), or return it as plain text for a file."""
    from rich.console import Console

    from branching.render.flowchart import Flowchart

    chart = Flowchart(
        graph,
        depth=depth,
        min_share=min_share,
        min_count=min_count,
        ascii_only=True if ascii_only else None,
    )
    if output is None:
        Console(width=width).print(chart)
        return None
    buffer = io.StringIO()
    Console(file=buffer, width=width or DEFAULT_FILE_WIDTH, color_system=None).print(chart)
    return buffer.getvalue()
