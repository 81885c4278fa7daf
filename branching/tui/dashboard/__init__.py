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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from branching.tui.dashboard.app import DashboardApp, build_dashboard
    from branching.tui.dashboard.data import Selection

_LAZY = {"DashboardApp": "app", "build_dashboard": "app", "Selection": "data"}


def __getattr__(name: str) -> Any:
    """Import the public name `name` from its module on first use, then keep it here."""
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = ["DashboardApp", "Selection", "build_dashboard"]
