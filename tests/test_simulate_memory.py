"""A simulation's memos keep a worker's memory bounded, whatever the number of sessions.

The memos of a stream (`Steps`, the state texts, the frame book) keep the
first `run.MEMO` entries they meet and no more (issue 12: a worker held
1 GB at 100,000 sessions with 200,000 entries each). A stream whose memos
fill up early records exactly what one that keeps everything records, and
its memos stay within the limit.
"""

from __future__ import annotations

from datetime import date

import pytest

import branching.simulate.run as run_module
from branching.simulate.audience import Audience
from branching.simulate.run import Shard
from branching.story.loader import load_story
from tests.test_simulate_prepared import SIGNAL


def test_a_stream_with_small_memos_records_what_one_with_large_memos_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    story = load_story(SIGNAL)
    audience = Audience(
        sessions=400, viewers=150, seed=5, start=date(2026, 1, 1), end=date(2026, 1, 4)
    )
    monkeypatch.setattr(run_module, "MEMO", 1_000_000)
    large_shard = Shard(story, audience, 0, 1)
    large = list(large_shard.sessions())
    monkeypatch.setattr(run_module, "MEMO", 40)
    shard = Shard(story, audience, 0, 1)
    small = list(shard.sessions())
    assert small == large
    memos = (
        shard.steps._steps,
        shard.steps._views,
        shard.patches._pairs,
        shard.frames._by_step,
        shard.frames._by_id,
    )
    assert all(len(memo) == 40 for memo in memos)  # full, and no fuller
    assert len(large_shard.steps._steps) > 40  # the large one did keep more
