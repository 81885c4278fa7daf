"""The help screen (`?`): the keys, how timers and going back work, and privacy.

It says where this playthrough is recorded (or that nothing is) and how to
opt out, so the first-run notice can be found again later.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from branching.tui.common.text import literal

KEYS: tuple[tuple[str, str], ...] = (
    ("1-9", "take the choice with that number"),
    ("↑ ↓  Enter", "move through the choices and take one"),
    ("mouse", "click a choice to take it"),
    ("PgUp PgDn", "scroll the story a page (the mouse wheel too)"),
    ("Home End", "the top or the end of the story"),
    ("any key", "show the rest of the text at once"),
    ("p", "pause or resume the countdown"),
    ("b", "go back to the previous choice"),
    ("?", "this help"),
    ("q", "quit (your place is kept)"),
)

ABOUT = (
    "A timed choice shows a draining bar: when it runs out, the choice marked "
    "◀ default is taken for you. The bar waits while there is text above the "
    "choices you have not scrolled to yet, and while a dialog is open. "
    "Play with --no-timer to turn every countdown off. "
    "Choices marked 🔒 are locked: the reason says what would open them. "
    "Endings offer to take you back to earlier choices, or to play again."
)


def help_text(where: str | None, viewer: str) -> Content:
    lines: list[Content] = [Content("Keys").stylize("bold $accent")]
    for key, what in KEYS:
        lines.append(Content.assemble((f"  {key:<12}", "bold"), what))
    lines += [
        Content(""),
        Content("How it works").stylize("bold $accent"),
        Content(ABOUT),
        Content(""),
        Content("Your choices").stylize("bold $accent"),
    ]
    if where:
        who = literal(viewer, "bold") if viewer else Content("you")
        lines.append(
            Content.assemble(
                "Every choice is recorded, under a keyed hash of ",
                who,
                " (never the name), to ",
                literal(where, "italic"),
                ". Play with --no-telemetry to record nothing; "
                "`branching forget NAME` erases a viewer's data.",
            )
        )
    else:
        lines.append(Content("Nothing is recorded in this session (--no-telemetry)."))
    return Content("\n").join(lines)


class HelpScreen(ModalScreen[None]):
    """Keys and explanations; any of Escape, ? or q closes it."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, where: str | None, viewer: str) -> None:
        super().__init__(classes="dialog-screen")
        self.where = where
        self.viewer = viewer

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Static(Content("Help").stylize("bold"), classes="dialog-title")
            with VerticalScroll():
                yield Static(help_text(self.where, self.viewer))
            yield Static(
                Content("Escape, ? or q to close").stylize("$text-muted"), classes="dialog-hint"
            )

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()  # so arrows and Page Down scroll it

    def action_close(self) -> None:
        self.dismiss(None)

    def request_quit(self) -> None:
        self.dismiss(None)
