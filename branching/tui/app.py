"""The Textual app and `build_app`, the one factory the CLI, tests and benchmarks share.

The app only wires things: it holds the services (telemetry), the options and
the clock, opens a story (offering to resume an unfinished playthrough), and
shows the library when no story was named. Screens own their handlers.

Errors are handled in one place, `report_error`: the project's own errors
(`BranchingError`: a story that cannot be resumed, a database problem) become
notifications; anything else is a bug, and the app stops with a one-line
message, the details in a crash file, and a non-zero exit status, never a
traceback on the viewer's screen.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.widgets import Static

from branching.errors import BranchingError
from branching.model import Story
from branching.telemetry import Recorder
from branching.tui.clock import Clock, MonotonicClock
from branching.tui.jobs import Jobs
from branching.tui.playing import Playing
from branching.tui.services import LocalServices, Resumable, Services
from branching.tui.text import clean


@dataclass(frozen=True, slots=True)
class TuiOptions:
    """How the player behaves (from `branching play`'s options)."""

    seed: int | None = None
    no_timer: bool = False
    resume: bool = False  # resume without asking when there is an unfinished playthrough
    reveal_rate: float = 600.0  # characters per second; 0 shows the text at once
    notice: str | None = None  # the first-run notice about recording
    crash_log: Path | None = None  # where an unexpected error's details go


class BranchingApp(App[int]):
    """The full-screen player (one story, or the library)."""

    CSS_PATH = "branching.tcss"
    TITLE = "branching"
    BINDINGS = [
        Binding("ctrl+q", "request_quit", "Quit", show=False, priority=True),
        Binding("ctrl+c", "request_quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, *, services: Services, options: TuiOptions, clock: Clock,
                 story: Story | None = None, playing: Playing | None = None,
                 library: Sequence[Path] = ()) -> None:
        super().__init__()
        self.services = services
        self.options = options
        self.clock = clock
        self.story = story
        self.first_playing = playing
        self.library = list(library)
        self.library_mode = story is None
        self.jobs = Jobs(self)
        self.crash: str | None = None
        self.playings: list[Playing] = []  # every playthrough opened, closed at exit

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(id="splash")

    def on_mount(self) -> None:
        if self.options.notice:
            self.notify(clean(self.options.notice), title="Recording", timeout=12, markup=False)
        if self.story is None:
            from branching.tui.screens.library import LibraryScreen

            self.push_screen(LibraryScreen(self.library))
        elif self.first_playing is not None:
            self._play(self.first_playing)
        else:
            self.open_story(self.story)

    # -- opening stories ----------------------------------------------------------------

    def open_story(self, story: Story) -> None:
        """Play `story`, first offering to resume the viewer's unfinished playthrough."""

        def look() -> tuple[Resumable | None, str | None]:
            try:
                return self.services.unfinished(story), None
            except BranchingError as exc:  # e.g. the story changed since
                return None, str(exc)

        self.jobs.submit(look, lambda found: self._found(story, *found))

    def _found(self, story: Story, found: Resumable | None, problem: str | None) -> None:
        if problem is not None:
            self.notify(f"Your unfinished playthrough cannot be resumed ({clean(problem)}); "
                        "starting a new one.", severity="warning", markup=False)
        if found is None:
            if self.options.resume:
                self.notify("No unfinished playthrough to resume: starting anew.",
                            markup=False)
            self._play(self._new(story))
        elif self.options.resume:
            self._resume(story, found)
        else:
            from branching.tui.screens.resume import ResumeScreen

            self.push_screen(ResumeScreen(story.title, found),
                             lambda yes: self._resume(story, found) if yes
                             else self._play(self._new(story)))

    def _new(self, story: Story) -> Playing:
        return Playing(story, self.services, seed=self.options.seed)

    def _resume(self, story: Story, found: Resumable) -> None:
        self.jobs.submit(lambda: self.services.resume(found),
                         lambda rec: self._play(Playing(story, self.services, run=found.run,
                                                        recorder=rec, resumed=True)))

    def _play(self, playing: Playing) -> None:
        from branching.tui.screens.player import PlayerScreen

        self.playings.append(playing)
        self.push_screen(PlayerScreen(playing))

    def close_all(self) -> None:
        """Close every recorder and the services (blocking: after the app has stopped)."""
        try:
            for playing in self.playings:
                playing.close()
        finally:
            self.services.close()

    def story_finished(self) -> None:
        """The viewer left a story: back to the library, or out of the app."""
        if not self.library_mode:
            self.exit(0)
            return
        from branching.tui.screens.library import LibraryScreen

        while len(self.screen_stack) > 1 and not isinstance(self.screen, LibraryScreen):
            self.pop_screen()

    # -- chrome -----------------------------------------------------------------------

    def action_help(self) -> None:
        from branching.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.services.where, self.services.viewer))

    def action_request_quit(self) -> None:
        """`q`, ctrl+q, ctrl+c: the screen decides (confirm mid-story), else leave."""
        handler = getattr(self.screen, "request_quit", None)
        if handler is not None:
            handler()
        else:
            self.exit(0)

    async def action_quit(self) -> None:  # the command palette's "Quit" goes the same way
        self.action_request_quit()

    # -- errors -------------------------------------------------------------------------

    def report_error(self, exc: BaseException) -> None:
        """The one place errors are shown: a notification, or a clean stop for a bug."""
        if isinstance(exc, BranchingError | OSError):
            title = exc.title if isinstance(exc, BranchingError) else "Problem"
            self.notify(clean(str(exc)), title=title, severity="error", timeout=10, markup=False)
            return
        self._stop_for(exc)

    def _stop_for(self, exc: BaseException) -> None:
        self._note_crash(exc)
        self.exit(None, return_code=1)

    def _note_crash(self, exc: BaseException) -> None:
        where = self._write_crash(exc)
        self.crash = (f"branching stopped after an unexpected error: {type(exc).__name__}: "
                      f"{clean(str(exc))}" + (f" (details in {where})" if where else ""))

    def _write_crash(self, exc: BaseException) -> str | None:
        target = self.options.crash_log
        if target is None:
            return None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        except OSError:
            return None
        return str(target)

    def _fatal_error(self) -> None:
        # Textual's own handler prints a full traceback when the app exits; the
        # viewer gets one line instead, and the details go to the crash file.
        exc = sys.exc_info()[1] or self._exception
        if exc is None:  # pragma: no cover - Textual always calls this inside `except`
            super()._fatal_error()
            return
        self._note_crash(exc)
        self._close_messages_no_wait()


def build_app(story: Story | None, recorder: Recorder | None = None,
              options: TuiOptions | None = None, *, services: Services | None = None,
              clock: Clock | None = None, playing: Playing | None = None,
              library: Sequence[Path] = ()) -> BranchingApp:
    """The player app for `story` (or the library of `library` folders when None).

    `recorder` records the first playthrough when no `services` are given (tests);
    the CLI passes `services` backed by the telemetry store instead. `clock`
    defaults to the real one; tests pass a `ManualClock`.
    """
    if services is None:
        services = LocalServices(recorder)
    return BranchingApp(services=services, options=options or TuiOptions(),
                        clock=clock or MonotonicClock(), story=story, playing=playing,
                        library=library)

