"""The offer to resume an unfinished playthrough, shown when a story opens.

Answers True (resume where it was left, with the same state), False (start a
new playthrough), or None when the viewer quits at the question.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.content import Content

from branching.play.services import Resumable
from branching.tui.common.text import literal
from branching.tui.player.screens.confirm import ConfirmScreen


def resume_question(title: str, found: Resumable) -> Content:
    turns = found.turns
    made = "no choices yet" if turns == 0 else f"{turns} choice{'s' if turns != 1 else ''} made"
    return Content.assemble(
        "You have an unfinished playthrough of ",
        literal(title, "bold"),
        f" ({made}), last at ",
        literal(found.scene_title, "italic"),
        ".\n\nContinue where you left off?",
    )


class ResumeScreen(ConfirmScreen):
    """Resume (True) or start again (False); `q` leaves (None)."""

    BINDINGS = [Binding("q", "app.request_quit", "Quit", show=False)]

    def __init__(self, title: str, found: Resumable) -> None:
        super().__init__(
            resume_question(title, found), yes="Resume", no="Start again", title="Welcome back"
        )

    def request_quit(self) -> None:
        self.dismiss(None)
