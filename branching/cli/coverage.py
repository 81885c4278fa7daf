"""`branching coverage`: every scene and choice, statically, in simulation, and by real viewers.

A thin command over `analytics.coverage`: one table (text, JSON or CSV) and an
exit status a CI job can use: 1 when a row has a verdict named by `--fail-on`
(default: `unreachable`), 3 when the exploration stopped before it finished
(so "unreachable" could not be proven), else 0.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

import click

from branching.cli.main import cli

if TYPE_CHECKING:
    from branching.analytics.coverage import Coverage


@cli.command()
@click.argument("story", type=click.Path())
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    envvar="BRANCHING_DB",
    default=None,
    help="Telemetry database for the real-viewer column (default: none).",
)
@click.option(
    "--runs",
    type=click.IntRange(1),
    default=200,
    show_default=True,
    help="Seeded simulated runs (least-used strategy).",
)
@click.option(
    "--rare",
    type=click.FloatRange(0, 100),
    default=5.0,
    show_default=True,
    metavar="PERCENT",
    help="Reached by fewer than this share of the runs: rare.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the simulated runs.")
@click.option(
    "--max-states",
    type=click.IntRange(1),
    default=None,
    help="Stop the exploration after this many states (default: no bound; the "
    "explorer stops at half the machine's memory).",
)
@click.option(
    "--fail-on",
    default="unreachable",
    show_default=True,
    metavar="VERDICTS",
    help="Comma-separated verdicts that make the exit status 1: unreachable, "
    "'never seen', rare (or none).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "csv"]),
    default="text",
    show_default=True,
    help="Plain text, JSON or CSV.",
)
@click.option("--all", "show_all", is_flag=True, help="In text, list the rows that are ok too.")
def coverage(
    story: str,
    db: str | None,
    runs: int,
    rare: float,
    seed: int,
    max_states: int | None,
    fail_on: str,
    fmt: str,
    show_all: bool,
) -> None:
    """Which scenes and choices of STORY no one can reach, few reach, and no real viewer reached.

    Three views side by side: the explorer (statically unreachable), RUNS
    seeded simulated runs preferring the option taken least so far (rarely
    reached), and the telemetry in --db (never reached by real viewers;
    simulated sessions are left out). Exit status 1 when a row's verdict is
    in --fail-on, 3 when the exploration could not finish, else 0.
    """
    from branching.analytics.coverage import VERDICTS
    from branching.analytics.coverage import coverage as cover
    from branching.cli.simulate import load_named

    wanted = frozenset(v.strip() for v in fail_on.split(",") if v.strip() and v.strip() != "none")
    failable = [v for v in VERDICTS if v != "ok"]
    unknown = wanted - set(failable)
    if unknown:
        raise click.BadParameter(
            f"unknown verdict(s) {', '.join(sorted(unknown))}; use {', '.join(failable)}",
            param_hint="--fail-on",
        )
    loaded = load_named(story)
    if db is not None:
        from branching.store.paths import db_path

        db = str(db_path(db))
    table = cover(loaded, runs=runs, rare=rare / 100, seed=seed, db=db, max_states=max_states)
    if fmt == "json":
        from branching.escape import json_text

        click.echo(json_text(table.as_dict(), indent=2))
    elif fmt == "csv":
        click.echo(_csv(table), nl=False)
    else:
        from branching.render.coverage import coverage_text

        click.echo(coverage_text(table, show_all=show_all))
    if table.failing(wanted):
        raise SystemExit(1)
    if not table.explored_complete:
        raise SystemExit(3)


def _csv(table: Coverage) -> str:
    from branching.escape import csv_cell

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = [
        "kind",
        "scene",
        "choice",
        "title",
        "chapter",
        "static",
        "simulated_runs",
        "real_viewers",
        "verdict",
    ]
    writer.writerow(columns)
    for row in table.rows:
        data = row.as_dict()
        writer.writerow(["" if v is None else csv_cell(v) for v in map(data.get, columns)])
    return out.getvalue()
