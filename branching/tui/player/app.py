"""The Textual app and `build_app`, the one factory the CLI, tests and benchmarks share.

The app only wires things: it holds the services (telemetry), the options and
the clock, starts on the player screen (one story) or the library, and knows
what leaving a story means (back to the library, or out). Screens own their
handlers: the player screen shows the first scene at once and then, in a
worker, opens telemetry and offers to resume an unfinished playthrough.

Errors are handled in one place, `report_error`: the project's own errors
(`BranchingError`: a database problem, a story that cannot be resumed) become
notifications; telemetry that cannot be opened at all stops the app with a
one-line message (playing on would lose what the viewer does); anything else
is a bug, and the app stops with a one-line message, the details in a crash
file, and a non-zero exit status, never a traceback on the viewer's screen.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from branching.errors import BranchingError
from branching.play.recorder import Recorder
from branching.play.services import LocalServices, Services, TelemetryUnavailable
from branching.play.stepper import Playing
from branching.recording import StoreServices
from branching.story.model import Story
from branching.tui.common.clock import Clock, MonotonicClock
from branching.tui.common.text import clean
from branching.tui.player.jobs import Jobs
from branching.tui.player.widgets.notice import NoticeBar, Severity


@dataclass(frozen=True, slots=True)
class TuiOptions:
    """How the player behaves (from `branching play`'s options)."""

    seed: int | None = None
    no_timer: bool = False
    resume: bool = False  # resume without asking when there is an unfinished playthrough
    reveal_rate: float = 600.0  # cells per second; 0 shows the text at once
    notice: str | None = None  # a notice to show at start (the CLI's comes from services)
    crash_log: Path | None = None  # where an unexpected error's details go
    exit_on_signals: bool = False  # SIGTERM/SIGHUP leave the app as ctrl+q does (the CLI)


class BranchingApp(App[int]):
    """The full-screen player (one story, or the library)."""

    CSS_PATH = "branching.tcss"
    TITLE = "branching"
    BINDINGS = [
        Binding("ctrl+q", "request_quit", "Quit", show=False, priority=True),
        Binding("ctrl+c", "request_quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        *,
        services: Services,
        options: TuiOptions,
        clock: Clock,
        story: Story | None = None,
        playing: Playing | None = None,
        library: Sequence[Path] = (),
    ) -> None:
        super().__init__()
        self.services = services
        self.options = options
        self.clock = clock
        self.story = story
        self.first_playing = playing
        self.library = list(library)
        self.library_mode = story is None
        self.jobs = Jobs(self)
        self.crash: str | None = None  # an unexpected error, in one line
        self.fatal: str | None = None  # why the app had to stop (e.g. no telemetry)
        self.playings: list[Playing] = []  # every playthrough opened, closed at exit
        self._noticed = False
        self.told: list[tuple[str, str, str]] = []  # every message `say` gave, oldest first
        if isinstance(services, StoreServices):  # choices kept beside a locked database
            services.on_notice = self.say_from_thread

    def get_default_screen(self) -> Screen[None]:
        if self.story is None:
            from branching.tui.player.screens.library import LibraryScreen

            return LibraryScreen(self.library)
        if self.first_playing is not None:
            return self.player(self.first_playing, check_resume=False)
        return self.player(self._new(self.story), check_resume=True)

    def on_ready(self) -> None:
        """The first frame is on screen: start-up is over (see `branching.startup`)."""
        from branching.startup import resume_gc

        resume_gc()

    def on_mount(self) -> None:
        if self.options.notice:
            notice = self.options.notice
            self.call_after_refresh(lambda: self.say(notice, title="Recording", seconds=15))
        if self.options.exit_on_signals:
            self._exit_on_signals()

    def _exit_on_signals(self) -> None:
        """SIGTERM (a service stop) and SIGHUP (the terminal closed) leave the app like
        ctrl+c in line mode: `run_app` then closes every recorder and the store."""
        loop = asyncio.get_running_loop()
        for name in ("SIGTERM", "SIGHUP"):
            number = getattr(signal, name, None)
            if number is None:
                continue
            try:
                loop.add_signal_handler(number, self._stop_for_signal, int(number))
            except (NotImplementedError, RuntimeError, ValueError):
                return  # not the main thread, or no signals here (Windows)

    def _stop_for_signal(self, number: int) -> None:
        self.exit(None, return_code=128 + number)

    def show_notice(self) -> None:
        """The first-run notice about recording, once telemetry is open."""
        if self.services.notice and not self._noticed:
            self._noticed = True
            self.say(self.services.notice, title="Recording", seconds=15)

    def say(
        self,
        text: str,
        *,
        title: str | None = None,
        severity: Severity = "information",
        seconds: float = 6.0,
    ) -> None:
        """Tell the viewer something where it covers nothing: the story screen's notice bar.

        The message goes to the topmost screen that has a notice bar (the player
        or ending screen under a dialog keeps it for when the dialog closes);
        only a screen stack with none (the library) gets a toast. `told` keeps
        every message of the session, oldest first, as (title, text, severity).
        """
        self.told.append((title or "", clean(text), severity))
        for screen in reversed(self.screen_stack):
            bars = screen.query(NoticeBar)
            if bars:
                bars.first().say(clean(text), title=title, severity=severity, seconds=seconds)
                return
        self.notify(
            clean(text), title=title or "", severity=severity, timeout=seconds, markup=False
        )

    def say_from_thread(self, text: str, severity: str = "warning") -> None:
        """`say` from any thread, without waiting on the app (the store's writer tells
        the viewer this way when choices start or stop being kept beside the database)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        level: Severity = "warning"
        if severity == "information":
            level = "information"
        elif severity == "error":
            level = "error"
        seconds = 8.0 if level == "information" else 30.0
        say = functools.partial(self.say, text, title="Recording", severity=level, seconds=seconds)
        try:
            loop.call_soon_threadsafe(say)
        except RuntimeError:  # the app has just stopped
            pass

    # -- stories --------------------------------------------------------------------

    def _new(self, story: Story) -> Playing:
        return Playing(story, self.services, seed=self.options.seed)

    def player(self, playing: Playing, check_resume: bool) -> Screen[None]:
        from branching.tui.player.screens.player import PlayerScreen

        self.playings.append(playing)
        return PlayerScreen(playing, check_resume=check_resume)

    def open_story(self, story: Story) -> None:
        """Play `story` (from the library); the player offers to resume first."""
        self.push_screen(self.player(self._new(story), check_resume=True))

    def story_finished(self) -> None:
        """The viewer left a story: back to the library, or out of the app."""
        if not self.library_mode:
            self.exit(0)
            return
        from branching.tui.player.screens.library import LibraryScreen

        while len(self.screen_stack) > 1 and not isinstance(self.screen, LibraryScreen):
            self.pop_screen()

    def close_all(self) -> None:
        """Close every recorder and the services (blocking: after the app has stopped)."""
        try:
            for playing in self.playings:
                playing.close()
        finally:
            self.services.close()

    # -- chrome -----------------------------------------------------------------------

    def action_help(self) -> None:
        from branching.tui.player.screens.help import HelpScreen

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
        """The one place errors are shown: a notification, or a clean stop."""
        if isinstance(exc, TelemetryUnavailable):
            self.fatal = f"{exc.title}: {clean(str(exc))}"
            self.exit(None, return_code=1)
        elif isinstance(exc, BranchingError | OSError):
            title = exc.title if isinstance(exc, BranchingError) else "Problem"
            self.say(str(exc), title=title, severity="error", seconds=10)
        else:
            self._note_crash(exc)
            self.exit(None, return_code=1)

    def _note_crash(self, exc: BaseException) -> None:
        where = self._write_crash(exc)
        self.crash = (
            f"branching stopped after an unexpected error: {type(exc).__name__}: "
            f"{clean(str(exc))}" + (f" (details in {where})" if where else "")
        )

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


def build_app(
    story: Story | None,
    recorder: Recorder | None = None,
    options: TuiOptions | None = None,
    *,
    services: Services | None = None,
    clock: Clock | None = None,
    playing: Playing | None = None,
    library: Sequence[Path] = (),
) -> BranchingApp:
    """The player app for `story` (or the library of `library` folders when None).

    `recorder` records the playthroughs when no `services` are given (tests);
    the CLI passes `services` backed by the telemetry store instead. `playing`
    starts on a given playthrough (no resume offer). `clock` defaults to the
    real one; tests pass a `ManualClock`.
    """
    if services is None:
        services = LocalServices(recorder)
    return BranchingApp(
        services=services,
        options=options or TuiOptions(),
        clock=clock or MonotonicClock(),
        story=story,
        playing=playing,
        library=library,
    )
