"""One story at a glance: totals on top, then a tab for each way of looking at it.

Tabs: Flowchart (the terminal flowchart, `render.Flowchart`, laid out for the
width it gets), Choices (share of each choice with counts, timeouts, time to
decide), Endings, Drop-off, Paths, Segments and Flags.

The figures come in two stages, each from a thread worker on its own
read-only connection (the UI thread only draws):
1. `load_figures` (group "story"): the flowchart graph from the running totals
   or the aggregates, and what of the report it answers: the totals, the
   Flowchart, choice shares and counts, Endings, and who stopped where. Well
   under a second at ten million events; it posts `StoryLoaded`.
2. `read_report` (group "scan"), started when stage 1 is in: the rest of the
   report (paths, flags, time to decide and timeouts, segments, how far
   sessions got, who may still resume), read in parts (`data.SCAN_PARTS`) by
   the app's `reading.Reader`: in reading processes of their own, two parts
   at once, so the UI thread never waits for them (on a thread they would
   share the interpreter lock with it, and use one core of two). Started
   after stage 1, not beside it: on a busy machine stage 1 came later by as
   much as the scan got ahead. The parts of the tab on show
   come first, and whenever the producer switches to a tab still waiting,
   its parts are next. So a tab waits for its own figures only, not for the
   whole report. The worker posts `ScanProgress` a few times a second,
   shown on the tabs that wait and in the header, and a `ReportPart` as each
   part comes in. Until its parts are in a tab says how far the read is;
   the other tabs work as usual. A part that arrives redraws only the tab it
   completes.

When a read starts again: a changed filter and `r` start both stages and stop
a scan under way at once (the reading processes are told, and SQLite is
interrupted within milliseconds); so does leaving the screen. The
auto-refresh reads stage 1 every tick (unless one is still under way) but
never stops a scan: it starts one only when the last one has finished, so on
a big database the stage-2 figures are as new as the last whole read, and the
header says from when ("as of 12:00:03; reading again: 40%"), while the
totals, shares and endings stay a tick old at most.

Until the first stage 1 succeeds the tabs are hidden behind a sentence
("Reading…", or why it failed, e.g. an unknown story); a failed refresh
keeps the figures already shown and says so on the status line, where an
export says where it wrote. `e` exports once the whole report is as new as
the figures on show.

The focus is always on the shown tab's figures (a `TabBody`), so ↑/↓,
PageUp/PageDown and Home/End scroll them at once; ←/→, the number keys or a
click switch tabs, and the key bar says so. The tab bar itself never takes
the focus: there is nothing to do there that these keys do not.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import replace

from rich.console import RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static, TabbedContent, TabPane, Tabs
from textual.worker import get_current_worker

from branching.analytics.report import ReportStopped
from branching.analytics.rows import Report
from branching.errors import BranchingError
from branching.render.figures import Figures
from branching.tui.dashboard import views
from branching.tui.dashboard.data import (
    SCAN_PARTS,
    TAB_PARTS,
    Selection,
    StoryView,
    export_html,
    load_figures,
)
from branching.tui.dashboard.messages import Exported, ReportPart, ScanProgress, StoryLoaded
from branching.tui.dashboard.reading import ScanJob
from branching.tui.dashboard.screens.base import QueryScreen, StatusLine
from branching.tui.dashboard.tabs import SCAN_TABS, TAB_IDS, TABS, StoryReads
from branching.tui.dashboard.views import literal

SCAN_GROUP = "scan"
PROGRESS_EVERY = 0.2  # seconds between two progress messages of a scan

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
        self.figures = StoryReads()  # what is read, and what each tab shows of it (`tabs`)
        self.stage1_stamp = ""  # when the figures on show were read
        self.reads = 0  # reads started (stage 1); the one on show is `shown_read`
        self.active_tab = TAB_IDS[0]  # the tab on show, for the scan's worker thread to read

    @property
    def view(self) -> StoryView | None:
        """Stage 1's figures on show (None until the first is in)."""
        return self.figures.view

    def compose(self) -> ComposeResult:
        yield Static(id="totals")
        yield Static(id="pending")  # the header's line on what is still being read
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
        self.query_one("#pending").display = False
        self.query_one(Tabs).can_focus = False  # the keys work from the figures
        self.reload()

    def reload(self, scan: bool = True) -> None:
        """Read stage 1 again; with `scan`, stop any scan and read stage 2 after it."""
        if scan:
            self._stop_scan()
        self.reads += 1
        self._read(str(self.dashboard.db_path), self.story, self.selection, self.reads, scan)

    def tick(self) -> None:
        """The auto-refresh: stage 1 again, unless one is under way; a scan runs on."""
        if not self._busy(self.READ_GROUP):
            self.reload(scan=False)

    def _busy(self, group: str) -> bool:
        return any(
            w.node is self and w.group == group and not w.is_finished for w in self.app.workers
        )

    def _stop_scan(self) -> None:
        self.workers.cancel_group(self, SCAN_GROUP)
        self.figures.start_scan(None)

    def _start_scan(self, read: int) -> None:
        self.figures.start_scan(read)
        job = ScanJob(
            str(self.dashboard.db_path),
            self.story,
            self.selection,
            SCAN_PARTS,
            lambda: TAB_PARTS.get(self.active_tab, ()),
        )
        self._scan(job, read)

    def on_unmount(self) -> None:
        self._stop_scan()  # leaving the screen: no reading for nobody

    @work(thread=True, exclusive=True, group=READ_GROUP, exit_on_error=False)
    def _read(self, db: str, story: str, selection: Selection, read: int, scan: bool) -> None:
        view = load_figures(db, story, selection)
        if not get_current_worker().is_cancelled:
            self.post_message(StoryLoaded(view, read, scan))

    @work(thread=True, exclusive=True, group=SCAN_GROUP, exit_on_error=False)
    def _scan(self, job: ScanJob, read: int) -> None:
        worker = get_current_worker()
        last: dict[str, float] = {}

        def progress(part: str, done: int, total: int) -> bool:
            if worker.is_cancelled:
                return False
            if total and time.monotonic() - last.get(part, 0.0) >= PROGRESS_EVERY:
                last[part] = time.monotonic()
                self.post_message(ScanProgress(read, part, done, total))
            return True

        def deliver(part: str, report: Report) -> None:
            if not worker.is_cancelled:
                self.post_message(ReportPart(read, job.selection, part, report))

        try:
            self.dashboard.reader.read(job, progress, deliver)
        except ReportStopped:
            return  # a newer read, or the producer left: nobody wants these figures

    # -- showing ---------------------------------------------------------------------------

    def on_story_loaded(self, message: StoryLoaded) -> None:
        if message.view.selection != self.selection or message.read < self.figures.shown_read:
            return  # read for a selection the producer has since changed
        first = self.view is None
        self.figures.view, self.figures.shown_read = message.view, message.read
        if message.scan or (self.figures.scanning is None and not self._busy(SCAN_GROUP)):
            self._start_scan(message.read)  # (the auto-refresh: once the last one is done)
        self.query_one("#story-message").display = False
        self.query_one("#tabs").display = True
        self.query_one("#totals").display = True
        self.stage1_stamp = self.dashboard.stamp()
        self._draw()
        if first:  # the tabs were hidden: nothing had the focus, no tab keys were shown
            self._focus_body()
            self.refresh_bindings()

    def on_scan_progress(self, message: ScanProgress) -> None:
        if self.figures.progressed(message.read, message.part, message.done, message.total):
            self._draw(tabs=(), progress=True)

    def on_report_part(self, message: ReportPart) -> None:
        if message.selection != self.selection or message.read != self.figures.scanning:
            return
        reads, stamp = self.figures, self.dashboard.stamp
        if reads.take(message.read, message.part, message.report, stamp, message.selection):
            self._draw()  # every part is in: the whole report
        else:  # the tab this part completes, if it does
            self._draw(tabs=[t for t, ps in TAB_PARTS.items() if message.part in ps])

    def _draw(self, *, tabs: Collection[str] | None = None, progress: bool = False) -> None:
        """Draw the figures on show: the header, what waits on the scan, and `tabs`
        (None: every tab). With `progress`, only how far the scan is: the header's
        line and the tab on show, if it waits (the others when switched to); that
        builds no report (a scan says how far it is a few times a second)."""
        reads = self.figures
        if reads.view is None:
            return
        have, fresh = reads.whole_state()
        reading = None if reads.scanning is None else reads.scanned
        stale = reads.whole.stamp if have and not fresh and reads.whole else None
        pending = views.reading_note(reading, stale)
        # a line of its own, shown and hidden: a header that lost a line kept its
        # height now and then (Textual's layout, parts coming in a few a frame)
        line = self.query_one("#pending", Static)
        line.display = pending is not None
        if pending is not None:
            line.update(pending)
        figures = Figures(reads.view.selection.min_count)
        if progress:
            if self.active_tab in SCAN_TABS and not reads.ready(self.active_tab):
                self._update(reads.bodies(figures, (self.active_tab,)))
            return
        report = reads.report()[0]
        view, stamp = reads.view, self.stage1_stamp
        if reads.drawn_from("totals", (stamp, view.selection, report.overview, report.endings)):
            self.query_one("#totals", Static).update(views.totals(view, stamp, report=report))
        waits = {tab for tab in SCAN_TABS if not reads.ready(tab)}  # how far each one is
        shown = set(TAB_IDS if tabs is None else tabs) | waits
        self._update(reads.bodies(figures, shown))

    def _update(self, bodies: dict[str, RenderableType]) -> None:
        for tab, body in bodies.items():  # (drawn once per width: `views.ByWidth`)
            self.query_one(f"#{tab}-body", Static).update(views.ByWidth(body))

    def _focus_body(self) -> None:
        """Give the focus to the shown tab's figures, so the scroll keys work at once."""
        active = self.query_one(TabbedContent).active
        if active:
            self.query_one(f"#{active}-scroll", TabBody).focus()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # a scan under way reads this tab next: the tab on show now, not the event's (two
        # quick keys: the first key's event is handled after the second key set its tab)
        self.active_tab = self.query_one(TabbedContent).active or event.pane.id or TAB_IDS[0]
        if self.figures.scanning is not None:
            self._draw(tabs=(), progress=True)  # how far its own parts are, now
        if self.view is not None:  # a number key, ←/→ or a click on a tab
            self._focus_body()

    def query_failed(self, group: str, error: BaseException) -> bool:
        if group == SCAN_GROUP:  # the tabs that waited for it say it on the status line
            self.figures.scanning = None
            self._draw()
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
        # the scan's thread reads the tab on show next: told now, not once the tab's
        # activation has been handled (on a busy UI thread, a part or two later)
        self.active_tab = tab
        self.query_one(TabbedContent).active = tab

    def action_step_tab(self, step: int) -> None:
        """←/→: the previous or next tab, round the end."""
        tabs = self.query_one(TabbedContent)
        at = TAB_IDS.index(tabs.active) if tabs.active in TAB_IDS else 0
        self.action_tab(TAB_IDS[(at + step) % len(TAB_IDS)])

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
        report, fresh = self.figures.report()  # and whether stage 2's are as new
        if not fresh:
            self.say(Text("Nothing to export yet: every event is still being read (see the top)."))
            return
        self._export(replace(self.view, report=report, complete=True))

    @work(thread=True, group="export", exit_on_error=False)
    def _export(self, view: StoryView) -> None:
        dashboard = self.dashboard
        self.post_message(Exported(export_html(view, dashboard.export_dir, dashboard.now())))

    def on_exported(self, message: Exported) -> None:
        self.say(Text.assemble(("Exported ", "bold"), literal(message.path)))
