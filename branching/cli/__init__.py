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

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from branching.cli.main import COMMANDS, cli

__all__ = ["COMMANDS", "cli", "run"]


def run() -> None:
    """Run the `branching` program.

    Standard output is flushed here, before the interpreter's own last flush,
    so an output that fails (a full disk: `branching export > /dev/full`) is
    one line on standard error and exit status 1, never a traceback, and a
    reader that stops early (`branching stats ... | head -1`) ends the program
    quietly (status 1, as click does for a pipe closed during a command).
    """
    from branching.startup import pause_gc

    pause_gc()
    from branching.cli.main import cli

    status: int | str | None
    try:
        cli()
        status = 0
    except SystemExit as exc:
        status = exc.code
    except OSError as exc:  # click ends quietly on EPIPE itself and lets others through
        status = _os_failure(exc)
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError as exc:
        failed = _os_failure(exc, report=status in (0, None))
        status = failed if status in (0, None) else status
    sys.exit(status)


def _os_failure(exc: OSError, *, report: bool = True) -> int:
    """Say what failed (nothing for a closed pipe), then let standard output go nowhere."""
    if report and not isinstance(exc, BrokenPipeError):
        from branching.cli.errors import os_failure

        os_failure(exc).show()
    try:  # what is still buffered must not fail again at the interpreter's exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return 1


def __getattr__(name: str) -> Any:
    if name in ("cli", "COMMANDS"):
        import importlib

        return getattr(importlib.import_module("branching.cli.main"), name)
    raise AttributeError(name)
