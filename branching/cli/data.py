"""Commands over recorded telemetry: export, merge, forget, prune.

Each command is one library call in `branching.store`; store errors become
click errors (exit 1) and bad dates or options usage errors (exit 2), never
tracebacks (see `cli.errors`). `--db` defaults to `$BRANCHING_DB`, else the database players
record to in the user data directory.

`export` only reads: it opens the file query-only (`db.reader`), so it works
on a database in a read-only folder and never creates, migrates or changes
one (nor the viewer key). Files it writes are private (`paths.private_output`).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import click

from branching.cli.errors import bad_option
from branching.cli.main import cli

DB_HELP = "Telemetry database (default: $BRANCHING_DB, else the user data dir)."
KEY_HELP = "Viewer key file used when recording (default: this user's key)."


def _resolve_db(given: Path | None) -> Path:
    """`--db` (here named `db_path`), else `BRANCHING_DB`, else the default."""
    from branching.store.paths import db_path

    return db_path(given)


def _db_option(func: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=DB_HELP,
    )(func)


def _key_option(func: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--viewer-key", type=click.Path(dir_okay=False, path_type=Path), default=None, help=KEY_HELP
    )(func)


def _cutoff(value: str, option: str) -> str:
    """A date the user typed, as a stored timestamp; a bad one is a usage error."""
    from branching.store import InvalidInput
    from branching.store.clock import parse_cutoff

    try:
        return parse_cutoff(value)
    except InvalidInput as exc:
        raise bad_option(exc, option) from None


def _maybe_cutoff(value: str | None, option: str) -> str | None:
    return None if value is None else _cutoff(value, option)


@contextmanager
def _output(path: Path | None, fmt: str) -> Iterator[TextIO]:
    from branching.store.paths import private_output

    if path is None or str(path) == "-":
        yield sys.stdout
        return
    try:
        raw = private_output(path)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None
    with io.TextIOWrapper(raw, encoding="utf-8", newline="" if fmt == "csv" else None) as out:
        yield out


@cli.command()
@_db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "parquet"]),
    default="jsonl",
    show_default=True,
    help="JSON lines (one object per event), CSV, or Parquet datasets in the folder OUT "
    "(needs pip install 'branching[parquet]').",
)
@click.option("--story", default=None, help="Only this story id (jsonl, csv).")
@click.option(
    "--since",
    default=None,
    help="Only events at or after this date/time (YYYY-MM-DD[THH:MM], UTC if no offset).",
)
@click.option(
    "--until",
    default=None,
    help="Only events before this date/time (YYYY-MM-DD[THH:MM], UTC if no offset).",
)
@click.option("--viewer", default=None, help="Only this viewer's data (their name, as recorded).")
@_key_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (created 0600) instead of standard output.",
)
@click.argument("out_dir", metavar="[OUT]", required=False, type=click.Path(path_type=Path))
def export(
    db_path: Path | None,
    fmt: str,
    story: str | None,
    since: str | None,
    until: str | None,
    viewer: str | None,
    viewer_key: Path | None,
    output: Path | None,
    out_dir: Path | None,
) -> None:
    """Export recorded playthroughs, one row per event, streaming.

    Each row carries the event and its session: story, version, viewer id
    (a keyed hash, never the name), outcome, terminal, locale and attributes.
    `--viewer NAME` gives one viewer all of their own data.

    `--format parquet OUT` writes Parquet datasets into the folder OUT
    (events partitioned by story and day, sessions, attributes, stories) and,
    run again, adds only the events recorded since.
    """
    if fmt == "parquet":
        _export_parquet(db_path, out_dir, output, (story, since, until, viewer))
        return
    if out_dir is not None:
        raise click.UsageError(f"OUT is for --format parquet; write {fmt} with -o FILE")
    from branching.store import db
    from branching.store.export import ExportFilter, count_rows, write_export
    from branching.store.viewers import lookup_id

    since_ts, until_ts = _maybe_cutoff(since, "--since"), _maybe_cutoff(until, "--until")
    path = _resolve_db(db_path)
    conn = db.reader(path)
    try:
        vid = lookup_id(conn, path, viewer, viewer_key) if viewer is not None else None
        filt = ExportFilter(story=story, since=since_ts, until=until_ts, viewer_id=vid)
        _warn_spooled(path)
        with _output(output, fmt) as out:
            show = sys.stderr.isatty() and (output is not None or not sys.stdout.isatty())
            if not show:
                write_export(conn, out, fmt, filt)
                return
            with _progress(count_rows(conn, filt)) as advance:
                write_export(conn, out, fmt, filt, progress=advance)
    finally:
        conn.close()


class _NeedsExtra(click.ClickException):
    """An optional dependency is missing: one line, exit status 2."""

    exit_code = 2


def _export_parquet(
    db_path: Path | None,
    out_dir: Path | None,
    output: Path | None,
    filters: tuple[str | None, ...],
) -> None:
    """`export --format parquet OUT`: the whole database, adding only what is new."""
    from branching.store import db
    from branching.store.parquet import available, export_parquet, missing_pyarrow

    if out_dir is None or output is not None:
        raise click.UsageError(
            "--format parquet writes into a folder: branching export --format parquet OUT (not -o)"
        )
    if any(f is not None for f in filters):
        raise click.UsageError(
            "--format parquet exports everything, so that it can add only what is new; "
            "--story, --since, --until and --viewer are for jsonl and csv (filter in your "
            "query engine instead)"
        )
    if not available():
        raise _NeedsExtra(missing_pyarrow())
    path = _resolve_db(db_path)
    conn = db.reader(path)
    try:
        _warn_spooled(path)
        if sys.stderr.isatty():
            total = int(conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])
            with _progress(total) as advance:
                result = export_parquet(conn, out_dir, str(path), progress=advance)
        else:
            result = export_parquet(conn, out_dir, str(path))
    finally:
        conn.close()
    click.echo(
        f"{out_dir}: +{result.events} events ({result.sessions_with_new_events} sessions) "
        f"in {result.files} new files; {result.total_events} events in all, "
        f"{result.sessions} sessions (run {result.run})"
    )
    if result.gone:
        click.secho(
            f"{result.gone} sessions exported earlier are no longer in the database "
            f"(forgotten or erased); their events are still in {out_dir}/events: export "
            "into a new folder to leave them out",
            err=True,
            fg="yellow",
        )


def _warn_spooled(path: Path) -> None:
    """Say so when records wait in the spool: reading commands do not load it."""
    from branching.store import spool
    from branching.store.paths import spool_path

    waiting = [f for f in spool.files(spool_path(path))[:-1] if f.exists() and f.stat().st_size]
    if waiting:
        click.secho(
            f"{waiting[0]} holds records not yet in the database, so not in this export; "
            "the next `branching play` (or `forget`, `prune`) loads them",
            err=True,
            fg="yellow",
        )


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None]]:
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("Exporting", total=total)
        yield lambda n: progress.advance(task, n)


@cli.command()
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("sources", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def merge(target: Path, sources: tuple[Path, ...]) -> None:
    """Merge SOURCES (e.g. kiosks' databases) into TARGET, created if missing.

    Idempotent: events are matched by their id, so merging the same source
    twice adds nothing the second time. Totals are rebuilt afterwards.
    """
    from branching.store.merge import merge as merge_dbs

    results = merge_dbs(target, list(sources))
    for r in results:
        click.echo(
            f"{r.source}: +{r.events} events, +{r.sessions} sessions, +{r.stories} story versions"
        )
        if r.conflicts:
            click.secho(
                f"{r.source}: {r.conflicts} events clash with different events of the "
                "same playthrough in the target; the target's were kept",
                err=True,
                fg="yellow",
            )
        if r.source_pruned:
            click.secho(
                f"{r.source}: was pruned; counts of its pruned events are not merged",
                err=True,
                fg="yellow",
            )
        for refused in r.refused:  # rows that broke the schema's rules (see store.vetting)
            plural = "" if refused.count == 1 else "s"
            events = f" ({_count(refused.events, 'event')})" if refused.events else ""
            click.secho(
                f"{r.source}: refused {refused.count} {refused.what}{plural}{events}: "
                f"{refused.reason}",
                err=True,
                fg="yellow",
            )


@cli.command()
@click.argument("viewer", required=False)
@click.option(
    "--simulated",
    is_flag=True,
    help="Instead of a viewer: delete the sessions `branching simulate` played.",
)
@click.option("--story", default=None, help="With --simulated: only this story's sessions.")
@_db_option
@_key_option
def forget(
    viewer: str | None,
    simulated: bool,
    story: str | None,
    db_path: Path | None,
    viewer_key: Path | None,
) -> None:
    """Delete every recorded row of VIEWER (their name) and every byte of their id.

    Rebuilds the totals, then compacts the file so nothing of the viewer
    remains in the database, its log or the spool. `--simulated` (no VIEWER)
    deletes a synthetic audience instead, of one `--story` or all.
    """
    from branching.store.erase import forget as forget_viewer

    if simulated == (viewer is not None):
        raise click.UsageError("name a VIEWER to forget, or give --simulated (not both)")
    if story is not None and not simulated:
        raise click.UsageError("--story goes with --simulated")
    path = _resolve_db(db_path)
    if simulated:
        from branching.store.erase import forget_simulated

        sessions, events = forget_simulated(path, story)
        which = f" of {story}" if story else ""
        click.echo(
            f"Deleted {_count(sessions, 'simulated session')}{which} "
            f"({_count(events, 'event')}) from {path}; totals rebuilt and the file compacted."
        )
        return
    assert viewer is not None
    result = forget_viewer(path, viewer, viewer_key=viewer_key)
    if not (result.sessions or result.spooled):
        click.echo(f"Nothing of {viewer} is recorded in {path}; nothing was deleted.")
    else:
        spooled = f", {_count(result.spooled, 'spooled record')}" if result.spooled else ""
        click.echo(
            f"Forgot {viewer}: {_count(result.sessions, 'playthrough')}, "
            f"{_count(result.events, 'event')}{spooled} deleted from {path}; "
            "totals rebuilt and the file compacted."
        )
    if result.unfinished:
        click.echo(
            f"{_count(result.unfinished, 'playthrough')} of {viewer} "
            f"{'was' if result.unfinished == 1 else 'were'} still in progress: "
            f"anything a player still open sends for {'it' if result.unfinished == 1 else 'them'} "
            "is dropped."
        )
    if not result.fully_erased:
        raise click.ClickException(
            "the rows are deleted, but another program has the database open so its log "
            "still holds old pages; close it and run this command again"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


@cli.command()
@click.option(
    "--before",
    required=True,
    help="Drop raw events older than this past date/time (YYYY-MM-DD[THH:MM], UTC if no offset).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be dropped; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask (needed when not on a terminal).")
@_db_option
def prune(before: str, dry_run: bool, yes: bool, db_path: Path | None) -> None:
    """Drop raw events older than a date; the per-choice totals are kept.

    Sessions stay (for sessions-per-ending and drop-off); playthroughs whose
    events are pruned can no longer be resumed or exported event by event.
    Shows what would go and asks first on a terminal (--yes for scripts,
    --dry-run to only look); a date in the future is refused.
    """
    from branching.store.clock import now_ts
    from branching.store.erase import prune as prune_events
    from branching.store.erase import prune_plan

    cutoff = _cutoff(before, "--before")
    if cutoff > now_ts():
        raise click.BadParameter(
            f"{before} is in the future: prune drops events recorded before a past date",
            param_hint="--before",
        )
    path = _resolve_db(db_path)
    plan = prune_plan(path, cutoff)
    if plan.events == 0:
        click.echo(f"Nothing to drop: no event in {path} was recorded before {plan.cutoff}.")
        return
    what = (
        f"{plan.events:,} events of {_count(plan.sessions, 'playthrough')} recorded "
        f"from {plan.first} to {plan.last} (before {plan.cutoff}); {plan.kept:,} later "
        "events stay"
    )
    if plan.unfinished:
        what += f"; {_count(plan.unfinished, 'unfinished playthrough')} could no longer be resumed"
    if dry_run:
        click.echo(f"Would drop {what}. Nothing was changed (--dry-run).")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise click.ClickException(
                f"prune would drop {what}: pass --yes to confirm (or --dry-run to look first)"
            )
        click.confirm(f"Drop {what}?", abort=True)
    result = prune_events(path, cutoff)
    click.echo(f"Dropped {result.events} events recorded before {result.cutoff}.")
