"""The producer's dashboard: which way viewers went, at a glance, in the terminal.

`build_dashboard(db_path, story=None, ...)` (in `app`) is the one factory the
CLI (`branching dashboard`), the Pilot tests and the snapshot tests share.
`data` holds the blocking reads (each on a read-only connection of its own,
run in thread workers), `views` turns figures into Rich renderables,
`messages` are what workers post back, and `screens` the story list, one
story's tabs, and the filter and help dialogs. The look is in
`dashboard.tcss`. Nothing in the player imports this package.
"""

from branching.tui.dashboard.app import DashboardApp, build_dashboard
from branching.tui.dashboard.data import Selection

__all__ = ["DashboardApp", "Selection", "build_dashboard"]
