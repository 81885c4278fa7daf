"""The library outside the repository: bundled stories, shelves, order, author, minutes.

The bundled stories must show wherever `branching play` runs, not only in the
repository: `branching.story.bundled` finds them in an installed package
(`branching/_stories`, put there by the wheel) or, for an editable install, in
the repository's `stories/`. The library lists them first, then ./stories and
`--stories DIR`, each folder once; on each shelf the tutorial comes first.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest
from textual.widgets import OptionList, Static

from branching.play.reading import WORDS_PER_MINUTE, about, reading_minutes
from branching.play.services import LocalServices
from branching.play.testing import MemoryRecorder
from branching.story import bundled
from branching.story.loader import load_story
from branching.tui.common.clock import ManualClock
from branching.tui.player.app import TuiOptions, build_app
from branching.tui.player.catalog import BUNDLED, catalogue, library_folders, shelf_label
from branching.tui.player.screens.library import LibraryScreen
from branching.tui.player.testing import settle
from tests.conftest import ROOT, STORIES

BUNDLED_IDS = ["tutorial", "signal", "lighthouse"]  # the tutorial first, then by title


def services() -> LocalServices:
    return LocalServices(MemoryRecorder(), viewer="ana")


# -- where the bundled stories are -------------------------------------------------


def test_the_wheel_ships_the_stories_where_bundled_looks_for_them() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = config["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["force-include"] == {"stories": "branching/_stories"}
    assert (bundled.PACKAGE / "_stories").relative_to(ROOT) == Path("branching/_stories")


def test_an_editable_install_uses_the_repository_stories() -> None:
    assert bundled.bundled_stories() == STORIES


def test_an_installed_package_uses_its_own_copy(tmp_path, monkeypatch) -> None:
    package = tmp_path / "site-packages" / "branching"
    shutil.copytree(STORIES, package / "_stories")
    monkeypatch.setattr(bundled, "PACKAGE", package)
    assert bundled.bundled_stories() == package / "_stories"


def test_a_stories_folder_beside_an_installed_package_is_not_taken(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "branching"
    package.mkdir(parents=True)
    (tmp_path / "site-packages" / "stories").mkdir()  # some other package's folder
    monkeypatch.setattr(bundled, "PACKAGE", package)
    assert bundled.bundled_stories() is None


def test_from_another_folder_the_library_finds_the_bundled_stories(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./stories here
    folders = library_folders()
    assert folders[0] == STORIES
    entries = catalogue(folders, services())
    assert [e.story.id for e in entries if e.story] == BUNDLED_IDS
    assert {e.shelf for e in entries} == {BUNDLED}


def test_inside_the_repository_the_stories_are_listed_once(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)  # ./stories is the bundled folder
    assert library_folders() == [STORIES]
    assert library_folders(["stories", str(STORIES)]) == [STORIES]


def test_shelves_come_in_order_bundled_then_here_then_extra(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stories").mkdir()
    extra = tmp_path / "more"
    extra.mkdir()
    assert library_folders([extra]) == [STORIES, Path("stories"), extra]
    assert shelf_label(STORIES) == BUNDLED
    assert shelf_label(Path("stories")) == "./stories"
    assert shelf_label(extra) == str(extra)


# -- what each story shows -----------------------------------------------------------


def test_every_bundled_story_has_one_author_credit() -> None:
    for entry in catalogue([STORIES], services()):
        assert entry.story is not None, entry.error
        assert entry.story.author == "The branching team"


def test_the_tutorial_comes_first_then_by_title(tmp_path) -> None:
    shelf = tmp_path / "shelf"
    shutil.copytree(STORIES, shelf)
    for name, title in [("apple.yaml", "Apple"), ("zebra.yaml", "aardvark")]:
        (shelf / name).write_text(
            f"branching: 1\ntitle: {title}\nstart: a\nscenes:\n  a: {{text: Hi., ending: true}}\n",
            encoding="utf-8",
        )
    titles = [e.title for e in catalogue([shelf], services())]
    assert titles == [
        "The Lantern Market",
        "aardvark",
        "Apple",
        "Signal",
        "The Keeper of Skerrow Light",
    ]


def test_length_is_minutes_of_reading_and_timers() -> None:
    for entry in catalogue([STORIES], services()):
        assert entry.minutes is not None and 1 <= entry.minutes <= 30, entry.title


def write_line(tmp_path: Path, words: int, timer: int) -> Path:
    """A story with no real branching: `words` words, then one timed choice, then an end."""
    text = " ".join(["*word*"] * words)
    path = tmp_path / "line.yaml"
    path.write_text(
        f"branching: 1\nstart: a\ntimer: {timer}\nscenes:\n"
        f"  a:\n    text: '{text}'\n    choices:\n      - {{label: On, goto: z}}\n"
        f"      - {{label: Also on, goto: z}}\n"
        "  z: {text: The end., ending: true}\n",
        encoding="utf-8",
    )
    return path


def test_reading_time_counts_words_at_the_documented_pace_plus_timers(tmp_path) -> None:
    story = load_story(write_line(tmp_path, words=2 * WORDS_PER_MINUTE - 2, timer=30))
    # 2 * WPM - 2 words of the first scene, 2 of the ending ("The end."), one 30 s timer
    assert reading_minutes(story) == pytest.approx(2.5)


def test_reading_time_is_the_average_playthrough_not_the_whole_text(tmp_path) -> None:
    long_branch = " ".join(["word"] * 2 * WORDS_PER_MINUTE)
    path = tmp_path / "fork.yaml"
    path.write_text(
        "branching: 1\nstart: a\nscenes:\n"
        "  a:\n    choices:\n      - {label: Short, goto: s}\n      - {label: Long, goto: l}\n"
        "  s: {ending: true}\n"
        f"  l: {{text: {long_branch}, ending: true}}\n",
        encoding="utf-8",
    )
    minutes = reading_minutes(load_story(path))
    assert 0.5 < minutes < 1.5  # half the playthroughs read 2 minutes, half read nothing
    assert minutes == reading_minutes(load_story(path))  # seeded: always the same


@pytest.mark.parametrize(
    ("minutes", "shown"),
    [(0.2, "about 1 min"), (4.4, "about 4 min"), (11.6, "about 12 min"), (75, "about 1 h 15 min")],
)
def test_minutes_are_shown_rounded(minutes: float, shown: str) -> None:
    assert about(minutes) == shown


# -- the library screen --------------------------------------------------------------


async def test_library_shows_shelves_author_once_and_minutes(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    own = tmp_path / "stories"
    own.mkdir()
    (own / "mine.yaml").write_text(
        "branching: 1\ntitle: My Own\nauthor: Me\nstart: a\n"
        "scenes:\n  a: {text: Hello there., ending: true}\n",
        encoding="utf-8",
    )
    app = build_app(
        None,
        None,
        TuiOptions(seed=1),
        services=services(),
        clock=ManualClock(),
        library=library_folders(),
    )
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LibraryScreen)
        intro = screen.query_one("#library-intro", Static).render()
        assert "3 stories bundled with branching · 1 in ./stories" in str(intro)
        assert "Stories from" not in str(intro)
        stories = screen.query_one("#stories", OptionList)
        rows = [stories.get_option_at_index(i) for i in range(stories.option_count)]
        headings = [r.prompt.plain for r in rows if r.disabled]
        assert headings == [BUNDLED, "./stories"]
        prompts = [r.prompt.plain for r in rows if not r.disabled]
        assert [p.splitlines()[0] for p in prompts] == [
            "The Lantern Market",
            "Signal",
            "The Keeper of Skerrow Light",
            "My Own",
        ]
        for prompt in prompts:
            assert len(re.findall(r"\bby ", prompt)) == 1
            assert re.search(r" · about \d+ min · endings 0/\d found", prompt)
        # the first story, not the heading, is highlighted, and Enter plays it
        assert stories.highlighted == 1
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.playing.story.id == "tutorial"  # type: ignore[attr-defined]


# -- naming a bundled story -------------------------------------------------------------


def test_a_bundled_story_can_be_played_by_name_from_any_folder(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from branching.cli import cli

    monkeypatch.chdir(tmp_path)
    for name in BUNDLED_IDS:
        assert bundled.bundled_story(name) is not None
    result = CliRunner().invoke(
        cli, ["play", "tutorial", "--no-telemetry", "--choices", "1,1,1"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "THE END: Home by Lantern-light" in result.stdout


def test_a_path_wins_over_a_bundled_name_and_names_are_not_paths(tmp_path, monkeypatch) -> None:
    from branching.cli.playing import story_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tutorial").mkdir()
    assert story_path("tutorial") == "tutorial"
    assert story_path("lighthouse") == str(STORIES / "lighthouse.yaml")
    assert story_path("signal") == str(STORIES / "signal")
    assert bundled.bundled_story("../stories/signal") is None
    assert bundled.bundled_story("nosuch") is None
