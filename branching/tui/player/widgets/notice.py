"""A line for the player's messages that takes its own room and covers nothing.

Textual's toasts float over the bottom right of the screen, which on the
player is exactly where the choices and the countdown are: "There is no choice
5." hid half the list, and the first-run notice about recording hid the first
timed choice for ten seconds. `NoticeBar` sits in the layout instead (between
the story and the choices), so when it shows, the story above gets shorter and
scrolls; nothing the viewer needs is hidden. One message at a time: a new one
replaces the old, and each goes after `seconds` (real time: a message is for
reading, not part of the story's clock). Text is always literal.
"""

from __future__ import annotations

from typing import Literal

from textual.content import Content
from textual.timer import Timer
from textual.widget import Widget

from branching.tui.common.text import literal

Severity = Literal["information", "warning", "error"]


class NoticeBar(Widget):
    """The latest message to the viewer, shown for a while in its own rows."""

    DEFAULT_CSS = """
    NoticeBar {
        height: auto;
        max-height: 6;
        width: 1fr;
        padding: 0 2 0 1;
        margin: 0 2;
        display: none;
        border-left: outer $primary;
        background: $boost;
        &.-warning { border-left: outer $warning; }
        &.-error { border-left: outer $error; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.message = Content("")
        self._timer: Timer | None = None

    def say(
        self,
        text: str,
        *,
        title: str | None = None,
        severity: Severity = "information",
        seconds: float = 6.0,
    ) -> None:
        """Show `text` (with a bold `title`) for `seconds`, replacing any message shown."""
        self.message = literal(text)
        if title:
            self.message = Content.assemble(literal(title, "bold"), ": ", self.message)
        self.set_class(severity == "warning", "-warning")
        self.set_class(severity == "error", "-error")
        self.display = True
        self.refresh(layout=True)
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(seconds, self.clear)

    def clear(self) -> None:
        """Hide the message now."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.message = Content("")
        self.display = False

    @property
    def showing(self) -> str:
        """The message on screen, as plain text ("" when none)."""
        return self.message.plain if self.display else ""

    def render(self) -> Content:
        return self.message
