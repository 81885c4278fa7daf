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
