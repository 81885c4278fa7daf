"""The producer's dashboard: which way viewers went, at a glance, in the terminal.

`build_dashboard(db_path, story=None, ...)` (in `app`) is the one factory the
CLI (`branching dashboard`), the Pilot tests and the snapshot tests share.
`data` holds the blocking reads (each on a read-only connection of its own,
run in thread workers), `reading` the processes that read a story's second
stage, `views` turns figures into Rich renderables, `messages` are what
workers post back, and `screens` the story list, one story's tabs, and the
filter and help dialogs. The look is in `dashboard.tcss`. Nothing in the
player imports this package.

The names below are imported when first used (PEP 562): a reading process
imports `reading` and `data`, and with them this package, but never textual
nor rich (about 16 MB and 0.25 s of each process's start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from branching.lazy import exports

if TYPE_CHECKING:
    from branching.tui.dashboard.app import DashboardApp, build_dashboard
    from branching.tui.dashboard.data import Selection

_LAZY = {"DashboardApp": "app", "build_dashboard": "app", "Selection": "data"}


__getattr__, __dir__ = exports(__name__, _LAZY)


__all__ = ["DashboardApp", "Selection", "build_dashboard"]
