"""A kept verdict answer that is not one is ignored, never followed, and never crashes.

The verdict cache lives in the user's cache directory, where anything may be
written. `twin` (flags for a story named by id, recognised by hashing its
bundled files without loading them) reads the files a kept answer names: a
name outside the story's folder, a device or a pipe must make it give up, not
read `/dev/zero` until memory runs out or wait on a pipe forever; and a kept
answer that JSON reads into something unusable (an infinite count, nesting past
Python's limit) is no answer, as the README promises for a corrupt file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_consistency import SIGNAL

from branching.analytics import verdict_cache
from branching.story.loader import load_story

ROOT = SIGNAL / "story.yaml"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def keep(*, files: list[str] | None = None, verdicts: object = None, raw: str = "") -> str:
    """Write a kept answer for the bundled Signal; its content hash."""
    story = load_story(str(SIGNAL))
    answer = {
        "stamp": verdict_cache._stamp(story.id, story.content_hash),
        "files": verdict_cache._names(story) if files is None else files,
        "verdicts": [["a", "b", "c", "same", 5, ""]] if verdicts is None else verdicts,
    }
    target = verdict_cache._file(story.id, story.content_hash)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(raw or json.dumps(answer), encoding="utf-8")
    return story.content_hash


def test_a_sound_answer_is_taken(cache: Path) -> None:
    found = verdict_cache.twin("signal", keep(), ROOT)
    assert found is not None and ("a", "b", "c") in found


@pytest.mark.parametrize(
    "kept",
    [
        {"verdicts": [["a", "b", "c", "same", float("inf"), ""]]},
        {"raw": "[" * 100_000 + "]" * 100_000},
        {"raw": '{"stamp": ' + "[" * 100_000 + "]" * 100_000 + "}"},
    ],
    ids=["infinite states", "nested list", "nested stamp"],
)
def test_an_answer_json_cannot_make_usable_is_none(cache: Path, kept: dict[str, object]) -> None:
    content_hash = keep(**kept)  # type: ignore[arg-type]
    assert verdict_cache.twin("signal", content_hash, ROOT) is None
    assert verdict_cache.load(load_story(str(SIGNAL))) is None


@pytest.mark.parametrize("name", ["../signal/story.yaml", "/etc/hostname", "chapters"])
def test_a_name_outside_the_folder_or_not_a_file_is_none(cache: Path, name: str) -> None:
    names = verdict_cache._names(load_story(str(SIGNAL)))
    assert verdict_cache.twin("signal", keep(files=[*names, name]), ROOT) is None


CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (700 << 20, 700 << 20))
from pathlib import Path
from branching.analytics import verdict_cache
from branching.story.loader import load_story
story = load_story(sys.argv[2])
target = verdict_cache._file(story.id, story.content_hash)
target.parent.mkdir(parents=True, exist_ok=True)
names = verdict_cache._names(story)
answer = {"stamp": verdict_cache._stamp(story.id, story.content_hash),
          "files": [names[0], sys.argv[1]], "verdicts": []}
target.write_text(json.dumps(answer), encoding="utf-8")
print("twin:", verdict_cache.twin(story.id, story.content_hash, Path(sys.argv[2], "story.yaml")))
"""


@pytest.mark.parametrize("kind", ["/dev/zero", "a pipe nobody writes to"])
def test_a_device_or_a_pipe_named_is_never_read(tmp_path: Path, kind: str) -> None:
    name = kind
    if kind.startswith("a pipe"):
        os.mkfifo(tmp_path / "fifo")
        name = str(tmp_path / "fifo")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, name, str(SIGNAL)],
            env=env,
            timeout=60,
            capture_output=True,
            text=True,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"still reading {kind} after 60 s")
    assert done.returncode == 0 and "twin: None" in done.stdout, done.stderr[-600:]
