"""`QueryScreen`: a screen whose figures come from thread workers, and where their errors go.

Each screen starts its own workers (`@work(thread=True, exclusive=True)`,
`exit_on_error=False`) and handles the messages they post. When a worker
fails, Textual tells only the screen that started it (`Worker.StateChanged`
does not bubble), so this base class passes every failure on to the app's
`report_error`, the one place errors become notifications (STYLE habit 8),
and then lets the screen say in its own body what is missing
(`query_failed`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import Screen
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from branching.tui.dashboard.app import DashboardApp


class QueryScreen(Screen[None]):
    """A dashboard screen that can be read again (`reload`) and reports failures."""

    READ_GROUP = "read"  # the worker group of the screen's main read

    @property
    def dashboard(self) -> DashboardApp:
        return cast("DashboardApp", self.app)

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

    def query_failed(self, group: str, error: BaseException) -> None:
        """A worker of `group` failed (already reported): show what is missing."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.ERROR and worker.error is not None:
            self.dashboard.report_error(worker.error)
            self.query_failed(worker.group, worker.error)
        elif event.state == WorkerState.SUCCESS:
            self.dashboard.clear_error()
