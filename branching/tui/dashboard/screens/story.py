"""One story at a glance: totals on top, then a tab for each way of looking at it.

Tabs: Flowchart (the terminal flowchart, `render.Flowchart`, laid out for the
width it gets), Choices (share of each choice with counts, timeouts, time to
decide), Endings, Drop-off, Paths, Segments and Flags. The figures come from
one thread worker (`load_story`: the graph and the report, each on its own
read-only connection) that posts `StoryLoaded` back; `r`, the auto-refresh
and a changed filter all start it again, and a newer read cancels an older
one. Until the first read succeeds the tabs are hidden behind a sentence
("Reading…", or why it failed, e.g. an unknown story); a failed refresh
keeps the figures already shown and says so on the status line, where an
export says where it wrote.

The focus is always on the shown tab's figures (a `TabBody`), so ↑/↓,
PageUp/PageDown and Home/End scroll them at once; ←/→, the number keys or a
click switch tabs, and the key bar says so. The tab bar itself never takes
the focus: there is nothing to do there that these keys do not.
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static, TabbedContent, TabPane, Tabs
from textual.worker import get_current_worker

from branching.errors import BranchingError
from branching.render.figures import Figures
from branching.render.flowchart import Flowchart
from branching.tui.dashboard import views
from branching.tui.dashboard.data import Selection, StoryView, export_html, load_story
from branching.tui.dashboard.messages import Exported, StoryLoaded
from branching.tui.dashboard.screens.base import QueryScreen, StatusLine
from branching.tui.dashboard.views import literal

TABS: tuple[tuple[str, str], ...] = (
    ("flowchart", "Flowchart"),
    ("choices", "Choices"),
    ("endings", "Endings"),
    ("dropoff", "Drop-off"),
    ("paths", "Paths"),
    ("segments", "Segments"),
    ("flags", "Flags"),
)
TAB_IDS = tuple(tab for tab, _ in TABS)

SCROLL = Binding.Group("Scroll", compact=True)
SWITCH = Binding.Group("Tabs", compact=True)


class TabBody(VerticalScroll):
    """One tab's figures, scrolled with the usual keys; the key bar names them."""

    BINDINGS = [
        Binding("up", "scroll_up", "Scroll up", group=SCROLL),
        Binding("down", "scroll_down", "Scroll down", group=SCROLL),
    ]


class StoryScreen(QueryScreen):
    """The figures of one story for one selection of sessions."""

    READ_GROUP = "story"
    AUTO_FOCUS = ""  # not the (hidden) tab bar: the figures take the focus once they show

    BINDINGS = [
        # priority: ←/→ switch tabs wherever the focus is (a body would scroll sideways)
        Binding("left", "step_tab(-1)", "Previous tab", priority=True, group=SWITCH),
        Binding("right", "step_tab(1)", "Next tab", priority=True, group=SWITCH),
        Binding("f", "filters", "Filters"),
        Binding("e", "export", "Export"),
        Binding("escape", "back", "Stories"),
        *(
            Binding(str(n), f"tab('{tab}')", name, show=False)
            for n, (tab, name) in enumerate(TABS, start=1)
        ),
    ]

    def __init__(self, story: str, selection: Selection) -> None:
        super().__init__()
        self.story = story
        self.selection = selection
        self.view: StoryView | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="totals")
        yield Static(
            Text.assemble(("Reading ", "dim"), literal(self.story, "bold"), ("…", "dim")),
            id="story-message",
        )
        with TabbedContent(id="tabs"):
            for tab, name in TABS:
                with TabPane(name, id=tab), TabBody(id=f"{tab}-scroll", classes="tab-body"):
                    yield Static(id=f"{tab}-body", classes="figures")
        yield StatusLine()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#tabs").display = False
        self.query_one("#totals").display = False
        self.query_one(Tabs).can_focus = False  # the keys work from the figures
        self.reload()

    def reload(self) -> None:
        self._read(str(self.dashboard.db_path), self.story, self.selection)

    @work(thread=True, exclusive=True, group=READ_GROUP, exit_on_error=False)
    def _read(self, db: str, story: str, selection: Selection) -> None:
        view = load_story(db, story, selection)
        if not get_current_worker().is_cancelled:
            self.post_message(StoryLoaded(view))

    # -- showing ---------------------------------------------------------------------------

    def on_story_loaded(self, message: StoryLoaded) -> None:
        if message.view.selection != self.selection:
            return  # read for a selection the producer has since changed
        first = self.view is None
        view = self.view = message.view
        self.query_one("#story-message").display = False
        self.query_one("#tabs").display = True
        self.query_one("#totals").display = True
        self.query_one("#totals", Static).update(views.totals(view, self.dashboard.stamp()))
        report, figures = view.report, Figures(view.selection.min_count)
        s = view.selection
        chart = Flowchart(
            view.graph, depth=s.depth, min_share=s.min_share, min_count=s.min_count, header=False
        )
        titles = {sid: scene.title for sid, scene in view.graph.scenes.items()}
        bodies = {
            "flowchart": Group(views.flow_caption(view), Text(""), chart),
            "choices": views.choice_points(report, titles, figures),
            "endings": views.sheets(report, ("endings",), figures),
            "dropoff": views.sheets(report, ("dropoff", "progress"), figures),
            "paths": views.sheets(report, ("paths",), figures),
            "segments": views.segments(report, figures),
            "flags": views.sheets(report, ("flags", "unreached"), figures),
        }
        for tab, body in bodies.items():
            self.query_one(f"#{tab}-body", Static).update(body)
        if first:  # the tabs were hidden: nothing had the focus, no tab keys were shown
            self._focus_body()
            self.refresh_bindings()

    def _focus_body(self) -> None:
        """Give the focus to the shown tab's figures, so the scroll keys work at once."""
        active = self.query_one(TabbedContent).active
        if active:
            self.query_one(f"#{active}-scroll", TabBody).focus()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if self.view is not None:  # a number key, ←/→ or a click on a tab
            self._focus_body()

    def query_failed(self, group: str, error: BaseException) -> bool:
        if group != self.READ_GROUP or self.view is not None:
            return False  # a failed export, or a failed refresh: the figures shown stay
        title = error.title if isinstance(error, BranchingError) else "Cannot read the figures"
        self.query_one("#story-message", Static).update(
            Text.assemble(
                (f"{title}: ", "bold red"),
                literal(error),
                "\nPress Esc for the stories recorded, r to try again, q to quit.",
            )
        )
        return True

    # -- actions -----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """No tab keys (nor their hint) until there are tabs to show."""
        return self.view is not None or action not in ("tab", "step_tab")

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_step_tab(self, step: int) -> None:
        """←/→: the previous or next tab, round the end."""
        tabs = self.query_one(TabbedContent)
        at = TAB_IDS.index(tabs.active) if tabs.active in TAB_IDS else 0
        tabs.active = TAB_IDS[(at + step) % len(TAB_IDS)]

    def action_back(self) -> None:
        self.dashboard.show_stories()

    def action_filters(self) -> None:
        from branching.tui.dashboard.screens.filters import FilterScreen

        versions = self.view.versions if self.view is not None else ()
        self.app.push_screen(FilterScreen(self.selection, versions), self._filtered)

    def _filtered(self, selection: Selection | None) -> None:
        if selection is not None and selection != self.selection:
            self.selection = selection
            self.reload()

    def action_export(self) -> None:
        if self.view is None:
            self.say(Text("Nothing to export yet: the figures are not read."))
            return
        self._export(self.view)

    @work(thread=True, group="export", exit_on_error=False)
    def _export(self, view: StoryView) -> None:
        dashboard = self.dashboard
        self.post_message(Exported(export_html(view, dashboard.export_dir, dashboard.now())))

    def on_exported(self, message: Exported) -> None:
        self.say(Text.assemble(("Exported ", "bold"), literal(message.path)))
