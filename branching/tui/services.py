"""What the player needs from telemetry, behind one small interface.

The screens never touch the store: they ask `Services` for a recorder for a
new playthrough, for the viewer's unfinished playthrough of a story, and for
the endings the viewer has found. Every method may block on the database, so
screens call them only from thread workers. `StoreServices` talks to the
telemetry store (reusing the CLI's helpers, so the line-mode and full-screen
players record the same way); `LocalServices` records nothing (for
`--no-telemetry`) or hands out a given recorder (for tests). Both remember the
endings reached in this run of the app, so the ending screen counts them even
with no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from branching.engine import Playthrough
from branching.model import Story
from branching.telemetry import NullRecorder, Recorder


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

    def __init__(self) -> None:
        self._seen: dict[str, set[str]] = {}

    def new_recorder(self, story: Story, seed: int) -> Recorder:
        raise NotImplementedError

    def unfinished(self, story: Story) -> Resumable | None:
        """The viewer's unfinished playthrough of `story` (SaveError if it no longer fits)."""
        return None

    def resume(self, found: Resumable) -> Recorder:
        raise NotImplementedError

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


class StoreServices(Services):
    """The telemetry store, through the same helpers as the line-mode player."""

    def __init__(self, store: Any, where: str, opts: Any, viewer: str) -> None:
        super().__init__()
        self.store = store
        self.where = where
        self.opts = opts  # branching.cli.playing.PlayOptions
        self.viewer = viewer

    def new_recorder(self, story: Story, seed: int) -> Recorder:
        from branching.cli.playing import start_recording

        return start_recording(self.store, self.where, story, self.opts, seed, self.viewer)

    def unfinished(self, story: Story) -> Resumable | None:
        from branching.cli.playing import resume_run

        found = resume_run(self.store, story, self.viewer)
        if found is None:
            return None
        run, point = found
        return Resumable(run, point.session_id, str(getattr(point, "started_at", "")))

    def resume(self, found: Resumable) -> Recorder:
        from branching.telemetry import StoreRecorder

        return StoreRecorder(self.store.resume_session(found.token), self.where)

    def stored_endings(self, story: Story) -> set[str]:
        return set(self.store.endings_found(story.id, self.viewer))

    def close(self) -> None:
        self.store.close()
