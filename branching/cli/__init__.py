"""The command line: a thin click group, the composition root.

`main.cli` is the group; each submodule registers its commands on it and is
imported only when one of them runs (see `main.COMMANDS`). Heavy libraries
(textual, the store, analytics) are imported inside the commands, so
`branching --help` and `branching play` stay fast.
"""

from branching.cli.main import COMMANDS, cli

__all__ = ["COMMANDS", "cli"]
