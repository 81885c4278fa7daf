"""What the dashboard's thread workers post back to their screen: small dataclasses.

A worker never touches widgets: it reads (on its own connection), then posts
one of these to the screen that started it, and the screen's handler updates
the widgets on the UI thread (STYLE habits 7 and 9). Failures do not come
back as messages: they end the worker, and `screens.base.QueryScreen` hands
them to the app's one error handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.message import Message

from branching.analytics.rows import Report
from branching.tui.dashboard.data import Selection, StoryRow, StoryView


@dataclass
class StoriesLoaded(Message):
    """The story list, read afresh."""

    rows: tuple[StoryRow, ...]


@dataclass
class StoryLoaded(Message):
    """Stage 1: one story's graph and the figures it answers, for one selection."""

    view: StoryView
    read: int  # which read of the screen this answers
    scan: bool  # start reading every event (stage 2) too


@dataclass
class ScanProgress(Message):
    """Stage 2 under way: its `part` is `done` of `total` (see `build_report`)."""

    read: int
    part: str
    done: int
    total: int


@dataclass
class ReportPart(Message):
    """Stage 2, one part read: the report's tables it reads (see `data.SCAN_PARTS`)."""

    read: int
    selection: Selection
    part: str
    report: Report


@dataclass
class Exported(Message):
    """The current view was written as an HTML file."""

    path: Path
