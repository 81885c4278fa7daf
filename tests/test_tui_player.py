"""Pilot tests of the player screen: choosing, locks, the countdown, going back, quitting.

Every test drives the real app built by `build_app`, with a `ManualClock`
(time moves only when the test says so) and a `MemoryRecorder` standing in
for the store, and checks what a viewer would see and what would be recorded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from branching.play.testing import MemoryRecorder
from branching.story.loader import load_story
from branching.tui.common.clock import ManualClock
from branching.tui.player.app import TuiOptions, build_app
from branching.tui.player.screens.confirm import ConfirmScreen
from branching.tui.player.screens.help import HelpScreen
from branching.tui.player.screens.player import PlayerScreen
from branching.tui.player.testing import settle
from branching.tui.player.widgets import Countdown, NoticeBar, NumberedList, SceneText

STORIES = Path(__file__).resolve().parent.parent / "stories"


@pytest.fixture(scope="module")
def tutorial():
    return load_story(STORIES / "tutorial")


def make(story, **options):
    clock = ManualClock()
    recorder = MemoryRecorder()
    app = build_app(story, recorder, TuiOptions(seed=7, **options), clock=clock)
    return app, clock, recorder


async def read(pilot, clock) -> None:
    """Let the reveal run to its end (no key pressed) and the choices appear."""
    await settle(pilot)
    clock.advance(60)
    await settle(pilot)


def player(app) -> PlayerScreen:
    screen = app.screen
    assert isinstance(screen, PlayerScreen), screen
    return screen


def scene_of(app) -> str:
    view = player(app).view
    assert view is not None
    return view.scene


def shown_text(app) -> str:
    return player(app).query_one(SceneText).content.plain


async def test_choosing_by_number_key_goes_to_the_next_scene_and_records_it(tutorial):
    app, clock, rec = make(tutorial)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        assert scene_of(app) == "platform"
        clock.advance(3)  # the viewer thinks for three seconds
        await pilot.press("1")
        await settle(pilot)
        assert scene_of(app) == "market"
        assert "The market fills a cobbled square" in shown_text(app)
        chose = rec.last("chose")
        assert (chose["scene"], chose["choice"], chose["input"]) == ("platform", "lantern", "key")
        assert chose["timeout"] is False
        assert chose["decide_ms"] == 3000
        assert rec.kinds()[:1] == ["started"]


async def test_choosing_with_arrows_and_enter(tutorial):
    app, clock, rec = make(tutorial)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        assert player(app).query_one(NumberedList).highlighted == 0
        await pilot.press("down", "enter")
        await settle(pilot)
        chose = rec.last("chose")
        assert chose["choice"] == "keep_your_hands_in_your_pockets"
        assert chose["input"] == "key"
        assert scene_of(app) == "market"
        assert player(app).playing.run.state.vars["lantern"] is False


async def test_choosing_with_the_mouse(tutorial):
    app, clock, rec = make(tutorial)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        assert await pilot.click(NumberedList, offset=(8, 1))  # the second option's row
        await settle(pilot)
        chose = rec.last("chose")
        assert (chose["choice"], chose["input"]) == ("keep_your_hands_in_your_pockets", "mouse")
        assert scene_of(app) == "market"


async def test_a_locked_choice_is_shown_with_its_reason_and_cannot_be_taken(tutorial):
    app, clock, rec = make(tutorial)
    async with app.run_test(size=(100, 30)) as pilot:
        await read(pilot, clock)
        await pilot.press("1")  # lantern: courage is still 0.5, so the tower stays locked
        await read(pilot, clock)
        choices = player(app).query_one(NumberedList)
        tower = choices.by_number(4)
        assert tower is not None and tower.label == "Climb the moth tower"
        assert tower.locked == "requires lantern and courage >= 1.0"
        prompt = choices.get_option_at_index(3).prompt
        assert "🔒" in prompt.plain and "requires lantern and courage >= 1.0" in prompt.plain
        assert choices.get_option_at_index(3).disabled
        before = len(rec.calls)
        await pilot.press("4")
        await settle(pilot)
        assert scene_of(app) == "market"
        assert len(rec.calls) == before  # nothing taken, nothing recorded
        assert any("locked" in text for _, text, _ in app.told)
        choices.highlighted = 2
        await pilot.press("down")  # the cursor skips the locked option
        assert choices.highlighted != 3


async def test_a_timeout_takes_the_default_and_records_it_as_a_timeout(tutorial):
    app, clock, rec = make(tutorial)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        countdown = player(app).query_one(Countdown)
        assert countdown.running and countdown.total == 20
        default = player(app).query_one(NumberedList).get_option_at_index(1).prompt.plain
        assert "default" in default
        clock.advance(19.5)
        await settle(pilot)
        assert scene_of(app) == "platform"  # not yet
        clock.advance(0.6)
        await settle(pilot)
        assert scene_of(app) == "market"
        chose = rec.last("chose")
        assert chose["choice"] == "keep_your_hands_in_your_pockets"
        assert (chose["timeout"], chose["input"]) == (True, "timeout")
        assert chose["decide_ms"] == 20000  # the whole timer


async def test_the_countdown_starts_only_when_the_choices_are_visible(tutorial):
    app, clock, rec = make(tutorial)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        clock.advance(0.5)  # the text is still being revealed
        await settle(pilot)
        screen = player(app)
        assert screen.phase == "reading"
        assert not screen.query_one("#choices-panel").display
        assert screen.query_one(Countdown).state == "idle"


async def test_pause_stops_the_countdown_and_is_recorded(tutorial):
    app, clock, rec = make(tutorial)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        clock.advance(5)
        await pilot.press("p")
        await settle(pilot)
        assert rec.last("pause")["scene"] == "platform"
        clock.advance(600)
        await settle(pilot)
        assert scene_of(app) == "platform"
        countdown = player(app).query_one(Countdown)
        assert countdown.paused and round(countdown.remaining()) == 15
        await pilot.press("p")
        await settle(pilot)
        assert rec.last("resume")["scene"] == "platform"
        clock.advance(15.1)
        await settle(pilot)
        assert scene_of(app) == "market"
        assert rec.last("chose")["timeout"] is True


async def test_no_timer_turns_the_countdown_off(tutorial):
    app, clock, rec = make(tutorial, no_timer=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        screen = player(app)
        assert not screen.query_one(Countdown).display
        assert "default" not in screen.query_one(NumberedList).get_option_at_index(1).prompt.plain
        clock.advance(3600)
        await settle(pilot)
        assert scene_of(app) == "platform"


async def test_going_back_restores_the_earlier_choice_point_and_its_state(tutorial):
    app, clock, rec = make(tutorial)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        await pilot.press("1")  # take the lantern
        await read(pilot, clock)
        assert player(app).playing.run.state.vars["lantern"] is True
        await pilot.press("b")
        await read(pilot, clock)
        assert scene_of(app) == "platform"
        assert player(app).playing.run.state.vars["lantern"] is False
        assert rec.last("rewound") == {**rec.last("rewound"), "scene": "platform", "input": "key"}
        assert "The train sighs to a stop" in shown_text(app)
        assert player(app).query_one(Countdown).running  # the choice point is live again


async def test_any_key_completes_the_reveal_without_choosing(tutorial):
    app, clock, rec = make(tutorial)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = player(app).query_one(SceneText)
        assert text.revealing and not text.revealed
        await pilot.press("1")
        await settle(pilot)
        assert not text.revealing and text.revealed
        assert scene_of(app) == "platform"  # the key only completed the text
        assert "chose" not in rec.kinds()
        assert rec.last("reveal_skipped")["scene"] == "platform"
        assert player(app).phase == "choosing"


async def test_quit_mid_story_asks_first_then_records_the_quit(tutorial):
    app, clock, rec = make(tutorial)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        await pilot.press("q")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        clock.advance(60)  # the countdown waits while the question is open
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert scene_of(app) == "platform"
        assert "quit" not in rec.kinds()
        await pilot.press("q")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
    assert rec.last("quit")["scene"] == "platform"
    assert rec.closed >= 1
    assert app.return_code == 0


async def test_help_screen_opens_and_closes(tutorial):
    app, clock, rec = make(tutorial)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, PlayerScreen)


async def test_first_run_notice_shows_where_it_covers_no_choice(tutorial):
    clock = ManualClock()
    note = "branching records your choices to /tmp/x.db. Play with --no-telemetry."
    app = build_app(tutorial, MemoryRecorder(), TuiOptions(notice=note), clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        assert app.told == [("Recording", note, "information")]
        screen = player(app)
        bar = screen.query_one(NoticeBar)
        assert note in bar.showing
        panel = screen.query_one("#choices-panel").region
        assert panel.height > 0 and not bar.region.overlaps(panel)
        assert not app._notifications  # no toast floating over the choices


async def test_header_shows_story_and_chapter(tutorial):
    app, clock, rec = make(tutorial)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        assert player(app).title == "The Lantern Market"
        assert player(app).sub_title == "The Market"
        await pilot.press("1")  # the lantern
        await read(pilot, clock)
        await pilot.press("1")  # down to the river
        await read(pilot, clock)
        assert scene_of(app) == "pier"
        assert player(app).sub_title == "The River"


async def test_a_choice_made_while_telemetry_opens_is_taken_once_it_is_ready(tutorial):
    import threading

    from branching.play.services import LocalServices

    class SlowToOpen(LocalServices):
        def __init__(self, recorder):
            super().__init__(recorder)
            self.gate = threading.Event()

        def open(self):
            assert self.gate.wait(10)

    clock = ManualClock()
    rec = MemoryRecorder()
    services = SlowToOpen(rec)
    app = build_app(tutorial, None, TuiOptions(seed=7), services=services, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("space")  # the first scene is already there: show it all
        await pilot.pause()
        assert player(app).phase == "choosing" and not player(app).ready
        await pilot.press("1")
        await pilot.pause()
        assert rec.calls == []  # nothing recorded before telemetry is open
        services.gate.set()
        await settle(pilot)
        assert scene_of(app) == "market"
        assert rec.kinds()[0] == "started"
        assert rec.last("chose")["choice"] == "lantern"
