"""The explorer's verdicts behind the "no difference" flag are kept between runs.

Given a story file and its recorded sessions, when `stats --table flags` runs
once, then the explorer's complete answer is kept in the user's cache
directory, and a later run (a new process: nothing in memory) flags the same
without exploring again. A kept answer is only a shortcut: a corrupt file is
ignored, an edited story is a new key, a pair the state budget left undecided
is kept (the same budget stops at the same place every run) but an answer a
clock or Ctrl-C cut short is not, and a cache directory that cannot be written
is not an error.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_consistency import SIGNAL
from test_flags_exact import TEA, flags, simulate, write

from branching.analytics import report, verdict_cache
from branching.story.loader import load_story
from branching.verify import choices as verify_choices
from branching.verify.limits import Limits


@pytest.fixture(scope="module")
def tea(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("tea-cache")
    story, db = write(tmp, "tea.yaml", TEA), tmp / "t.db"
    simulate(story, db)
    return story, db


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache directory, and no verdict held in this process."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(report, "_VERDICTS", {})
    return tmp_path / "cache"


def new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a new `branching` process has: no verdict in memory."""
    monkeypatch.setattr(report, "_VERDICTS", {})


def no_explorer(monkeypatch: pytest.MonkeyPatch) -> None:
    def explore(*_: object, **__: object) -> None:
        raise AssertionError("the explorer ran although its answer was kept")

    monkeypatch.setattr(verify_choices, "compare_choices", explore)


def test_a_later_run_flags_the_same_without_exploring(
    tea: tuple[Path, Path], fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    story, db = tea
    first = flags(str(story), db)
    assert {r["proof"] for r in first} == {"explorer"}
    assert len(list(verdict_cache.cache_dir().glob("tea-*.json"))) == 1
    new_process(monkeypatch)
    no_explorer(monkeypatch)
    assert flags(str(story), db) == first


def test_a_corrupt_kept_answer_is_ignored_and_replaced(
    tea: tuple[Path, Path], fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    story, db = tea
    first = flags(str(story), db)
    [kept] = verdict_cache.cache_dir().glob("tea-*.json")
    for garbage in ("{not json", '{"stamp": 1}', '{"stamp": null, "verdicts": [[1]]}', ""):
        kept.write_text(garbage, encoding="utf-8")
        new_process(monkeypatch)
        assert flags(str(story), db) == first
    new_process(monkeypatch)
    no_explorer(monkeypatch)  # the answer was kept again, whole
    assert flags(str(story), db) == first


def test_an_edited_story_is_not_answered_from_the_old_file(
    tea: tuple[Path, Path], fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    story, db = tea
    assert "The hall" not in {r["scene"] for r in flags(str(story), db)}
    # same id, the encore no longer depends on whistling: whistle and hum now differ in
    # nothing, and the old answer (they differ) must not be read for this story
    edited = write(tmp_path, "tea.yaml", TEA.replace("""'chosen("hall", "whistle")'""", "true"))
    new_process(monkeypatch)
    pairs = {(r["scene"], r["proof"]) for r in flags(str(edited), db)}
    assert ("The hall", "explorer") in pairs
    assert len(list(verdict_cache.cache_dir().glob("tea-*.json"))) == 2


def test_an_answer_the_state_budget_left_undecided_is_kept(
    tea: tuple[Path, Path], fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    story, db = tea
    monkeypatch.setattr(verify_choices, "CHECK_LIMITS", Limits(max_states=2))
    first = flags(str(story), db)
    assert "explorer" not in {r["proof"] for r in first}  # two states prove nothing
    assert len(list(verdict_cache.cache_dir().glob("tea-*.json"))) == 1
    new_process(monkeypatch)
    no_explorer(monkeypatch)
    assert flags(str(story), db) == first


def test_the_explorer_says_which_stops_would_come_out_the_same_again(
    tea: tuple[Path, Path],
) -> None:
    story = load_story(tea[0])
    by_budget = verify_choices.compare_choices(story, limits=Limits(max_states=0))
    by_clock = verify_choices.compare_choices(story, limits=Limits(max_states=None, max_seconds=0))
    assert by_budget and {v.verdict for v in by_budget} == {"unknown"}
    assert any(v.verdict == "unknown" for v in by_clock)  # the clock cut the judging short
    assert verify_choices.repeatable(by_budget)
    assert not verify_choices.repeatable(by_clock)


def test_an_answer_cut_short_by_the_clock_is_not_kept(
    tea: tuple[Path, Path], fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    story, db = tea
    monkeypatch.setattr(verify_choices, "CHECK_LIMITS", Limits(max_states=None, max_seconds=0))
    flags(str(story), db)
    assert not list(verdict_cache.cache_dir().glob("*.json"))


def test_a_cache_that_cannot_be_written_is_not_an_error(
    tea: tuple[Path, Path], fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    story, db = tea
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache directory would be", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    first = flags(str(story), db)
    monkeypatch.setenv("XDG_CACHE_HOME", str(fresh))
    new_process(monkeypatch)
    assert flags(str(story), db) == first


def test_a_bundled_story_named_by_id_is_answered_without_reading_its_yaml(
    fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`stats signal` (a bundled story of several files, named by id) flags from the
    answer kept for the recorded version when the bundled files are that version
    (hashed as the loader hashes them, not read as YAML); once an included file is
    edited, the story is read again (and is no longer taken for the recording)."""
    folder = tmp_path / "signal"
    shutil.copytree(SIGNAL, folder)
    db = tmp_path / "s.db"
    simulate(folder, db)
    monkeypatch.setattr(report, "bundled_story", lambda name: folder if name == "signal" else None)
    first = flags(str(folder), db)  # explores, and keeps the answer with its files' names
    [kept] = verdict_cache.cache_dir().glob("signal-*.json")
    older = json.loads(kept.read_text(encoding="utf-8"))
    assert older.pop("files")[1:] == [
        "chapters/01-evening.yaml",
        "chapters/02-booth.yaml",
        "chapters/03-hill.yaml",
        "chapters/04-dawn.yaml",
    ]
    kept.write_text(json.dumps(older), encoding="utf-8")  # as an older version kept it
    new_process(monkeypatch)
    assert flags(str(folder), db) == first  # read from the file, and its files named again
    assert "files" in json.loads(kept.read_text(encoding="utf-8"))
    loads: list[object] = []
    read = report._load
    monkeypatch.setattr(report, "_load", lambda path: loads.append(path) or read(path))
    new_process(monkeypatch)
    no_explorer(monkeypatch)
    assert flags("signal", db) == first
    assert loads == []
    chapter = sorted((folder / "chapters").glob("*.yaml"))[-1]
    chapter.write_text(chapter.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    new_process(monkeypatch)
    flags("signal", db)
    assert loads == [folder]
