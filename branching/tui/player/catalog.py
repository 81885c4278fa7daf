"""The library's catalogue: the stories in some folders, and this viewer's progress.

A story is a `.yaml`/`.yml` file directly in a folder, or a sub-folder holding
`story.yaml` (chapter files inside it are not stories of their own). Each is
loaded to read its title, author and size; one with errors is still listed,
with its first problem, so an author sees why it will not open. Progress
(endings found, an unfinished playthrough) comes from `Services`, so this runs
in a worker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from branching.errors import BranchingError, StoryInvalid
from branching.play.services import Services
from branching.story.model import Story

STORY_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class Entry:
    """One story in the library."""

    path: Path
    story: Story | None = None
    error: str | None = None
    endings_found: int = 0
    resume_at: str | None = None  # the scene an unfinished playthrough stopped at

    @property
    def title(self) -> str:
        return self.story.title if self.story is not None else self.path.name

    @property
    def scenes(self) -> int:
        return len(self.story.scenes) if self.story is not None else 0

    @property
    def endings_total(self) -> int:
        return len(self.story.endings()) if self.story is not None else 0


def find_stories(folders: Iterable[Path]) -> list[Path]:
    """Story paths in `folders`, in name order, each once."""
    seen: set[Path] = set()
    out: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir(), key=lambda p: p.name.lower()):
            if child.name.startswith("."):
                continue
            is_story = (child.is_file() and child.suffix.lower() in STORY_SUFFIXES) or (
                child.is_dir() and (child / "story.yaml").is_file()
            )
            key = child.resolve()
            if is_story and key not in seen:
                seen.add(key)
                out.append(child)
    return out


def load_entry(path: Path, services: Services) -> Entry:
    """Load one story and the viewer's progress in it."""
    from branching.story.loader import load_story

    try:
        story = load_story(path)
    except StoryInvalid as exc:
        return Entry(path, error=f"has errors: {exc}")
    except BranchingError as exc:
        return Entry(path, error=str(exc))
    found = len(services.endings_found(story))
    try:
        unfinished = services.unfinished(story)
    except BranchingError:
        unfinished = None  # a playthrough of an older version that no longer fits
    return Entry(
        path, story, None, found, unfinished.scene_title if unfinished is not None else None
    )


def catalogue(folders: Iterable[Path], services: Services) -> list[Entry]:
    """Every story in `folders` with the viewer's progress (blocking: use a worker)."""
    return [load_entry(path, services) for path in find_stories(folders)]
