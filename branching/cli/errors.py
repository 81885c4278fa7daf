"""The one place where branching's errors become what the command line prints.

Library code raises `BranchingError`s (see `branching.errors`); commands let
them propagate, and the group's `invoke` hands each to `translate`: input the
user can fix by changing the command (`UsageProblem`) is a usage error with
exit status 2, a story with errors lists them and points at `branching check`,
and everything else is one line, `Title: message`, with exit status 1. Never a
traceback. Option callbacks use `bad_option` for the same words beside the
option's name. An `OSError` no command handled (standard output on a full
disk, `-o /dev/full`) is one line too (`os_failure`, used by `cli.run`), and a
closed pipe (`branching stats ... | head -1`) ends the program quietly, status 1.
Messages can quote recorded data (story ids and version labels
from a merged database), so every one is made terminal-safe
(`branching.escape.terminal`) on its way out.
"""

from __future__ import annotations

import errno

import click

from branching.errors import BranchingError, StoryInvalid, UsageProblem
from branching.escape import terminal

SHOWN_PROBLEMS = 20


def translate(exc: BranchingError) -> click.ClickException:
    """The click error that says `exc` to the user, with the right exit status."""
    if isinstance(exc, UsageProblem):
        return click.UsageError(terminal(str(exc)))
    if isinstance(exc, StoryInvalid):
        lines = "\n".join(str(p) for p in exc.problems[:SHOWN_PROBLEMS])
        hidden = len(exc.problems) - SHOWN_PROBLEMS
        more = f"\n... and {hidden} more" if hidden > 0 else ""
        named = exc.path or (exc.problems[0].file if exc.problems else "STORY")
        return click.ClickException(
            terminal(f"the story has errors; run `branching check {named}`:\n{lines}{more}")
        )
    return click.ClickException(terminal(f"{exc.title}: {exc}"))


def bad_option(exc: BranchingError, option: str) -> click.BadParameter:
    """A value given to `option` that the library refused, named beside the option."""
    return click.BadParameter(terminal(str(exc)), param_hint=option)


def no_command_module(name: str, exc: ImportError) -> click.ClickException:
    """A command whose module (or one of its libraries) cannot be imported."""
    missing = f" (missing module: {exc.name})" if exc.name else ""
    return click.ClickException(
        f"the '{name}' command cannot start: {exc}{missing}. "
        "Reinstall branching with its dependencies (pip install branching)."
    )


# errno values that only a write can meet: the output is what failed
_WRITE_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def os_failure(exc: OSError) -> click.ClickException:
    """An operating-system error no command handled (a full disk under the output...)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    where = f" ({terminal(str(exc.filename))})" if exc.filename else ""
    if exc.errno in _WRITE_FAILURES:
        return click.ClickException(f"cannot write the output{where}: {reason}")
    return click.ClickException(f"input/output error{where}: {reason}")
