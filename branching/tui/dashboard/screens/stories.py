"""The story list: every story recorded in the database, the first screen without STORY.

One row per story: its title and id, sessions (real viewers' and simulated
ones apart: "1,234 real · 180,000 simulated"), unique viewers, the share
that reached an ending, and the last activity (the latest start, finish or
event of any of its sessions, UTC). The table has the focus, so ↑/↓ move
through it at once; Enter (or a click) opens the story. The rows are read in
a thread worker on a connection of its own; an empty database, or one that
cannot be read, shows a sentence saying so instead of an empty table (a
failed refresh keeps the rows and says so on the status line).
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Resize
from textual.widgets import DataTable, Footer, Static
from textual.widgets.data_table import CellDoesNotExist
from textual.worker import get_current_worker

from branching.errors import BranchingError
from branching.render.figures import Figures
from branching.tui.dashboard.data import StoryRow, list_stories
from branching.tui.dashboard.messages import StoriesLoaded
from branching.tui.dashboard.screens.base import QueryScreen, StatusLine
from branching.tui.dashboard.views import literal

FIXED = (("id", 10), ("sessions", 8), ("viewers", 7), ("completed", 9), ("last activity", 16))


def sessions_cell(row: StoryRow, figures: Figures) -> str:
    """Real and simulated sessions apart ('0' when there are none)."""
    parts = [
        f"{figures.count(n)} {what}"
        for n, what in ((row.real, "real"), (row.simulated, "simulated"))
        if n
    ]
    return " · ".join(parts) or "0"


def when(stamp: str | None) -> str:
    """An ISO timestamp as '2025-03-07 12:00' ('never' when there is none)."""
    return stamp[:16].replace("T", " ") if stamp else "never"


def _cut(text: Text) -> Text:
    """A cell that ends in an ellipsis when its column is too narrow."""
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


class StoryTable(DataTable[Text]):
    """The stories, a row each; Enter opens the highlighted one, and the key bar says so.

    Enter is the table's own key (not a priority key of the screen), so keys
    typed fast reach it in order: ↓ ↓ Enter opens the third story, not the first.
    """

    BINDINGS = [Binding("enter", "select_cursor", "Open")]


class StoryListScreen(QueryScreen):
    """Pick a story to see what its viewers chose."""

    READ_GROUP = "stories"

    def __init__(self) -> None:
        super().__init__()
        self.rows: tuple[StoryRow, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="list-title")
        yield Static(Text("Reading the database…", style="dim"), id="list-message")
        yield StoryTable(id="stories", cursor_type="row", zebra_stripes=True)
        yield StatusLine()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#stories").display = False
        self._title()

    def on_screen_resume(self) -> None:
        self.reload()  # shown first, or back from a story: the figures may have moved on

    def reload(self) -> None:
        self._read(str(self.dashboard.db_path))

    @work(thread=True, exclusive=True, group=READ_GROUP, exit_on_error=False)
    def _read(self, db: str) -> None:
        rows = tuple(list_stories(db))
        if not get_current_worker().is_cancelled:
            self.post_message(StoriesLoaded(rows))

    # -- showing ------------------------------------------------------------------------

    def _title(self) -> None:
        updated = self.dashboard.stamp() if self.rows is not None else None
        line = Text.assemble(
            ("Stories recorded in ", "bold"),
            literal(self.dashboard.db_path, "bold"),
            (" · times in UTC", "dim"),
        )
        if updated:
            line.append(f" · updated {updated}", style="dim")
        self.query_one("#list-title", Static).update(line)

    def on_stories_loaded(self, message: StoriesLoaded) -> None:
        self.rows = message.rows
        self._title()
        table = self.query_one("#stories", DataTable)
        note = self.query_one("#list-message", Static)
        table.display = bool(self.rows)
        note.display = not self.rows
        if not self.rows:
            note.update(
                Text.assemble(
                    ("Nothing recorded yet. ", "bold"),
                    "No story has been played with this database: viewers' choices appear here "
                    "once someone plays one (",
                    ("branching play STORY", "bold"),
                    "). Press r to look again.",
                )
            )
            return
        self._fill(table)
        if self.focused is None:  # the table was hidden until now: nothing had the focus
            table.focus()

    def _fill(self, table: DataTable[Text]) -> None:
        """(Re)build the table for the current width, keeping the highlighted story."""
        rows = self.rows or ()
        keep = rows[0].story_id if table.row_count == 0 else self._highlighted(table)
        table.clear(columns=True)
        figures = Figures()
        split = [sessions_cell(row, figures) for row in rows]
        widths = dict(FIXED)
        widths["sessions"] = max(8, min(30, max((len(c) for c in split), default=0)))
        title_width = max(12, min(40, self.size.width - sum(w + 2 for w in widths.values()) - 3))
        table.add_column("story", width=title_width, key="title")
        for name, width in widths.items():
            table.add_column(name, width=width, key=name)
        for row, cell in zip(rows, split, strict=True):
            table.add_row(
                _cut(literal(row.title)),
                _cut(literal(row.story_id, "dim")),
                _cut(Text(cell, justify="right")),
                Text(figures.count(row.viewers), justify="right"),
                Text(figures.rate(row.completion_rate), justify="right"),
                Text(when(row.last_activity)),
                key=row.story_id,
            )
        ids = [row.story_id for row in rows]
        table.move_cursor(row=ids.index(keep) if keep in ids else 0, animate=False)

    @staticmethod
    def _highlighted(table: DataTable[Text]) -> str | None:
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except CellDoesNotExist:  # an empty table has no cursor cell
            return None
        return key.value

    def on_resize(self, event: Resize) -> None:
        if self.rows:
            self._fill(self.query_one("#stories", DataTable))

    def query_failed(self, group: str, error: BaseException) -> bool:
        if self.rows:
            return False  # keep the last figures; the status line says the refresh failed
        title = error.title if isinstance(error, BranchingError) else "Cannot read the database"
        self.query_one("#list-message", Static).update(
            Text.assemble(
                (f"{title}: ", "bold red"), literal(error), "\nPress r to try again, q to quit."
            )
        )
        return True

    # -- opening ----------------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.dashboard.open_story(event.row_key.value)
