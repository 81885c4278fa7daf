"""The dashboard's help (`?`): the keys, what the figures count, where they come from."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from branching.tui.dashboard.views import literal

KEYS: tuple[tuple[str, str], ...] = (
    ("Enter", "open the highlighted story (story list)"),
    ("← →", "the previous or next tab"),
    ("1-7", "Flowchart, Choices, Endings, Drop-off, Paths, Segments, Flags"),
    ("↑ ↓", "scroll the tab; PgUp PgDn by a page, Home End to the top or end"),
    ("f", "filters: version, dates, viewer attributes, first playthrough, count by"),
    ("r", "read the figures again"),
    ("e", "export this story's view as one HTML file to mail"),
    ("Esc", "back to the story list"),
    ("?", "this help"),
    ("q", "quit"),
)

ABOUT = (
    "Counts are sessions (playthroughs) or unique viewers, as the line under the totals "
    "says; each table's caption says what its shares are of. A viewer who loops back can "
    "take two choices at one point, so a choice point can add up to more than 100%. "
    "'Left here' is where sessions stopped without an ending (some may still resume). "
    "Nothing here writes to the database: it is read on connections of its own, so "
    "players can record while you watch. The line above the keys says where an export "
    "went, or what failed when a refresh could not read the figures."
)


def help_body(db: str, refresh: float | None) -> Group:
    keys = Table.grid(padding=(0, 2))
    keys.add_column(style="bold", no_wrap=True)
    keys.add_column()
    for key, what in KEYS:
        keys.add_row(key, what)
    every = (
        f"The figures are read again every {refresh:g} s."
        if refresh
        else "Press r to read the figures again (or start with --refresh SECONDS)."
    )
    return Group(
        Text("Keys", style="bold"),
        keys,
        Text(""),
        Text("What the figures mean", style="bold"),
        Text(ABOUT),
        Text(""),
        Text.assemble(("Database: ", "bold"), literal(db)),
        Text(every),
    )


class DashboardHelp(ModalScreen[None]):
    """Keys and explanations; Escape, ? or q closes it."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, db: str, refresh: float | None) -> None:
        super().__init__(classes="dialog-screen")
        self.db = db
        self.refresh_every = refresh

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Static(Text("Dashboard help", style="bold"), classes="dialog-title")
            with VerticalScroll():
                yield Static(help_body(self.db, self.refresh_every))
            yield Static(
                Text("↑/↓ to scroll · Escape, ? or q to close", style="dim"), classes="dialog-hint"
            )

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
