"""`QueryScreen`: a screen whose figures come from thread workers, and where their errors go.

Each screen starts its own workers (`@work(thread=True, exclusive=True)`,
`exit_on_error=False`) and handles the messages they post. When a worker
fails, Textual tells only the screen that started it (`Worker.StateChanged`
does not bubble), so this base class is the one place a failure is shown
(STYLE habit 8): `describe_error` puts it into words (the project's own
errors with their title, file and database errors in words, anything else as
one line naming the error, never a traceback), and the screen either says in
its body what is missing (`query_failed`, when there is nothing to show yet)
or keeps its figures and says it on its `StatusLine`.

The status line is a line of the layout above the key bar, not a toast: it
never covers a figure or a dialog (a toast sits on top of whatever screen is
showing, the help included), it is hidden while there is nothing to say, and
a read that succeeds clears a failure it shows.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from branching.errors import BranchingError
from branching.tui.common.text import clean
from branching.tui.dashboard.views import literal

if TYPE_CHECKING:
    from branching.tui.dashboard.app import DashboardApp


def describe_error(error: BaseException) -> tuple[str, str]:
    """A failed query or export as (title, message), in words, never a traceback."""
    if isinstance(error, BranchingError):
        return error.title, clean(str(error))
    if isinstance(error, sqlite3.Error):
        return "Telemetry database problem", clean(f"SQLite says: {error}")
    if isinstance(error, OSError):
        where = f"{error.filename or ''}: {error.strerror or error}".lstrip(": ")
        return "Cannot read or write a file", clean(where)
    return "Unexpected error", clean(f"{type(error).__name__}: {error}")


class StatusLine(Static):
    """What just happened (an export's path, a failed read), in the layout above the keys."""

    def __init__(self) -> None:
        super().__init__(id="status", markup=False)
        self.is_error = False
        self.display = False

    def say(self, text: Text, *, error: bool = False) -> None:
        self.update(text)
        self.is_error = error
        self.display = True

    def clear_error(self) -> None:
        """A read succeeded: a failure on show is no longer news."""
        if self.is_error:
            self.update("")
            self.is_error = False
            self.display = False


class QueryScreen(Screen[None]):
    """A dashboard screen that can be read again (`reload`) and reports failures."""

    READ_GROUP = "read"  # the worker group of the screen's main read

    @property
    def dashboard(self) -> DashboardApp:
        return cast("DashboardApp", self.app)

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    def say(self, text: Text) -> None:
        """Put a line of news on the status line, with the time it happened."""
        self.status.say(Text.assemble(text, (f" · {self.dashboard.stamp()}", "dim")))

    def show_error(self, error: BaseException) -> None:
        title, message = describe_error(error)
        line = Text.assemble((f"{title}: ", "bold red"), literal(message))
        self.status.say(line.append(f" · {self.dashboard.stamp()}", style="dim"), error=True)

    def reload(self) -> None:
        """Read the figures again (the `r` key and the auto-refresh)."""
        raise NotImplementedError

    def tick(self) -> None:
        """The auto-refresh: read again, unless the last read is still under way.

        A thread cannot be stopped mid-query, so on a database where a read takes
        longer than the refresh interval, starting over each time would cancel
        every read before it reports and the figures would never change.
        """
        if not any(
            w.node is self and w.group == self.READ_GROUP and not w.is_finished
            for w in self.app.workers
        ):
            self.reload()

    def query_failed(self, group: str, error: BaseException) -> bool:
        """A worker of `group` failed: True when the body now says so (nothing to show yet).

        Otherwise the figures on show stay and the status line says what failed.
        """
        return False

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.ERROR and worker.error is not None:
            if not self.query_failed(worker.group, worker.error):
                self.show_error(worker.error)
        elif event.state == WorkerState.SUCCESS and worker.group == self.READ_GROUP:
            self.status.clear_error()
