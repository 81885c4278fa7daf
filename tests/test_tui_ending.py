"""Pilot tests of endings: the ending screen, endings found, rewinds, play again.

The endings a viewer found before come from the database through `Services`;
here a small `Services` stands in for the store, so the count on screen can be
checked against what it "found" before this playthrough.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from branching.play.services import LocalServices
from branching.play.testing import MemoryRecorder
from branching.story.loader import load_story
from branching.tui.common.clock import ManualClock
from branching.tui.player.app import TuiOptions, build_app
from branching.tui.player.screens.ending import EndingScreen
from branching.tui.player.screens.player import PlayerScreen
from branching.tui.player.testing import settle
from branching.tui.player.widgets import NumberedList

STORIES = Path(__file__).resolve().parent.parent / "stories"


@pytest.fixture(scope="module")
def tutorial():
    return load_story(STORIES / "tutorial")


class FoundBefore(LocalServices):
    """Services whose database says the viewer found `before` in earlier sessions."""

    def __init__(self, recorder: MemoryRecorder, before: set[str]) -> None:
        super().__init__(recorder, viewer="ana")
        self.before = before

    def stored_endings(self, story):
        return set(self.before)


def make(story, before=frozenset()):
    clock = ManualClock()
    rec = MemoryRecorder()
    app = build_app(
        story, None, TuiOptions(seed=7), clock=clock, services=FoundBefore(rec, set(before))
    )
    return app, clock, rec


async def step(pilot, clock, *keys: str) -> None:
    """Read the scene to its end, then press `keys` one scene at a time."""
    await settle(pilot)
    clock.advance(60)
    await settle(pilot)
    for key in keys:
        await pilot.press(key)
        await settle(pilot)
        clock.advance(60)
        await settle(pilot)


def screen_text(app) -> str:
    """Everything the ending screen shows, as plain text."""
    return "\n".join(str(w.render()) for w in app.screen.query("Static, SceneText"))


async def test_the_ending_screen_shows_title_kind_and_endings_found(tutorial):
    app, clock, rec = make(tutorial, before={"fog"})
    async with app.run_test(size=(100, 40)) as pilot:
        await step(pilot, clock, "1", "1", "1")  # lantern, river, board: home
        screen = app.screen
        assert isinstance(screen, EndingScreen)
        text = screen_text(app)
        assert "THE END" in text and "Home by Lantern-light" in text and "a good ending" in text
        assert "Endings found: 2 of 4" in text
        assert "Lost in the Fog" in text  # found before: shown by name
        assert text.count("???") == 2  # the other two stay locked
        assert "The Moth Tower" not in text and "A Stall of Your Own" not in text
        labels = [i.label for i in screen.query_one(NumberedList).items]
        assert labels == ["Play again", "Quit"]  # home offers no rewind
        assert "ended" in rec.kinds()


async def test_a_first_ending_counts_one(tutorial):
    app, clock, rec = make(tutorial)
    async with app.run_test(size=(100, 40)) as pilot:
        await step(pilot, clock, "1", "1", "2")  # lantern, river, stay
        assert isinstance(app.screen, EndingScreen)
        text = screen_text(app)
        assert "Endings found: 1 of 4" in text and "a neutral ending" in text
        assert text.count("???") == 3


async def test_rewind_offers_return_to_a_visited_choice_point(tutorial):
    app, clock, rec = make(tutorial)
    async with app.run_test(size=(100, 40)) as pilot:
        # no lantern, river, board: lost in the fog (whatever the cards say, no cake)
        await step(pilot, clock, "2", "1", "1")
        screen = app.screen
        assert isinstance(screen, EndingScreen)
        items = screen.query_one(NumberedList).items
        assert [i.label for i in items] == [
            "Go back to: The Pier",
            "Go back to: The Night Market",
            "Go back to: The Last Stop",
            "Play again",
            "Quit",
        ]
        await pilot.press("3")
        await settle(pilot)
        clock.advance(60)
        await settle(pilot)
        assert isinstance(app.screen, PlayerScreen)
        run = app.screen.playing.run
        assert run.view.scene == "platform" and run.state.turn_count == 0
        assert rec.last("rewound")["scene"] == "platform"


async def test_play_again_starts_a_new_playthrough(tutorial):
    app, clock, rec = make(tutorial)
    async with app.run_test(size=(100, 40)) as pilot:
        await step(pilot, clock, "1", "1", "2")
        assert isinstance(app.screen, EndingScreen)
        await pilot.press("1")  # play again
        await step(pilot, clock)
        assert isinstance(app.screen, PlayerScreen)
        assert app.screen.playing.run.view.scene == "platform"
        assert rec.kinds().count("started") == 2
        assert rec.closed == 1  # the finished playthrough's recorder was closed


async def test_quit_from_an_ending_needs_no_confirmation(tutorial):
    app, clock, rec = make(tutorial)
    async with app.run_test(size=(100, 40)) as pilot:
        await step(pilot, clock, "1", "1", "2")
        await pilot.press("q")
        await settle(pilot)
    assert app.return_code == 0
    assert "quit" not in rec.kinds()


async def test_going_back_from_an_ending(tutorial):
    app, clock, rec = make(tutorial)
    async with app.run_test(size=(100, 40)) as pilot:
        await step(pilot, clock, "1", "1", "2")
        await pilot.press("b")
        await step(pilot, clock)
        assert isinstance(app.screen, PlayerScreen)
        assert app.screen.playing.run.view.scene == "pier"
