"""One story being played: the engine's playthrough, its recorder, and each step.

`Playing` is what the player screen drives. Each method takes one step of the
playthrough and records it, blocking until the store has committed the event,
and returns a `Step` saying what to show next. Screens call these methods only
from a thread worker, one at a time, and show the step once it returns: so
the next scene appears only after the last choice is kept, and the UI thread
never waits on the database. Keeping this out of the screen also lets the
stepping be read (and tested) without Textual.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from branching.errors import SaveError
from branching.play.engine import ChoiceView, Playthrough, View, new_seed
from branching.play.recorder import Recorder
from branching.play.services import Resumable, Services
from branching.story.model import Story


@dataclass(frozen=True, slots=True)
class Step:
    """What to show after a step: the view, and at an ending the endings found."""

    view: View
    only_last: bool = False  # show only the last passage (after going back)
    endings_found: frozenset[str] = field(default_factory=frozenset)
    can_go_back: bool = False


class Playing:
    """The current playthrough of `story` and the recorder it reports to."""

    def __init__(
        self,
        story: Story,
        services: Services,
        *,
        seed: int | None = None,
        run: Playthrough | None = None,
        recorder: Recorder | None = None,
        resumed: bool = False,
    ) -> None:
        self.story = story
        self.services = services
        self.fixed_seed = seed
        self.run = run
        self.recorder = recorder
        self.resumed = resumed

    # -- steps (blocking: call from a worker) ------------------------------------------

    def prepare(self) -> Step:
        """The playthrough's first view, without recording (pure: fine on the UI thread).

        A new playthrough's first scene can be shown at once, while telemetry
        opens; nothing the viewer did waits on it. `record_begin` records it.
        """
        if self.run is None:
            seed = self.fixed_seed if self.fixed_seed is not None else new_seed()
            self.run = Playthrough.start(self.story, seed)
        view = self.run.view
        return Step(view, only_last=self.resumed, can_go_back=self.run.can_go_back)

    def record_begin(self) -> None:
        """Open the playthrough's session and record its start (unless resumed)."""
        run = self.run
        assert run is not None, "prepare() first"
        if self.recorder is None:
            self.recorder = self.services.new_recorder(self.story, run.seed)
        if not self.resumed:
            self.recorder.started(run)

    def look(self) -> tuple[Resumable | None, str | None]:
        """Open telemetry and find the viewer's unfinished playthrough of this story.

        Returns it, or None with the reason when one exists but no longer fits
        the story (it was recorded with an older version).
        """
        self.services.open()
        try:
            return self.services.unfinished(self.story), None
        except SaveError as exc:
            return None, str(exc)

    def resume_from(self, found: Resumable) -> Playing:
        """A `Playing` that continues `found` in its own recorded session."""
        playing = Playing(
            self.story,
            self.services,
            run=found.run,
            recorder=self.services.resume(found),
            resumed=True,
        )
        playing.prepare()
        return playing

    def begin(self) -> Step:
        """Start (or continue a resumed) playthrough and record it."""
        self.prepare()
        self.record_begin()
        return self._step(only_last=self.resumed)

    def choose(
        self,
        choice: ChoiceView,
        *,
        scene: str,
        decide_ms: int | None,
        how: str,
        timeout: bool = False,
    ) -> Step:
        run, rec = self._live()
        run.choose(choice.id)
        rec.chose(
            run,
            scene,
            choice.id,
            choice.target,
            decide_ms=decide_ms,
            input=how,
            timeout=timeout,
            label=choice.label,
        )
        rec.shown(run)
        return self._step()

    def back(self, how: str) -> Step:
        run, rec = self._live()
        run.back()
        rec.rewound(run, run.view.scene, input=how)
        return self._step(only_last=True)

    def rewind(self, scene: str, how: str) -> Step:
        run, rec = self._live()
        run.rewind_to(scene)
        rec.rewound(run, scene, input=how)
        return self._step(only_last=True)

    def again(self) -> Step:
        """Close this playthrough and start a new one (a new session)."""
        self.close()
        self.run = None
        self.recorder = None
        self.resumed = False
        return self.begin()

    def event(self, kind: str, scene: str) -> None:
        """Record a pause, resume or skipped reveal at `scene`."""
        run, rec = self._live()
        rec.event(kind, run, scene=scene)

    def quit(self) -> None:
        """Record that the viewer left mid-story (the playthrough stays resumable)."""
        run, rec = self._live()
        rec.quit(run)

    def close(self) -> None:
        if self.recorder is not None:
            recorder, self.recorder = self.recorder, None
            recorder.close()

    # -- helpers ----------------------------------------------------------------------

    def _live(self) -> tuple[Playthrough, Recorder]:
        if self.run is None or self.recorder is None:
            raise RuntimeError("the playthrough has not begun")
        return self.run, self.recorder

    def _step(self, only_last: bool = False) -> Step:
        run = self.run
        assert run is not None
        view = run.view
        found: frozenset[str] = frozenset()
        if view.ending is not None:
            self.services.note_ending(self.story, view.scene)
            found = frozenset(self.services.endings_found(self.story))
        return Step(view, only_last=only_last, endings_found=found, can_go_back=run.can_go_back)
