"""`branching dashboard`: the producer's full-screen view of what viewers chose.

A thin command (STYLE habit 14): it reads the same selection options as
`stats` and `flowchart` (checked here, so a bad date is a usage error before
the screen clears), finds the database, and runs the one app the factory
`build_dashboard` builds. Textual is imported inside the command, so
`branching --help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import click

from branching.cli.analytics import Percent, by_unit, selection_options
from branching.cli.main import cli, interactive

if TYPE_CHECKING:
    from branching.analytics.filters import Unit


@cli.command()
@click.argument("story", required=False)
@selection_options
@by_unit
@click.option(
    "--min-share",
    type=Percent(),
    default=0.0,
    help="In the flowchart, fold choices taken less than this percentage of the time into one row.",
)
@click.option(
    "--depth",
    type=click.IntRange(0),
    default=None,
    help="In the flowchart, draw only scenes at most this many choices from the start.",
)
@click.option(
    "--refresh",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Read the figures again every SECONDS (for a screen "
    "beside a live kiosk). Default: only when you press r.",
)
@click.option(
    "--export-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder where e writes the HTML export (default: the current folder).",
)
def dashboard(
    story: str | None,
    db: str | None,
    version: str | None,
    since: str | None,
    until: str | None,
    where: tuple[str, ...],
    first_only: bool,
    audience: str,
    min_count: int,
    unit: str,
    min_share: float,
    depth: int | None,
    refresh: float | None,
    export_dir: str | None,
) -> None:
    """Browse what viewers chose, full-screen: totals, flowchart, choices, endings...

    Without STORY it lists every story recorded in the database; STORY (a story
    id, file or folder) opens that story at once. Inside: 1-7 switch tabs, f
    changes the filters, r reads the figures again, e exports the view as HTML,
    ? shows help, q quits. The database is only read, so players can record
    while you watch.
    """
    from branching.tui.dashboard import Selection, build_dashboard

    selection = Selection(
        version=version,
        since=since,
        until=until,
        where=where,
        first_only=first_only,
        audience=audience,
        unit=cast("Unit", unit),
        min_share=min_share,
        depth=depth,
        min_count=min_count,
    )
    selection.filters()  # bad dates or --where items stop here, as usage errors
    from branching.store.paths import db_path

    path = db_path(db)
    if not path.exists():
        raise click.ClickException(
            f"there is no telemetry database at {path}: play a story "
            "first (branching play STORY) or name one with --db"
        )
    if not interactive():
        raise click.ClickException(
            "the dashboard needs a terminal; for output to a pipe or "
            "file use `branching stats` or `branching flowchart`"
        )
    app = build_dashboard(path, story, selection=selection, refresh=refresh, export_dir=export_dir)
    app.run()
    if app.return_code:
        raise SystemExit(app.return_code)
