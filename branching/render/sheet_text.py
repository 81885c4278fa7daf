"""A sheet laid out in columns of characters: Rich on a terminal, plain text elsewhere.

`branching stats | cat` must carry every value, so a table that leaves the
terminal is plain aligned text at the width of its content (`plain_text`):
one line per row, numbers right-aligned, nothing wrapped or cropped (a long
label stays whole). On a terminal `rich_table` keeps the Rich table, with
widths chosen by `fit_widths`: a figure is never wrapped nor cut (its column
is as wide as its widest value), text columns give up width first, and when
even the figures do not fit, the table is the plain layout instead. The
dashboard draws the same sheets as panels (`rich_table(panel=True)`).

`plain_lines` and `fit_widths` are pure functions over strings (cells already
formatted and escaped), so the layout is tested without a story or console.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich import box
from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from branching.escape import terminal_line
from branching.render.bars import SHARE_WIDTH, share_cell
from branching.render.figures import Figures
from branching.render.sheet import Sheet

NUMERIC = frozenset({"count", "share", "ms", "number", "integer"})  # right-aligned, never wrapped
GAP = "  "
TEXT_MIN = 10  # a text column is wrapped down to this many characters, no further


def _longest_word(texts: Sequence[str]) -> int:
    return max((cell_len(w) for t in texts for w in t.split()), default=1)


def _pad(text: str, width: int, right: bool) -> str:
    space = " " * max(0, width - cell_len(text))
    return space + text if right else text + space


def plain_lines(
    title: str,
    caption: str,
    headers: Sequence[str],
    kinds: Sequence[str],
    cells: Sequence[Sequence[str]],
) -> str:
    """The table as aligned text, as wide as its widest row; ends with a newline."""
    widths = [
        max([cell_len(h), *(cell_len(row[i]) for row in cells)]) for i, h in enumerate(headers)
    ]
    right = [kind in NUMERIC for kind in kinds]

    def line(values: Sequence[str]) -> str:
        return GAP.join(_pad(v, w, r) for v, w, r in zip(values, widths, right, strict=True))

    out = [title]
    if caption:
        out.append(caption)
    out += ["", line(headers).rstrip(), GAP.join("-" * w for w in widths)]
    out += [line(row).rstrip() for row in cells] if cells else ["(none)"]
    return "\n".join(out) + "\n"


def fit_widths(
    headers: Sequence[str],
    kinds: Sequence[str],
    cells: Sequence[Sequence[str]],
    available: int,
) -> list[int] | None:
    """Content widths for each column so the table fits `available` characters, or None.

    `available` is what is left for the cells once the table's padding and
    rules are counted. A figure column is as wide as its widest value (its
    header may wrap between words); text columns shrink, widest first, down
    to `TEXT_MIN` (or their natural width, if smaller). None: the figures
    alone do not fit, so no Rich table can show every value.
    """
    widths, floors = [], []
    for i, (header, kind) in enumerate(zip(headers, kinds, strict=True)):
        column = [row[i] for row in cells]
        if kind in NUMERIC:
            width = max([_longest_word([header]), *(cell_len(v) for v in column)])
            widths.append(width)
            floors.append(width)
        else:
            width = max([cell_len(header), *(cell_len(v) for v in column)])
            widths.append(width)
            floors.append(min(width, TEXT_MIN))
    if sum(floors) > available:
        return None
    excess = sum(widths) - available
    while excess > 0:
        widest = max(
            (i for i in range(len(widths)) if widths[i] > floors[i]), key=lambda i: widths[i]
        )
        widths[widest] -= 1
        excess -= 1
    return widths


def plain_text(sheet: Sheet, figures: Figures, clean: Callable[[str], str] = terminal_line) -> str:
    """`sheet` as aligned plain text at the width of its content: every value whole."""
    cells = [
        [clean(sheet.cell(row, i, figures)) for i in range(len(sheet.columns))]
        for row in sheet.rows
    ]
    return plain_lines(
        clean(sheet.title),
        clean(sheet.caption),
        [clean(c.name) for c in sheet.columns],
        [c.kind for c in sheet.columns],
        cells,
    )


def rich_table(
    sheet: Sheet,
    figures: Figures,
    *,
    ascii_only: bool = False,
    panel: bool = False,
    clean: Callable[[str], str] = terminal_line,
    width: int | None = None,
) -> RenderableType:
    """`sheet` as a Rich table, its caption stating the denominator.

    As `branching stats` prints it: the title and caption frame the table,
    shares are percentages, figures are never wrapped or cut, and text
    columns wrap to fit `width` (the terminal's). When even the figures do not
    fit, the result is the plain layout (`plain_text`) as a `Text` that must
    not be wrapped (print it with `soft_wrap=True`): every value stays whole.
    With `panel` (the dashboard's tabs): the title and caption are lines above
    a table without edges, and each share gets a bar beside its percentage.
    Every cell is a `Text`, never markup (labels and titles come from stories,
    attribute values and terminal names from viewers); `clean` is applied to
    each string shown: by default `branching.escape.terminal_line`, which makes
    control characters visible and keeps each value on its line.
    """
    cells = [
        [clean(sheet.cell(row, i, figures)) for i in range(len(sheet.columns))]
        for row in sheet.rows
    ]
    widths: list[int] | None = None
    if not panel and width is not None:
        n = len(sheet.columns)
        # no edges: between two columns, one space of rule and one of padding each side
        widths = fit_widths(
            [clean(c.name) for c in sheet.columns],
            [c.kind for c in sheet.columns],
            cells,
            width - 3 * (n - 1),
        )
        if widths is None:
            return Text(plain_text(sheet, figures, clean).rstrip("\n"), no_wrap=True)
    frame = box.ASCII if ascii_only else box.SIMPLE_HEAD
    if panel:
        table = Table(box=frame, show_edge=False, pad_edge=False)
    else:
        table = Table(
            title=Text(clean(sheet.title), style="bold"),
            caption=Text(clean(sheet.caption), style="dim") if sheet.caption else None,
            title_justify="left",
            caption_justify="left",
            box=frame,
            show_edge=False,
            pad_edge=False,
        )
    for i, column in enumerate(sheet.columns):
        bars = panel and column.kind == "share"
        right = column.kind in NUMERIC and not bars
        min_width: int | None = SHARE_WIDTH if bars else None
        if not panel and widths is None:
            words = [w for text in [column.name, *(r[i] for r in cells)] for w in text.split()]
            longest = max((len(w) for w in words), default=1)
            min_width = longest if right else min(longest, 12)
        table.add_column(
            Text(clean(column.name)),
            justify="right" if right else "left",
            overflow="fold",
            no_wrap=bars,
            min_width=min_width,
            width=None if widths is None else widths[i],
        )
    for row, row_cells in zip(sheet.rows, cells, strict=True):
        table.add_row(
            *(
                share_cell(row[i], text) if panel and column.kind == "share" else Text(text)
                for i, (column, text) in enumerate(zip(sheet.columns, row_cells, strict=True))
            )
        )
    if not sheet.rows:
        none: RenderableType = Text("(none)", style="dim") if panel else "(none)"
        table.add_row(none, *([""] * (len(sheet.columns) - 1)))
    if not panel:
        return table
    head = [Text(clean(sheet.title), style="bold")]
    if sheet.caption:
        head.append(Text(clean(sheet.caption), style="dim"))
    return Group(*head, table)
