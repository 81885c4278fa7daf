"""One exception tree for branching, and the `Problem` every checker reports.

Library code raises these; only the edges translate them: the CLI into a click
error with an exit status, the Textual apps into a notification or a modal.
Each class has a human `title` so the edge can say what went wrong in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """A finding about a story file, reported as `file:line:col: severity: message`."""

    file: str
    line: int
    col: int
    severity: Severity
    message: str
    order: int = 0  # position of the file in load order, for sorting

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message}"

    def sort_key(self) -> tuple[int, int, int]:
        return (self.order, self.line, self.col)

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.col,
            "severity": self.severity,
            "message": self.message,
        }


class BranchingError(Exception):
    """Base of every error branching raises on purpose."""

    title = "Error"


class StoryUnreadable(BranchingError):
    """The story cannot be read at all: missing, unreadable, a folder without story.yaml."""

    title = "Cannot read story"


class StoryInvalid(BranchingError):
    """The story was read but has errors; `problems` lists them all."""

    title = "Story has errors"

    def __init__(self, problems: list[Problem], path: str | None = None) -> None:
        self.problems = problems
        self.path = path  # the story as the user named it, when known
        errors = [p for p in problems if p.severity == "error"]
        first = str(errors[0]) if errors else "unknown problem"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first}{more}")


class EngineError(BranchingError):
    """A request the engine cannot honour (unknown choice, locked choice, nothing to go back to)."""

    title = "Cannot do that"


class SaveError(BranchingError):
    """A saved playthrough that does not fit the story it is restored into."""

    title = "Cannot restore playthrough"


class UsageProblem(BranchingError):
    """Options that cannot go together, found below the CLI (the CLI shows usage help)."""

    title = "Cannot do that"
