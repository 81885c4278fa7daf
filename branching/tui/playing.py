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

import secrets
from dataclasses import dataclass, field

from branching.engine import ChoiceView, Playthrough, View
from branching.model import Story
from branching.telemetry import Recorder
from branching.tui.services import Services


@dataclass(frozen=True, slots=True)
class Step:
    """What to show after a step: the view, and at an ending the endings found."""

    view: View
    only_last: bool = False  # show only the last passage (after going back)
    endings_found: frozenset[str] = field(default_factory=frozenset)
    can_go_back: bool = False


class Playing:
    """The current playthrough of `story` and the recorder it reports to."""

    def __init__(self, story: Story, services: Services, *, seed: int | None = None,
                 run: Playthrough | None = None, recorder: Recorder | None = None,
                 resumed: bool = False) -> None:
        self.story = story
        self.services = services
        self.fixed_seed = seed
        self.run = run
        self.recorder = recorder
        self.resumed = resumed

    # -- steps (blocking: call from a worker) ------------------------------------------

    def begin(self) -> Step:
        """Start (or continue a resumed) playthrough and record it."""
        if self.run is None:
            seed = self.fixed_seed if self.fixed_seed is not None else secrets.randbelow(2**31)
            self.run = Playthrough.start(self.story, seed)
        if self.recorder is None:
            self.recorder = self.services.new_recorder(self.story, self.run.seed)
        if self.resumed:
            return self._step(only_last=True)
        self.recorder.started(self.run)
        return self._step()

    def choose(self, choice: ChoiceView, *, scene: str, decide_ms: int | None, how: str,
               timeout: bool = False) -> Step:
        run, rec = self._live()
        run.choose(choice.id)
        rec.chose(run, scene, choice.id, choice.target, decide_ms=decide_ms, input=how,
                  timeout=timeout)
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

    @property
    def finished(self) -> bool:
        return self.run is not None and self.run.view.finished

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
        return Step(view, only_last=only_last, endings_found=found,
                    can_go_back=run.can_go_back)
