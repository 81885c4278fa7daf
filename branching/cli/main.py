"""The root click group and the helpers every command shares.

Commands live in the submodules (`story`, `data`, `analytics`, `dashboard`),
each registering on `cli` when imported. The group imports a submodule only
when one of its commands is asked for, so `branching play` does not pay for
the analytics' imports: start-up time is part of what a viewer feels.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from branching import __version__

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
}


def db_path(given: str | Path | None) -> Path:
    """The telemetry database a command uses: `--db`, else `BRANCHING_DB`, else the default."""
    from branching.store.paths import default_db_path

    return Path(given).expanduser() if given else default_db_path()


class LazyGroup(click.Group):
    """A group that imports a command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMANDS))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Find the command; only `play` keeps start-up's garbage-collector pause."""
        from branching.startup import resume_gc

        name, command, rest = super().resolve_command(ctx, args)
        if name != "play":
            resume_gc()
        return name, command, rest

    def invoke(self, ctx: click.Context) -> object:
        from branching.startup import resume_gc

        try:
            return super().invoke(ctx)
        finally:
            resume_gc()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            try:
                importlib.import_module(f"branching.cli.{COMMANDS[cmd_name]}")
            except ModuleNotFoundError:  # a command whose module is not shipped
                return None
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="branching")
def cli() -> None:
    """Play choose-your-path stories in the terminal, and see what viewers chose."""
