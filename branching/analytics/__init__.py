"""Read-only analytics of the telemetry: what viewers chose, as plain dataclasses.

Two calls answer the two producer commands:
- `flow_graph(story, db=..., filters=..., unit=..., counts_csv=...)` -> `FlowGraph`,
  the story graph with the traffic of every scene and choice (`flow.py`);
- `build_report(story, db=..., filters=..., unit=...)` -> `Report`, every
  figure of `branching stats` (`report.py`).

`make_filters` builds the selection from what a user typed (`filters.py`).
The package never writes: it opens the database read-only and only creates a
TEMP table of the chosen sessions. Modules: `shape` (the story graph from
YAML or the stored structure), `source` (opening, versions), `filters`,
`graph` (FlowGraph and its three sources), `flow`, `metrics`, `walks`
(per-session replays: paths, progress, no-difference), `segments`, `rows`
(the report's dataclasses), `report`. The names below are imported when first
used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from branching.lazy import exports

if TYPE_CHECKING:
    from branching.analytics.filters import UNITS, Filters, Unit, make_filters
    from branching.analytics.flow import flow_graph, read_counts
    from branching.analytics.graph import FlowEdge, FlowGraph, FlowScene
    from branching.analytics.report import build_report
    from branching.analytics.rows import Report
    from branching.analytics.shape import AnalyticsError, Shape

# name -> the module that defines it, imported on first use (PEP 562): `flowchart`
# never imports the stats report (`report` and the walks, the verdicts, the segments
# with it; with `render`'s the same, 0.15-0.2 s of CPU off every flowchart's start)
_LAZY = {
    "UNITS": "filters",
    "Filters": "filters",
    "Unit": "filters",
    "make_filters": "filters",
    "flow_graph": "flow",
    "read_counts": "flow",
    "FlowEdge": "graph",
    "FlowGraph": "graph",
    "FlowScene": "graph",
    "build_report": "report",
    "Report": "rows",
    "AnalyticsError": "shape",
    "Shape": "shape",
}

__getattr__, __dir__ = exports(__name__, _LAZY)

__all__ = [
    "UNITS",
    "AnalyticsError",
    "Filters",
    "FlowEdge",
    "FlowGraph",
    "FlowScene",
    "Report",
    "Shape",
    "Unit",
    "build_report",
    "flow_graph",
    "make_filters",
    "read_counts",
]
