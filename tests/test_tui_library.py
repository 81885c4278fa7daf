"""Pilot tests of the library and of resuming an unfinished playthrough.

A small `Services` stands in for the database: it says which endings the
viewer found and which playthrough is unfinished, and hands out recorders.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from textual.widgets import OptionList

from branching.play.engine import Playthrough
from branching.play.services import LocalServices, Resumable
from branching.play.testing import MemoryRecorder
from branching.story.loader import load_story
from branching.tui.common.clock import ManualClock
from branching.tui.player.app import TuiOptions, build_app
from branching.tui.player.catalog import find_stories
from branching.tui.player.screens.library import LibraryScreen
from branching.tui.player.screens.player import PlayerScreen
from branching.tui.player.screens.resume import ResumeScreen
from branching.tui.player.testing import settle
from branching.tui.player.widgets import NoticeBar

ROOT = Path(__file__).resolve().parent.parent
STORIES = ROOT / "stories"


@pytest.fixture(scope="module")
def tutorial():
    return load_story(STORIES / "tutorial")


class Progress(LocalServices):
    """A viewer who found `found` endings and left `unfinished_run` half-way."""

    def __init__(
        self, found: dict[str, set[str]] | None = None, unfinished_run: Playthrough | None = None
    ) -> None:
        super().__init__(MemoryRecorder(), viewer="ana")
        self.found = found or {}
        self.unfinished_run = unfinished_run
        self.resumed_with: object = None
        self.resume_recorder = MemoryRecorder()

    def stored_endings(self, story):
        return set(self.found.get(story.id, set()))

    def unfinished(self, story):
        run = self.unfinished_run
        if run is None or run.story.id != story.id:
            return None
        return Resumable(run, token="session-1")

    def resume(self, found):
        self.resumed_with = found.token
        return self.resume_recorder


def half_way(story) -> Playthrough:
    run = Playthrough.start(story, 7)
    run.choose("lantern")  # platform -> market
    run.choose("walk_down_to_the_river")  # market -> pier
    return run


def library_app(tmp_path: Path, services: Progress):
    folder = tmp_path / "stories"
    shutil.copytree(STORIES / "tutorial", folder / "tutorial")
    (folder / "broken.yaml").write_text("branching: 1\nstart: nowhere\nscenes: {}\n")
    (folder / "notes.txt").write_text("not a story")
    return build_app(
        None, None, TuiOptions(seed=7), services=services, clock=ManualClock(), library=[folder]
    )


def test_find_stories_lists_story_files_and_folders(tmp_path):
    (tmp_path / "a.yaml").write_text("x")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "story.yaml").write_text("x")
    (tmp_path / "c").mkdir()  # a folder without story.yaml is not a story
    (tmp_path / ".hidden.yaml").write_text("x")
    (tmp_path / "readme.md").write_text("x")
    assert [p.name for p in find_stories([tmp_path, tmp_path / "missing"])] == ["a.yaml", "b"]


async def test_library_lists_title_author_length_endings_and_resume(tmp_path, tutorial):
    services = Progress(found={"tutorial": {"fog", "home"}}, unfinished_run=half_way(tutorial))
    app = library_app(tmp_path, services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LibraryScreen)
        stories = screen.query_one("#stories", OptionList)
        prompts = [stories.get_option_at_index(i).prompt.plain for i in range(stories.option_count)]
        assert len(prompts) == 2
        lantern, broken = prompts  # the tutorial comes first
        assert broken.startswith("broken.yaml") and "has errors" in broken
        assert lantern.splitlines()[0] == "The Lantern Market"
        assert lantern.count("by The branching team") == 1
        assert re.search(r" · about \d+ min · ", lantern)
        assert "scenes" not in lantern
        assert "endings 2/4 found" in lantern
        assert "resume at The Pier" in lantern


async def test_choosing_a_story_in_the_library_plays_it(tmp_path, tutorial):
    services = Progress()
    app = library_app(tmp_path, services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # the tutorial is first
        await settle(pilot)
        assert isinstance(app.screen, PlayerScreen)
        assert app.screen.playing.story.id == "tutorial"


async def test_a_story_with_errors_says_why_and_stays_in_the_library(tmp_path):
    app = library_app(tmp_path, Progress())
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")  # broken.yaml, after the tutorial
        await settle(pilot)
        assert isinstance(app.screen, LibraryScreen)
        assert any(severity == "error" for _, _, severity in app.told)
        notice = app.screen.query_one(NoticeBar)
        assert notice.display and "has errors" in str(notice.render())
        assert not app._notifications  # in the notice bar, not a toast over the list


async def test_quitting_a_story_returns_to_the_library(tmp_path):
    app = library_app(tmp_path, Progress())
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, LibraryScreen)
        await pilot.press("q")  # no story under way: the app closes at once
        await settle(pilot)
    assert app.return_code == 0


async def test_resume_continues_at_the_right_scene_with_the_same_state(tutorial):
    services = Progress(unfinished_run=half_way(tutorial))
    clock = ManualClock()
    app = build_app(tutorial, None, TuiOptions(seed=7), services=services, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ResumeScreen)
        question = app.screen.question.plain
        assert "The Lantern Market" in question and "The Pier" in question
        assert "2 choices made" in question
        await pilot.press("y")
        await settle(pilot)
        clock.advance(60)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PlayerScreen)
        assert services.resumed_with == "session-1"
        run = screen.playing.run
        assert run.view.scene == "pier"
        assert run.state.vars["lantern"] is True and run.state.turn_count == 2
        rec = services.resume_recorder
        assert "started" not in rec.kinds()  # the same session goes on
        await pilot.press("1")  # board the ferry
        await settle(pilot)
        assert rec.last("chose")["scene"] == "pier"
        assert rec.last("chose")["state"]["vars"]["coins"] == 2


async def test_declining_to_resume_starts_a_new_playthrough(tutorial):
    services = Progress(unfinished_run=half_way(tutorial))
    app = build_app(tutorial, None, TuiOptions(seed=7), services=services, clock=ManualClock())
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, PlayerScreen)
        assert app.screen.playing.run.view.scene == "platform"
        assert services.resumed_with is None


async def test_resume_option_skips_the_question(tutorial):
    services = Progress(unfinished_run=half_way(tutorial))
    app = build_app(
        tutorial, None, TuiOptions(seed=7, resume=True), services=services, clock=ManualClock()
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, PlayerScreen)
        assert app.screen.playing.run.view.scene == "pier"


async def test_quitting_at_the_resume_question_leaves_without_recording(tutorial):
    services = Progress(unfinished_run=half_way(tutorial))
    app = build_app(tutorial, None, TuiOptions(seed=7), services=services, clock=ManualClock())
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ResumeScreen)
        await pilot.press("q")
        await settle(pilot)
    assert app.return_code == 0
    assert services.recorder.calls == [] and services.resumed_with is None


class CannotResume(Progress):
    """The unfinished playthrough is found, but its session cannot be reopened."""

    def resume(self, found):
        from branching.errors import SaveError

        raise SaveError("the saved session is gone")


async def test_a_resume_that_fails_says_so_and_plays_on_anew(tutorial):
    services = CannotResume(unfinished_run=half_way(tutorial))
    clock = ManualClock()
    app = build_app(tutorial, None, TuiOptions(seed=7), services=services, clock=clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        clock.advance(60)
        await settle(pilot)
        assert any("the saved session is gone" in text for _, text, _ in app.told)
        await pilot.press("1")
        await settle(pilot)
        assert isinstance(app.screen, PlayerScreen)
        assert app.screen.playing.run.view.scene == "market"
        assert services.recorder.kinds()[0] == "started"
        assert services.recorder.last("chose")["choice"] == "lantern"


class OutdatedSave(Progress):
    def unfinished(self, story):
        from branching.errors import SaveError

        raise SaveError("scene \x1b]0;pwned\x07 is gone")


async def test_a_save_that_no_longer_fits_is_reported_without_control_characters(tutorial):
    app = build_app(
        tutorial, None, TuiOptions(seed=7), services=OutdatedSave(), clock=ManualClock()
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        messages = [text for _, text, _ in app.told]
        assert any("cannot be resumed" in m for m in messages)
        assert not any("\x1b" in m or "\x07" in m for m in messages)
