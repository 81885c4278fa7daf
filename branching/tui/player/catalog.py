"""The library's catalogue: the stories on its shelves, and this viewer's progress.

A shelf is a folder of stories. `library_folders` lists them as `branching
play` shows them: the stories bundled with branching (found wherever it is
installed, see `branching.story.bundled`), then `./stories`, then every
`--stories DIR`, each folder once (inside the repository `./stories` *is* the
bundled folder).

A story is a `.yaml`/`.yml` file directly in a folder, or a sub-folder holding
`story.yaml` (chapter files inside it are not stories of their own). Each is
loaded to read its title, author and length; one with errors is still listed,
with its first problem, so an author sees why it will not open. On each shelf
the tutorial (the story whose id is `tutorial`) comes first, then the others
by title. Progress (endings found, an unfinished playthrough) comes from
`Services`, so this runs in a worker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from branching.errors import BranchingError, StoryInvalid
from branching.play.reading import reading_minutes
from branching.play.services import Services
from branching.story.bundled import bundled_stories
from branching.story.model import Story

STORY_SUFFIXES = (".yaml", ".yml")
TUTORIAL = "tutorial"  # the id of the story listed first on its shelf
BUNDLED = "Bundled with branching"

_minutes: dict[tuple[str, str], float] = {}  # (path, content hash) -> reading minutes


@dataclass(frozen=True, slots=True)
class Entry:
    """One story in the library."""

    path: Path
    story: Story | None = None
    error: str | None = None
    endings_found: int = 0
    resume_at: str | None = None  # the scene an unfinished playthrough stopped at
    shelf: str = ""  # where it comes from: `shelf_label` of its folder
    minutes: float | None = None  # an average playthrough, see `branching.play.reading`

    @property
    def title(self) -> str:
        return self.story.title if self.story is not None else self.path.name

    @property
    def endings_total(self) -> int:
        return len(self.story.endings()) if self.story is not None else 0


def library_folders(extra: Iterable[str | Path] = (), here: Path = Path("stories")) -> list[Path]:
    """The library's shelves: the bundled stories, `here`, then `extra`; each folder once."""
    bundled = bundled_stories()
    candidates = [*([bundled] if bundled is not None else []), here, *map(Path, extra)]
    seen: set[Path] = set()
    out: list[Path] = []
    for folder in candidates:
        key = folder.resolve()
        if key not in seen:
            seen.add(key)
            out.append(folder)
    return out


def shelf_label(folder: Path) -> str:
    """How the library names a folder: bundled, or the path (`./stories`, `~/tales`)."""
    bundled = bundled_stories()
    if bundled is not None and folder.resolve() == bundled.resolve():
        return BUNDLED
    if not folder.is_absolute():
        text = folder.as_posix()
        return text if text.startswith(".") else f"./{text}"
    try:
        return "~/" + folder.relative_to(Path.home()).as_posix()
    except ValueError:
        return str(folder)


def _is_story(child: Path) -> bool:
    if child.name.startswith("."):
        return False
    return (child.is_file() and child.suffix.lower() in STORY_SUFFIXES) or (
        child.is_dir() and (child / "story.yaml").is_file()
    )


def find_stories(folders: Iterable[Path]) -> list[Path]:
    """Story paths in `folders`, folder by folder in name order, each once."""
    return [path for _, path in _shelved(folders)]


def _shelved(folders: Iterable[Path]) -> list[tuple[Path, Path]]:
    """(folder, story path) for every story in `folders`, each story once."""
    seen: set[Path] = set()
    out: list[tuple[Path, Path]] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for child in sorted(folder.iterdir(), key=lambda p: p.name.lower()):
            key = child.resolve()
            if _is_story(child) and key not in seen:
                seen.add(key)
                out.append((folder, child))
    return out


def minutes_to_read(path: Path, story: Story) -> float:
    """`reading_minutes` of `story`, remembered while its text stays the same."""
    key = (str(path.resolve()), story.content_hash)
    if key not in _minutes:
        _minutes[key] = reading_minutes(story)
    return _minutes[key]


def load_entry(path: Path, services: Services, shelf: str = "") -> Entry:
    """Load one story, its length and the viewer's progress in it."""
    from branching.story.loader import load_story

    try:
        story = load_story(path)
    except StoryInvalid as exc:
        return Entry(path, error=f"has errors: {exc}", shelf=shelf)
    except BranchingError as exc:
        return Entry(path, error=str(exc), shelf=shelf)
    found = len(services.endings_found(story))
    try:
        unfinished = services.unfinished(story)
    except BranchingError:
        unfinished = None  # a playthrough of an older version that no longer fits
    return Entry(
        path,
        story,
        None,
        found,
        unfinished.scene_title if unfinished is not None else None,
        shelf=shelf,
        minutes=minutes_to_read(path, story),
    )


def order_key(entry: Entry) -> tuple[bool, str, str]:
    """The tutorial first, then by title (ignoring case), then by file name."""
    is_tutorial = entry.story is not None and entry.story.id == TUTORIAL
    return (not is_tutorial, entry.title.casefold(), entry.path.name)


def catalogue(folders: Iterable[Path], services: Services) -> list[Entry]:
    """Every story in `folders`, shelf by shelf, with the viewer's progress.

    Blocking (it loads every story and asks the database): call it in a worker.
    """
    by_shelf: dict[Path, list[Entry]] = {}
    labels: dict[Path, str] = {}
    for folder, path in _shelved(folders):
        if folder not in labels:
            labels[folder] = shelf_label(folder)
        by_shelf.setdefault(folder, []).append(load_entry(path, services, labels[folder]))
    return [entry for entries in by_shelf.values() for entry in sorted(entries, key=order_key)]
