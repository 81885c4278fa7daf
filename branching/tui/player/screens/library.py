"""The library: the bundled stories, ./stories and `--stories DIR`, and what to play.

Each story shows its title, its author (once), how long an average playthrough
takes ("about 12 min"), the endings this viewer has found and, when there is
one, the scene an unfinished playthrough stopped at. When the stories come
from more than one shelf (folder), each shelf has a heading; the line under
the intro says how many stories each shelf holds. Choosing a story plays it
(the app offers to resume first). Messages (the first-run notice about
recording, why a story will not open) go to a notice bar under the list,
never over it. The catalogue is read in a worker, because it loads every
story and asks the database.
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

from branching.play.reading import about
from branching.tui.common.chrome import branching_header
from branching.tui.common.text import literal
from branching.tui.player.catalog import BUNDLED, Entry, catalogue, shelf_label
from branching.tui.player.jobs import Jobs
from branching.tui.player.widgets import KeyBar, KeyHint, NoticeBar

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
    if entry.minutes is not None:
        facts.append(Content(about(entry.minutes)))
    facts.append(Content(f"endings {entry.endings_found}/{entry.endings_total} found"))
    line = Content("  ") + Content(" · ").join(facts).stylize("$text-muted")
    if entry.resume_at is not None:
        line = line + Content.assemble(
            "  ", ("▶ resume at ", "$warning"), literal(entry.resume_at, "$warning italic")
        )
    return Content.assemble(title, "\n", line)


def shelf_heading(label: str) -> Content:
    """The heading over one shelf's stories."""
    return literal(label, "bold $accent")


def shelves_summary(entries: list[Entry], folders: list[Path]) -> str:
    """What the library holds, shelf by shelf.

    For example "3 stories bundled with branching · 1 in ./stories".
    """
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.shelf] = counts.get(entry.shelf, 0) + 1
    if not counts:
        looked = ", ".join(shelf_label(f) for f in folders) or "no folder"
        return f"No stories found (looked in {looked})"
    parts: list[str] = []
    for shelf, n in counts.items():
        stories = "story" if n == 1 else "stories"
        where = "bundled with branching" if shelf == BUNDLED else f"in {shelf}"
        parts.append(f"{n} {stories} {where}" if not parts else f"{n} {where}")
    return " · ".join(parts)


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
            yield NoticeBar(id="notice")  # messages take their own rows, over nothing
            yield Static(id="library-details")
        yield KeyBar(
            [
                KeyHint("Enter", "Play", "enter"),
                KeyHint("r", "Reload", "r"),
                KeyHint("?", "Help", "question_mark"),
                KeyHint("q", "Quit", "q"),
            ]
        )

    def _intro(self, summary: str = "Looking for stories…") -> Content:
        viewer = self.app.services.viewer
        parts = [
            Content("Choose a story").stylize("bold"),
            Content(" with ↑ ↓ and Enter, or a click").stylize("dim"),
        ]
        if viewer:
            parts += [Content(" · playing as ").stylize("dim"), literal(viewer, "bold")]
        parts += [Content("\n"), literal(summary, "dim")]
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
        self.query_one("#library-intro", Static).update(
            self._intro(shelves_summary(entries, self.folders))
        )
        stories = self.query_one("#stories", OptionList)
        stories.loading = False
        keep = stories.highlighted
        stories.set_options(self._options(entries))
        playable = [i for i, o in enumerate(stories.options) if not o.disabled]
        if playable:
            stories.highlighted = keep if keep in playable else playable[0]
        else:
            self.query_one("#library-details", Static).update(
                Content(
                    "No stories here. Put story files or folders in ./stories, "
                    "or name a folder with --stories DIR."
                )
            )
        stories.focus()

    @staticmethod
    def _options(entries: list[Entry]) -> list[Option]:
        """One option per story (its id: the entry's index), under shelf headings
        when the stories come from more than one shelf."""
        headed = len({e.shelf for e in entries}) > 1
        options: list[Option] = []
        shelf: str | None = None
        for i, entry in enumerate(entries):
            if headed and entry.shelf != shelf:
                shelf = entry.shelf
                options.append(Option(shelf_heading(shelf), disabled=True))
            options.append(Option(entry_prompt(entry), id=str(i)))
        return options

    @on(OptionList.OptionHighlighted, "#stories")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        entry = self._entry(event.option.id)
        details = self.query_one("#library-details", Static)
        if entry is None:
            details.update("")
        elif entry.story is None:
            details.update(literal(str(entry.path), "$text-muted"))
        else:
            details.update(literal(entry.story.description or "", "italic"))

    @on(OptionList.OptionSelected, "#stories")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._play(self._entry(event.option.id))

    def action_play(self) -> None:
        stories = self.query_one("#stories", OptionList)
        if stories.highlighted is not None:
            self._play(self._entry(stories.get_option_at_index(stories.highlighted).id))

    def _entry(self, option_id: str | None) -> Entry | None:
        """The story an option stands for (None for a heading)."""
        if option_id is None or not option_id.isdigit() or int(option_id) >= len(self.entries):
            return None
        return self.entries[int(option_id)]

    def _play(self, entry: Entry | None) -> None:
        if entry is None:
            return
        if entry.story is None:
            self.app.say(entry.error or "cannot be played", title=entry.title, severity="error")
            return
        self.app.open_story(entry.story)
