"""What the dashboard reads and writes, as blocking calls with no UI in them.

Every function here runs inside a thread worker of a dashboard screen and
opens its own read-only connection there (STYLE habit 7): `open_readonly`
checks the file is a branching database and connects with SQLite's `mode=ro`,
so a producer watching a live kiosk never blocks the players recording to it.

- `list_stories(db)`: every story recorded, with sessions (real and
  simulated), viewers, completion and last activity: the same answer as
  `branching stats` without a story (`analytics.stories.recorded_stories`),
  from indexes and running totals, so it is instant on a big database;
- `load_story(db, story, selection)`: the flowchart graph and the report of
  one story for one `Selection` (filters plus how to count and draw), the two
  analytics calls the `flowchart` and `stats` commands make;
- `export_html(view, folder, when)`: the current view as one self-contained
  HTML file (`render.to_html`), created 0600 (`store.paths.private_output`):
  it holds what viewers did.

No textual here, so these are tested without an app.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from branching.analytics import AnalyticsError, Filters, FlowGraph, Report, Unit, make_filters
from branching.analytics.source import open_readonly, versions
from branching.analytics.stories import RecordedStory, recorded_stories
from branching.store.paths import private_output

UNITS: tuple[Unit, ...] = ("sessions", "viewers")


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
    """Everything a story screen shows: the graph, the report, and the versions known."""

    story: str  # as the producer named it: a story id, file or folder
    selection: Selection
    graph: FlowGraph
    report: Report
    versions: tuple[tuple[str, str], ...]  # (content hash, "label (hash)"), newest first

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


def load_story(db: str | Path, story: str, selection: Selection) -> StoryView:
    """The graph and report of `story` (id, file or folder) for `selection`."""
    from branching.analytics import build_report, flow_graph

    filters = selection.filters()
    graph = flow_graph(story, db=db, filters=filters, unit=selection.unit)
    report = build_report(story, db=db, filters=filters, unit=selection.unit)
    conn = open_readonly(db)
    try:
        known = tuple(
            (v.content_hash, v.describe()) for v in versions(conn, report.overview.story_id)
        )
    finally:
        conn.close()
    return StoryView(story, selection, graph, report, known)


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
