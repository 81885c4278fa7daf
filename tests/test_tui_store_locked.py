"""The full-screen player on a locked database: a short, visible wait, and nothing lost.

Another connection holds the write lock while the viewer plays. The player
shows the next scene once the step is on disk: after about a second (the
writer's retry window) the first step is spooled and a notice in the player's
notice bar says choices are kept beside the database; later steps go to the
spool at once. The warning that says where they are is kept for the command to
print once the app has closed.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from branching.recording import PlayOptions, StoreServices
from branching.store import Store, notices
from branching.story.loader import load_story
from branching.tui.common.clock import ManualClock
from branching.tui.player.app import TuiOptions, build_app
from branching.tui.player.screens.player import PlayerScreen
from branching.tui.player.testing import settle

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tutorial():
    return load_story(ROOT / "stories" / "tutorial")


@contextmanager
def write_lock(path: Path) -> Iterator[None]:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def services(db: Path) -> StoreServices:
    return StoreServices(lambda: (Store.open(db), str(db)), PlayOptions(db=str(db)), "ana")


async def test_a_locked_database_is_a_short_wait_with_a_notice_and_loses_nothing(
    tmp_path, tutorial
):
    db = tmp_path / "t.db"
    with Store.open(db) as store:
        store.load_viewer_key()  # noted before the lock: opening needs no write
    notices.take()
    clock = ManualClock()
    app = build_app(tutorial, None, TuiOptions(seed=1), services=services(db), clock=clock)
    with write_lock(db):
        async with app.run_test(size=(100, 30)) as pilot:
            started = time.monotonic()
            await settle(pilot)
            clock.advance(60)
            await settle(pilot)
            first = time.monotonic() - started  # open, then the first step: spooled after ~1 s
            screen = app.screen
            assert isinstance(screen, PlayerScreen)
            started = time.monotonic()
            await pilot.press("1")
            await settle(pilot)
            clock.advance(60)
            await settle(pilot)
            second = time.monotonic() - started
            assert screen.playing.run.view.scene == "market"
            kept = [t for t in app.told if t[0] == "Recording" and "kept beside it" in t[1]]
            assert len(kept) == 1 and kept[0][2] == "warning"
        app.close_all()
    assert first < 6.0, f"the first scene's step took {first:.1f} s"
    assert second < 1.5, f"a choice took {second:.1f} s with the database locked"
    said = notices.take()  # what `branching play` prints once the app has closed
    assert any("could not be written" in m and "t.db.spool" in m for m in said)
    Store.open(db).close()
    conn = sqlite3.connect(db)
    try:
        types = [t for (t,) in conn.execute("SELECT type FROM events ORDER BY seq")]
    finally:
        conn.close()
    assert types[:4] == ["session_started", "scene_shown", "choice_made", "scene_shown"]
