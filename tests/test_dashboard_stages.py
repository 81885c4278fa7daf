"""The dashboard draws in two stages: what the graph answers at once, the rest as it is read.

Stage 2 (the read of every event) is made slow on purpose: it is read in the
test's thread (`reading.ThreadReader`), through a `read_report` wrapped so
its progress hook waits on an Event the test releases, so "stage 1
shows before stage 2 finishes", "progress is shown" and "a new selection stops
the old read" are checked without any timing. The story list's real and
simulated sessions come from `branching simulate` on a copy of the hand-checked
database of `tests/test_dashboard_data.py`.
"""

from __future__ import annotations

import queue
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from branching.analytics import build_report, make_filters
from branching.analytics.report import ReportStopped
from branching.tui.dashboard import data
from branching.tui.dashboard.data import SCAN_PARTS, Selection, combined, load_figures, read_report
from branching.tui.dashboard.reading import ThreadReader
from branching.tui.dashboard.screens import story as story_module
from tests.test_dashboard import SIZE, make, rows, settle, shown
from tests.test_dashboard_data import copy_db, simulated_db


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulated_db(tmp_path_factory.mktemp("stages"), 3)


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    return copy_db(template, tmp_path)


class Held:
    """`read_report` whose reads wait at their first progress call until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.waiting = threading.Event()  # a read is held
        self.calls: list[Selection] = []
        self.stopped: list[Selection] = []
        self.real = data.read_report

    def __call__(self, db: str, story: str, selection: Selection, progress: Any, **how: Any) -> Any:
        self.calls.append(selection)

        def held(done: int, total: int) -> bool:
            self.waiting.set()
            while not self.release.wait(0.01):
                if not progress(done, total):  # asked to stop while held
                    self.stopped.append(selection)
                    return False
            return bool(progress(done, total))

        return self.real(db, story, selection, held, **how)


def header(app: Any) -> str:
    """The story's header as shown: the totals, and the line on what is still read."""
    pending = app.screen.query_one("#pending")
    return shown(app, "#totals") + (" " + shown(app, "#pending") if pending.display else "")


async def wait_for(pilot: Any, condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError("the dashboard never got there")


async def test_stage_one_shows_while_the_scan_is_held_then_the_scan_fills_in(db: Path) -> None:
    held = Held()
    app = make(db, "heist", reader=ThreadReader(held))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, held.waiting.is_set)
        await wait_for(pilot, lambda: app.screen.query_one("#totals").display)
        totals = header(app)
        assert "6 sessions · 4 viewers" in totals
        assert "Still reading every event" in header(app)
        await pilot.press("2")
        assert "%" in shown(app, "#choices-body")  # shares and counts are there already
        assert "reading every event" in shown(app, "#choices-body")
        await pilot.press("5")
        assert "Reading every event of 6 sessions" in shown(app, "#paths-body")
        held.release.set()
        await settle(pilot)
        assert "Still reading" not in header(app)
        assert "Most common complete paths" in shown(app, "#paths-body")


HEADER = re.compile(r"Still reading every event for [^:]*: (\d+)%")


async def test_the_progress_of_the_scan_is_shown_as_it_goes(db: Path, monkeypatch: Any) -> None:
    """Each progress call waits for the test, which reads the percentage the header
    shows: it only ever grows, across the parts the scan reads one after the other."""
    told: queue.Queue[int] = queue.Queue()
    go = threading.Semaphore(0)
    real = data.read_report
    monkeypatch.setattr(story_module, "PROGRESS_EVERY", 0.0)  # every call reaches the screen

    def stepped(db: str, story: str, selection: Selection, progress: Any, **how: Any) -> Any:
        def step(done: int, total: int) -> bool:
            going = bool(progress(done, total))
            told.put(done)
            go.acquire(timeout=10)
            return going

        return real(db, story, selection, step, **how)

    app = make(db, "signal", reader=ThreadReader(stepped))
    async with app.run_test(size=SIZE) as pilot:
        shown_at: list[int] = []
        for _ in range(12):
            for _ in range(300):  # until the worker is held in a progress call (or done)
                if not told.empty():
                    break
                await pilot.pause(0.01)
            if told.empty():
                break  # every part is read
            told.get()
            await wait_for(pilot, lambda: HEADER.search(header(app)))
            found = HEADER.search(header(app))
            assert found is not None
            shown_at.append(int(found.group(1)))
            go.release()
        for _ in range(10_000):
            go.release()  # let the rest through
        await settle(pilot)
        assert "Most common complete paths" in shown(app, "#paths-body")
    assert len(set(shown_at)) > 1  # it moved
    assert shown_at == sorted(shown_at)


class PartByPart:
    """`read_report` whose parts each wait for a go before they read."""

    def __init__(self) -> None:
        self.go = threading.Semaphore(0)
        self.parts: list[tuple[str, ...]] = []
        self.real = data.read_report

    def __call__(self, db: str, story: str, selection: Selection, progress: Any, **how: Any) -> Any:
        self.parts.append(tuple(how["tables"]))
        while not self.go.acquire(timeout=0.01):
            if not progress(0, 1):
                raise ReportStopped("stopped while held")
        return self.real(db, story, selection, progress, **how)


async def test_the_tab_on_show_is_read_first_and_shows_before_the_rest(db: Path) -> None:
    parts = PartByPart()
    app = make(db, "signal", reader=ThreadReader(parts))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: parts.parts)  # the first part is held
        await wait_for(pilot, lambda: app.screen.query_one("#totals").display)  # stage 1 in
        assert parts.parts[0] == ("choices", "timing")  # the Flowchart on show needs none
        await pilot.press("6")  # Segments, while the first part is still being read
        parts.go.release()  # the first part is read; the next ones are the tab on show's
        await wait_for(pilot, lambda: len(parts.parts) == 2)
        assert parts.parts[1] == ("segments",)
        assert "Reading every event" in shown(app, "#segments-body")
        parts.go.release()
        await wait_for(pilot, lambda: len(parts.parts) == 3)
        assert parts.parts[2] == ("tags",)
        assert "Reading every event" in shown(app, "#segments-body")  # half of it is in
        parts.go.release()
        await wait_for(pilot, lambda: "Reading every event" not in shown(app, "#segments-body"))
        assert "Reading every event" in shown(app, "#paths-body")  # its part is not read yet
        assert "Still reading every event" in header(app)
        for _ in range(len(story_module.SCAN_PARTS)):
            parts.go.release()
        await wait_for(pilot, lambda: "Still reading" not in header(app))
        assert "Most common complete paths" in shown(app, "#paths-body")
    assert sorted(parts.parts) == sorted(tables for _, tables in story_module.SCAN_PARTS)


async def test_a_filter_change_stops_the_old_scan_and_shows_the_new_selection(db: Path) -> None:
    held = Held()
    app = make(db, "heist", reader=ThreadReader(held))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, held.waiting.is_set)
        screen = app.screen
        assert isinstance(screen, story_module.StoryScreen)
        held.waiting.clear()
        screen._filtered(Selection(first_only=True))  # what the filter dialog's Apply does
        await wait_for(pilot, lambda: held.stopped == [Selection()])  # the old read stopped
        await wait_for(pilot, held.waiting.is_set)  # the new one is under way
        await wait_for(pilot, lambda: "4 sessions" in header(app))  # first plays only
        held.release.set()
        await settle(pilot)
        assert held.calls[0] == Selection()  # held there, then stopped:
        assert set(held.calls[1:]) == {Selection(first_only=True)}  # nothing more of it read
        assert "4 sessions · 4 viewers" in header(app)
        assert "first playthrough" in header(app)
        assert "Still reading" not in header(app)


async def test_leaving_the_story_stops_its_scan(db: Path) -> None:
    held = Held()
    app = make(db, "heist", reader=ThreadReader(held))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, held.waiting.is_set)
        await pilot.press("escape")
        await wait_for(pilot, lambda: held.stopped == [Selection()])
        await settle(pilot)


async def test_the_story_list_shows_real_and_simulated_sessions_apart(db: Path) -> None:
    app = make(db)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        listed = rows(app)
        assert listed["signal"][2] == "40 simulated"
        assert listed["heist"][2] == "6 real"


@pytest.mark.parametrize(
    "selection", [Selection(), Selection(first_only=True), Selection(audience="all")]
)
def test_stage_one_figures_are_the_whole_reports(db: Path, selection: Selection) -> None:
    """What stage 1 shows of the report is what stage 2 says, for every tab it fills."""
    for story in ("heist", "signal"):
        quick = load_figures(db, story, selection).report
        whole = build_report(story, db=db, filters=selection.filters(), unit=selection.unit)
        o, w = quick.overview, whole.overview
        assert (o.sessions, o.viewers, o.started, o.completed) == (
            w.sessions,
            w.viewers,
            w.started,
            w.completed,
        )
        assert [(c.scene, c.choice, c.count, c.base) for c in quick.choices] == [
            (c.scene, c.choice, c.count, c.base) for c in whole.choices
        ]
        assert [(e.ending, e.count) for e in quick.endings] == [
            (e.ending, e.count) for e in whole.endings
        ]
        assert quick.ending_kinds == whole.ending_kinds
        assert [(d.scene, d.reached, d.left) for d in quick.dropoff] == [
            (d.scene, d.reached, d.left) for d in whole.dropoff
        ]


@pytest.mark.parametrize("selection", [Selection(), Selection(unit="viewers", audience="all")])
def test_the_parts_the_scan_reads_make_the_whole_report(db: Path, selection: Selection) -> None:
    """Read a tab at a time (in any order), then put together: every figure of the whole."""
    for story in ("heist", "signal"):
        whole = read_report(db, story, selection)
        parts = {
            tables: read_report(db, story, selection, tables=tables)
            for _, tables in reversed(SCAN_PARTS)
        }
        assert combined(parts) == whole


def test_a_report_told_to_stop_stops_and_one_left_alone_is_unchanged(db: Path) -> None:
    from branching.analytics.report import ReportStopped

    calls: list[tuple[int, int]] = []

    def watch(done: int, total: int) -> bool:
        calls.append((done, total))
        return True

    filters = make_filters()
    assert build_report("signal", db=db, filters=filters, progress=watch) == build_report(
        "signal", db=db, filters=filters
    )
    assert calls and all(0 <= d <= t for d, t in calls)
    with pytest.raises(ReportStopped):
        build_report("signal", db=db, filters=filters, progress=lambda d, t: False)
