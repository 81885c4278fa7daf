"""The command line: a thin click group, the composition root.

Each submodule registers its commands on the group defined in `main`; importing
this package imports them all. Heavy libraries (textual, the store, analytics)
are imported inside the commands, so `branching --help` stays fast.
"""

from branching.cli import analytics as _analytics  # noqa: F401  (registers commands)
from branching.cli import data as _data  # noqa: F401
from branching.cli import story as _story  # noqa: F401
from branching.cli.main import cli

__all__ = ["cli"]
