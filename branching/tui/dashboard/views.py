"""The dashboard's figures as Rich renderables: the totals header and each tab's tables.

Tables come from the same `Sheet`s `branching stats` prints, drawn by the same
`render.tables.rich_table` (as a `panel`), so the dashboard, the terminal
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

from collections.abc import Iterable, Mapping

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from branching.analytics.rows import ChoiceShare, Report, Timing
from branching.render.bars import SHARE_WIDTH, share_cell
from branching.render.figures import UNIT_SHORT, Figures, seconds
from branching.render.tables import UNIT_NAME, Column, Sheet, report_tables, rich_table
from branching.tui.common.text import clean
from branching.tui.dashboard.data import StoryView


def literal(text: object, style: str = "") -> Text:
    """A story or database string, shown exactly as written (never markup)."""
    return Text(clean("" if text is None else str(text)), style=style)


# -- the header ------------------------------------------------------------------------


def totals(view: StoryView, updated: str | None) -> RenderableType:
    """Three lines: the story, its totals, and the selection they cover."""
    o = view.report.overview
    f = Figures(view.selection.min_count)
    unit = UNIT_NAME[o.unit]
    story = Text.assemble(literal(o.title, "bold"), " ", literal(f"({o.story_id})", "dim"))
    if o.sessions:
        found, endings = view.endings_found
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
    return Group(
        _sides(story, Text(f"updated {updated}", style="dim") if updated else Text()),
        figures,
        _sides(
            literal(" · ".join(p for p in selection if p), "dim"), Text("f filters", style="dim")
        ),
    )


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


def sheets(report: Report, names: Iterable[str], figures: Figures) -> Group:
    """The named stats sheets, one table each, a blank line apart."""
    parts: list[RenderableType] = []
    for sheet in report_tables(report, tuple(names)):
        parts += [rich_table(sheet, figures, panel=True, clean=clean), Text("")]
    return Group(*parts)


def segments(report: Report, figures: Figures) -> Group:
    """The breakdowns, one table per dimension (attribute, terminal, hour...), then tags."""
    sheet = report_tables(report, ("segments",))[0]
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
    parts.append(sheets(report, ("tags",), figures))
    return Group(*parts)


# -- the choices tab ------------------------------------------------------------------------


def choice_points(report: Report, titles: Mapping[str, str], figures: Figures) -> Group:
    """Each choice point: its timing line, then every choice with its share and count.

    `titles` names the scenes a choice goes to (scene id -> title).
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
        parts += [_point(choices, timing.get(scene), unit, titles, figures), Text("")]
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
            Text(figures.count(c.timeouts) if c.timeouts else ""),
        )
    return Group(literal(choices[0].scene_title, "bold"), _timing_line(t, figures), table)


def flow_caption(view: StoryView) -> Text:
    """What the flowchart counts and where its figures came from, plus any notes."""
    g = view.graph
    text = Text(f"{UNIT_SHORT[g.unit]} · from {g.source}", style="dim")
    for note in g.notes:
        text.append("\n")
        text.append_text(literal(f"Note: {note}", "yellow"))
    return text
