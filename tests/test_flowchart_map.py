"""The story map: `branching flowchart STORY` with no telemetry draws the structure.

Every test runs with no database (conftest points the user data folder at an
empty temporary one and unsets BRANCHING_DB), as an author would before the
first viewer. The map shows scenes, choices with their conditions, endings
with their kinds and chapters in every format, and never claims a count: no
"0 visits", no "0%". The terminal map of the tutorial is a golden file
(tests/golden/flowchart-map-tutorial-80.txt).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from branching.cli import cli
from tests.test_render_flowchart import check_golden

STORIES = Path(__file__).resolve().parent.parent / "stories"
SIGNAL = str(STORIES / "signal")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
COUNTED = re.compile(r"\b0 (visits?|sessions?|viewers?)\b|\b0(\.0)?%|reached 0|\b0 times")


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(cli, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_the_terminal_map_of_the_tutorial(tmp_path: Path) -> None:
    out = tmp_path / "map.txt"
    run("flowchart", "tutorial", "--width", "80", "-o", str(out))
    text = out.read_text(encoding="utf-8")
    check_golden("flowchart-map-tutorial-80.txt", text)
    assert "the story map" in text and not COUNTED.search(text)
    assert "Climb the moth tower [requires lantern and courage" in text  # conditions, compactly
    assert "◆ The Moth Tower · secret ending" in text  # endings with their kinds
    assert "── The River ─" in text  # chapters
    assert all(len(line) <= 80 for line in text.splitlines())


@pytest.mark.parametrize("fmt", ["terminal", "dot", "mermaid", "json"])
def test_every_text_format_draws_the_map_without_a_database(fmt: str) -> None:
    text = run("flowchart", SIGNAL, "--format", fmt).output
    assert not COUNTED.search(text), COUNTED.search(text)
    assert "has_key" in text  # the condition on unlocking the padlock
    if fmt == "json":
        data = json.loads(text)
        assert data["telemetry"] is False
        counts = [s["visits"] for s in data["scenes"]]
        counts += [e["count"] for s in data["scenes"] for e in s["edges"]]
        assert set(counts) == {None}  # absent, not zero
        unlock = next(e for s in data["scenes"] for e in s["edges"] if e["choice"] == "unlock")
        assert unlock["condition"] == "requires has_key"
    else:
        assert "story map" in text and "visits" not in text


@needs_dot
@pytest.mark.parametrize("fmt", ["svg", "png", "html"])
def test_every_drawing_draws_the_map_without_a_database(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"map.{fmt}"
    run("flowchart", SIGNAL, "--format", fmt, "-o", str(out))
    data = out.read_bytes()
    if fmt == "png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
        return
    text = data.decode("utf-8")
    assert "the story map" in text and "has_key" in text
    assert "visits" not in text and not COUNTED.search(text)
    if fmt == "html":
        assert "always offered" in text  # the side panel says when each way is offered


def test_the_big_story_views_apply_to_the_map() -> None:
    overview = run("flowchart", SIGNAL, "--overview", "--format", "dot").output
    assert "box3d" in overview and "visits" not in overview
    chapter = run("flowchart", SIGNAL, "--chapter", "hill", "--width", "80").output
    assert "■ The padlock" in chapter and "to chapter The Booth" in chapter
    around = run("flowchart", SIGNAL, "--around", "hut_door", "--depth", "1").output
    assert "Unlock the padlock [requires has_key]" in around
    assert not COUNTED.search(overview + chapter + around)


def test_a_database_without_the_story_draws_the_map_with_a_note(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    run("simulate", "tutorial", "--sessions", "5", "--seed", "1", "--db", str(db))
    text = run("flowchart", "lighthouse", "--db", str(db), "--width", "100").output
    assert "other.db holds no recordings of lighthouse: this is the story map" in text
    assert "■ The Landing" in text and not COUNTED.search(text)
    recorded = run("flowchart", "tutorial", "--db", str(db)).output
    assert "sessions ·" in recorded or " sessions\n" in recorded  # telemetry wins...
    mapped = run("flowchart", "tutorial", "--db", str(db), "--map").output
    assert "the story map" in mapped and " sessions" not in mapped  # ...unless --map


def test_the_map_refuses_what_needs_telemetry_in_one_line(tmp_path: Path) -> None:
    counts = tmp_path / "counts.csv"
    counts.write_text("scene,choice,target,count\n", encoding="utf-8")
    for args, status, words in [
        (["--min-share", "5"], 2, "the story map has none"),
        (["--map", "--counts", str(counts)], 2, "not both"),
        (["--since", "2025-01-01"], 1, "no recorded sessions to filter"),
    ]:
        result = run("flowchart", SIGNAL, *args, ok=False)
        assert result.exit_code == status and words in result.output, result.output
        assert "Traceback" not in result.output
    unknown = run("flowchart", "no-such-story", ok=False)
    assert unknown.exit_code == 1 and "nor a bundled story" in unknown.output
    assert len(unknown.output.strip().splitlines()) == 1
