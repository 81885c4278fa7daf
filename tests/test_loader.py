"""The loader: scalars as the author wrote them, hostile files, includes, ids, hashes.

Given a story file, when it is loaded, then the model says what the author
meant, and no input (however broken) gets anything but a list of problems.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from branching.errors import StoryUnreadable
from branching.story.loader import load, load_story
from branching.story.model import Story
from branching.verify.check import check
from branching.verify.explore import explore
from tests.conftest import FIXTURES, ROOT

ENDING = "  z:\n    ending: true\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def one_scene(tmp_path: Path, scene: str, head: str = "") -> Story:
    text = f"branching: 1\nstart: a\n{head}scenes:\n  a:\n{scene}{ENDING}"
    result = load(write(tmp_path / "s.yaml", text))
    assert [str(p) for p in result.errors] == []
    assert result.story is not None
    return result.story


def errors_of(tmp_path: Path, text: str, name: str = "s.yaml") -> list[str]:
    result = load(write(tmp_path / name, text))
    return [f"{p.line}:{p.col}: {p.message}" for p in result.errors]


# ---------------------------------------------------------------- scalars


@pytest.mark.parametrize(
    "word",
    [
        "No",
        "yes",
        "on",
        "off",
        "1.10",
        "12:30",
        "2001-01-01",
        "2001-13-01",
        "0x1F",
        ".inf",
        "1e3",
        "-0",
    ],
)
def test_text_scalars_stay_as_written(tmp_path: Path, word: str) -> None:
    story = one_scene(
        tmp_path,
        f"    title: {word}\n    tags: [{word}]\n    choices:\n"
        f"      - {{label: {word}, goto: z, id: pick}}\n",
        head=f"title: {word}\nversion: {word}\n",
    )
    scene = story.scenes["a"]
    assert story.title == story.version == scene.title == word
    assert scene.tags == (word,)
    assert scene.choices[0].label.source == word


def test_state_takes_only_plain_decimals_and_true_false(tmp_path: Path) -> None:
    story = one_scene(
        tmp_path,
        "    text: '{hexa}{under}{inf}{sci}{flag}{word}{date}{neg}{half}'\n    next: z\n",
        head="state:\n  hexa: 0x1F\n  under: 1_000\n  inf: .inf\n  sci: 1e3\n  flag: true\n"
        "  word: yes\n  date: 2001-13-01\n  neg: -7\n  half: 0.5\n",
    )
    assert dict(story.state) == {
        "hexa": "0x1F",
        "under": "1_000",
        "inf": ".inf",
        "sci": 1000.0,
        "flag": True,
        "word": "yes",
        "date": "2001-13-01",
        "neg": -7,
        "half": 0.5,
    }
    assert type(story.state["sci"]) is float and type(story.state["neg"]) is int


@pytest.mark.parametrize(
    ("escape", "shown"),
    [
        (r"\e[2J", "\u241b[2J"),
        (r"\x07", "\u2407"),
        (r"\u009b", "\ufffd"),
        (r"\x1b]0;pwned\x07", "\u241b]0;pwned\u2407"),
        (r"\b", "\u2408"),
        (r"\u202e", "\ufffd"),
    ],
)
def test_control_characters_are_neutralised_in_text_and_labels(
    tmp_path: Path, escape: str, shown: str
) -> None:
    story = one_scene(
        tmp_path,
        f'    text: "before {escape} after"\n    choices:\n'
        f'      - {{label: "go {escape}", goto: z}}\n',
    )
    assert story.scenes["a"].text[0].text.source == f"before {shown} after"
    assert story.scenes["a"].choices[0].label.source == f"go {shown}"


def test_an_invalid_date_gives_a_story_error_not_a_traceback(tmp_path: Path) -> None:
    assert errors_of(tmp_path, "branching: 1\nstart: a\nscenes:\n  a:\n    next: 2001-13-01\n") == [
        "5:11: next: unknown scene '2001-13-01'"
    ]


# ---------------------------------------------------------------- hostile files


def test_numbers_too_large_give_a_story_error_not_a_traceback(tmp_path: Path) -> None:
    huge = "9" * 5000
    text = (
        f"branching: 1\nstart: a\ntimer: 1e999\nstate:\n  big: {huge}\n  f: 0.5\n  n: 1\n"
        f"scenes:\n  a:\n    choices:\n      - label: Go\n        goto: a\n"
        f"        set: {{f: 1e999}}\n        add: {{n: {huge}}}\n"
    )
    assert errors_of(tmp_path, text) == [
        "3:8: number too large: 1e999",
        "5:8: number too large: 99999999999999999999... (5,000 digits)",
        "13:18: number too large: 1e999",
        "14:18: number too large: 99999999999999999999... (5,000 digits)",
    ]


@pytest.mark.parametrize("unit", ["[", "- ", "{a: "], ids=["flow-lists", "block-lists", "maps"])
def test_deep_nesting_is_refused_and_the_process_survives(tmp_path: Path, unit: str) -> None:
    """A 100 KB tower of nesting is one story error at line 1, from the real command.

    The refusal may come from our own depth limit (64 levels) or from libyaml's,
    depending on the installed release, so the message's wording is not asserted:
    what the author sees is one `file:1:col: error:` line, exit status 1, and no
    traceback.
    """
    path = write(tmp_path / "deep.yaml", unit * (100_000 // len(unit)) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "branching", "check", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stdout + done.stderr
    problems = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(problems) == 1, done.stdout
    match = re.fullmatch(rf"{re.escape(str(path))}:1:(\d+): error: \S.*", problems[0])
    assert match is not None, problems[0]
    # the error points inside the tower, no deeper than libyaml's own limit
    assert 1 < int(match.group(1)) <= 1 + 1000 * len(unit)


def test_alias_bomb_is_refused_before_it_expands() -> None:
    result = load(FIXTURES / "bad" / "alias_bomb.yaml")
    assert result.story is None and result.partial is None
    assert [f"{p.line}:{p.col}: {p.message}" for p in result.problems] == [
        "8:8: aliases expand beyond 100,000 nodes"
    ]


def test_small_aliases_are_allowed(tmp_path: Path) -> None:
    story = one_scene(
        tmp_path,
        "    tags: &t [intro, dark]\n    choices:\n      - {label: Go, goto: z, tags: *t}\n",
    )
    assert story.scenes["a"].choices[0].tags == ("intro", "dark")


MUTATION_ALPHABET = list(":[]{}-&*!|>'\"\n\t #%@`,?~\\") + ["\n  ", "\n- ", "{a}", "\xff"]


def mutate(rng: random.Random, text: str) -> bytes:
    data = text
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(data) + 1)
        j = min(len(data), i + rng.randint(0, 40))
        action = rng.randrange(5)
        if action == 0:
            data = data[:i] + data[j:]
        elif action == 1:
            data = data[:i] + data[i:j] * 2 + data[j:]
        elif action == 2:
            data = data[:i] + rng.choice(MUTATION_ALPHABET) + data[i:]
        elif action == 3:
            lines = data.split("\n")
            a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[a], lines[b] = lines[b], lines[a]
            data = "\n".join(lines)
        else:
            data = data[:i] + rng.choice(["true", "null", "0", "-1", "''", "x"]) + data[j:]
    raw = data.encode("utf-8", "surrogateescape")
    return raw.replace("\xff".encode(), b"\xff") if rng.random() < 0.1 else raw


def test_hostile_mutations_never_raise(tmp_path: Path, breakfast: Path) -> None:
    rng = random.Random(20240601)
    good = breakfast.read_text(encoding="utf-8")
    path = tmp_path / "fuzz.yaml"
    outcomes = {"errors": 0, "clean": 0}
    for _ in range(400):
        path.write_bytes(mutate(rng, good))
        result = load(path)
        story = result.story or result.partial
        if story is not None:
            check(story, complete=result.story is not None)
        if result.story is not None:
            explore(result.story, max_states=500)
        outcomes["errors" if result.errors else "clean"] += 1
        assert all(p.line >= 1 and p.col >= 1 for p in result.problems)
    assert outcomes["errors"] > 100  # the mutations really break things


# ---------------------------------------------------------------- includes and folders


def chapter_story(folder: Path, include: str, extra: dict[str, str] | None = None) -> Path:
    write(
        folder / "story.yaml",
        f"branching: 1\nstart: a\ninclude: {include}\nscenes:\n  a: {{next: z}}\n",
    )
    for name, text in (extra or {}).items():
        write(folder / name, text)
    return folder


def test_folder_story_loads_story_yaml_with_chapters(tmp_path: Path) -> None:
    folder = chapter_story(
        tmp_path / "tale",
        "[parts/one.yaml]",
        {
            "parts/one.yaml": "chapter: Night\ninclude: [two.yaml]\nscenes:\n  z: {ending: true}\n",
            "parts/two.yaml": "scenes:\n  extra: {chapter: Dawn, next: z}\n",
        },
    )
    story = load_story(folder)
    assert story.id == "tale" and story.title == "tale"
    assert story.files == (
        str(folder / "story.yaml"),
        str(folder / "parts/one.yaml"),
        str(folder / "parts/two.yaml"),
    )
    assert story.scenes["z"].chapter == "Night"
    assert story.scenes["extra"].chapter == "Dawn"
    assert story.scenes["a"].chapter is None


def test_a_folder_without_story_yaml_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(StoryUnreadable, match="story.yaml"):
        load(tmp_path)


def test_include_problems_are_reported_where_the_include_is(tmp_path: Path) -> None:
    folder = chapter_story(
        tmp_path / "tale",
        "[one.yaml, one.yaml, missing.yaml, ../x.yaml]",
        {
            "one.yaml": "scenes:\n  z: {ending: true}\n",
            "x.yaml": "scenes: {}\n",
        },
    )
    result = load(folder)
    assert [f"{p.line}:{p.col}: {p.message}" for p in result.problems] == [
        f"3:21: 'one.yaml' is included twice (already loaded as {folder / 'one.yaml'})",
        "3:31: include 'missing.yaml': no such file",
        "3:45: include '../x.yaml' is outside the story folder",
    ]


def test_a_chapter_file_has_only_chapter_keys(tmp_path: Path) -> None:
    folder = chapter_story(
        tmp_path / "tale",
        "[one.yaml]",
        {
            "one.yaml": "start: a\nscenes:\n  z: {ending: true}\n",
        },
    )
    assert [str(p) for p in load(folder).errors] == [
        f"{folder / 'one.yaml'}:1:1: error: unknown key 'start' in a chapter file"
    ]


# ---------------------------------------------------------------- ids, endings, hash


@pytest.mark.parametrize(
    ("label", "slug"),
    [
        ("Café au lait!", "cafe_au_lait"),
        ("{name}", "choice_1"),
        ('Say "{name}" twice', "say_twice"),
        ("  --Go  North--  ", "go_north"),
        ("Ask for {{help}}", "ask_for_help"),
        ("Ωμέγα", "choice_1"),
        ("ﬁnal Straße", "final_strae"),
    ],
)
def test_default_choice_ids_are_slugs_of_labels(tmp_path: Path, label: str, slug: str) -> None:
    quoted = label.replace('"', '\\"')
    story = one_scene(
        tmp_path,
        f'    choices:\n      - label: "{quoted}"\n        goto: z\n',
        head="state: {name: Ann}\n",
    )
    choice = story.scenes["a"].choices[0]
    assert choice.id == slug and not choice.explicit_id


def test_empty_slug_takes_the_choice_position(tmp_path: Path) -> None:
    story = one_scene(
        tmp_path, "    choices:\n      - {label: Go, goto: z}\n      - {label: '!!!', goto: z}\n"
    )
    assert [c.id for c in story.scenes["a"].choices] == ["go", "choice_2"]


def test_ending_true_is_neutral_with_the_scene_title(tmp_path: Path) -> None:
    story = one_scene(tmp_path, "    next: z\n")
    assert story.scenes["z"].ending is not None
    assert (story.scenes["z"].ending.kind, story.scenes["z"].ending.title) == ("neutral", "z")
    titled = one_scene(tmp_path, "    title: Door\n    ending: true\n")
    assert titled.scenes["a"].ending is not None
    assert titled.scenes["a"].ending.title == "Door"


def test_content_hash_changes_when_any_file_changes(tmp_path: Path) -> None:
    folder = chapter_story(
        tmp_path / "tale",
        "[one.yaml]",
        {
            "one.yaml": "scenes:\n  z: {ending: true}\n",
        },
    )
    first = load_story(folder).content_hash
    assert load_story(folder).content_hash == first
    write(folder / "one.yaml", "scenes:\n  z: {ending: true, title: End}\n")
    second = load_story(folder).content_hash
    assert second != first
    root = (folder / "story.yaml").read_text(encoding="utf-8")
    write(folder / "story.yaml", root + "# a comment counts too\n")
    assert load_story(folder).content_hash not in (first, second)


def test_loading_leaves_the_garbage_collector_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The collector is the program's to pause (branching.startup), never the library's."""
    import gc

    touched: list[str] = []
    monkeypatch.setattr(gc, "disable", lambda: touched.append("disable"))
    monkeypatch.setattr(gc, "enable", lambda: touched.append("enable"))
    load_story(ROOT / "stories" / "signal")
    assert touched == []
