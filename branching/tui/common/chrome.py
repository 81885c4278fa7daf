"""The header every branching screen wears: the story's title, and our own mark.

Textual's stock header icon (⭘) says "a Textual app"; ours is a diamond, ◆, the
shape of a decision in a flowchart. One function, so the player, its library and the
dashboard look like one product.
"""

from __future__ import annotations

from textual.widgets import Header

ICON = "◆"


def branching_header() -> Header:
    """A header showing the screen's title and subtitle, with branching's mark."""
    return Header(icon=ICON)
