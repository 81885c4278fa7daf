"""The library: the stories in ./stories (and `--stories DIR`), and what to play.

Each story shows its title, author, length, the endings this viewer has found
and, when there is one, the scene an unfinished playthrough stopped at.
Choosing a story plays it (the app offers to resume first). The catalogue is
read in a worker, because it loads every story and asks the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from branching.tui.common.chrome import branching_header
from branching.tui.common.text import literal
from branching.tui.player.catalog import Entry, catalogue
from branching.tui.player.jobs import Jobs
from branching.tui.player.widgets import KeyBar, KeyHint

if TYPE_CHECKING:
    from branching.tui.player.app import BranchingApp


def entry_prompt(entry: Entry) -> Content:
    """Two lines: the title, then author, length, endings found and resume."""
    title = literal(entry.title, "bold")
    if entry.story is None:
        return Content.assemble(title, "\n", literal(f"  ⚠ {entry.error}", "$error"))
    facts: list[Content] = []
    if entry.story.author:
        facts.append(literal(f"by {entry.story.author}"))
    facts.append(Content(f"{entry.scenes} scenes"))
    facts.append(Content(f"endings {entry.endings_found}/{entry.endings_total} found"))
    line = Content("  ") + Content(" · ").join(facts).stylize("$text-muted")
    if entry.resume_at is not None:
        line = line + Content.assemble(
            "  ", ("▶ resume at ", "$warning"), literal(entry.resume_at, "$warning italic")
        )
    return Content.assemble(title, "\n", line)


class LibraryScreen(Screen[None]):
    """Pick a story to play."""

    BINDINGS = [
        Binding("enter", "play", "Play", show=True),
        Binding("r", "reload", "Reload"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("q", "app.request_quit", "Quit"),
    ]

    app: BranchingApp

    def __init__(self, folders: list[Path]) -> None:
        super().__init__()
        self.folders = folders
        self.entries: list[Entry] = []
        self.jobs = Jobs(self)

    def compose(self) -> ComposeResult:
        yield branching_header()
        with Vertical(id="library"):
            yield Static(self._intro(), id="library-intro")
            yield OptionList(id="stories")
            yield Static(id="library-details")
        yield KeyBar(
            [
                KeyHint("Enter", "Play", "enter"),
                KeyHint("r", "Reload", "r"),
                KeyHint("?", "Help", "question_mark"),
                KeyHint("q", "Quit", "q"),
            ]
        )

    def _intro(self) -> Content:
        where = ", ".join(str(f) for f in self.folders) or "no folder"
        viewer = self.app.services.viewer
        parts = [
            Content("Choose a story").stylize("bold"),
            Content(" with ↑ ↓ and Enter, or a click").stylize("dim"),
        ]
        if viewer:
            parts += [Content(" · playing as ").stylize("dim"), literal(viewer, "bold")]
        parts += [Content("\n"), literal(f"Stories from {where}", "dim")]
        return Content.assemble(*parts)

    def on_mount(self) -> None:
        self.title = "Library"
        self.sub_title = ""
        self.action_reload()

    def on_screen_resume(self) -> None:
        if self.entries:
            self.action_reload()

    def action_reload(self) -> None:
        self.query_one("#stories", OptionList).loading = True
        folders, services = list(self.folders), self.app.services
        self.jobs.submit(
            lambda: catalogue(folders, services), self._loaded, failed=self._load_failed
        )

    def _load_failed(self) -> None:
        self.query_one("#stories", OptionList).loading = False

    def _loaded(self, entries: list[Entry]) -> None:
        self.app.show_notice()  # telemetry is open now (the catalogue asked it)
        self.entries = entries
        stories = self.query_one("#stories", OptionList)
        stories.loading = False
        keep = stories.highlighted
        stories.set_options(Option(entry_prompt(e), id=str(i)) for i, e in enumerate(entries))
        if entries:
            stories.highlighted = keep if keep is not None and keep < len(entries) else 0
        else:
            self.query_one("#library-details", Static).update(
                Content(
                    "No stories here. Put story files or folders in ./stories, "
                    "or name a folder with --stories DIR."
                )
            )
        stories.focus()

    @on(OptionList.OptionHighlighted, "#stories")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        entry = self._entry(event.option_index)
        details = self.query_one("#library-details", Static)
        if entry is None:
            details.update("")
        elif entry.story is None:
            details.update(literal(str(entry.path), "$text-muted"))
        else:
            details.update(literal(entry.story.description or "", "italic"))

    @on(OptionList.OptionSelected, "#stories")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._play(self._entry(event.option_index))

    def action_play(self) -> None:
        self._play(self._entry(self.query_one("#stories", OptionList).highlighted))

    def _entry(self, index: int | None) -> Entry | None:
        if index is None or not 0 <= index < len(self.entries):
            return None
        return self.entries[index]

    def _play(self, entry: Entry | None) -> None:
        if entry is None:
            return
        if entry.story is None:
            self.notify(
                literal(entry.error or "cannot be played").plain,
                title=literal(entry.title).plain,
                severity="error",
                markup=False,
            )
            return
        self.app.open_story(entry.story)
