"""The lighthouse says what each clockwork and wick choice did.

Every choice should visibly matter: right after the viewer looks over the
clockwork at dusk, frees or leaves the stopped lens at night, or fetches the
reserve oil or trims the wick, the next text tells what happened.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from branching.cli import cli
from branching.play.engine import Playthrough
from branching.story.loader import load
from branching.verify.explore import explore
from tests.conftest import STORIES

LIGHTHOUSE = STORIES / "lighthouse.yaml"


@pytest.fixture(scope="module")
def story():
    result = load(LIGHTHOUSE)
    assert result.story is not None and not result.errors
    return result.story


def after(story, *choices: str) -> str:
    """The text shown after taking `choices` from the start."""
    run = Playthrough.start(story, 1)
    for choice in choices:
        run.choose(choice)
    return "\n".join(p.text for p in run.view.passages)


TO_THE_LAMP = ("carry_crates", "tower")
NIGHT = (*TO_THE_LAMP, "light")  # tainted oil and a jammed lens: the flame gutters first


@pytest.mark.parametrize(
    ("choices", "narration"),
    [
        ((*TO_THE_LAMP, "clockwork"), "You work the wedge loose and throw it on the floor"),
        ((*TO_THE_LAMP, "down", "tower", "clockwork"), "The sliver of oak you pulled out"),
        ((*NIGHT, "reserve_can"), "fill it with clean oil, and light the wick again"),
        ((*NIGHT, "trim_wick"), "You trim the charred wick"),
        ((*NIGHT, "reserve_can", "free_lens"), "You wrench it out, the clockwork catches"),
        ((*NIGHT, "trim_wick", "leave_lens"), "You leave the lens where it stands"),
    ],
)
def test_each_clockwork_and_wick_choice_is_narrated(story, choices, narration) -> None:
    assert narration in after(story, *choices)


def test_the_narration_follows_the_latest_choice_only(story) -> None:
    text = after(story, *NIGHT, "reserve_can", "leave_lens")
    assert "You leave the lens where it stands" in text
    assert "fill it with clean oil" not in text  # told once, right after it was done


def test_the_lighthouse_stays_clean_and_every_ending_reachable(story) -> None:
    checked = CliRunner().invoke(cli, ["check", "--strict", str(LIGHTHOUSE)])
    assert checked.exit_code == 0, checked.output
    found = explore(story)
    assert found.ok and len(found.endings) == len(story.endings()) == 6
