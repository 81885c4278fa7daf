"""Snapshot tests: what the player looks like, at 80x24 and 120x40.

The story is written here (not a bundled one, whose text changes as authors
edit it), the clock is a `ManualClock` moved by exact amounts, the seed is
fixed, and nothing blinks. Read the snapshot report before updating:
`pytest tests/test_tui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from branching.play.services import LocalServices
from branching.play.testing import MemoryRecorder
from branching.story.loader import load_story
from branching.tui.common.clock import ManualClock
from branching.tui.player.app import TuiOptions, build_app
from branching.tui.player.testing import settle

STORY = """\
branching: 1
id: ferry
title: The Night Ferry
author: Snapshot Tests
description: A very short crossing, kept stable for the snapshot tests.
start: dock
timer: 10
state:
  ticket: false
scenes:
  dock:
    title: The Dock
    chapter: Departure
    text: |
      Rain drums on the tin roof of the ticket office. The last ferry sounds its
      horn, and the clerk slides a **single ticket** under the glass.

      "Last call," she says. *You have ten seconds.*
    choices:
      - label: Buy the ticket
        goto: deck
        set: {ticket: true}
      - label: Slip aboard without one
        goto: deck
        default: true
  deck:
    title: The Deck
    chapter: Crossing
    timer: 0
    text: |
      The ferry pulls away. Spray comes over the rail and the lights of the town
      shrink behind you. A steward is checking tickets at the cabin stairs.
    choices:
      - label: Go below to your cabin
        goto: cabin
        requires: ticket
      - label: Stay out on deck
        goto: storm
      - label: Climb to the bridge
        goto: bridge
        if: ticket
  cabin:
    title: The Cabin
    chapter: Crossing
    text: You sleep the whole way across and wake in the harbour.
    ending: {kind: good, title: Safe Harbour}
  storm:
    title: The Storm
    chapter: Crossing
    text: |
      A wave the height of a house breaks over the rail. The last thing you see
      is the steward's lantern, swinging away into the dark.
    ending: {kind: bad, title: Overboard}
    rewind: [deck, dock]
  bridge:
    title: The Bridge
    text: The captain hands you the wheel.
    ending: {kind: secret, title: At the Wheel}
"""

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


class Found(LocalServices):
    def __init__(self) -> None:
        super().__init__(MemoryRecorder(), viewer="ana")
        self.where = "telemetry.db"

    def stored_endings(self, story):
        return {"cabin"}


@pytest.fixture
def ferry(tmp_path, monkeypatch):
    folder = tmp_path / "stories"
    folder.mkdir()
    (folder / "ferry.yaml").write_text(STORY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # the library names its folder relatively
    return load_story(folder / "ferry.yaml")


def make(story):
    clock = ManualClock()
    app = build_app(
        story, None, TuiOptions(seed=1), services=Found(), clock=clock, library=[Path("stories")]
    )
    return app, clock


def playing_to(clock, *keys: str, then: float = 0.0):
    """A `run_before` that reads each scene, presses `keys`, then waits `then` seconds."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        clock.advance(60)
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
            clock.advance(60)
            await settle(pilot)
        if then:
            clock.advance(then)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_scene_with_countdown(snap_compare, ferry, size):
    app, clock = make(ferry)
    assert snap_compare(app, terminal_size=size, run_before=playing_to(clock, then=2.5))


@pytest.mark.parametrize("size", SIZES)
def test_locked_choice(snap_compare, ferry, size):
    app, clock = make(ferry)
    assert snap_compare(app, terminal_size=size, run_before=playing_to(clock, "2"))


@pytest.mark.parametrize("size", SIZES)
def test_ending_screen(snap_compare, ferry, size):
    app, clock = make(ferry)
    assert snap_compare(app, terminal_size=size, run_before=playing_to(clock, "2", "2"))


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(snap_compare, ferry, size):
    app, clock = make(ferry)
    assert snap_compare(
        app, terminal_size=size, press=["question_mark"], run_before=playing_to(clock)
    )


@pytest.mark.parametrize("size", SIZES)
def test_library(snap_compare, ferry, size):
    clock = ManualClock()
    app = build_app(
        None, None, TuiOptions(seed=1), services=Found(), clock=clock, library=[Path("stories")]
    )
    assert snap_compare(app, terminal_size=size, run_before=playing_to(clock))


LONG_STORY = """\
branching: 1
id: lamp
title: The Long Watch
author: Snapshot Tests
start: watch
scenes:
  watch:
    title: The Watch
    chapter: Night
    timer: 10
    text: |
{watch}
    choices:
      - label: Keep watching
        goto: dawn
        default: true
      - label: Sleep at the desk
        goto: dawn
  dawn:
    title: Dawn
    chapter: Morning
    text: |
{dawn}
    ending: {{kind: good, title: Morning Comes}}
"""


def _block(lines: list[str]) -> str:
    return "\n\n".join("      " + line for line in lines)


@pytest.fixture
def lamp(tmp_path):
    watch = [
        f"Hour {n} of the watch. The lamp turns, the sea answers, and you write the "
        f"weather in the log: wind backing west, glass falling, line {n}."
        for n in range(1, 13)
    ]
    dawn = [
        f"Dawn, line {n}: the tide goes out over the reef and takes the night with it."
        for n in range(1, 25)
    ]
    path = tmp_path / "lamp.yaml"
    path.write_text(LONG_STORY.format(watch=_block(watch), dawn=_block(dawn)), encoding="utf-8")
    return load_story(path)


@pytest.mark.parametrize("size", SIZES)
def test_long_scene_waits_for_reading(snap_compare, lamp, size):
    """The start of the text at the top; the countdown full and saying why it waits."""
    app, clock = make(lamp)
    assert snap_compare(app, terminal_size=size, run_before=playing_to(clock, then=30))


@pytest.mark.parametrize("size", SIZES)
def test_ending_with_long_text_shows_the_text_first(snap_compare, lamp, size):
    app, clock = make(lamp)
    assert snap_compare(app, terminal_size=size, run_before=playing_to(clock, "end", "1"))


@pytest.mark.parametrize("size", SIZES)
def test_quit_confirmation(snap_compare, ferry, size):
    app, clock = make(ferry)
    assert snap_compare(app, terminal_size=size, press=["q"], run_before=playing_to(clock, then=2))


class Unfinished(Found):
    """A viewer with an unfinished playthrough of the ferry, one choice in."""

    def unfinished(self, story):
        from branching.play.engine import Playthrough
        from branching.play.services import Resumable

        run = Playthrough.start(story, 1)
        run.choose(run.view.choices[0].id)
        return Resumable(run, "session-1", "2026-12-01T20:00:00.000Z")


@pytest.mark.parametrize("size", SIZES)
def test_resume_dialog(snap_compare, ferry, size):
    clock = ManualClock()
    app = build_app(ferry, None, TuiOptions(seed=1), services=Unfinished(), clock=clock)
    assert snap_compare(app, terminal_size=size, run_before=playing_to(clock, then=5))
