"""The root click group and the helpers every command shares."""

from __future__ import annotations

import click

from branching import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="branching")
def cli() -> None:
    """Play choose-your-path stories in the terminal, and see what viewers chose."""
