"""A story screen's reads and what each tab shows of them (`tui.dashboard.tabs`), and the
reading processes' footprint (`tui.dashboard.serving`), without an app."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult

from branching.render.figures import Figures
from branching.tui.dashboard import data, serving
from branching.tui.dashboard.data import SCAN_PARTS, Selection
from branching.tui.dashboard.reading import ProcessReader, ScanJob
from branching.tui.dashboard.tabs import SCAN_TABS, TAB_IDS, StoryReads, WholeRead
from branching.tui.dashboard.views import ByWidth
from tests import test_dashboard_stages as stages

template, db = stages.template, stages.db  # a simulated audience


def test_a_reading_process_loads_no_ui_library_and_bounds_sqlites_memory(db: Path) -> None:
    reader = ProcessReader(1, target="tests.dashboard_probe:probe")
    try:
        got: dict[str, object] = {}
        job = ScanJob(str(db), "heist", Selection(), SCAN_PARTS[:1])
        reader.read(job, lambda *_: True, got.__setitem__)
    finally:
        reader.close()
    assert got["choices"] == ([], serving.SQLITE_HEAP)


@pytest.fixture
def reads(db: Path) -> StoryReads:
    view = data.load_figures(db, "heist", Selection())
    return StoryReads(view=view, shown_read=2)


def test_a_tab_is_ready_once_its_own_parts_are_in_and_then_shows_them(
    reads: StoryReads, db: Path
) -> None:
    reads.start_scan(2)
    assert not any(reads.ready(tab) for tab in SCAN_TABS)
    assert reads.tab_report("paths") is None
    paths = data.read_report(db, "heist", Selection(), tables=("paths",))
    reads.parts["paths"] = paths
    assert reads.ready("paths") and not reads.ready("segments")
    shown = reads.tab_report("paths")
    assert shown is not None and shown.paths == paths.paths
    assert reads.tab_report("paths") is shown  # put together once, not on every draw


def test_an_older_whole_read_serves_every_tab_and_its_merge_is_built_once(
    reads: StoryReads, db: Path
) -> None:
    whole = data.read_report(db, "heist", Selection())
    reads.whole = WholeRead(1, whole, "12:00:00", Selection().counted())  # the read before
    assert all(reads.ready(tab) for tab in SCAN_TABS)
    assert reads.whole_state() == (True, False)  # in, but older than the totals
    report, fresh = reads.report()
    assert not fresh and report.paths == whole.paths
    assert reads.report()[0] is report
    reads.whole = WholeRead(2, whole, "12:00:05", Selection().counted())
    assert reads.report() == (whole, True)


def test_a_body_is_drawn_again_only_when_its_figures_change(reads: StoryReads, db: Path) -> None:
    figures = Figures()
    assert set(reads.bodies(figures, TAB_IDS)) == set(TAB_IDS)  # the first draw: every tab
    assert reads.bodies(figures, TAB_IDS) == {}  # nothing new: every widget keeps its body
    reads.start_scan(2)
    for name, tables in SCAN_PARTS:
        part = data.read_report(db, "heist", Selection(), tables=tables)
        last = reads.take(2, name, part, lambda: "12:00:05", Selection())
        drawn = reads.bodies(figures, TAB_IDS)
        if name == "choices":  # its timeouts and time to decide are in
            assert set(drawn) == {"choices"} | set(SCAN_TABS)  # (the waiting tabs: how far)
        if last:  # the whole report: the figures on show already had every tab's figures
            assert "choices" not in drawn and "flowchart" not in drawn
    assert set(reads.bodies(Figures(min_count=5), TAB_IDS)) == set(TAB_IDS) - {"flowchart"}


class Counted:
    """A body that counts its drawings."""

    def __init__(self, body: RenderableType) -> None:
        self.body, self.drawn = body, 0

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        self.drawn += 1
        yield from console.render(self.body, options)


def test_a_body_is_drawn_once_per_width_and_as_itself(reads: StoryReads) -> None:
    body = reads.bodies(Figures(), ("choices",))["choices"]
    counted = Counted(body)
    once = ByWidth(counted)

    console = Console(width=120, height=40, file=io.StringIO(), color_system="truecolor")

    def drawn(renderable: RenderableType, width: int, height: int | None) -> str:
        options = console.options.update(width=width, height=height)
        return "".join(s.text + str(s.style) for s in console.render(renderable, options))

    # Textual counts the lines (no height), then draws them (its height), then again
    assert drawn(once, 100, None) == drawn(once, 100, 30) == drawn(once, 100, 31)
    assert counted.drawn == 1
    assert drawn(once, 60, None) == drawn(body, 60, None) != drawn(body, 100, None)
    assert counted.drawn == 2


def test_a_whole_read_of_the_selection_before_a_filter_change_is_not_shown(
    reads: StoryReads, db: Path
) -> None:
    """Until the new selection's events are read, its tabs wait: the figures of every
    session would otherwise pass for region=NL's under the new header."""
    whole = data.read_report(db, "heist", Selection())
    reads.whole = WholeRead(1, whole, "12:00:00", Selection().counted())
    assert reads.whole_state() == (True, False)
    assert reads.view is not None
    nl = Selection(where=("region=NL",))
    reads.view = data.load_figures(db, "heist", nl)
    assert reads.whole_state() == (False, False)
    assert not any(reads.ready(tab) for tab in SCAN_TABS)
    assert reads.report()[0] is reads.view.report
    reads.view = data.load_figures(db, "heist", replace(nl, min_share=0.2, depth=2))
    reads.whole = WholeRead(2, whole, "12:00:05", nl.counted())
    assert reads.whole_state() == (True, True)  # drawing less reads the same figures


def test_a_waiting_tab_is_drawn_again_as_its_read_moves(reads: StoryReads) -> None:
    figures = Figures()
    reads.start_scan(2)
    reads.progressed(2, "paths", 1, 10)
    assert "paths" in reads.bodies(figures, ("paths",))
    reads.progressed(2, "paths", 5, 10)
    assert "paths" in reads.bodies(figures, ("paths",))  # 10% -> 50%


def test_choices_are_drawn_again_when_only_the_time_to_decide_changes(
    reads: StoryReads, db: Path
) -> None:
    figures = Figures()
    reads.start_scan(2)
    for name, tables in SCAN_PARTS:
        part = data.read_report(db, "heist", Selection(), tables=tables)
        reads.take(2, name, part, lambda: "12:00:05", Selection())
    reads.bodies(figures, TAB_IDS)
    whole = reads.whole
    assert whole is not None and whole.report.timing
    timing = tuple(replace(t, median_ms=(t.median_ms or 0) + 1000) for t in whole.report.timing)
    reads.whole = replace(whole, report=replace(whole.report, timing=timing))
    assert "choices" in reads.bodies(figures, ("choices",))


def test_endings_by_kind_count_each_viewer_once(tmp_path: Path) -> None:
    """By viewers a viewer who ended two sessions at two bad endings is one viewer of the
    bad endings: stage 1 (the graph's per-ending counts) cannot say so and leaves the kinds
    to the whole read, which the merged report then shows, as `stats` does."""
    from click.testing import CliRunner

    from branching.cli import cli

    path = tmp_path / "v.db"
    made = CliRunner().invoke(
        cli, ["simulate", "signal", "--sessions", "300", "--seed", "2", "--db", str(path)]
    )
    assert made.exit_code == 0, made.output
    by_viewers = Selection(unit="viewers")
    quick = data.load_figures(path, "signal", by_viewers).report
    whole = data.combined(
        {
            tables: data.read_report(path, "signal", by_viewers, tables=tables)
            for _, tables in SCAN_PARTS
        }
    )
    summed = {}
    for ending in quick.endings:
        summed[ending.kind] = summed.get(ending.kind, 0) + ending.count
    once = {k.kind: k.count for k in whole.ending_kinds}
    assert summed != once  # some viewer ended twice at one kind here: the case in point
    assert quick.ending_kinds == ()
    assert data.merged(quick, whole).ending_kinds == whole.ending_kinds
    by_sessions = data.load_figures(path, "signal", Selection()).report
    assert {k.kind: k.count for k in by_sessions.ending_kinds} == {
        k.kind: k.count
        for k in data.read_report(path, "signal", Selection(), tables=("endings",)).ending_kinds
    }
