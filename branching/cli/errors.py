"""The one place where branching's errors become what the command line prints.

Library code raises `BranchingError`s (see `branching.errors`); commands let
them propagate, and the group's `invoke` hands each to `translate`: input the
user can fix by changing the command (`UsageProblem`) is a usage error with
exit status 2, a story with errors lists them and points at `branching check`,
and everything else is one line, `Title: message`, with exit status 1. Never a
traceback. Option callbacks use `bad_option` for the same words beside the
option's name.
"""

from __future__ import annotations

import click

from branching.errors import BranchingError, StoryInvalid, UsageProblem

SHOWN_PROBLEMS = 20


def translate(exc: BranchingError) -> click.ClickException:
    """The click error that says `exc` to the user, with the right exit status."""
    if isinstance(exc, UsageProblem):
        return click.UsageError(str(exc))
    if isinstance(exc, StoryInvalid):
        lines = "\n".join(str(p) for p in exc.problems[:SHOWN_PROBLEMS])
        hidden = len(exc.problems) - SHOWN_PROBLEMS
        more = f"\n... and {hidden} more" if hidden > 0 else ""
        named = exc.path or (exc.problems[0].file if exc.problems else "STORY")
        return click.ClickException(
            f"the story has errors; run `branching check {named}`:\n{lines}{more}"
        )
    return click.ClickException(f"{exc.title}: {exc}")


def bad_option(exc: BranchingError, option: str) -> click.BadParameter:
    """A value given to `option` that the library refused, named beside the option."""
    return click.BadParameter(str(exc), param_hint=option)


def no_command_module(name: str, exc: ImportError) -> click.ClickException:
    """A command whose module (or one of its libraries) cannot be imported."""
    missing = f" (missing module: {exc.name})" if exc.name else ""
    return click.ClickException(
        f"the '{name}' command cannot start: {exc}{missing}. "
        "Reinstall branching with its dependencies (pip install branching)."
    )
