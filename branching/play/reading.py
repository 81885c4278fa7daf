"""How long one playthrough of a story takes: the library's "about 12 min".

A branching story is never read whole: one playthrough reads one path of it.
So the estimate is the average playthrough, measured by playing the story:
`WALKS` playthroughs with the real engine (conditions, text variants, `once`,
random routes and all), each taking a choice drawn uniformly from those that
can be taken, until its first ending (no rewinds). Each counts the words of
every passage it showed (emphasis markers are not words) at
`WORDS_PER_MINUTE`, plus the timer of every timed choice point on its way
(the most that choice can take: the story gives you that long). Untimed
choice points add no time of their own.

Everything is seeded, so a story always gets the same estimate; a
playthrough that loops is cut off after `MAX_CHOICES` choices, one that gets
stuck counts what it read. See docs/decisions.md.
"""

from __future__ import annotations

import random

from branching.errors import BranchingError
from branching.play.engine import Playthrough
from branching.story.markup import strip_markers
from branching.story.model import Story

WORDS_PER_MINUTE = 220  # unhurried silent reading of fiction
WALKS = 100  # simulated playthroughs per story
MAX_CHOICES = 200  # a playthrough this long is going round in circles


def words(text: str) -> int:
    """The words in `text`, as a reader counts them."""
    return len(strip_markers(text).split())


def playthrough_seconds(story: Story, seed: int) -> float:
    """Seconds one simulated playthrough takes to read (and decide)."""
    pick = random.Random(seed)
    run = Playthrough.start(story, seed)
    waited = 0.0
    try:
        for _ in range(MAX_CHOICES):
            view = run.view
            if view.finished:
                break
            open_choices = [c for c in view.choices if not c.locked]
            waited += view.timer
            run.choose(pick.choice(open_choices).id)
    except BranchingError:
        pass  # the engine refused a step: count what was read until then
    read = sum(words(p.text) for frame in run.frames for p in frame.passages)
    return read / WORDS_PER_MINUTE * 60 + waited


def reading_minutes(story: Story, walks: int = WALKS) -> float:
    """Minutes an average playthrough of `story` takes (see the module's docstring)."""
    total = sum(playthrough_seconds(story, seed) for seed in range(walks))
    return total / max(walks, 1) / 60


def about(minutes: float) -> str:
    """`minutes` as the library shows it: "about 12 min", "about 1 h 5 min"."""
    whole = max(1, round(minutes))
    if whole < 60:
        return f"about {whole} min"
    hours, rest = divmod(whole, 60)
    return f"about {hours} h {rest} min" if rest else f"about {hours} h"
