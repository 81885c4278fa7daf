"""What the dashboard reads and writes, as blocking calls with no UI in them.

Every function here runs inside a thread worker of a dashboard screen and
opens its own read-only connection there (STYLE habit 7): `open_readonly`
checks the file is a branching database and connects with SQLite's `mode=ro`,
so a producer watching a live kiosk never blocks the players recording to it.

- `list_stories(db)`: every story recorded, with sessions (real and
  simulated), viewers, completion and last activity: the same answer as
  `branching stats` without a story (`analytics.stories.recorded_stories`),
  from indexes and running totals, so it is instant on a big database;
- `load_figures(db, story, selection)`: stage 1, the flowchart graph of one
  story for one `Selection` (filters plus how to count and draw), and
  `quick_report(graph)`, the parts of the stats report the graph answers
  (totals, choice shares and counts, endings, who stopped where): the graph
  comes from the running totals or the aggregates, so this takes well under a
  second at ten million events (counting by viewers reads the events);
- `read_report(db, story, selection, progress, tables=)`: stage 2, the
  whole report (`analytics.build_report`) or some of its tables, for paths,
  "choices that make no difference", time to decide and segments, from the
  digests and aggregates where the store keeps them and else from the
  events: `progress(done, total)` hears how far it is and stops it by
  returning False (`ReportStopped`); the figures it shares with stage 1 are
  the same. The screen reads it in parts (`SCAN_PARTS`, the tab on show
  first, in processes of their own: `reading`) and puts the parts back
  together (`combined`);
- `load_story(db, story, selection)`: both at once (the view `e` exports, and
  the consistency suite);
- `export_html(view, folder, when)`: the current view as one self-contained
  HTML file (`render.to_html`), created 0600 (`store.paths.private_output`):
  it holds what viewers did.

No textual here, so these are tested without an app.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import astuple, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from branching.analytics import AnalyticsError, Filters, FlowGraph, Report, Unit, make_filters
from branching.analytics.report import Progress
from branching.analytics.rows import ChoiceShare, DropOff, EndingShare, Overview, SceneReach
from branching.analytics.source import open_readonly, versions
from branching.analytics.stories import RecordedStory, recorded_stories
from branching.store.paths import private_output

UNITS: tuple[Unit, ...] = ("sessions", "viewers")

# Stage 2 reads the report in parts, the parts of the tab on show first, so each
# tab waits only for its own tables: (the part, the report tables it reads). A
# tab waits for the parts `TAB_PARTS` names; Segments is two parts (segments,
# tags), read at once in two processes. Past the tab on show, the tabs in their
# order, the short parts first (CPU seconds at 10 M events, alone: choices 0.18,
# dropoff 0.27, flags 0.15, paths 0.35, segments 0.8, tags 0.8): a tab switched
# to early finds its figures read or nearly, and one whose parts wait makes way
# for itself (`reading`). The last part holds the tables no tab waits for, so
# the parts make the whole.
SCAN_PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("choices", ("choices", "timing")),
    ("dropoff", ("dropoff", "progress")),
    ("flags", ("flags", "unreached")),
    ("paths", ("paths",)),
    ("segments", ("segments",)),
    ("tags", ("tags",)),
    ("", ("overview", "reach", "endings", "interactions")),
)
TAB_PARTS: dict[str, tuple[str, ...]] = {  # a tab that waits for stage 2 -> its parts
    "choices": ("choices",),
    "dropoff": ("dropoff",),
    "paths": ("paths",),
    "segments": ("segments", "tags"),
    "flags": ("flags",),
}
_REPORT_FIELDS: dict[str, tuple[str, ...]] = {  # a report table -> the `Report` fields it fills
    "overview": ("overview",),
    "reach": ("reach",),
    "choices": ("choices",),
    "timing": ("timing",),
    "dropoff": ("dropoff",),
    "endings": ("endings", "ending_kinds"),
    "paths": ("paths",),
    "interactions": ("interactions",),
    "progress": ("progress",),
    "segments": ("segments",),
    "tags": ("tags",),
    "flags": ("flags",),
    "unreached": ("unreached_scenes", "unreached_choices"),
}


StoryRow = RecordedStory  # one line of the story list: `analytics.stories` answers it


@dataclass(frozen=True, slots=True)
class Selection:
    """Which sessions to count, in what unit, and how much of the flowchart to draw.

    The filter fields hold what the producer typed (checked by `filters()`);
    `min_share` is a fraction (0.05 for 5%).
    """

    version: str | None = None
    since: str | None = None
    until: str | None = None
    where: tuple[str, ...] = ()
    first_only: bool = False
    unit: Unit = "sessions"
    min_share: float = 0.0
    depth: int | None = None
    min_count: int = 0
    audience: str = "auto"  # real viewers where there are any, else the simulated ones

    def filters(self) -> Filters:
        """The analytics filters; a bad date or `where` item raises AnalyticsError."""
        if self.unit not in UNITS:
            raise AnalyticsError(f"count by sessions or viewers, not {self.unit!r}")
        if not 0 <= self.min_share <= 1:
            raise AnalyticsError("the minimum share is a percentage between 0 and 100")
        if self.depth is not None and self.depth < 0:
            raise AnalyticsError("the depth is a number of choices, 0 or more")
        if self.min_count < 0:
            raise AnalyticsError("the small-count threshold is 0 or more")
        return make_filters(
            since=self.since,
            until=self.until,
            version=self.version,
            where=self.where,
            first_only=self.first_only,
            audience=self.audience,
        )

    def counted(self) -> tuple[object, ...]:
        """What chooses and counts the sessions (not how they are drawn): two selections
        alike in this read the same figures (a field added later counts unless named here)."""
        return astuple(replace(self, min_share=0.0, depth=None, min_count=0))

    def drawing(self) -> str:
        """The flowchart's pruning and hiding in words ('' when it draws everything)."""
        parts = []
        if self.min_share:
            parts.append(f"choices under {self.min_share * 100:g}% folded")
        if self.depth is not None:
            parts.append(f"depth {self.depth}")
        if self.min_count:
            parts.append(f"counts below {self.min_count} hidden")
        return " · ".join(parts)


@dataclass(frozen=True, slots=True)
class StoryView:
    """Everything a story screen shows: the graph, the report, and the versions known.

    `complete` is False for stage 1: `report` is then `quick_report(graph)`,
    which leaves out what only a read of every event can say.
    """

    story: str  # as the producer named it: a story id, file or folder
    selection: Selection
    graph: FlowGraph
    report: Report
    versions: tuple[tuple[str, str], ...]  # (content hash, "label (hash)"), newest first
    complete: bool = True

    @property
    def endings_found(self) -> tuple[int, int]:
        """(endings reached by at least one, endings in the story)."""
        endings = self.report.endings
        return sum(1 for e in endings if e.count), len(endings)


def list_stories(db: str | Path) -> list[StoryRow]:
    """Every story in the database, newest activity first (registered but unplayed last).

    The answer `branching stats` lists too (`analytics.stories`): counts from
    the sessions' indexes and the running totals, never a read of the events.
    """
    return recorded_stories(db)


def load_figures(db: str | Path, story: str, selection: Selection) -> StoryView:
    """Stage 1: the graph of `story` (id, file or folder) for `selection`, and what
    of the report it answers (`complete` False)."""
    from branching.analytics import flow_graph

    graph = flow_graph(story, db=db, filters=selection.filters(), unit=selection.unit)
    if not graph.telemetry:  # nothing recorded: say so as `stats` does (it fails at once)
        read_report(db, story, selection)
    conn = open_readonly(db)
    try:
        known = tuple((v.content_hash, v.describe()) for v in versions(conn, graph.story_id))
    finally:
        conn.close()
    return StoryView(story, selection, graph, quick_report(graph), known, complete=False)


def read_report(
    db: str | Path,
    story: str,
    selection: Selection,
    progress: Progress | None = None,
    *,
    tables: Collection[str] | None = None,
) -> Report:
    """Stage 2: the whole report of the selection, or only the named `tables`
    (the other tables' rows are left empty)."""
    from branching.analytics import build_report

    filters = selection.filters()
    return build_report(
        story, db=db, filters=filters, unit=selection.unit, progress=progress, tables=tables
    )


def combined(parts: Mapping[tuple[str, ...], Report]) -> Report:
    """One report from reports that each read some of the tables (`SCAN_PARTS`):
    every table's rows from the part that read it."""
    if not parts:
        raise ValueError("no part of the report was read")
    first = next(iter(parts.values()))
    fields: dict[str, Any] = {}
    for tables, part in parts.items():
        for table in tables:
            for name in _REPORT_FIELDS[table]:
                fields[name] = getattr(part, name)
    return replace(first, **fields)


def load_story(db: str | Path, story: str, selection: Selection) -> StoryView:
    """The graph and the whole report of `story` for `selection` (both stages)."""
    view = load_figures(db, story, selection)
    return replace(view, report=read_report(db, story, selection), complete=True)


def quick_report(graph: FlowGraph) -> Report:
    """The figures of the stats report that the graph holds, in the report's rows.

    The totals, each choice's takers and share (not how many times it was
    taken, nor timeouts: those count events), the endings, and who stopped
    where (not which of them may still resume). The rest stays empty.
    """
    unit: Unit = "viewers" if graph.unit == "viewers" else "sessions"
    sessions, viewers = graph.sessions or 0, graph.viewers or 0
    started = viewers if unit == "viewers" else sessions
    overview = Overview(
        graph.story_id,
        graph.title,
        unit,
        graph.filters,
        (),
        sessions,
        viewers,
        started,
        graph.completed or 0,
        None,
        None,
        0,
    )
    scenes = [s for s in graph.scenes.values() if not s.is_box]
    choices = tuple(
        ChoiceShare(
            s.id, s.title, e.choice, e.label, e.target, e.count, s.visits, 0, 0, e.tags, e.retired
        )
        for s in scenes
        for e in s.edges
        if not e.is_route
    )
    endings = tuple(
        EndingShare(
            s.id, s.ending_title or s.title, s.ending_kind or "neutral", s.ended or 0, started
        )
        for s in scenes
        if s.is_ending
    )
    reach = tuple(  # the scene titles the tables name rows by (`visits` is not known here)
        SceneReach(s.id, s.title, s.chapter, s.kind, s.visits, started, 0) for s in scenes
    )
    kinds: dict[str, int] = {}
    if overview.unit == "sessions":  # each session ends once: the kinds are sums
        for e in endings:  # (by viewers one may end at two of a kind: a whole read says)
            kinds[e.kind] = kinds.get(e.kind, 0) + e.count
    return Report(
        overview=overview,
        reach=reach,
        choices=choices,
        endings=endings,
        ending_kinds=tuple(EndingShare(k, k, k, n, started) for k, n in sorted(kinds.items())),
        dropoff=tuple(
            DropOff(s.id, s.title, s.visits, s.left, 0) for s in scenes if not s.is_ending or s.left
        ),
    )


def merged(quick: Report, full: Report) -> Report:
    """Stage 1's figures (`quick`, newer) with what only the last whole read had (`full`).

    Times taken and timeouts of each choice, time to decide, who may still
    resume, paths, progress, segments, tags and flags come from `full`.
    """
    taken = {(c.scene, c.choice, c.target): c for c in full.choices}
    unfinished = {d.scene: d.unfinished for d in full.dropoff}
    return replace(
        full,
        overview=quick.overview,
        choices=tuple(
            replace(c, times=t.times, timeouts=t.timeouts)
            if (t := taken.get((c.scene, c.choice, c.target)))
            else c
            for c in quick.choices
        ),
        endings=quick.endings,
        ending_kinds=quick.ending_kinds or full.ending_kinds,  # (by viewers: the read's)
        dropoff=tuple(replace(d, unfinished=unfinished.get(d.scene, 0)) for d in quick.dropoff),
    )


def export_html(view: StoryView, folder: Path, when: datetime) -> Path:
    """Write the view as one self-contained HTML file in `folder`; its path."""
    from branching.render import to_html

    s = view.selection
    page = to_html(
        view.graph, view.report, min_count=s.min_count, depth=s.depth, min_share=s.min_share
    )
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", view.report.overview.story_id).strip("-.")
    stem = f"{stem or 'story'}-dashboard-{when:%Y%m%d-%H%M%S}"
    folder.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        target = folder / (f"{stem}.html" if n == 1 else f"{stem}-{n}.html")
        try:
            with private_output(target, exclusive=True) as handle:  # 0600, never overwrite
                handle.write(page.encode("utf-8"))
        except FileExistsError:
            n += 1
            continue
        return target
