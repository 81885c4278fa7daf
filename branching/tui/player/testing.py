"""Driving the full-screen player from Pilot tests and benchmarks.

`settle` waits until the app has finished the steps it started (the workers
that record, and the messages they post back), without sleeping.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot


async def settle(pilot: Pilot[Any], rounds: int = 50) -> None:
    """Wait for every worker and the messages they post back, without sleeping."""
    app = pilot.app
    for _ in range(rounds):
        await pilot.pause()
        if not _busy(app):
            return
        await app.workers.wait_for_complete()
    raise AssertionError("the app is still busy after settling")


def _busy(app: Any) -> bool:
    if any(not w.is_finished for w in app.workers):
        return True
    jobs = [getattr(s, "jobs", None) for s in (app, *app.screen_stack)]
    return any(j is not None and j.busy for j in jobs)
