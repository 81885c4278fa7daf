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

    @property
    def dashboard(self) -> DashboardApp:
        return cast("DashboardApp", self.app)

    def reload(self) -> None:
        """Read the figures again (the `r` key and the auto-refresh)."""
        raise NotImplementedError

    def query_failed(self, group: str, error: BaseException) -> None:
        """A worker of `group` failed (already reported): show what is missing."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.ERROR and worker.error is not None:
            self.dashboard.report_error(worker.error)
            self.query_failed(worker.group, worker.error)
        elif event.state == WorkerState.SUCCESS:
            self.dashboard.clear_error()
