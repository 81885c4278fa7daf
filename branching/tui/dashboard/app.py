"""The producer's dashboard app, and `build_dashboard`, the factory CLI and tests share.

The app only wires things (STYLE habit 10): it holds the database path, the
starting selection, the clocks and the export folder, starts on the story
list (no STORY) or on one story, and drives the refresh (`r`, and every
`--refresh` seconds through a `Clock`, so tests move time by hand). Screens
own their queries, their handlers and where a failure is shown
(`screens.base.QueryScreen`: in the body, or on the status line above the
keys, never a toast over the figures or a dialog).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from branching.tui.common.clock import Clock, MonotonicClock
from branching.tui.dashboard.data import Selection
from branching.tui.dashboard.reading import Reader, shared_reader
from branching.tui.dashboard.screens.base import QueryScreen

Now = Callable[[], datetime]


def local_now() -> datetime:
    return datetime.now().astimezone()


class DashboardApp(App[None]):
    """Which way viewers went: the story list, and each story's figures."""

    CSS_PATH = "dashboard.tcss"
    TITLE = "branching dashboard"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("r", "refresh", "Refresh"),
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        db_path: Path,
        story: str | None,
        *,
        selection: Selection,
        refresh: float | None,
        clock: Clock,
        now: Now,
        export_dir: Path,
        reader: Reader,
    ) -> None:
        super().__init__()
        self.db_path = db_path
        self.story = story
        self.selection = selection
        self.refresh_every = refresh
        self.clock = clock
        self.now = now
        self.export_dir = export_dir
        self.reader = reader  # reads a story's second stage (`reading`)

    def get_default_screen(self) -> Screen[None]:
        from branching.tui.dashboard.screens.stories import StoryListScreen

        return StoryListScreen()

    def on_mount(self) -> None:
        # the reading processes start now, so their imports are paid before a story opens
        self.run_worker(self.reader.start, thread=True, group="reader", exit_on_error=False)
        if self.story is not None:  # on top of the list, so Esc goes back to it
            self.open_story(self.story)
        if self.refresh_every:
            self.clock.every(self, self.refresh_every, self.refresh_tick)

    def stamp(self) -> str:
        """The time the figures on screen were read, for the 'updated' line."""
        return self.now().strftime("%H:%M:%S")

    # -- navigation ------------------------------------------------------------------------

    def open_story(self, story: str) -> None:
        """Show `story` (a story id, file or folder) over the list."""
        from branching.tui.dashboard.screens.story import StoryScreen

        self.push_screen(StoryScreen(story, self.selection))

    def show_stories(self) -> None:
        """Back to the story list, which is always at the bottom of the stack."""
        if len(self.screen_stack) > 1:
            self.pop_screen()

    def _figures_screen(self) -> QueryScreen | None:
        """The screen whose figures are on show (under any dialog)."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, QueryScreen):
                return screen
        return None

    def action_refresh(self) -> None:
        """`r`: read the figures on show again now."""
        screen = self._figures_screen()
        if screen is not None:
            screen.reload()

    def refresh_tick(self) -> None:
        """Every `--refresh` seconds: read again, unless the last read is still going."""
        screen = self._figures_screen()
        if screen is not None:
            screen.tick()

    def action_help(self) -> None:
        from branching.tui.dashboard.screens.help import DashboardHelp

        if not isinstance(self.screen, DashboardHelp):
            self.push_screen(DashboardHelp(str(self.db_path), self.refresh_every))


def build_dashboard(
    db_path: str | Path,
    story: str | None = None,
    *,
    selection: Selection | None = None,
    refresh: float | None = None,
    clock: Clock | None = None,
    now: Now | None = None,
    export_dir: str | Path | None = None,
    reader: Reader | None = None,
) -> DashboardApp:
    """The dashboard over the telemetry database at `db_path`.

    `story` (a story id, file or folder) opens that story; None starts on the
    list of stories recorded. `selection` is the starting filter; `refresh`
    reads the figures again every so many seconds (None: only on `r`).
    `clock` drives the refresh and `now` stamps 'updated' times and export
    names (tests pass a `ManualClock` and a fixed time); `export_dir` is where
    `e` writes HTML (default: the current folder); `reader` reads each story's
    second stage (default: in the process's reading processes, `reading`).
    """
    if refresh is not None and refresh <= 0:
        raise ValueError("the refresh interval must be a positive number of seconds")
    return DashboardApp(
        Path(db_path),
        story,
        selection=selection or Selection(),
        refresh=refresh,
        clock=clock or MonotonicClock(),
        now=now or local_now,
        export_dir=Path(export_dir) if export_dir is not None else Path.cwd(),
        reader=reader or shared_reader(),
    )
