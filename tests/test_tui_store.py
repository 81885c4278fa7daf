"""The player against the real telemetry store: what it records, resuming, endings found.

These drive the app with `StoreServices` over a real database in a temporary
folder, the way `branching play` does, and read the database afterwards.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from textual.widgets import Static

from branching.recording import PlayOptions, StoreServices, notice_once
from branching.store import Store
from branching.story.loader import load_story
from branching.tui.common.clock import ManualClock
from branching.tui.player.app import TuiOptions, build_app
from branching.tui.player.screens.ending import EndingScreen
from branching.tui.player.screens.help import HelpScreen
from branching.tui.player.screens.player import PlayerScreen
from branching.tui.player.screens.resume import ResumeScreen
from branching.tui.player.testing import settle

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tutorial():
    return load_story(ROOT / "stories" / "tutorial")


def services(db: Path, viewer: str = "ana") -> StoreServices:
    return StoreServices(
        lambda: (Store.open(db), str(db)), PlayOptions(db=str(db)), viewer, notice_once
    )


async def read(pilot, clock) -> None:
    await settle(pilot)
    clock.advance(60)
    await settle(pilot)


def events(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT type, scene, choice, input FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()


async def play(story, svc, keys, size=(100, 30)):
    """Run the app, reading each scene and pressing each key; returns the app."""
    clock = ManualClock()
    app = build_app(story, None, TuiOptions(seed=1), services=svc, clock=clock)
    async with app.run_test(size=size) as pilot:
        await read(pilot, clock)
        for key in keys:
            await pilot.press(key)
            await read(pilot, clock)
    app.close_all()
    return app


async def test_a_playthrough_is_recorded_in_order_and_quitting_keeps_it_resumable(
    tmp_path, tutorial
):
    db = tmp_path / "t.db"
    app = await play(tutorial, services(db), ["1", "p", "p", "q", "y"])
    assert app.return_code == 0
    assert events(db) == [
        ("session_started", "platform", None, None),
        ("scene_shown", "platform", None, None),
        ("choice_made", "platform", "lantern", "key"),
        ("scene_shown", "market", None, None),
        ("quit", "market", None, None),
    ]  # the market is untimed: p there pauses nothing and records nothing

    clock = ManualClock()
    app = build_app(tutorial, None, TuiOptions(seed=1), services=services(db), clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await read(pilot, clock)
        assert isinstance(app.screen, ResumeScreen)
        await pilot.press("y")
        await read(pilot, clock)
        screen = app.screen
        assert isinstance(screen, PlayerScreen)
        assert screen.playing.run.view.scene == "market"
        assert screen.playing.run.state.vars["lantern"] is True
        await pilot.press("1")  # down to the river, in the same session
        await read(pilot, clock)
        assert screen.playing.run.view.scene == "pier"
    app.close_all()
    conn = sqlite3.connect(db)
    sessions = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    conn.close()
    assert sessions == 1
    assert events(db)[-2:] == [
        ("choice_made", "market", "walk_down_to_the_river", "key"),
        ("scene_shown", "pier", None, None),
    ]


async def test_timeouts_and_pauses_are_recorded(tmp_path, tutorial):
    db = tmp_path / "t.db"
    clock = ManualClock()
    app = build_app(tutorial, None, TuiOptions(seed=1), services=services(db), clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await read(pilot, clock)
        await pilot.press("p")
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        clock.advance(20)
        await settle(pilot)
        assert app.screen.playing.run.view.scene == "market"
    app.close_all()
    assert events(db)[2:5] == [
        ("pause", "platform", None, None),
        ("resume", "platform", None, None),
        ("timeout_default", "platform", "keep_your_hands_in_your_pockets", "timeout"),
    ]


async def test_endings_found_come_from_the_database(tmp_path, tutorial):
    db = tmp_path / "t.db"
    await play(tutorial, services(db), ["1", "1", "2", "2"])  # stay: A Stall of Your Own
    clock = ManualClock()
    app = build_app(tutorial, None, TuiOptions(seed=1), services=services(db), clock=clock)
    async with app.run_test(size=(100, 40)) as pilot:
        await read(pilot, clock)
        for key in ["1", "1", "1"]:  # home
            await pilot.press(key)
            await read(pilot, clock)
        assert isinstance(app.screen, EndingScreen)
        tally = str(app.screen.query_one("#ending-tally").render())
        assert "Endings found: 2 of 4" in tally
        assert "A Stall of Your Own" in tally and "Home by Lantern-light" in tally
    app.close_all()
    # another viewer has found nothing
    other = build_app(tutorial, None, TuiOptions(seed=1), services=services(db, "bo"), clock=clock)
    async with other.run_test(size=(100, 40)) as pilot:
        await read(pilot, clock)
        for key in ["1", "1", "2"]:
            await pilot.press(key)
            await read(pilot, clock)
        assert "Endings found: 1 of 4" in str(other.screen.query_one("#ending-tally").render())
    other.close_all()


async def test_a_database_that_cannot_be_opened_stops_the_player(tmp_path, tutorial):
    bad = tmp_path / "notes.db"
    bad.write_text("these are my notes, not a database\n")
    clock = ManualClock()
    app = build_app(tutorial, None, TuiOptions(seed=1), services=services(bad), clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await read(pilot, clock)
    assert app.return_code == 1
    assert app.fatal is not None and "not a telemetry database" in app.fatal
    assert "--no-telemetry" in app.fatal


async def test_starting_again_closes_the_old_playthrough_as_abandoned(tmp_path, tutorial):
    """Resume dialog, `n`: the old playthrough is not offered again, nor left in progress."""
    db = tmp_path / "t.db"
    await play(tutorial, services(db), ["1", "q", "y"])  # quit mid-story: resumable
    clock = ManualClock()
    app = build_app(tutorial, None, TuiOptions(seed=1), services=services(db), clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await read(pilot, clock)
        assert isinstance(app.screen, ResumeScreen)
        countdown = app.screen_stack[-2].query_one("Countdown")
        assert countdown.state in ("idle", "held")  # nothing drains behind the question
        await pilot.press("n")
        await read(pilot, clock)
        assert isinstance(app.screen, PlayerScreen)
    app.close_all()
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT session_id, outcome FROM sessions ORDER BY started_at").fetchall()
    conn.close()
    assert [outcome for _, outcome in rows] == ["abandoned", "in_progress"]
    store = Store.open(db)
    try:
        point = store.unfinished_session(tutorial.id, "ana")
        assert point is not None and point.session_id == rows[1][0]  # only the new one
    finally:
        store.close()


async def test_help_while_the_store_opens_says_where_choices_go(tutorial, tmp_path):
    """`?` pressed before the database has opened (a slow disk, a migration) names the
    file choices go to, never "Nothing is recorded" (the player opens it in a worker)."""
    db = tmp_path / "t.db"
    release = threading.Event()

    def slow_open() -> tuple[Store, str]:
        release.wait(10)
        return Store.open(db), str(db)

    svc = StoreServices(slow_open, PlayOptions(db=str(db)), "ana", notice_once)
    app = build_app(tutorial, None, TuiOptions(seed=1), services=svc, clock=ManualClock())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(str(s.render()) for s in app.screen.query(Static))
        release.set()
        assert "Nothing is recorded" not in text
        assert "Every choice is recorded" in text and "t.db" in text
        await pilot.press("escape")
        await settle(pilot)
