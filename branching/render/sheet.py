"""A table of `branching stats` as neutral data: typed columns, raw rows, one caption.

`Sheet` is what every output reads (Rich and plain text in `sheet_text`, CSV
and JSON in `report_io`, the HTML report and the dashboard): `cell` writes a
value for people, `raw` for programs, and `for_people` drops the id columns
only programs need. Column kinds say how a value is written and hidden:
`count` hides below `--min-count`, a `share` names the count it was computed
from and hides with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from branching.render.figures import Figures, seconds


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    # text, count (hidden below --min-count), share, ms, number (one decimal), integer
    # (never hidden), when (a time, "-" if none); id: for programs only, always last
    kind: str = "text"
    of: int | None = None  # for a share: the index of the count column it comes from


@dataclass(frozen=True, slots=True)
class Sheet:
    name: str  # the --table name
    title: str
    caption: str  # what the figures count, and of what
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]

    def cell(self, row: tuple[Any, ...], index: int, figures: Figures) -> str:
        """A cell as text for people (hidden figures as '<K' or '-')."""
        column, value = self.columns[index], row[index]
        if column.kind == "count":
            return figures.count(value)
        if column.kind == "share":
            guard = row[column.of] if column.of is not None else None
            return figures.rate(value, guard)
        if column.kind == "ms":
            return seconds(value)
        if column.kind == "number":
            return "-" if value is None else f"{value:.1f}"
        if column.kind == "when":
            return value or "-"
        if column.kind == "integer":
            return "-" if value is None else f"{value:,}"
        return "" if value is None else str(value)

    def raw(self, row: tuple[Any, ...], index: int, figures: Figures) -> Any:
        """A cell for machines: None when hidden, shares as fractions."""
        column, value = self.columns[index], row[index]
        if column.kind == "count":
            return figures.value(value)
        if column.kind == "share":
            guard = row[column.of] if column.of is not None else None
            return None if value is None or figures.hidden(guard) else round(value, 6)
        return value

    def for_people(self) -> Sheet:
        """The sheet without its `id` columns (they come last, so shares keep their `of`)."""
        keep = [i for i, c in enumerate(self.columns) if c.kind != "id"]
        if len(keep) == len(self.columns):
            return self
        assert keep == list(range(len(keep))), "id columns come last"
        rows = tuple(row[: len(keep)] for row in self.rows)
        return Sheet(self.name, self.title, self.caption, self.columns[: len(keep)], rows)
