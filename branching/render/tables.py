"""`branching stats` as tables: one neutral description, drawn as Rich, CSV, JSON or HTML.

`report_tables(report)` turns a `Report` into `Sheet`s (title, a caption that
states the denominator, typed columns, raw rows). Every output format reads
the same sheets, so the terminal, the CSV and the mailed HTML never disagree.
Columns are typed: a `count` is hidden below `--min-count`, and a `share`
names the count column it was computed from, so it is hidden with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from branching.analytics.rows import Report
from branching.escape import terminal_line
from branching.render.bars import SHARE_WIDTH, share_cell
from branching.render.figures import Figures, seconds

UNIT_NAME = {"sessions": "sessions", "viewers": "unique viewers"}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: str = "text"  # text, count, share, ms, number
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


C = Column
TABLES = (
    "overview",
    "reach",
    "choices",
    "timing",
    "dropoff",
    "endings",
    "paths",
    "interactions",
    "progress",
    "segments",
    "tags",
    "flags",
    "unreached",
)


def report_tables(report: Report, names: tuple[str, ...] = TABLES) -> list[Sheet]:
    """The sheets named (all by default), in the order of TABLES."""
    unit = UNIT_NAME[report.overview.unit]
    builders = {name: globals()[f"_{name}"] for name in TABLES}
    return [builders[name](report, unit) for name in TABLES if name in names]


def _overview(r: Report, unit: str) -> Sheet:
    o = r.overview
    rows: list[tuple[Any, ...]] = [
        ("story", f"{o.title} ({o.story_id})"),
        ("versions", ", ".join(o.versions)),
        ("selection", o.filters),
        ("counted in", unit),
        ("sessions", f"{o.sessions:,}"),
        ("unique viewers", f"{o.viewers:,}"),
        ("reached an ending", f"{o.completed:,} of {o.started:,} {unit}"),
        ("first / last session", f"{o.first_started or '-'} / {o.last_started or '-'}"),
    ]
    if o.pruned_choices:
        rows.append(
            (
                "pruned",
                f"{o.pruned_choices:,} older choices are no longer in the raw "
                "events; these figures leave them out",
            )
        )
    completion = Sheet("overview", "Overview", "", (C("what"), C("value")), tuple(rows))
    if o.started and o.completed is not None:
        completion = Sheet(
            "overview",
            "Overview",
            f"Completion: {o.completed / o.started * 100:.1f}% of {unit}",
            completion.columns,
            completion.rows,
        )
    return completion


def _reach(r: Report, unit: str) -> Sheet:
    return Sheet(
        "reach",
        "Reach of each scene",
        f"{unit} that entered the scene, of the {r.overview.started:,} {unit} that started",
        (
            C("scene"),
            C("chapter"),
            C("kind"),
            C(unit, "count"),
            C("reach", "share", 3),
            C("visits (every time)", "count"),
        ),
        tuple((x.title, x.chapter or "", x.kind, x.reached, x.share, x.visits) for x in r.reach),
    )


def _choices(r: Report, unit: str) -> Sheet:
    return Sheet(
        "choices",
        "Choices at each choice point",
        f"{unit} that took the choice, of the {unit} that reached its scene "
        "(a looping viewer can take two, so a scene can add up to more than 100%)",
        (
            C("scene"),
            C("choice"),
            C("goes to"),
            C(unit, "count"),
            C("share", "share", 3),
            C("times taken", "count"),
            C("by the clock", "count"),
        ),
        tuple(
            (
                x.scene_title,
                x.label + (" (retired)" if x.retired else ""),
                x.target,
                x.count,
                x.share,
                x.times,
                x.timeouts,
            )
            for x in r.choices
        ),
    )


def _timing(r: Report, unit: str) -> Sheet:
    return Sheet(
        "timing",
        "Time to decide and timeouts",
        "timeouts of all decisions made there (the clock 'chose' when the timer ran "
        "out and the default was taken); time to decide over the choices viewers "
        "made themselves",
        (
            C("choice point"),
            C("timer"),
            C("decisions", "count"),
            C("timeouts", "count"),
            C("rate", "share", 3),
            C(f"{unit} timed out", "count"),
            C("median", "ms"),
            C("p90", "ms"),
        ),
        tuple(
            (
                t.title,
                f"{t.timer:g} s" if t.timer else "none",
                t.decisions,
                t.timeouts,
                t.timeout_rate,
                t.timed_out,
                t.median_ms,
                t.p90_ms,
            )
            for t in r.timing
        ),
    )


def _dropoff(r: Report, unit: str) -> Sheet:
    return Sheet(
        "dropoff",
        "Where viewers stopped",
        f"{unit} whose last scene was this one without an ending, of the {unit} "
        "that reached it (unfinished sessions may still resume)",
        (
            C("scene"),
            C(f"{unit} reached", "count"),
            C("left here", "count"),
            C("drop-off", "share", 2),
            C("of which unfinished", "count"),
        ),
        tuple((d.title, d.reached, d.left, d.rate, d.unfinished) for d in r.dropoff),
    )


def _endings(r: Report, unit: str) -> Sheet:
    rows = [(e.title, e.kind, e.count, e.share) for e in r.endings]
    rows += [(f"all {k.kind} endings", k.kind, k.count, k.share) for k in r.ending_kinds]
    return Sheet(
        "endings",
        "Endings",
        f"{unit} whose playthrough ended there, of the {r.overview.started:,} {unit} "
        "that started (the last ending reached counts)",
        (C("ending"), C("kind"), C(unit, "count"), C("share", "share", 2)),
        tuple(rows),
    )


def _paths(r: Report, unit: str) -> Sheet:
    rows = [
        ("other paths" if p.other else " › ".join(p.steps), p.ending, p.count, p.share)
        for p in r.paths
    ]
    return Sheet(
        "paths",
        "Most common complete paths",
        f"{unit} that reached an ending by exactly these choices (after going back), "
        "of all who reached an ending",
        (C("choices taken"), C("ending"), C(unit, "count"), C("share", "share", 2)),
        tuple(rows),
    )


def _interactions(r: Report, unit: str) -> Sheet:
    return Sheet(
        "interactions",
        "Going back, pauses and skipped text",
        f"{unit} who went back to the scene, paused or skipped its text reveal there",
        (
            C("scene"),
            C(f"{unit} reached", "count"),
            C("went back here", "count"),
            C("paused", "count"),
            C("skipped text", "count"),
        ),
        tuple((i.title, i.reached, i.rewinds, i.pauses, i.skips) for i in r.interactions),
    )


def _progress(r: Report, unit: str) -> Sheet:
    return Sheet(
        "progress",
        "How far sessions got",
        f"{unit} by the number of choices made (net of going back) before the "
        "playthrough ended or stopped",
        (C("choices made"), C("reached an ending", "count"), C("stopped", "count")),
        tuple((p.choices, p.ended, p.left) for p in r.progress),
    )


def _segments(r: Report, unit: str) -> Sheet:
    return Sheet(
        "segments",
        "Breakdowns",
        f"{unit} in each segment and how many reached an ending; local time is the "
        "session's start in the viewer's own time zone",
        (
            C("by"),
            C("segment"),
            C(unit, "count"),
            C("reached an ending", "count"),
            C("completion", "share", 2),
            C("choices per session", "number"),
        ),
        tuple(
            (s.dimension, s.value, s.count, s.completed, s.completion_rate, s.choices_per_session)
            for s in r.segments
        ),
    )


def _tags(r: Report, unit: str) -> Sheet:
    rows = [
        (
            t.tag,
            "taken when offered" if t.where == "choice" else "scenes reached",
            t.base,
            t.count,
            t.share,
        )
        for t in r.tags
    ]
    return Sheet(
        "tags",
        "By tag",
        f"choice tags: {unit} that took a tagged choice, of those who reached a scene "
        f"offering one; scene tags: {unit} that entered a tagged scene, of all",
        (
            C("tag"),
            C("measure"),
            C(f"{unit} (base)", "count"),
            C(unit, "count"),
            C("share", "share", 3),
        ),
        tuple(rows),
    )


def _flags(r: Report, unit: str) -> Sheet:
    return Sheet(
        "flags",
        "Worth a look",
        "lopsided: one option over 90% of decisions; timeouts: the clock chose over "
        "a third of the time; no-difference: the branches rejoin with the same state",
        (C("flag"), C("scene"), C("why")),
        tuple((f.kind, f.title, f.detail) for f in r.flags),
    )


def _unreached(r: Report, unit: str) -> Sheet:
    rows = [("scene", s, "") for s in r.unreached_scenes]
    rows += [("choice", s, c) for s, c in r.unreached_choices]
    return Sheet(
        "unreached",
        "Never reached",
        "scenes no selected session entered, and choices nobody took",
        (C("what"), C("scene"), C("choice")),
        tuple(rows),
    )


def rich_table(
    sheet: Sheet,
    figures: Figures,
    *,
    ascii_only: bool = False,
    panel: bool = False,
    clean: Callable[[str], str] = terminal_line,
) -> RenderableType:
    """`sheet` as a Rich table, its caption stating the denominator.

    As `branching stats` prints it: the title and caption frame the table,
    shares are percentages, and no column is narrower than its longest word.
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
        )
    for i, column in enumerate(sheet.columns):
        bars = panel and column.kind == "share"
        right = column.kind in ("count", "ms", "number") or (column.kind == "share" and not bars)
        min_width: int | None = SHARE_WIDTH if bars else None
        if not panel:
            words = [w for text in [column.name, *(r[i] for r in cells)] for w in text.split()]
            longest = max((len(w) for w in words), default=1)
            min_width = longest if right else min(longest, 12)
        table.add_column(
            Text(clean(column.name)),
            justify="right" if right else "left",
            overflow="fold",
            no_wrap=bars,
            min_width=min_width,
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
