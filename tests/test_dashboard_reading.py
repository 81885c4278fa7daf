"""Stage 2 read in processes of its own (`tui.dashboard.reading`): same figures, stops, errors.

The reading processes run `fake_read` below (by name: a process cannot be
handed a function), which reads for real unless a marker file beside the
database says to misbehave: read on until told to stop (`.endless`), ignore
being told (`.stubborn`), die (`.crash`), or fail with an error that cannot
travel between processes as it is (`.broken`) or one that can (`.locked`),
or read the tables it names until the file goes (`.slow`).
Nothing waits on time: each test waits for what a viewer would see.
"""

from __future__ import annotations

import io
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from branching.analytics import build_report
from branching.analytics.report import ReportStopped
from branching.errors import StoryInvalid
from branching.render.figures import Figures
from branching.render.tables import report_tables
from branching.tui.dashboard import data, reading, views
from branching.tui.dashboard.data import SCAN_PARTS, TAB_PARTS, Selection, combined
from branching.tui.dashboard.reading import PartFailed, ProcessReader, ScanJob, ThreadReader
from tests import test_dashboard_stages as stages
from tests.test_dashboard import SIZE, make, settle, shown

FAKE = "tests.test_dashboard_reading:fake_read"
template, db = stages.template, stages.db  # the same fixtures: a simulated audience


def fake_read(db: str, story: str, selection: Selection, progress: Any, **how: Any) -> Any:
    """`data.read_report`, or the misbehaviour a marker file beside `db` asks for."""
    marker = Path(db).with_suffix
    if marker(".endless").exists():
        while progress(1, 2):
            time.sleep(0.005)
        raise ReportStopped("stopped")
    while how["tables"][0] in _named_slow(marker(".slow")):
        if not progress(1, 2):  # (the file goes when the test is done with them)
            raise ReportStopped("stopped")
        time.sleep(0.005)
    if marker(".stubborn").exists():
        marker(".asleep").touch()  # (the test stops the read only once it is here)
        time.sleep(3600)
    if marker(".crash").exists():
        os._exit(3)
    if marker(".broken").exists():
        raise StoryInvalid([], "story.yaml")  # its own arguments: cannot be rebuilt as it is
    if marker(".locked").exists():
        raise sqlite3.OperationalError("database is locked")
    return data.read_report(db, story, selection, progress, **how)


def _named_slow(slow: Path) -> list[str]:
    """The tables `.slow` names, or none once the test has removed it (even mid-read)."""
    try:
        return slow.read_text().split()
    except FileNotFoundError:
        return []


@pytest.fixture(scope="module")
def reader() -> Iterator[ProcessReader]:
    made = ProcessReader(target=FAKE)
    made.start()
    yield made
    made.close()


def read_all(reader: Any, db: Path, story: str, selection: Selection | None = None) -> dict:
    got: dict[str, Any] = {}
    job = ScanJob(str(db), story, selection or Selection(), SCAN_PARTS)
    reader.read(job, lambda part, done, total: True, got.__setitem__)
    return got


def pids(reader: ProcessReader) -> list[int | None]:
    return [p.process.pid for p in reader.pool]


@pytest.mark.parametrize("selection", [Selection(), Selection(unit="viewers", audience="all")])
def test_the_parts_read_in_processes_make_the_whole_report(
    reader: ProcessReader, db: Path, selection: Selection
) -> None:
    for story in ("heist", "signal"):
        got = read_all(reader, db, story, selection)
        assert sorted(got) == sorted(name for name, _ in SCAN_PARTS)
        tables = dict(SCAN_PARTS)
        whole = build_report(story, db=db, filters=selection.filters(), unit=selection.unit)
        assert combined({tables[name]: part for name, part in got.items()}) == whole


def test_a_story_named_by_a_relative_path_is_read_from_the_apps_folder(
    reader: ProcessReader, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(db.parent)
    got = read_all(reader, Path(db.name), "heist")
    assert got["paths"].paths  # the same database, not one in the processes' own folder


def test_a_read_told_to_stop_stops_in_its_processes_which_read_on_after(
    reader: ProcessReader, db: Path
) -> None:
    db.with_suffix(".endless").touch()
    before = pids(reader)
    heard: list[str] = []

    def until_heard(part: str, done: int, total: int) -> bool:
        if total:
            heard.append(part)
        return len(heard) < 3  # stop once the parts are well under way

    job = ScanJob(str(db), "heist", Selection(), SCAN_PARTS)
    with pytest.raises(ReportStopped):
        reader.read(job, until_heard, lambda part, report: None)
    db.with_suffix(".endless").unlink()
    assert sorted(read_all(reader, db, "heist")) == sorted(name for name, _ in SCAN_PARTS)
    assert pids(reader) == before  # they stopped when told: none had to be ended


def test_a_process_that_does_not_stop_is_ended_and_replaced(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "STOP_GRACE", 0.1)
    stubborn = ProcessReader(1, target=FAKE)
    try:
        db.with_suffix(".stubborn").touch()
        asleep = db.with_suffix(".asleep")

        def stop_soon(part: str, done: int, total: int) -> bool:
            # stop once the process is deaf to it: a loaded machine may hand a part out
            # long before the process reads it, and one told to stop before then obeys
            return not asleep.exists()

        job = ScanJob(str(db), "heist", Selection(), SCAN_PARTS)
        with pytest.raises(ReportStopped):
            stubborn.read(job, stop_soon, lambda part, report: None)
        before = pids(stubborn)
        db.with_suffix(".stubborn").unlink()
        asleep.unlink()
        assert sorted(read_all(stubborn, db, "heist")) == sorted(n for n, _ in SCAN_PARTS)
        assert pids(stubborn) != before
    finally:
        stubborn.close()


def test_a_part_of_the_tab_on_show_makes_way_for_itself_and_the_other_is_read_again(
    reader: ProcessReader, db: Path
) -> None:
    slow = db.with_suffix(".slow")
    slow.write_text("choices dropoff")  # the first two parts handed out: both processes
    wanted: list[str] = []
    heard: set[str] = set()
    got: dict[str, Any] = {}
    give_up = time.monotonic() + 120

    def switch_once_both_read(part: str, done: int, total: int) -> bool:
        if total and part in ("choices", "dropoff"):
            heard.add(part)
        if heard == {"choices", "dropoff"} and not wanted:
            wanted.append("flags")  # the producer switches to Flags
        return time.monotonic() < give_up  # (without a way made, it would never end)

    def deliver(part: str, report: Any) -> None:
        got[part] = report
        if part == "flags":
            slow.unlink()  # the other parts may end now

    job = ScanJob(str(db), "heist", Selection(), SCAN_PARTS, lambda: wanted)
    reader.read(job, switch_once_both_read, deliver)
    assert list(got)[0] == "flags"  # before the two it made way for
    tables = dict(SCAN_PARTS)
    whole = build_report("heist", db=db, filters=Selection().filters())
    assert combined({tables[name]: part for name, part in got.items()}) == whole


def test_both_parts_of_segments_make_way_at_once(reader: ProcessReader, db: Path) -> None:
    slow = db.with_suffix(".slow")
    slow.write_text("choices dropoff")  # both processes busy with parts nobody looks at
    wanted: list[str] = []
    heard: set[str] = set()
    got: list[str] = []
    give_up = time.monotonic() + 120

    def switch_once_both_read(part: str, done: int, total: int) -> bool:
        if total and part in ("choices", "dropoff"):
            heard.add(part)
        if heard == {"choices", "dropoff"} and not wanted:
            wanted.extend(TAB_PARTS["segments"])  # the producer switches to Segments
        return time.monotonic() < give_up

    def deliver(part: str, report: Any) -> None:
        got.append(part)
        if {"segments", "tags"} <= set(got):
            slow.unlink(missing_ok=True)

    job = ScanJob(str(db), "heist", Selection(), SCAN_PARTS, lambda: wanted)
    reader.read(job, switch_once_both_read, deliver)
    assert sorted(got[:2]) == ["segments", "tags"]  # neither waited for a slow part to end
    assert sorted(got) == sorted(name for name, _ in SCAN_PARTS)


def test_a_process_that_dies_fails_the_read_in_words_and_is_replaced(
    reader: ProcessReader, db: Path
) -> None:
    db.with_suffix(".crash").touch()
    with pytest.raises(PartFailed, match="ended unexpectedly"):
        read_all(reader, db, "heist")
    db.with_suffix(".crash").unlink()
    assert sorted(read_all(reader, db, "heist")) == sorted(name for name, _ in SCAN_PARTS)


def test_errors_come_back_as_raised_or_in_words_with_their_title(
    reader: ProcessReader, db: Path
) -> None:
    db.with_suffix(".locked").touch()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        read_all(reader, db, "heist")
    db.with_suffix(".locked").unlink()
    db.with_suffix(".broken").touch()
    with pytest.raises(PartFailed) as failed:
        read_all(reader, db, "heist")
    assert failed.value.title == StoryInvalid.title


def test_the_thread_reader_reads_the_parts_of_the_tab_on_show_first(db: Path) -> None:
    order: list[tuple[str, ...]] = []

    def noted(db: str, story: str, selection: Selection, progress: Any, **how: Any) -> Any:
        order.append(tuple(how["tables"]))
        return data.read_report(db, story, selection, progress, **how)

    job = ScanJob(str(db), "heist", Selection(), SCAN_PARTS, lambda: TAB_PARTS["dropoff"])
    ThreadReader(noted).read(job, lambda *_: True, lambda part, report: None)
    assert order[0] == ("dropoff", "progress")
    assert sorted(order) == sorted(tables for _, tables in SCAN_PARTS)


# -- what a viewer sees, with the reading processes ------------------------------------------


async def test_each_tab_shows_the_figures_of_branching_stats(db: Path) -> None:
    app = make(db, "signal")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        whole = build_report("signal", db=db)
        figures = Figures()
        expected = {
            "paths": views.tables(report_tables(whole, ("paths",)), figures),
            "dropoff": views.tables(report_tables(whole, ("dropoff", "progress")), figures),
            "segments": views.segments_of(report_tables(whole, ("segments", "tags")), figures),
            "flags": views.tables(report_tables(whole, ("flags", "unreached")), figures),
        }
        for n, tab in ((4, "dropoff"), (5, "paths"), (6, "segments"), (7, "flags")):
            await pilot.press(str(n))
            width = max(app.screen.query_one(f"#{tab}-body").size.width, 40)
            console = Console(width=width, file=io.StringIO(), color_system=None)
            console.print(expected[tab])  # what `stats` says, drawn as the tab draws it
            said = " ".join(console.file.getvalue().split())  # type: ignore[attr-defined]
            assert "Reading" not in said and shown(app, f"#{tab}-body") == said


async def test_a_failed_read_says_so_and_the_waiting_tabs_say_to_read_again(
    reader: ProcessReader, db: Path
) -> None:
    db.with_suffix(".locked").touch()
    app = make(db, "heist", reader=reader)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(1000):  # (not `settle`: a worker that failed fails its wait)
            if app.screen.query_one("#status").display:
                break
            await pilot.pause(0.01)
        assert "6 sessions" in shown(app, "#totals")  # stage 1 is shown all the same
        assert "database is locked" in shown(app, "#status")
        await pilot.press("5")
        assert "did not finish" in shown(app, "#paths-body")
        db.with_suffix(".locked").unlink()
        await pilot.press("r")
        await settle(pilot)
        assert "Most common complete paths" in shown(app, "#paths-body")


async def test_leaving_a_story_stops_its_read_in_the_processes(
    reader: ProcessReader, db: Path
) -> None:
    db.with_suffix(".endless").touch()
    before = pids(reader)
    app = make(db, "heist", reader=reader)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(500):  # until the tab on show says how far the read is
            if "Reading every event" in shown(app, "#paths-body"):
                break
            await pilot.pause(0.01)
        await pilot.press("5")
        assert "Reading every event" in shown(app, "#paths-body")
        await pilot.press("escape")
        await settle(pilot)  # the scan's worker has returned: its parts were stopped
        db.with_suffix(".endless").unlink()
        await pilot.press("enter")  # the same story again: read to the end this time
        await settle(pilot)
        await pilot.press("5")
        assert "Most common complete paths" in shown(app, "#paths-body")
    assert pids(reader) == before  # stopped when told, not ended


async def test_a_tab_switched_to_is_the_one_read_next_at_once(
    reader: ProcessReader, db: Path
) -> None:
    """The scan's thread asks which tab is on show each time it hands out a part: a key
    tells it at once, not once the tab's activation has been handled on the UI thread
    (Segments' two parts were handed out a part late)."""
    app = make(db, "heist", reader=reader)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen: Any = app.screen
        screen.action_tab("segments")
        assert screen.active_tab == "segments"  # before any message is handled
        screen.action_step_tab(1)
        assert screen.active_tab == "flags"
        await settle(pilot)
        assert screen.active_tab == "flags"
        await pilot.press("6")
        assert screen.active_tab == "segments"
        assert "By terminal" in shown(app, "#segments-body")
