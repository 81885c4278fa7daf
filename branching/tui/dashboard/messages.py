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

from branching.tui.dashboard.data import StoryRow, StoryView


@dataclass
class StoriesLoaded(Message):
    """The story list, read afresh."""

    rows: tuple[StoryRow, ...]


@dataclass
class StoryLoaded(Message):
    """One story's figures for one selection."""

    view: StoryView


@dataclass
class Exported(Message):
    """The current view was written as an HTML file."""

    path: Path
