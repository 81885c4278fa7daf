"""The player shows hostile text literally and never crashes with a traceback.

The hostile fixture's texts, labels, titles and variables are full of console
markup (`[bold]`, `[@click=app.quit]`, `[link=...]`) and escape sequences.
The loader already neutralises control characters; the player must also
defend on its own (a value restored from a database never went through the
loader), and must never act on injected markup.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from branching.play.engine import Playthrough
from branching.play.services import LocalServices
from branching.play.stepper import Playing
from branching.play.testing import MemoryRecorder
from branching.store.errors import StoreError
from branching.story.loader import load_story
from branching.tui.common.clock import ManualClock
from branching.tui.common.text import clean, emphasised, literal, prose
from branching.tui.player.app import TuiOptions, build_app
from branching.tui.player.screens.help import HelpScreen
from branching.tui.player.screens.player import PlayerScreen
from branching.tui.player.testing import settle
from branching.tui.player.widgets import NumberedList, SceneText

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "tests" / "fixtures" / "hostile" / "story.yaml"


@pytest.fixture(scope="module")
def hostile():
    return load_story(HOSTILE)


async def read(pilot, clock) -> None:
    await settle(pilot)
    clock.advance(60)
    await settle(pilot)


def test_literal_text_never_carries_control_characters():
    raw = "a\x1b]0;title\x07b\x9b31m\u202ec\td"
    shown = clean(raw)
    assert shown == "a␛]0;title␇b\ufffd31m\ufffdc    d"
    assert literal("[bold]x[/]").plain == "[bold]x[/]"
    assert literal("[bold]x[/]").spans == []


def test_prose_renders_emphasis_and_keeps_stray_asterisks():
    text = prose(["One *two* **three** 2 * 3 = 6.\nSame paragraph.\n\nNext paragraph."])
    assert text.plain == "One two three 2 * 3 = 6. Same paragraph.\n\nNext paragraph."
    styles = {(text.plain[s.start : s.end], s.style) for s in text.spans}
    assert styles == {("two", "italic"), ("three", "bold")}
    assert emphasised("[b]*x*[/b]").plain == "[b]x[/b]"


async def test_hostile_story_is_shown_literally(hostile):
    clock = ManualClock()
    app = build_app(hostile, MemoryRecorder(), TuiOptions(seed=1), clock=clock)
    async with app.run_test(size=(100, 40)) as pilot:
        await read(pilot, clock)
        screen = app.screen
        assert isinstance(screen, PlayerScreen)
        text = screen.query_one(SceneText).content.plain
        assert "[bold]not bold[/bold] [/] [@click=app.quit]CLICK-TO-QUIT[/]" in text
        assert "␛]0;PWNED-TITLE␇" in text
        assert "[@click=app.quit]quit me[/]" in text  # interpolated variable
        labels = [o.prompt.plain for o in screen.query_one(NumberedList)._options]
        assert labels[0].startswith(" 1. [@click=app.quit]CLICK-LABEL[/] ␛]0;PWNED-LABEL␇")
        assert screen.title == "[bold red]Hostile[/] ␛]0;PWNED-TITLE␇ story"
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "&#27;" not in svg and "\x07" not in svg
        assert "CLICK-TO-QUIT" in svg and "[@click=app.quit]" in svg


async def test_clicking_injected_click_markup_does_nothing(hostile):
    clock = ManualClock()
    rec = MemoryRecorder()
    app = build_app(hostile, rec, TuiOptions(seed=1, no_timer=True), clock=clock)
    async with app.run_test(size=(100, 40)) as pilot:
        await read(pilot, clock)
        text = app.screen.query_one(SceneText)
        lines = [strip.text for strip in text._lines()]
        y = next(i for i, line in enumerate(lines) if "[@click=app.quit]CLICK-TO-QUIT" in line)
        x = lines[y].index("[@click=app.quit]CLICK-TO-QUIT")
        for dx in (0, 2, 8, 18, 25):  # on the injected markup and on the text it wraps
            assert await pilot.click(SceneText, offset=(x + dx, y))
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, PlayerScreen)
        assert text.content.plain.startswith("HOSTILE-START")
        assert "quit" not in rec.kinds()


async def test_control_characters_from_a_restored_state_are_neutralised(hostile):
    # A state restored from a database never went through the loader.
    data = {
        "seed": 1,
        "frames": [
            {
                "scene": "gate",
                "vars": {"name": "\x1b]0;PWNED\x07\x1b[2J", "cheer": "ok"},
                "visits": {"gate": 1},
                "chosen": [],
                "turns": 0,
            }
        ],
    }
    run = Playthrough.from_json(hostile, data)
    clock = ManualClock()
    services = LocalServices(MemoryRecorder())
    playing = Playing(hostile, services, run=run, recorder=MemoryRecorder(), resumed=True)
    app = build_app(hostile, None, TuiOptions(), services=services, clock=clock, playing=playing)
    async with app.run_test(size=(100, 40)) as pilot:
        await read(pilot, clock)
        shown = app.screen.query_one(SceneText).content.plain
        assert "␛]0;PWNED␇␛[2J" in shown
        labels = "".join(o.prompt.plain for o in app.screen.query_one(NumberedList)._options)
        assert "\x1b" not in shown + labels and "␛]0;PWNED␇" in labels
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "\x07" not in svg


async def test_viewer_name_is_shown_literally_in_help(hostile):
    name = "[@click=app.quit]eve[/] \x1b]0;PWN\x07"
    services = LocalServices(MemoryRecorder(), viewer=name)
    services.where = "/tmp/[bold]db[/].db"
    clock = ManualClock()
    app = build_app(hostile, None, TuiOptions(), services=services, clock=clock)
    async with app.run_test(size=(100, 40)) as pilot:
        await read(pilot, clock)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        svg = app.export_screenshot()
        assert "[@click=app.quit]eve[/]" in svg and "␛]0;PWN␇" in svg
        assert "/tmp/[bold]db[/].db" in svg
        assert "\x1b" not in svg


class Failing(MemoryRecorder):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def chose(self, *args, **kwargs):
        raise self.error


async def test_a_known_error_is_a_notification_and_play_goes_on(tmp_path):
    story = load_story(ROOT / "stories" / "tutorial")
    clock = ManualClock()
    app = build_app(story, Failing(StoreError("the disk is full")), TuiOptions(), clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        await pilot.press("2")
        await settle(pilot)
        assert app.is_running
        errors = [text for _, text, severity in app.told if severity == "error"]
        assert errors and "the disk is full" in errors[0]
        assert app.screen.phase == "choosing"  # the same choices, to try again


async def test_an_unexpected_error_stops_cleanly_with_a_non_zero_status(tmp_path):
    story = load_story(ROOT / "stories" / "tutorial")
    clock = ManualClock()
    crash = tmp_path / "crash.log"
    app = build_app(story, Failing(RuntimeError("boom")), TuiOptions(crash_log=crash), clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await read(pilot, clock)
        await pilot.press("2")
        await settle(pilot)
    assert app.return_code == 1
    assert app.crash is not None and "RuntimeError: boom" in app.crash
    assert str(crash) in app.crash
    assert "Traceback" in crash.read_text() and "boom" in crash.read_text()


async def test_an_exception_in_a_handler_gives_no_traceback(tmp_path, monkeypatch):
    story = load_story(ROOT / "stories" / "tutorial")
    clock = ManualClock()
    crash = tmp_path / "crash.log"

    def broken(self):
        raise ValueError("handler bug")

    monkeypatch.setattr(PlayerScreen, "action_pause", broken)
    app = build_app(story, MemoryRecorder(), TuiOptions(crash_log=crash), clock=clock)
    with pytest.raises(ValueError):
        async with app.run_test(size=(80, 24)) as pilot:
            await read(pilot, clock)
            await pilot.press("p")
            await settle(pilot)
    assert app.return_code == 1
    assert app.crash is not None and "ValueError: handler bug" in app.crash
    assert app._exit_renderables == []  # nothing (no traceback) printed at exit
    assert "handler bug" in crash.read_text()
