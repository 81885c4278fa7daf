"""`branching stats --format json|csv`: the report's sheets for other programs.

JSON holds every chosen sheet: its caption (the denominator in words), its
columns and its rows as objects, with hidden figures as `null`. CSV holds one
sheet (a CSV file has one header), the one named by `--table`. Both carry the
sheets' `id` columns (scene, choice and ending ids beside the titles people
read), so a program can join them with the story or the exports.

JSON keeps every string exactly (`branching.escape.json_text` only writes the
characters that drive a terminal as `\\uXXXX`). CSV is for spreadsheets: each
text cell goes through `branching.escape.csv_cell`, so control characters are
visible symbols and a cell that would start a formula (`=`, `+`, `-`, `@`, tab,
CR...) begins with `'`.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from branching.analytics.rows import Report
from branching.escape import csv_cell, json_text
from branching.render.figures import Figures
from branching.render.tables import Sheet

FORMAT = "branching-stats/2"  # 2: "goes to" holds the title; ids in "... id" columns


def _tables(sheets: list[Sheet], figures: Figures) -> dict[str, Any]:
    return {
        sheet.name: {
            "title": sheet.title,
            "denominator": sheet.caption,
            "columns": [c.name for c in sheet.columns],
            "rows": [
                {c.name: sheet.raw(row, i, figures) for i, c in enumerate(sheet.columns)}
                for row in sheet.rows
            ],
        }
        for sheet in sheets
    }


def sheets_json(report: Report, sheets: list[Sheet], *, min_count: int = 0) -> str:
    """The chosen sheets as one JSON document."""
    data: dict[str, Any] = {
        "format": FORMAT,
        "story": report.overview.story_id,
        "unit": report.overview.unit,
        "selection": report.overview.filters,
        "hidden_below": min_count or None,
        "summary": _summary(report, Figures(min_count)),
        "tables": _tables(sheets, Figures(min_count)),
    }
    return json_text(data, indent=2) + "\n"


def _summary(report: Report, figures: Figures) -> dict[str, Any]:
    """The overview as numbers: sessions and viewers, and the completed in the unit."""
    o = report.overview
    rate = figures.share(o.completed, o.started)
    return {
        "sessions": figures.value(o.sessions),
        "viewers": figures.value(o.viewers),
        "started": figures.value(o.started),
        "completed": figures.value(o.completed),
        "completion_rate": None if rate is None else round(rate, 6),
    }


def stories_json(sheet: Sheet, *, min_count: int = 0) -> str:
    """The story list (`branching stats` without a STORY) as JSON: one table, `stories`."""
    data: dict[str, Any] = {
        "format": FORMAT,
        "story": None,
        "hidden_below": min_count or None,
        "tables": _tables([sheet], Figures(min_count)),
    }
    return json_text(data, indent=2) + "\n"


def sheet_csv(sheet: Sheet, *, min_count: int = 0) -> str:
    """One sheet as CSV; hidden figures are empty cells, shares are fractions."""
    figures = Figures(min_count)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([csv_cell(c.name) for c in sheet.columns])
    for row in sheet.rows:
        writer.writerow([csv_cell(sheet.raw(row, i, figures)) for i in range(len(sheet.columns))])
    return out.getvalue()
