"""The command line: a thin click group, the composition root.

`main.cli` is the group; each submodule registers its commands on it and is
imported only when one of them runs (see `main.COMMANDS`). Heavy libraries
(textual, the store, analytics) are imported inside the commands, so
`branching --help` and `branching play` stay fast. `run()` is the program's
entry point: it pauses the cyclic garbage collector before anything is
imported (see `branching.startup`), which the group resumes at once for every
command but `play`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from branching.cli.main import COMMANDS, cli

__all__ = ["COMMANDS", "cli", "run"]


def run() -> None:
    """Run the `branching` program."""
    from branching.startup import pause_gc

    pause_gc()
    from branching.cli.main import cli

    cli()


def __getattr__(name: str) -> Any:
    if name in ("cli", "COMMANDS"):
        import importlib

        return getattr(importlib.import_module("branching.cli.main"), name)
    raise AttributeError(name)
