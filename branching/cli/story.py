"""Commands for authors and viewers: check, explore, schema, play."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from branching.cli.main import cli
from branching.errors import Problem, StoryInvalid, StoryUnreadable

if TYPE_CHECKING:
    from branching.story.model import Story


@dataclass(frozen=True, slots=True)
class _Checked:
    """One story named to `check`: its problems, or why it could not be read."""

    path: str
    problems: list[Problem]
    error: str | None = None


def _load(path: str) -> Story:
    """Load a story for playing or exploring; problems become click errors."""
    from branching.story.loader import load_story

    try:
        return load_story(path)
    except StoryInvalid as exc:
        raise StoryInvalid(exc.problems, path=path) from None


@cli.command()
@click.argument("stories", nargs=-1, required=True, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option("--strict", is_flag=True, help="Treat warnings as failures (exit 1).")
def check(stories: tuple[str, ...], fmt: str, strict: bool) -> None:
    """Check STORIES (files or story folders) and report every problem.

    Each problem is printed as FILE:LINE:COL: error|warning: MESSAGE, in the
    order they appear. Exit status: 0 clean, 1 problems found, 2 a story could
    not be read at all.
    """
    from branching.verify.check import check_path

    results: list[_Checked] = []
    for path in stories:
        try:
            results.append(_Checked(path, check_path(path)))
        except StoryUnreadable as exc:
            results.append(_Checked(path, [], str(exc)))
    unreadable = any(r.error is not None for r in results)
    errors = sum(p.severity == "error" for r in results for p in r.problems)
    warnings = sum(p.severity == "warning" for r in results for p in r.problems)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "stories": [
                        {
                            "path": r.path,
                            "unreadable": r.error,
                            "problems": [p.as_dict() for p in r.problems],
                        }
                        for r in results
                    ],
                    "errors": errors,
                    "warnings": warnings,
                },
                indent=2,
            )
        )
    else:
        for r in results:
            if r.error:
                click.secho(r.error, fg="red", err=True)
            for p in r.problems:
                colour = "red" if p.severity == "error" else "yellow"
                click.echo(
                    f"{p.file}:{p.line}:{p.col}: "
                    + click.style(p.severity, fg=colour, bold=True)
                    + f": {p.message}"
                )
        summary = f"{errors} error(s), {warnings} warning(s) in {len(stories)} story(ies)"
        click.secho(summary, err=True, fg="green" if not (errors or warnings) else None)
    if unreadable:
        sys.exit(2)
    if errors or (strict and warnings):
        sys.exit(1)


EXPLORE_INCOMPLETE = 3  # exit status: stopped early (a limit or Ctrl-C), nothing proven absent


def _size(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    from branching.verify.limits import default_max_memory, parse_size

    if value is None:
        return default_max_memory()
    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@click.argument("story", type=click.Path())
@click.option(
    "--max-states",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many distinct (merged) states (default: no bound).",
)
@click.option(
    "--max-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop after this many seconds (default: no time limit).",
)
@click.option(
    "--max-memory",
    metavar="SIZE",
    default=None,
    callback=_size,
    help="Stop before the process uses more than this much memory, e.g. 500M or 2G "
    "(default: half the memory available when it starts, at most 8G).",
)
@click.option(
    "--raw/--no-raw",
    default=True,
    show_default=True,
    help="Also count the full states, every variable kept (the merged count is always given).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def explore(
    story: str,
    max_states: int | None,
    max_seconds: float | None,
    max_memory: int | None,
    raw: bool,
    fmt: str,
) -> None:
    """Prove which endings, scenes and choices of STORY can be reached; find stuck states.

    Searches every (scene, state) the story can be in and prints, for each
    ending, the shortest sequence of choices (as the plain player numbers
    them) that reaches it; the scenes and choices never reached; states that
    get stuck or from which no ending can be reached any more; and the
    deepest state. On a limit or Ctrl-C it stops cleanly and prints what it
    found so far, marked INCOMPLETE. Exit status: 0 all proven, 1 a problem
    found (stuck or doomed state, unreachable ending), 3 incomplete.
    """
    from branching.verify.explore import explore as run_explore

    loaded = _load(story)
    result = run_explore(
        loaded,
        max_states=max_states,
        max_seconds=max_seconds,
        max_memory=max_memory,
        raw=raw,
        interruptible=True,
        started=lambda: click.echo(
            f"Exploring {story}: Ctrl-C stops early and prints what was found.", err=True
        ),
        counting=lambda found: click.echo(
            f"The search is complete ({found.states:,} states, {found.seconds:.1f} s, "
            f"{len(found.endings)} of {len(found.endings) + len(found.unreached)} endings "
            "reached); now counting the full states (--no-raw skips this; Ctrl-C stops "
            "the count and keeps every finding).",
            err=True,
        ),
    )
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(result.report())
    if result.problems:
        sys.exit(1)
    if not result.complete or (raw and not result.raw_complete):
        sys.exit(EXPLORE_INCOMPLETE)


@cli.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the schema to this file instead of standard output.",
)
def schema(output: str | None) -> None:
    """Print the JSON Schema of the story format, for editor completion."""
    from branching.story.schema import schema_json

    text = schema_json()
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@cli.command()
@click.argument("story", required=False, type=click.Path())
@click.option("--plain", is_flag=True, help="Line mode: numbered choices read from stdin.")
@click.option(
    "--choices",
    "script",
    default=None,
    metavar="1,2,b,1",
    help="Play this sequence of choices (numbers, b = back, q = quit) and stop.",
)
@click.option(
    "--seed",
    type=click.IntRange(-(2**63), 2**63 - 1),  # what the telemetry database can record
    default=None,
    help="Seed for random routes (default: random).",
)
@click.option("--resume", is_flag=True, help="Continue your unfinished playthrough of STORY.")
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    envvar="BRANCHING_DB",
    default=None,
    help="Telemetry database (default: BRANCHING_DB or the user data folder).",
)
@click.option("--no-telemetry", is_flag=True, help="Record nothing about this playthrough.")
@click.option(
    "--viewer",
    default=None,
    help="Viewer name (default: the local user); only a keyed hash of it is stored.",
)
@click.option(
    "--viewer-key",
    type=click.Path(dir_okay=False),
    default=None,
    help="Viewer key file that hashes viewer names (default: this user's).",
)
@click.option(
    "--attr",
    "attrs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Coarse viewer attribute for segment analysis, e.g. region=NL (repeatable).",
)
@click.option("--no-timer", is_flag=True, help="Turn every countdown off.")
@click.option(
    "--stories",
    "stories_dir",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Extra folder of stories for the library (with no STORY).",
)
def play(
    story: str | None,
    plain: bool,
    script: str | None,
    seed: int | None,
    resume: bool,
    db: str | None,
    no_telemetry: bool,
    viewer: str | None,
    viewer_key: str | None,
    attrs: tuple[str, ...],
    no_timer: bool,
    stories_dir: tuple[str, ...],
) -> None:
    """Play STORY (a story file or folder, or a bundled story's name: tutorial).

    Full-screen on a terminal; line mode with --plain, with --choices, or when
    standard input or output is not a terminal. Without STORY, the library: the
    bundled stories, ./stories and any --stories DIR. Every choice is recorded
    to the telemetry database unless --no-telemetry is given.
    """
    from branching.startup import pause_gc

    pause_gc()  # resumed by the player once its first frame is on screen
    from branching.cli.playing import run_play
    from branching.recording import PlayOptions

    opts = PlayOptions(
        story=story,
        plain=plain,
        script=script,
        seed=seed,
        resume=resume,
        db=db,
        no_telemetry=no_telemetry,
        viewer=viewer,
        viewer_key=viewer_key,
        attrs=attrs,
        no_timer=no_timer,
        stories_dirs=stories_dir,
    )
    sys.exit(run_play(opts))  # the group's `invoke` resumes the collector on the way out
