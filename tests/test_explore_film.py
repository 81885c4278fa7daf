"""`explore` at the size of a film: tests/fixtures/film (300 scenes, 60 variables).

Given the generated film, when it is explored, then the search completes,
all four endings are proven by choice sequences 18 to 34 deep that the engine
really plays, and every scene is reached. When the exploration hits its
memory limit or gets Ctrl-C, it still prints everything found so far, marked
incomplete, and exits with status 3. (The full count of 27 million states is
timed by benchmarks/bench_explore.py, not here.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from branching.story.loader import load_story
from branching.verify.explore import explore
from tests.conftest import FIXTURES, ROOT
from tests.test_explore_packed import replay_any

FILM = FIXTURES / "film"


def explore_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "branching", "explore", str(FILM), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_the_film_explores_completely_and_every_ending_replays() -> None:
    story = load_story(FILM)
    assert len(story.scenes) >= 300 and len(story.state) == 60
    result = explore(story, max_states=None, max_memory=2 << 30)
    assert result.complete and result.ok and result.stopped is None
    assert len(result.reached_scenes) == len(story.scenes)
    assert len(result.endings) == 4
    depths = sorted(len(e.path.steps) for e in result.endings)
    assert depths[0] == 18 and depths[-1] == 34
    for found in result.endings:
        run = replay_any(story, found.path, found.scene)
        assert run.view.ending is not None
    assert result.deepest is not None and result.deepest.depth >= 34
    assert result.unreached_choices  # some `remember` options are never available


def test_the_memory_limit_stops_cleanly_with_the_partial_report() -> None:
    proc = explore_cli("--max-memory", "120M", "--format", "json")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    data = json.loads(out)
    assert data["complete"] is False and "memory limit" in data["stopped"]
    assert data["states"] > 0 and data["scenes"]["reached"]
    assert "Traceback" not in err


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child needs POSIX")
def test_ctrl_c_stops_cleanly_with_the_partial_report() -> None:
    proc = explore_cli("--max-seconds", "300")  # the full count takes far longer than the wait
    assert proc.stderr is not None
    assert "Ctrl-C" in proc.stderr.readline()  # the handler is in place from here on
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err
    assert "stopped at a Ctrl-C" in out and "INCOMPLETE" in out
    assert "Explored" in out and "Traceback" not in err


def test_exit_statuses_and_bad_sizes(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from branching.cli import cli

    runner = CliRunner()
    good = runner.invoke(cli, ["explore", str(ROOT / "stories" / "tutorial")])
    assert good.exit_code == 0 and "Full states (every variable kept)" in good.output
    doomed = tmp_path / "d.yaml"
    doomed.write_text(
        "branching: 1\nstart: a\nscenes:\n  a:\n    choices:\n"
        "      - {label: Out, goto: z}\n      - {label: Loop, goto: b}\n"
        "  b:\n    choices:\n      - {label: Again, goto: b}\n  z:\n    ending: true\n",
        encoding="utf-8",
    )
    bad = runner.invoke(cli, ["explore", str(doomed)])
    assert bad.exit_code == 1 and "No ending can be reached any more" in bad.output
    stopped = runner.invoke(cli, ["explore", str(FILM), "--max-states", "1000"])
    assert stopped.exit_code == 3 and "INCOMPLETE" in stopped.output
    wrong = runner.invoke(cli, ["explore", str(doomed), "--max-memory", "lots"])
    assert wrong.exit_code == 2 and "not a memory size" in wrong.output


def test_the_committed_film_is_what_the_generator_writes(tmp_path: Path) -> None:
    from branching.verify.check import check_path

    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "film.py"), str(tmp_path), "--seed", "1"],
        check=True,
        capture_output=True,
    )
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.yaml"))
    assert written == sorted(p.relative_to(FILM) for p in FILM.rglob("*.yaml"))
    for rel in written:
        assert (tmp_path / rel).read_bytes() == (FILM / rel).read_bytes(), rel
    assert [p for p in check_path(FILM) if p.severity == "error"] == []
