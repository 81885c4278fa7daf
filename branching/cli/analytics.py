"""`branching stats` and `branching flowchart`: what viewers chose, for producers.

Thin commands (STYLE habit 14): parse the options, make one analytics call
(`build_report` or `flow_graph`), hand the result to one renderer, write it.
Library errors become click errors with the error's title; heavy imports
happen inside the commands so `branching --help` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from branching.analytics.rows import TABLES as TABLE_NAMES
from branching.cli.main import cli

if TYPE_CHECKING:
    from branching.analytics.filters import Unit

F = TypeVar("F", bound=Callable[..., Any])
# an HTML flowchart adds the stats tables (read from the raw events, a pass over
# every event of the chosen sessions) only up to this many scene views in the
# selection, whatever the figures come from, so the page stays under a second
HTML_REPORT_VIEWS = 25_000
FLOW_FORMATS = ("terminal", "dot", "svg", "png", "mermaid", "html", "json")

# `--by`: what every producer figure counts (stats and the dashboard share it)
by_unit = click.option(
    "--by",
    "unit",
    type=click.Choice(["sessions", "viewers"]),
    default="sessions",
    show_default=True,
    help="Count sessions (playthroughs) or unique viewers.",
)


class Percent(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.4, its parameters differ by release
    """A share typed as a percentage: `5`, `5%` or `2.5` (percent) -> 0.05."""

    name = "PERCENT"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        text = str(value).strip().rstrip("%")
        try:
            number = float(text)
        except ValueError:
            self.fail(f"{value!r} is not a percentage (e.g. 5 or 5%)", param, ctx)
        if not 0 <= number <= 100:
            self.fail(f"{value!r} is not between 0 and 100", param, ctx)
        return number / 100


def source_option(fn: F) -> F:
    """`--source`: read a Parquet export through DuckDB or Spark instead of the database."""
    return click.option(
        "--source",
        default=None,
        metavar="KIND:PATH",
        help="Where the figures come from: parquet:OUT/ (DuckDB over the folder "
        "`export --format parquet` wrote), spark:OUT/ (Spark SQL over it), or "
        "sqlite:FILE. Default: the database (--db).",
    )(fn)


def _checked_source(source: str | None) -> str | None:
    """`source` once its engine is known to be installed (else one line, exit status 2)."""
    if source:
        from branching.analytics.engines import MissingExtra, check_source

        try:
            check_source(source)
        except MissingExtra as exc:
            raise _NeedsEngine(str(exc)) from None
    return source


class _NeedsEngine(click.ClickException):
    """The engine a `--source` names is not installed: one line, exit status 2."""

    exit_code = 2


def selection_options(fn: F) -> F:
    """The options every analytics command shares: database, filters, small counts."""
    options = [
        click.option(
            "--db",
            type=click.Path(dir_okay=False),
            envvar="BRANCHING_DB",
            help="Telemetry database (default: BRANCHING_DB or the user data folder).",
        ),
        click.option(
            "--version",
            "version",
            default=None,
            metavar="HASH|LABEL",
            help="Only this story version: a content hash (or its first characters) "
            "or the author's version label. Default: all versions.",
        ),
        click.option(
            "--since",
            default=None,
            metavar="DATE",
            help="Only sessions started on or after DATE (YYYY-MM-DD[THH:MM], UTC).",
        ),
        click.option(
            "--until",
            default=None,
            metavar="DATE",
            help="Only sessions started before DATE; a bare date includes that day.",
        ),
        click.option(
            "--where",
            "where",
            multiple=True,
            metavar="KEY=VALUE",
            help="Only sessions with this viewer attribute, e.g. region=NL "
            "(repeat: all must hold).",
        ),
        click.option(
            "--first-only", is_flag=True, help="Only the first playthrough of each viewer."
        ),
        click.option(
            "--audience",
            type=click.Choice(["auto", "real", "simulated", "all"]),
            default="auto",
            show_default=True,
            help="Real viewers, simulated sessions (branching simulate) or all; auto: "
            "real viewers wherever the story has any, else the simulated ones.",
        ),
        click.option(
            "--min-count",
            type=click.IntRange(0),
            default=0,
            show_default=True,
            metavar="K",
            help="Hide every count below K (and its percentage) in "
            "the output, for sharing outside the team.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _filters(
    since: str | None,
    until: str | None,
    version: str | None,
    where: tuple[str, ...],
    first_only: bool,
    audience: str = "auto",
) -> Any:
    from branching.analytics import make_filters

    return make_filters(
        since=since,
        until=until,
        version=version,
        where=where,
        first_only=first_only,
        audience=audience,
    )


def _db(db: str | None, *, needed: bool = True) -> str | None:
    """The database to read; None when it is not needed and none was named."""
    from branching.store.paths import db_path

    return str(db_path(db)) if db or needed else None


def _write(data: str | bytes, output: str | None) -> None:
    if output is None:
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            click.echo(data, nl=False)
        return
    from branching.store.paths import private_output

    try:
        with private_output(output) as out:  # viewer data: 0600, never a symlink
            out.write(data if isinstance(data, bytes) else data.encode("utf-8"))
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None


@cli.command()
@click.argument("story", required=False)
@selection_options
@source_option
@by_unit
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "text", "json", "csv"]),
    default="table",
    show_default=True,
    help="table: Rich tables on a terminal, plain aligned text when piped or "
    "written to a file; text: always plain text; json; csv (one table).",
)
@click.option(
    "--table",
    "tables",
    multiple=True,
    type=click.Choice(TABLE_NAMES),
    help="Show only these tables (repeatable); CSV needs exactly one (default: choices).",
)
@click.option(
    "--top",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="How many of the most common complete paths to list.",
)
@click.option(
    "--flag-min",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="Decisions a choice point needs before it is flagged.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write to this file instead of standard output.",
)
def stats(
    story: str | None,
    db: str | None,
    version: str | None,
    since: str | None,
    until: str | None,
    where: tuple[str, ...],
    first_only: bool,
    audience: str,
    min_count: int,
    source: str | None,
    unit: str,
    fmt: str,
    tables: tuple[str, ...],
    top: int,
    flag_min: int,
    output: str | None,
) -> None:
    """Print what viewers of STORY chose: reach, choices, timeouts, drop-off, endings...

    STORY is a story file or folder, or a story id recorded in the database;
    without it, the stories in the database are listed. Every table states
    what it counts (sessions or unique viewers) and of what. Piped or written
    to a file, tables are plain text as wide as their content: every value.
    With --source the figures come from a Parquet export (DuckDB or Spark),
    the same figures as from the database it was exported from.
    """
    from branching.analytics import build_report
    from branching.render.report_io import sheet_csv, sheets_json
    from branching.render.tables import report_tables

    if fmt == "csv" and len(tables) > 1:
        raise click.UsageError("CSV holds one table: give a single --table")
    source = _checked_source(source)
    if story is None and source:
        _export_stories(source)
    if story is None:
        _list_stories(
            db, fmt, min_count, output, picked=(version, since, until, where, first_only, tables)
        )
        return
    filters = _filters(since, until, version, where, first_only, audience)
    shown = tables or (("choices",) if fmt == "csv" else TABLE_NAMES)
    report = build_report(
        story,
        db=None if source else _db(db),
        unit=cast("Unit", unit),
        filters=filters,
        top=top,
        flag_min=flag_min,
        source=source,
        tables=shown,
    )
    if fmt == "csv":
        sheets = report_tables(report, shown, ids=True)
        _write(sheet_csv(sheets[0], min_count=min_count), output)
    elif fmt == "json":
        sheets = report_tables(report, shown, ids=True)
        _write(sheets_json(report, sheets, min_count=min_count), output)
    else:
        _print_sheets(report_tables(report, shown), fmt, min_count, output)


def _export_stories(source: str) -> None:
    """`stats --source` without a STORY: one line naming the stories of the export."""
    from branching.analytics.engines import open_engine
    from branching.analytics.source import story_ids

    engine = open_engine(None, source)
    try:
        ids = story_ids(engine)
    finally:
        engine.close()
    held = ", ".join(ids) if ids else "no story"
    raise click.ClickException(f"name a STORY: {engine.label} holds {held}")


def _list_stories(
    db: str | None, fmt: str, min_count: int, output: str | None, *, picked: tuple[Any, ...]
) -> None:
    """`branching stats` without a STORY: the stories the database holds."""
    from branching.analytics.stories import recorded_stories
    from branching.render.report_io import sheet_csv, stories_json
    from branching.render.tables import stories_sheet

    if any(picked):
        raise click.UsageError(
            "--version, --since, --until, --where, --first-only and --table need a STORY "
            "(without one, stats lists the stories in the database)"
        )
    path = str(_db(db))
    sheet = stories_sheet(recorded_stories(path), path)
    if fmt == "csv":
        _write(sheet_csv(sheet, min_count=min_count), output)
    elif fmt == "json":
        _write(stories_json(sheet, min_count=min_count), output)
    else:
        _print_sheets([sheet.for_people()], fmt, min_count, output)


def _print_sheets(sheets: list[Any], fmt: str, min_count: int, output: str | None) -> None:
    """Rich tables on a terminal; plain aligned text otherwise (or with --format text)."""
    from rich.console import Console
    from rich.text import Text

    from branching.render.figures import Figures
    from branching.render.sheet_text import plain_text, rich_table

    figures = Figures(min_count)
    if output is not None or fmt == "text" or not sys.stdout.isatty():
        _write("\n".join(plain_text(sheet, figures) for sheet in sheets), output)
        return
    console = Console()
    for sheet in sheets:
        drawn = rich_table(
            sheet, figures, ascii_only=console.options.ascii_only, width=console.width
        )
        console.print(drawn, soft_wrap=isinstance(drawn, Text))  # plain: the terminal wraps
        console.print()


@cli.command()
@click.argument("story")
@selection_options
@source_option
@click.option(
    "--by",
    "unit",
    type=click.Choice(["sessions", "viewers", "times", "choices"]),
    default="sessions",
    show_default=True,
    help="Count sessions (playthroughs), unique viewers, or times taken: every pass "
    "through a choice, loops and rewinds included (fast: read from the running totals; "
    "'choices' is its old name).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FLOW_FORMATS),
    default="terminal",
    show_default=True,
    help="terminal, dot, svg/png (needs Graphviz), mermaid, "
    "html (one self-contained file) or json.",
)
@click.option(
    "--overview/--full",
    "view",
    default=None,
    help="One box per chapter, or every scene. Default: the overview when the drawing "
    "would hold more than 60 boxes (svg, png, html, dot, mermaid); every scene in the "
    "terminal and JSON.",
)
@click.option(
    "--chapter",
    default=None,
    metavar="NAME",
    help="Draw one chapter in full (a name, or its start), with boxes for the ways in and out.",
)
@click.option(
    "--around",
    "around_scene",
    default=None,
    metavar="SCENE",
    help="Draw the scenes at most --depth steps (default 2) before or after SCENE (id or title).",
)
@click.option(
    "--depth",
    type=click.IntRange(0),
    default=None,
    help="Draw only scenes at most this many choices from the start "
    "(with --around: steps either way).",
)
@click.option(
    "--min-share",
    type=Percent(),
    default=0.0,
    help="Fold choices taken, and scenes visited, less than this percentage of the time "
    "(scenes: one 'rarely visited' box per chapter in the drawn formats).",
)
@click.option(
    "--layout-timeout",
    type=click.FloatRange(0.5),
    default=20.0,
    show_default=True,
    metavar="SECONDS",
    help="Time Graphviz may take to lay out svg/png/html before simpler layouts are tried.",
)
@click.option(
    "--counts",
    "counts",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE.csv",
    help="Draw per-choice counts computed elsewhere: columns scene,choice,target,count[,timeouts].",
)
@click.option(
    "--map",
    "story_map",
    is_flag=True,
    help="Draw the story map: scenes, choices with their conditions, endings and chapters, "
    "no counts (drawn anyway when there is no database or no recording of the story).",
)
@click.option("--ascii", "ascii_only", is_flag=True, help="Only ASCII characters.")
@click.option(
    "--width",
    type=click.IntRange(40),
    default=None,
    help="Columns for the terminal flowchart (default: the terminal's width).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write to this file instead of standard output (needed for png on a terminal).",
)
def flowchart(
    story: str,
    db: str | None,
    version: str | None,
    since: str | None,
    until: str | None,
    where: tuple[str, ...],
    first_only: bool,
    audience: str,
    min_count: int,
    source: str | None,
    unit: str,
    fmt: str,
    view: bool | None,
    chapter: str | None,
    around_scene: str | None,
    depth: int | None,
    min_share: float,
    layout_timeout: float,
    counts: str | None,
    story_map: bool,
    ascii_only: bool,
    width: int | None,
    output: str | None,
) -> None:
    """Draw the flowchart of STORY with the share of sessions on every choice.

    STORY is a story file or folder, a bundled story's name, or a story id
    recorded in the database (its structure is stored there). Counts are
    sessions unless --by says otherwise; without filters and counting times
    taken (--by times), the figures come from the running totals and draw in
    milliseconds. With no database (or --map) it is the story map: the
    structure alone. A big story is drawn as a chapter overview; --chapter and
    --around zoom in.
    """
    from branching.analytics import flow_graph
    from branching.analytics.overview import pick_view

    if fmt == "png" and output is None and sys.stdout.isatty():
        raise click.UsageError("PNG is binary: write it to a file with -o FILE.png")
    if chapter is not None and around_scene is not None:
        raise click.UsageError("give --chapter or --around, not both")
    if story_map and counts is not None:
        raise click.UsageError("give --map or --counts, not both")
    filters = _filters(since, until, version, where, first_only, audience)
    source = _checked_source(source)
    database = None if source else _flow_db(db, story, counts)
    if min_share and (story_map or (database is None and counts is None and not source)):
        raise click.UsageError("--min-share folds by traffic: the story map has none")
    graph = flow_graph(
        story,
        db=database,
        filters=filters,
        unit=cast("Unit", unit),
        counts_csv=counts,
        story_map=story_map,
        source=source,
    )
    drawn = fmt not in ("terminal", "json")
    chosen = {True: "overview", False: "full", None: "auto" if drawn else "full"}[view]
    picture = pick_view(
        graph,
        view=chosen,
        chapter=chapter,
        around_scene=around_scene,
        depth=depth if depth is not None else 2,
        min_share=min_share if drawn else 0.0,
        collapse=drawn,
    )
    if around_scene is not None:
        depth = None  # spent on the neighbourhood
    data = _render(
        picture,
        fmt,
        story=story,
        db=db,
        filters=filters,
        counts=counts,
        depth=depth,
        min_share=min_share,
        min_count=min_count,
        ascii_only=ascii_only,
        width=width,
        output=output,
        layout_timeout=layout_timeout,
        whole=graph,
        source=source,
    )
    if data is not None:
        _write(data, output)


def _flow_db(db: str | None, story: str, counts: str | None) -> str | None:
    """The database the flowchart reads; None draws the story map (or the counts file).

    A database that is named (--db, BRANCHING_DB) must exist; the default one
    may be absent: then there is nothing recorded, and the story map is drawn.
    """
    from branching.store.paths import db_path

    if db:
        return str(db_path(db))
    if counts is not None and Path(story).exists():
        return None
    default = db_path(None)
    return str(default) if default.exists() else None


def _render(
    graph: Any,
    fmt: str,
    *,
    story: str,
    db: str | None,
    filters: Any,
    counts: str | None,
    depth: int | None,
    min_share: float,
    min_count: int,
    ascii_only: bool,
    width: int | None,
    output: str | None,
    layout_timeout: float,
    whole: Any,
    source: str | None = None,
) -> str | bytes | None:
    from branching import render
    from branching.analytics.overview import chapter_overview

    shape: dict[str, Any] = {"min_count": min_count, "depth": depth, "min_share": min_share}
    if fmt == "terminal":
        return render.terminal(graph, ascii_only=ascii_only, width=width, output=output, **shape)
    if fmt == "json":
        return render.to_json(graph, min_count=min_count)
    if fmt == "mermaid":
        try:
            return render.to_mermaid(graph, **shape)
        except render.TooManyEdges:  # never a diagram Mermaid refuses
            overview = chapter_overview(whole)
            note = "more edges than Mermaid draws (500): this is the chapter overview"
            return render.to_mermaid(replace(overview, notes=(*overview.notes, note)), **shape)
    if fmt == "dot":
        return render.to_dot(graph, **shape)
    if fmt in ("svg", "png"):
        return render.draw(graph, fmt, timeout=layout_timeout, **shape)
    report = None
    views = whole.views or 0
    if counts is None and whole.telemetry and source:
        note = "the stats tables are left out: they are read from the SQLite database (--db)"
        graph = replace(graph, notes=(*graph.notes, note))
    elif counts is None and whole.telemetry and views > HTML_REPORT_VIEWS:
        note = (
            f"the stats tables are left out: {views:,} scene views would take long to read "
            "from the raw events (branching stats prints them; narrower filters put them back)"
        )
        graph = replace(graph, notes=(*graph.notes, note))
    elif counts is None and whole.telemetry:
        from branching.analytics import build_report

        unit = graph.unit if graph.unit != "times" else "sessions"
        report = build_report(
            story,
            db=_db(db),
            unit=cast("Unit", unit),
            filters=filters,
        )
    return render.to_html(graph, report, layout_timeout=layout_timeout, **shape)
