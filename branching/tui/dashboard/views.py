"""The dashboard's figures as Rich renderables: the totals header and each tab's tables.

Tables come from the same `Sheet`s `branching stats` prints, drawn by the same
`render.sheet_text.rich_table` (as a `panel`), so the dashboard, the terminal
tables and the mailed HTML state the same denominators in the same words.
Every cell is a Rich `Text` (a plain string cell is parsed as console markup,
and a story label like `[red]` would be lost or break the table); anything
from a story or the database goes through `tui.common.text.clean` so control
characters are shown, never sent.

Shares get a small bar beside the percentage (`render.bars`, as in the
flowchart), so a producer sees at a glance which way viewers went. No textual
here: these are plain Rich objects that a `Static` displays at whatever width
it has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from branching.analytics.rows import ChoiceShare, Report, Timing
from branching.render.bars import SHARE_WIDTH, share_cell
from branching.render.figures import UNIT_SHORT, Figures, seconds
from branching.render.flowchart import Flowchart
from branching.render.sheet_text import rich_table
from branching.render.tables import UNIT_NAME, Column, Sheet, report_tables
from branching.tui.common.text import clean
from branching.tui.dashboard.data import StoryView


def literal(text: object, style: str = "") -> Text:
    """A story or database string, shown exactly as written (never markup)."""
    return Text(clean("" if text is None else str(text)), style=style)


# what a body's drawing depends on besides its content: every console option but the
# height (`ByWidth`)
_LAYOUT = (
    "size",
    "legacy_windows",
    "min_width",
    "max_width",
    "is_terminal",
    "encoding",
    "justify",
    "overflow",
    "no_wrap",
    "highlight",
    "markup",
)


class ByWidth:
    """A tab's body, laid out by width alone and drawn once per width.

    Textual draws a widget's content twice each time it changes: once to count
    its lines (the layout, with no height), then the lines shown (with the
    widget's height), and again when the widget's height changes (the header's
    "still reading" line goes). A big tab (the Choices tab's hundreds of rows)
    takes 0.1-0.5 s of the UI thread each time, while a tab switch waits.
    None of the bodies reads the height (text, tables, the flowchart: Textual
    crops the lines to it), so the segments drawn for a width serve every draw
    at that width: `renderable` is drawn with no height.
    """

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable
        self._drawn: tuple[object, list[Segment]] | None = None  # (console and options, lines)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        key = (console, *(getattr(options, name) for name in _LAYOUT))
        if self._drawn is None or self._drawn[0] != key:
            segments = list(console.render(self.renderable, options.update(height=None)))
            self._drawn = (key, segments)
        yield from self._drawn[1]

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.renderable)


# -- the header ------------------------------------------------------------------------


def totals(
    view: StoryView,
    updated: str | None,
    *,
    report: Report | None = None,
) -> RenderableType:
    """Three lines: the story, its totals, and the selection they cover.

    `report` is the one on show when it is not `view.report`.
    """
    report = report or view.report
    o = report.overview
    f = Figures(view.selection.min_count)
    unit = UNIT_NAME[o.unit]
    story = Text.assemble(literal(o.title, "bold"), " ", literal(f"({o.story_id})", "dim"))
    if o.sessions:
        found = sum(1 for e in report.endings if e.count)
        endings = len(report.endings)
        figures = Text.assemble(
            (f.count(o.sessions), "bold"),
            _noun(o.sessions, " session"),
            " · ",
            (f.count(o.viewers), "bold"),
            _noun(o.viewers, " viewer"),
            " · ",
            (f.rate(o.completion_rate, o.completed), "bold"),
            f" completed ({f.count(o.completed)} of {f.count(o.started)}) · ",
            (f"{found} of {endings}", "bold"),
            " endings found",
        )
    else:
        figures = Text(
            "No sessions match this selection yet: press f to change it, r to look again.",
            style="yellow",
        )
    selection = [o.filters, f"counted in {unit}", view.selection.drawing()]
    lines: list[RenderableType] = [
        _sides(story, Text(f"updated {updated}", style="dim") if updated else Text()),
        figures,
        _sides(
            literal(" · ".join(p for p in selection if p), "dim"), Text("f filters", style="dim")
        ),
    ]
    return Group(*lines)


SCANNED = "paths, flags, time to decide, segments"  # what only a read of every event says


def _percent(done: float) -> str:
    return f"{int(done * 100)}%"


def reading_note(reading: float | None, as_of: str | None) -> Text | None:
    """The header's line on the figures that need every event read (None: all are in).

    `reading`: how far the read under way is (None: none is); `as_of`: when
    the figures on show of that kind were read, if they are older than the rest.
    """
    if reading is None and as_of is None:
        return None
    if as_of is None:
        return Text.assemble(
            ("Still reading every event for ", "yellow"),
            (SCANNED, "yellow"),
            (f": {_percent(reading or 0.0)}", "bold yellow"),
        )
    text = Text(f"{SCANNED[0].upper()}{SCANNED[1:]} as of {as_of}", style="dim")
    if reading is not None:
        text.append(f"; reading again: {_percent(reading)}", style="dim")
    return text


def waiting(reading: float | None, sessions: int) -> Text:
    """A tab that needs every event read, while it is not (or the read failed)."""
    figures = Figures()
    if reading is None:
        return Text(
            "These figures need every event read, and the last read did not finish: "
            "press r to read again.",
            style="yellow",
        )
    filled = int(reading * 20)
    return Text.assemble(
        (
            f"Reading every event of {figures.count(sessions)} "
            f"{'session' if sessions == 1 else 'sessions'}… ",
            "bold",
        ),
        (_percent(reading), "bold"),
        "\n",
        ("█" * filled + "░" * (20 - filled), "cyan"),
        "\n\n",
        (
            "The other tabs are ready. f changes the selection and r reads again: either "
            "stops this read at once.",
            "dim",
        ),
    )


def dropoff_sheet(report: Report) -> Sheet:
    """The drop-off sheet (what `dropoff_only` draws)."""
    return report_tables(report, ("dropoff",))[0]


def dropoff_only(sheet: Sheet, figures: Figures) -> RenderableType:
    """The drop-off table (`dropoff_sheet`) without 'of which unfinished' (only a read of
    the events says)."""
    keep = [i for i, c in enumerate(sheet.columns) if c.name != "of which unfinished"]
    part = Sheet(
        sheet.name,
        sheet.title,
        sheet.caption.replace(" (unfinished sessions may still resume)", ""),
        tuple(sheet.columns[i] for i in keep),
        tuple(tuple(row[i] for i in keep) for row in sheet.rows),
    )
    return Group(rich_table(part, figures, panel=True, clean=clean), Text(""))


def _noun(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def _sides(left: Text, right: Text) -> Table:
    """One line: `left` cut to fit, `right` against the right edge."""
    grid = Table.grid(expand=True)
    grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    grid.add_column(justify="right", no_wrap=True)
    grid.add_row(left, right)
    return grid


# -- tables ------------------------------------------------------------------------------


def tables(sheets: Iterable[Sheet], figures: Figures) -> Group:
    """`sheets`, one table each, a blank line apart."""
    parts: list[RenderableType] = []
    for sheet in sheets:
        parts += [rich_table(sheet, figures, panel=True, clean=clean), Text("")]
    return Group(*parts)


def segments_of(sheets: Sequence[Sheet], figures: Figures) -> Group:
    """The breakdowns from their two sheets (segments, tags): one table per dimension
    (attribute, terminal, hour...), then the tags."""
    sheet, tags = sheets
    parts: list[RenderableType] = [Text(sheet.caption, style="dim"), Text("")]
    dimensions = list(dict.fromkeys(row[0] for row in sheet.rows))
    columns = tuple(
        Column(c.name, c.kind, None if c.of is None else c.of - 1) for c in sheet.columns[1:]
    )
    for dimension in dimensions:
        rows = tuple(row[1:] for row in sheet.rows if row[0] == dimension)
        part = Sheet("segments", f"By {clean(str(dimension))}", "", columns, rows)
        parts += [rich_table(part, figures, panel=True, clean=clean), Text("")]
    if not dimensions:
        parts += [Text("(no sessions in this selection)", style="dim"), Text("")]
    parts.append(tables((tags,), figures))
    return Group(*parts)


# -- the choices tab ------------------------------------------------------------------------


def choice_points(
    report: Report, titles: Mapping[str, str], figures: Figures, *, timed: bool = True
) -> Group:
    """Each choice point: its timing line, then every choice with its share and count.

    `titles` names the scenes a choice goes to (scene id -> title). With
    `timed` False (the events are still being read) the timing lines and the
    'timed out' column say so instead of showing figures.
    """
    unit = UNIT_NAME[report.overview.unit]
    timing = {t.scene: t for t in report.timing}
    by_scene: dict[str, list[ChoiceShare]] = {}
    for choice in report.choices:
        by_scene.setdefault(choice.scene, []).append(choice)
    parts: list[RenderableType] = [
        Text(
            f"Shares are of the {unit} that reached the choice point (a viewer who loops "
            "back can take two choices, so a point can add up to more than 100%). 'Timed out': "
            "times the clock chose that option. Timeouts and time to decide count every "
            "decision made there.",
            style="dim",
        ),
        Text(""),
    ]
    for scene, choices in by_scene.items():
        parts += [_point(choices, timing.get(scene), unit, titles, figures, timed), Text("")]
    if not by_scene:
        parts.append(Text("This story has no choice points.", style="dim"))
    return Group(*parts)


def _timing_line(t: Timing | None, figures: Figures) -> Text:
    if t is None:
        return Text("")
    timer = f"timer {t.timer:g} s" if t.timer else "no timer"
    return Text(
        f"{timer} · {figures.count(t.decisions)} decisions · clock chose "
        f"{figures.count(t.timeouts)} ({figures.rate(t.timeout_rate, t.timeouts)}) · "
        f"median {seconds(t.median_ms)} · p90 {seconds(t.p90_ms)}",
        style="dim",
    )


def _point(
    choices: list[ChoiceShare],
    t: Timing | None,
    unit: str,
    titles: Mapping[str, str],
    figures: Figures,
    timed: bool = True,
) -> RenderableType:
    # the label columns share what the figures leave
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True)
    table.add_column("choice", overflow="fold", ratio=2)
    table.add_column("goes to", overflow="fold", ratio=1)
    table.add_column("share", no_wrap=True, min_width=SHARE_WIDTH)
    table.add_column(unit, justify="right", no_wrap=True)
    table.add_column("timed out", justify="right", no_wrap=True)
    for c in choices:
        label = literal(c.label)
        if c.retired:
            label.append(" (not in this version)", style="dim")
        table.add_row(
            label,
            literal(titles.get(c.target, c.target), "cyan"),
            share_cell(c.share, figures.rate(c.share, c.count)),
            Text(figures.count(c.count)),
            Text(figures.count(c.timeouts) if c.timeouts else "" if timed else "…"),
        )
    line = (
        _timing_line(t, figures)
        if timed
        else Text("timeouts and time to decide: reading every event…", style="dim")
    )
    return Group(literal(choices[0].scene_title, "bold"), line, table)


def flowchart(view: StoryView, drawing: tuple[int | None, float, int]) -> Group:
    """The Flowchart tab: what it counts, then the chart, pruned as `drawing` says
    (depth, smallest share, smallest count shown)."""
    depth, min_share, min_count = drawing
    chart = Flowchart(
        view.graph, depth=depth, min_share=min_share, min_count=min_count, header=False
    )
    return Group(flow_caption(view), Text(""), chart)


def flow_caption(view: StoryView) -> Text:
    """What the flowchart counts and where its figures came from, plus any notes."""
    g = view.graph
    text = Text(f"{UNIT_SHORT[g.unit]} · from {g.source}", style="dim")
    for note in g.notes:
        text.append("\n")
        text.append_text(literal(f"Note: {note}", "yellow"))
    return text
