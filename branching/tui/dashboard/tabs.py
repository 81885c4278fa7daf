"""What each tab of a story screen shows, from the reads that are in: no textual here.

`StoryReads` holds one story screen's figures: stage 1 (`view`), the parts
of the scan under way (`parts`, `within`) and the last whole read (`whole`),
takes what a scan says (`progressed`, `take`: the last part makes the whole
read), and answers what the screen draws: the report on show, whether a tab's own
figures are in (`ready`, which builds nothing: a progress tick asks it a few
times a second), a tab's figures (`tab_report`) and each tab's body
(`bodies`). A report put together from others (`data.merged`,
`data.combined`) is built once per set of reads it comes from, not on each
draw. `screens.story` owns the widgets, the workers and the messages; this
is the state they change, tested without an app.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from rich.console import Group, RenderableType

from branching.analytics.rows import Report
from branching.render.figures import Figures
from branching.render.tables import report_tables
from branching.tui.dashboard import views
from branching.tui.dashboard.data import (
    SCAN_PARTS,
    TAB_PARTS,
    Selection,
    StoryView,
    combined,
    merged,
)

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
SCAN_TABS = tuple(t for t in TAB_PARTS if t != "choices")  # wait for the scan, in part or all
PART_TABLES = dict(SCAN_PARTS)  # part -> the report tables it reads
_SHEETS: dict[str, tuple[str, ...]] = {  # a tab of `branching stats` sheets -> their names
    "endings": ("endings",),
    "dropoff": ("dropoff", "progress"),
    "paths": ("paths",),
    "segments": ("segments", "tags"),
    "flags": ("flags", "unreached"),
}
Drawn = tuple[object, Callable[[], RenderableType]]  # (what a body is drawn from, its drawing)


@dataclass(frozen=True, slots=True)
class WholeRead:
    """The last whole report of the selection on show, and which read started it."""

    read: int
    report: Report
    stamp: str
    counted: tuple[object, ...]  # the selection it counted (`Selection.counted`)


@dataclass(eq=False)
class StoryReads:
    """The figures one story screen has (see the module docstring)."""

    view: StoryView | None = None
    shown_read: int = 0  # the read (stage 1) whose figures are on show
    whole: WholeRead | None = None
    scanning: int | None = None  # the read whose scan is under way
    within: dict[str, float] = field(default_factory=dict)  # how far each part under way is
    parts: dict[str, Report] = field(default_factory=dict)  # what that scan has read, by part
    _built: dict[str, tuple[tuple[object, ...], Report]] = field(default_factory=dict)
    _drawn: dict[str, object] = field(default_factory=dict)  # name -> what it was drawn from

    @property
    def scanned(self) -> float:
        """How far the scan under way is, 0..1: its parts in and those under way."""
        return min(1.0, (len(self.parts) + sum(self.within.values())) / len(SCAN_PARTS))

    def start_scan(self, read: int | None) -> None:
        """A scan starts for `read` (None: none runs): nothing of it is in yet."""
        self.scanning, self.parts, self.within = read, {}, {}

    def progressed(self, read: int, part: str, done: int, total: int) -> bool:
        """Scan `read` says how far `part` is; whether that is news (a part under way)."""
        if read != self.scanning or not total or part in self.parts:
            return False
        self.within[part] = min(1.0, done / total)
        return True

    def take(
        self,
        read: int,
        part: str,
        report: Report,
        stamp: Callable[[], str],
        selection: Selection,
    ) -> bool:
        """`part` of scan `read` (of `selection`) is in; True when it was the last: the
        whole report is in (`whole`, read at `stamp()`) and no scan runs."""
        self.parts[part] = report
        self.within.pop(part, None)
        if len(self.parts) < len(SCAN_PARTS):
            return False
        whole = combined({PART_TABLES[name]: got for name, got in self.parts.items()})
        self.whole = WholeRead(read, whole, stamp(), selection.counted())
        self.start_scan(None)
        return True

    def whole_state(self) -> tuple[bool, bool]:
        """(a whole read of the selection on show is in, and it is as new as stage 1).
        A read of another selection (before a filter change) is not shown: its figures
        would pass for the new selection's under the new header."""
        whole, view = self.whole, self.view
        if whole is None or view is None:
            return False, False
        have = whole.counted == view.selection.counted()
        return have, have and whole.read >= self.shown_read

    def report(self) -> tuple[Report, bool]:
        """The report to show, and whether the stage-2 figures in it are as new as the rest."""
        assert self.view is not None
        have, fresh = self.whole_state()
        if not have or self.whole is None:
            return self.view.report, False
        if fresh:
            return self.whole.report, True
        quick, full = self.view.report, self.whole.report
        return self._once("", (quick, full), lambda: merged(quick, full)), False

    def ready(self, tab: str) -> bool:
        """Whether `tab`'s own figures are in (builds nothing)."""
        return all(name in self.parts for name in TAB_PARTS[tab]) or self.whole_state()[0]

    def tab_report(self, tab: str) -> Report | None:
        """The figures `tab` shows once every event it needs is read (None: not yet):
        the parts the scan under way has read for it, else the last whole read."""
        assert self.view is not None
        names = TAB_PARTS[tab]
        if all(name in self.parts for name in names):
            quick, got = self.view.report, tuple(self.parts[name] for name in names)

            def build() -> Report:
                part = combined({PART_TABLES[n]: r for n, r in zip(names, got, strict=True)})
                return merged(quick, part)

            return self._once(tab, (quick, *got), build)
        return self.report()[0] if self.whole_state()[0] else None

    def waiting(self, tab: str) -> float:
        """How far the read of `tab`'s own parts is, 0..1."""
        names = TAB_PARTS[tab]
        return sum(1.0 if n in self.parts else self.within.get(n, 0.0) for n in names) / len(names)

    def _waiting_body(self, tab: str, figures: Figures) -> Drawn:
        """What `tab` shows until its own figures are in: how far their read is
        (Drop-off shows who stopped where meanwhile: stage 1 knows it)."""
        assert self.view is not None
        sessions = self.view.report.overview.sessions
        reading = None if self.scanning is None else self.waiting(tab)
        sheets = views.dropoff_sheet(self.report()[0]) if tab == "dropoff" else None

        def build() -> RenderableType:
            note = views.waiting(reading, sessions)
            return note if sheets is None else Group(views.dropoff_only(sheets, figures), note)

        return ("waiting", reading, sessions, sheets, figures), build

    def _body(self, tab: str, figures: Figures) -> Drawn | None:
        """What `tab`'s body is drawn from, and how (None: no such tab)."""
        view = self.view
        assert view is not None
        if tab in TAB_PARTS and tab != "choices" and not self.ready(tab):
            return self._waiting_body(tab, figures)
        if tab == "flowchart":
            s = view.selection
            drawing = (s.depth, s.min_share, s.min_count)
            return (view.graph, drawing), lambda: views.flowchart(view, drawing)
        if tab == "choices":
            timed = self.tab_report("choices")
            report = timed or self.report()[0]
            titles = {sid: scene.title for sid, scene in view.graph.scenes.items()}
            key = (report.overview.unit, report.choices, report.timing, titles, timed is not None)
            return (key, figures), lambda: views.choice_points(
                report, titles, figures, timed=timed is not None
            )
        names = _SHEETS.get(tab)
        if names is None:
            return None
        shown = self.report()[0] if tab == "endings" else self.tab_report(tab)
        assert shown is not None  # (ready)
        sheets = tuple(report_tables(shown, names))
        if tab == "segments":
            return (sheets, figures), lambda: views.segments_of(sheets, figures)
        return (sheets, figures), lambda: views.tables(sheets, figures)

    def bodies(self, figures: Figures, tabs: Collection[str]) -> dict[str, RenderableType]:
        """The body of each of `tabs` whose figures changed since it was last drawn
        (`drawn_from`): its figures, or how far their read is. A body drawn from the
        same figures as the one on show is left out: the widget keeps it, and a big
        table drawn again costs the UI thread a tenth of a second or more (the whole
        report came in while a producer switched tabs, and every tab was drawn again)."""
        bodies: dict[str, RenderableType] = {}
        for tab in TAB_IDS:
            if tab in tabs and (made := self._body(tab, figures)) is not None:
                if self.drawn_from(tab, made[0]):
                    bodies[tab] = made[1]()
        return bodies

    def drawn_from(self, name: str, key: object) -> bool:
        """Whether `key` (what `name`, a tab or the header, is drawn from) differs from
        what it was last drawn from: it is then remembered as drawn."""
        if name in self._drawn and self._drawn[name] == key:
            return False
        self._drawn[name] = key
        return True

    def _once(self, key: str, sources: tuple[object, ...], build: Callable[[], Report]) -> Report:
        """The report `build()` makes from `sources`, built again only when they change."""
        kept = self._built.get(key)
        if kept is not None and len(kept[0]) == len(sources):
            if all(a is b for a, b in zip(kept[0], sources, strict=True)):
                return kept[1]
        made = build()
        self._built[key] = (sources, made)
        return made
