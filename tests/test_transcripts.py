"""Scripted playthroughs of the bundled stories produce golden transcripts.

Each case plays a bundled story with `--choices` and a fixed seed in line mode
and compares the whole transcript with a file under tests/golden/transcripts/.
After a deliberate change to a story or to the line player, regenerate with
`BRANCHING_UPDATE_GOLDEN=1 pytest tests/test_transcripts.py` and read the diff.
"""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from branching.cli import cli
from tests.conftest import ROOT

GOLDEN = ROOT / "tests" / "golden" / "transcripts"

CASES = {
    "tutorial-home": ("stories/tutorial", "1,1,1"),
    "tutorial-fog-rewind": ("stories/tutorial", "2,1,1,1,1,1"),
    "tutorial-moth": ("stories/tutorial", "1,2,3"),
    "tutorial-stay-back": ("stories/tutorial", "1,1,b,2"),
    "lighthouse-wreck": ("stories/lighthouse.yaml", "2,4,1,1,2,2"),
    "lighthouse-cutter": ("stories/lighthouse.yaml", "1,2,2,1,1,2,2,3,1,1,3"),
    "signal-low-tide-secret": ("stories/signal", "1,3,2,1,2,1,2,1,1,2,1,1,1,1"),
    "signal-wrong-song-rewind": ("stories/signal", "1,2,2,2,2,1,2,2,3,1,2,1,1,1,1,2,1,2,1"),
}


def play(story: str, choices: str, seed: int = 1) -> str:
    result = CliRunner().invoke(
        cli,
        ["play", str(ROOT / story), "--no-telemetry", "--seed", str(seed), "--choices", choices],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("name", sorted(CASES))
def test_scripted_playthrough_matches_golden_transcript(name: str) -> None:
    story, choices = CASES[name]
    out = play(story, choices)
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("BRANCHING_UPDATE_GOLDEN") or not path.exists():
        path.write_text(out, encoding="utf-8")
    assert out == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["tutorial-home", "lighthouse-wreck"])
def test_same_seed_same_transcript(name: str) -> None:
    story, choices = CASES[name]
    assert play(story, choices, seed=42) == play(story, choices, seed=42)
