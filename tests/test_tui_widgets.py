"""The player's small pieces on their own: the manual clock, and the key bar."""

from __future__ import annotations

from pathlib import Path

from branching.play.testing import MemoryRecorder
from branching.story.loader import load_story
from branching.tui.common.clock import ManualClock
from branching.tui.player.app import TuiOptions, build_app
from branching.tui.player.screens.help import HelpScreen
from branching.tui.player.screens.player import PlayerScreen
from branching.tui.player.testing import settle
from branching.tui.player.widgets import KeyBar

STORIES = Path(__file__).resolve().parent.parent / "stories"


def test_the_manual_clock_ticks_each_ticker_at_its_own_interval():
    clock = ManualClock()
    fast: list[float] = []
    slow: list[float] = []
    clock.every(None, 1, lambda: fast.append(clock.now()))  # type: ignore[arg-type]
    clock.every(None, 30, lambda: slow.append(clock.now()))  # type: ignore[arg-type]
    clock.advance(10)
    assert len(fast) == 1 and slow == []  # missed ticks are skipped, as Textual's are
    clock.advance(20)
    assert len(fast) == 2 and len(slow) == 1
    clock.advance(0.5)
    assert len(fast) == 2


async def test_clicking_the_choose_hint_does_not_take_a_choice():
    story = load_story(STORIES / "tutorial")
    clock = ManualClock()
    rec = MemoryRecorder()
    app = build_app(story, rec, TuiOptions(seed=7), clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        clock.advance(60)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PlayerScreen) and screen.phase == "choosing"
        await pilot.click(KeyBar, offset=(2, 0))  # on "1-9 Choose"
        await settle(pilot)
        assert screen.view is not None and screen.view.scene == "platform"
        assert "chose" not in rec.kinds()
        help_at = next(
            start for start, _, hint in screen.query_one(KeyBar)._spans if hint.key == "?"
        )
        await pilot.click(KeyBar, offset=(help_at + 1, 0))  # "? Help" presses its key
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
