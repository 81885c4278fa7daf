"""The root click group and the helpers every command shares.

Commands live in the submodules (`story`, `data`, `analytics`, `dashboard`),
each registering on `cli` when imported. The group imports a submodule only
when one of its commands is asked for, so `branching play` does not pay for
the analytics' imports: start-up time is part of what a viewer feels.
"""

from __future__ import annotations

import importlib
import sys

import click

from branching import __version__
from branching.cli.errors import no_command_module, translate
from branching.errors import BranchingError
from branching.escape import terminal

# command name -> the submodule of branching.cli that defines it
COMMANDS: dict[str, str] = {
    "check": "story",
    "explore": "story",
    "schema": "story",
    "play": "story",
    "export": "data",
    "merge": "data",
    "forget": "data",
    "prune": "data",
    "stats": "analytics",
    "flowchart": "analytics",
    "dashboard": "dashboard",
    "simulate": "simulate",
    "demo": "simulate",
    "coverage": "coverage",
}


# Commands that build one large, long-lived object graph and then end (or, for
# `play`, resume the collector at the first frame): see `branching.startup`.
KEEP_COLLECTOR_PAUSED = frozenset({"play", "check"})


def interactive() -> bool:
    """Both ends are a terminal: a full-screen app can run (it cannot draw into a pipe)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


class LazyGroup(click.Group):
    """A group that imports a command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMANDS))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Find the command; only `play` and `check` keep start-up's collector pause."""
        from branching.startup import resume_gc

        name, command, rest = super().resolve_command(ctx, args)
        if name not in KEEP_COLLECTOR_PAUSED:
            resume_gc()
        return name, command, rest

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; a `BranchingError` it raises is translated in one place."""
        from branching.startup import resume_gc

        store_notices()  # none of them is this command's yet
        try:
            return super().invoke(ctx)
        except BranchingError as exc:
            raise translate(exc) from None
        finally:
            resume_gc()
            show_store_notices()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            try:
                importlib.import_module(f"branching.cli.{COMMANDS[cmd_name]}")
            except ImportError as exc:  # a broken install: say so, never "No such command"
                raise no_command_module(cmd_name, exc) from exc
        return self.commands.get(cmd_name)


def store_notices() -> list[str]:
    """What the telemetry store asked to tell the user (none if it was never imported)."""
    notices = sys.modules.get("branching.store.notices")
    return notices.take() if notices is not None else []


def show_store_notices() -> None:
    """Print the store's warnings to stderr once the command is done (also after a
    full-screen app has closed); a terminal that is gone (SIGHUP) is not an error."""
    for message in store_notices():
        try:
            click.secho(f"warning: {terminal(message)}", err=True, fg="yellow")
        except OSError:
            return


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="branching")
def cli() -> None:
    """Play choose-your-path stories in the terminal, and see what viewers chose."""
