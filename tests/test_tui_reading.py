"""Pilot tests: every word is reachable, and a timed choice is readable before its clock runs.

The story here has a timed scene far longer than an 80x24 screen and an ending
whose text is three screens long. The tests check what a viewer at 80x24
would see: the start of new text at the top, the paging keys scrolling the
story while the choices keep the focus, the countdown waiting (and saying
why) until the end of the text has been on screen or while a dialog is open,
and an ending's text before its card.
"""

from __future__ import annotations

import pytest

from branching.play.services import LocalServices
from branching.play.testing import MemoryRecorder
from branching.story.loader import load_story
from branching.tui.common.clock import ManualClock
from branching.tui.player.app import TuiOptions, build_app
from branching.tui.player.screens.ending import EndingScreen
from branching.tui.player.screens.player import PlayerScreen
from branching.tui.player.testing import settle
from branching.tui.player.widgets import Countdown, NoticeBar, NumberedList

PARAGRAPHS = "\n\n".join(
    f"Paragraph {n} of the long watch: the lamp turns, the sea answers, and the keeper "
    f"writes line {n} in the log before the weather changes its mind again."
    for n in range(1, 31)
)
ENDING = "\n\n".join(
    f"Ending line {n}: the tide goes out over the reef and takes the night with it."
    for n in range(1, 41)
)


def story_text() -> str:
    def block(text: str) -> str:
        return "\n".join("      " + line for line in text.splitlines())

    return f"""\
branching: 1
id: watch
title: The Long Watch
author: Reading Tests
start: watch
scenes:
  watch:
    title: The Watch
    timer: 10
    text: |
{block(PARAGRAPHS)}
    choices:
      - label: Keep watching
        goto: dawn
        default: true
      - label: Sleep
        goto: dawn
  short:
    title: Short
    timer: 10
    text: A short scene that fits.
    choices:
      - label: Go on
        goto: dawn
        default: true
  dawn:
    title: Dawn
    text: |
{block(ENDING)}
    ending: {{kind: good, title: Morning}}
"""


@pytest.fixture
def watch(tmp_path):
    path = tmp_path / "watch.yaml"
    path.write_text(story_text(), encoding="utf-8")
    return load_story(path)


@pytest.fixture
def short(tmp_path):
    path = tmp_path / "short.yaml"
    path.write_text(story_text().replace("start: watch", "start: short"), encoding="utf-8")
    return load_story(path)


def make(story, services=None):
    clock = ManualClock()
    recorder = MemoryRecorder()
    app = build_app(
        story, None if services else recorder, TuiOptions(seed=3), clock=clock, services=services
    )
    return app, clock, recorder


async def read(pilot, clock) -> None:
    await settle(pilot)
    clock.advance(60)  # the reveal runs to its end by itself
    await settle(pilot)
    await pilot.pause()
    await settle(pilot)


def _rendered(app, region) -> str:
    """The characters the app shows inside `region` now, line by line."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(
        strips[y].crop(region.x, region.right).text for y in range(region.y, region.bottom)
    )


async def test_a_long_timed_scene_waits_until_the_viewer_reaches_its_end(watch):
    app, clock, rec = make(watch)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        screen = app.screen
        assert isinstance(screen, PlayerScreen)
        countdown = screen.query_one(Countdown)
        assert countdown.held and "end of the text" in countdown.reason
        assert "Paragraph 1 " in _rendered(app, screen.story_column().region)  # starts at the top
        clock.advance(60)  # a minute of reading: the clock does not run
        await settle(pilot)
        assert "chose" not in rec.kinds()
        assert countdown.remaining() == 10
        await pilot.press("end")
        await settle(pilot)
        await pilot.pause()
        await settle(pilot)
        assert countdown.running
        assert "Paragraph 30 " in _rendered(app, screen.story_column().region)
        clock.advance(11)
        await settle(pilot)
        chose = rec.last("chose")
        assert chose["timeout"] is True and chose["decide_ms"] == 10_000


async def test_paging_keys_scroll_the_story_and_the_choices_keep_the_focus(watch):
    app, clock, _ = make(watch)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        screen = app.screen
        assert isinstance(screen, PlayerScreen)
        story = screen.story_column()
        assert story.scroll_y == 0
        await pilot.press("pagedown")
        await pilot.pause()
        first_page = story.scroll_y
        assert first_page > 0
        assert isinstance(app.focused, NumberedList)
        await pilot.press("pagedown")
        await pilot.pause()
        assert story.scroll_y > first_page
        await pilot.press("pageup")
        await pilot.pause()
        assert story.scroll_y == first_page
        await pilot.press("home")
        await pilot.pause()
        assert story.scroll_y == 0
        assert isinstance(app.focused, NumberedList)
        assert any(h.key == "PgUp/PgDn" for h in screen.query_one("KeyBar").hints)


async def test_the_countdown_waits_behind_a_dialog_and_says_so(short):
    app, clock, rec = make(short)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        screen = app.screen
        assert isinstance(screen, PlayerScreen)
        countdown = screen.query_one(Countdown)
        assert countdown.running
        clock.advance(3)
        await pilot.press("question_mark")
        await settle(pilot)
        assert countdown.held and "dialog" in countdown.reason
        assert "waits while the dialog is open" in countdown.render().plain
        clock.advance(60)
        await settle(pilot)
        assert "chose" not in rec.kinds()
        await pilot.press("escape")
        await settle(pilot)
        assert countdown.running
        assert 6.9 < countdown.remaining() < 7.1
        clock.advance(8)
        await settle(pilot)
        assert rec.last("chose")["timeout"] is True


async def test_no_choice_message_takes_its_own_rows_and_covers_no_choice(short):
    app, clock, _ = make(short)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        await pilot.press("5")
        await pilot.pause()
        screen = app.screen
        bar = screen.query_one(NoticeBar)
        assert "There is no choice 5." in bar.showing
        choices = screen.query_one(NumberedList)
        assert not bar.region.overlaps(choices.region)
        assert not bar.region.overlaps(screen.story_column().region)


async def test_an_ending_shows_its_text_first_and_its_card_a_page_away(watch):
    app, clock, _ = make(watch)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        await pilot.press("end", "1")
        await read(pilot, clock)
        screen = app.screen
        assert isinstance(screen, EndingScreen)
        story = screen.story_column()
        shown = _rendered(app, story.region)
        assert "Ending line 1:" in shown and "THE END" not in shown
        assert isinstance(app.focused, NumberedList)
        seen = set()
        for _ in range(20):  # page through with the keyboard alone
            seen |= {n for n in range(1, 41) if f"Ending line {n}:" in _rendered(app, story.region)}
            await pilot.press("pagedown")
            await pilot.pause()
        assert seen == set(range(1, 41))
        assert "THE END" in _rendered(app, story.region)


async def test_without_telemetry_the_ending_says_it_counts_this_session_only(short):
    app, clock, _ = make(short, services=LocalServices(None, "ana"))
    async with app.run_test(size=(120, 40)) as pilot:
        await read(pilot, clock)
        await pilot.press("1")
        await read(pilot, clock)
        assert isinstance(app.screen, EndingScreen)
        await pilot.press("end")
        await pilot.pause()
        tally = app.screen.query_one("#ending-tally").render()
        assert "this session only" in str(tally)
