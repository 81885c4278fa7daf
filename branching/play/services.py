"""What the player needs from telemetry, behind one small interface.

The screens never touch the store: they ask `Services` for a recorder for a
new playthrough, for the viewer's unfinished playthrough of a story, and for
the endings the viewer has found. Every method may block on the database, so
screens call them only from thread workers. `LocalServices` records nothing
(for `--no-telemetry`) or hands out a given recorder (for tests);
`branching.recording.StoreServices` records to the telemetry store, the same
way the line-mode player does. Both remember the endings reached in this run of
the app, so the ending screen counts them even with no database.

A store that cannot be opened raises `TelemetryUnavailable`, which stops the
app: playing on without recording would silently lose what the viewer does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from branching.errors import BranchingError
from branching.play.engine import Playthrough
from branching.play.recorder import NullRecorder, Recorder
from branching.story.model import Story


class TelemetryUnavailable(BranchingError):
    """The telemetry database cannot be opened: the player stops rather than lose events."""

    title = "Cannot record"


@dataclass(frozen=True, slots=True)
class Resumable:
    """An unfinished playthrough, rebuilt and ready to continue."""

    run: Playthrough
    token: Any  # what `Services.resume` needs (the store's session id)
    started_at: str = ""

    @property
    def scene_title(self) -> str:
        return self.run.view.title

    @property
    def turns(self) -> int:
        return self.run.view.turns


class Services:
    """Telemetry for the player; subclasses say where it goes."""

    where: str | None = None  # where choices are recorded, for the help screen
    viewer: str = ""
    notice: str | None = None  # the first-run notice, once telemetry is open

    def __init__(self) -> None:
        self._seen: dict[str, set[str]] = {}

    def open(self) -> None:
        """Get ready to record (blocking); a no-op once open."""

    def new_recorder(self, story: Story, seed: int) -> Recorder:
        raise NotImplementedError

    def unfinished(self, story: Story) -> Resumable | None:
        """The viewer's unfinished playthrough of `story` (SaveError if it no longer fits)."""
        return None

    def resume(self, found: Resumable) -> Recorder:
        raise NotImplementedError

    def abandon(self, found: Resumable) -> None:
        """Close `found` for good: the viewer chose to start again instead of resuming."""

    def stored_endings(self, story: Story) -> set[str]:
        return set()

    def note_ending(self, story: Story, scene: str) -> None:
        self._seen.setdefault(story.id, set()).add(scene)

    def endings_found(self, story: Story) -> set[str]:
        """Ids of the story's ending scenes this viewer has reached."""
        found = self.stored_endings(story) | self._seen.get(story.id, set())
        return {s for s in found if s in story.scenes and story.scenes[s].ending is not None}

    def close(self) -> None:
        pass


class LocalServices(Services):
    """No database: a given recorder (tests) or none at all (`--no-telemetry`)."""

    def __init__(self, recorder: Recorder | None = None, viewer: str = "") -> None:
        super().__init__()
        self.recorder = recorder
        self.viewer = viewer
        self.where = getattr(recorder, "where", None)

    def new_recorder(self, story: Story, seed: int) -> Recorder:
        return self.recorder if self.recorder is not None else NullRecorder()

    def resume(self, found: Resumable) -> Recorder:
        return self.new_recorder(found.run.story, found.run.seed)
