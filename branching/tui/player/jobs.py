"""Blocking work (the database, loading stories) run off the UI thread, in order.

Every call into telemetry blocks until the store commits, and a commit can
wait seconds under contention, so screens never make such calls on the UI
thread. `Jobs` runs them in Textual thread workers, one at a time and in the
order submitted (so events keep their order in the database), and hands each
result back to the UI thread. Errors go to the app's `report_error`, the one
place where a failure becomes a notification.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from textual.dom import DOMNode

Then = Callable[[Any], None]


class Jobs:
    """A queue of blocking calls owned by `node` (a screen or the app)."""

    def __init__(self, node: DOMNode) -> None:
        self.node = node
        self._queue: deque[tuple[Callable[[], Any], Then | None, Callable[[], None] | None]] = (
            deque()
        )
        self._running = False

    @property
    def busy(self) -> bool:
        return self._running or bool(self._queue)

    def submit(
        self,
        call: Callable[[], Any],
        then: Then | None = None,
        *,
        failed: Callable[[], None] | None = None,
    ) -> None:
        """Run `call` in a worker after the jobs before it; `then(result)` on the UI thread.

        On an exception the app reports it, and `failed()` runs on the UI thread.
        """
        self._queue.append((call, then, failed))
        if not self._running:
            self._next()

    def _next(self) -> None:
        if not self._queue:
            self._running = False
            return
        self._running = True
        call, then, failed = self._queue.popleft()
        self.node.run_worker(
            lambda: self._work(call, then, failed),
            thread=True,
            exit_on_error=False,
            group="jobs",
            name=getattr(call, "__name__", ""),
        )

    def _work(
        self, call: Callable[[], Any], then: Then | None, failed: Callable[[], None] | None
    ) -> None:
        app = self.node.app
        try:
            result = call()
        except Exception as exc:  # translated at the edge: a notification, never a traceback
            self._back(app, self._failed, exc, failed)
            return
        self._back(app, self._done, then, result)

    @staticmethod
    def _back(app: Any, callback: Callable[..., None], *args: Any) -> None:
        try:
            app.call_from_thread(callback, *args)
        except RuntimeError:  # the app has already stopped: nothing left to show
            pass

    def _done(self, then: Then | None, result: Any) -> None:
        try:
            if then is not None:
                then(result)
        except Exception as exc:  # a bug in a screen: the app decides (crash, no traceback)
            self._report(exc)
        finally:
            self._next()

    def _report(self, exc: Exception) -> None:
        report = getattr(self.node.app, "report_error", None)
        if report is not None:
            report(exc)
        else:
            self.node.app.notify(str(exc), severity="error", markup=False)

    def _failed(self, exc: Exception, failed: Callable[[], None] | None) -> None:
        try:
            self._report(exc)
            if failed is not None:
                failed()
        finally:
            self._next()
