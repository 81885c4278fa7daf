"""`branching simulate` and `branching demo`: synthetic audiences, the producer's side in seconds.

Thin commands: parse the options into an `Audience`, run the simulation into
the store's bulk writer with a Rich progress bar when stderr is a terminal
(nothing on a pipe), print one summary. `demo` simulates an audience for the
showcase story into a temporary database and opens the dashboard on it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from branching.cli.main import cli, interactive

if TYPE_CHECKING:
    from branching.simulate.audience import Audience
    from branching.store.bulk import BulkCounts
    from branching.story.model import Story


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date: use YYYY-MM-DD", param_hint=option
        ) from None


share = click.FloatRange(0.0, 1.0)


@cli.command()
@click.argument("story", type=click.Path())
@click.option(
    "--sessions",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Playthroughs to simulate.",
)
@click.option(
    "--viewers",
    type=click.IntRange(1),
    default=None,
    help="Distinct viewers; the other sessions are viewers playing again. "
    "Default: half the sessions.",
)
@click.option(
    "--strategy",
    type=click.Choice(["random", "least-used", "default"]),
    default="random",
    show_default=True,
    help="random; least-used (cover the story: the option taken least so far); "
    "default (the clock always chooses).",
)
@click.option(
    "--persona",
    "persona_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML file of personas: weights by choice id or tag, mixed by share.",
)
@click.option("--seed", type=int, default=None, help="Same seed, same rows (default: random).")
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    envvar="BRANCHING_DB",
    default=None,
    help="Telemetry database to add them to (default: BRANCHING_DB or the user data folder).",
)
@click.option(
    "--from", "start", default=None, metavar="DATE", help="First day (default: 30 days ago, UTC)."
)
@click.option(
    "--to", "end", default=None, metavar="DATE", help="Last day (default: yesterday, UTC)."
)
@click.option(
    "--abandon",
    type=share,
    default=0.03,
    show_default=True,
    help="Chance to give up at each choice point.",
)
@click.option(
    "--timeouts",
    type=share,
    default=0.1,
    show_default=True,
    help="Share of timed decisions the clock makes.",
)
@click.option(
    "--back",
    type=share,
    default=0.02,
    show_default=True,
    help="Chance to go back one choice at a choice point.",
)
@click.option(
    "--pause",
    type=share,
    default=0.01,
    show_default=True,
    help="Chance to pause at a choice point.",
)
@click.option(
    "--replay",
    type=share,
    default=0.5,
    show_default=True,
    help="Chance that a viewer who finished plays again.",
)
@click.option(
    "--attr-share",
    multiple=True,
    metavar="KEY=V:SHARE,...",
    help="Viewer attribute shares, e.g. region=NL:0.5,UK:0.5 (repeat; replaces the "
    "default region and device shares; --attr-share none records no attributes).",
)
@click.option(
    "--jobs",
    type=click.IntRange(1),
    default=None,
    help="Processes that play the audience (default: one per core, at most 2). "
    "The rows are the same for any number.",
)
def simulate(
    story: str,
    sessions: int,
    viewers: int | None,
    strategy: str,
    persona_file: str | None,
    seed: int | None,
    db: str | None,
    start: str | None,
    end: str | None,
    abandon: float,
    timeouts: float,
    back: float,
    pause: float,
    replay: float,
    attr_share: tuple[str, ...],
    jobs: int | None,
) -> None:
    """Record SESSIONS simulated playthroughs of STORY, marked as simulated.

    The playthroughs go through the real engine and are written through the
    store with the same rows and running totals as real ones; the analytics
    leave them out wherever real viewers exist, and say so. The same --seed
    (and dates) gives byte-for-byte the same rows.
    """
    from branching.simulate.audience import DEFAULT_ATTRS, Audience, parse_share_option
    from branching.simulate.personas import load_personas
    from branching.store.context import ATTRS_MAX
    from branching.store.paths import db_path

    loaded = load_named(story)
    attrs: dict[str, dict[str, float]] = dict(DEFAULT_ATTRS)
    if attr_share:
        attrs = {}
        for item in attr_share:
            if item.strip().lower() == "none":
                continue
            key, shares = parse_share_option(item)
            attrs[key] = shares
        if len(attrs) > ATTRS_MAX:
            raise click.UsageError(f"at most {ATTRS_MAX} attributes are recorded per session")
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "big") >> 1
    fields: dict[str, Any] = {}
    first, last = _date(start, "--from"), _date(end, "--to")
    if first is not None:
        fields["start"] = first
    if last is not None:
        fields["end"] = last
    audience = Audience(
        sessions=sessions,
        viewers=viewers or max(1, sessions // 2),
        seed=seed,
        strategy=strategy,
        personas=load_personas(persona_file, loaded) if persona_file else (),
        abandon=abandon,
        timeouts=timeouts,
        back=back,
        pause=pause,
        replay=replay,
        attrs=attrs,
        **fields,
    )
    target = db_path(Path(db) if db else None)
    counts = run_simulation(loaded, audience, target, jobs=jobs)
    click.echo(
        f"Simulated {counts.sessions:,} session(s) of '{loaded.title}' by "
        f"{min(audience.viewers, sessions):,} viewer(s) (seed {seed}): "
        f"{counts.events:,} events in {target}."
    )
    if counts.skipped:
        click.echo(f"{counts.skipped:,} record(s) were already there and were not added again.")
    click.echo(
        "They are marked as simulated: the analytics leave them out where real "
        "viewers exist (--audience to choose)."
    )


def load_named(path: str) -> Story:
    """The story at `path` (or the bundled story of that name), as `play` loads it."""
    from branching.cli.playing import story_path
    from branching.cli.story import _load

    return _load(story_path(path))


def run_simulation(
    story: Story, audience: Audience, target: Path, jobs: int | None = None
) -> BulkCounts:
    """Simulate `audience` into `target`, with a progress bar on a terminal.

    `jobs` processes play the audience's streams (default: one per core, up
    to the streams there are); the rows are the same for any number.
    """
    from branching.simulate.parallel import rare_collections, simulate_parallel
    from branching.simulate.run import SHARDS
    from branching.store.bulk import BulkWriter

    if jobs is None:
        jobs = min(SHARDS, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    with rare_collections(), BulkWriter(target) as writer:
        batches = simulate_parallel(story, audience, jobs)
        if not sys.stderr.isatty():
            for ops in batches:
                writer.add(ops)
            return writer.counts
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        columns = (
            TextColumn("simulating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("sessions", total=audience.sessions, rate="")
            writer.add(next(batches))  # the story's registration
            for done, ops in enumerate(batches, start=1):
                writer.add(ops)
                if done % 200 == 0 or done == audience.sessions:
                    speed = progress.tasks[0].speed or 0.0
                    progress.update(task, completed=done, rate=f"{speed:,.0f} sessions/s")
        return writer.counts


@cli.command()
@click.option(
    "--sessions",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Playthroughs to simulate.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the audience.")
@click.option(
    "--keep",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the demo database here and keep it (default: a temporary file, removed after).",
)
def demo(sessions: int, seed: int, keep: str | None) -> None:
    """Simulate an audience for the showcase story and open the dashboard on it."""
    from branching.simulate.audience import Audience
    from branching.story.bundled import bundled_story

    found = bundled_story("signal")
    if found is None:
        raise click.ClickException("this installation has no bundled stories to simulate")
    story = load_named(str(found))
    audience = Audience(sessions=sessions, viewers=max(1, sessions * 2 // 3), seed=seed)
    with tempfile.TemporaryDirectory(prefix="branching-demo-") as tmp:
        target = Path(keep) if keep else Path(tmp) / "demo.db"
        counts = run_simulation(story, audience, target)
        if not interactive():
            click.echo(
                f"Simulated {counts.sessions:,} sessions ({counts.events:,} events) of "
                f"'{story.title}' into {target}. Run this on a terminal to open the "
                f"dashboard, or: branching stats {story.id} --db {target}"
            )
            return
        from branching.tui.dashboard import build_dashboard

        build_dashboard(target, story.id).run()
