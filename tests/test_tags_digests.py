"""The tags table from the session digests equals the scan of the events.

On SQLite the tags table is counted from the digests' lists of scenes shown
and choices taken (`tags_rollup.counted_tags`), by sessions and by
viewers. The recordings hold what would make it wrong: viewers who play
again, rewinds, timeouts, events out of order, and `route_taken` events that
carry a tagged choice (m018's `reached` lists that edge, yet no decision took
the choice: a reader of `reached` must not count it as taken). Each
selection is compared with the scan of the raw events.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import pytest
from test_consistency_flow_viewers import (
    SELECTIONS,
    STORY,
    V1,
    V2,
    event,
    finish,
    random_ops,
    recorded,
    session,
)

from branching.analytics import stats_rollup, tags_rollup
from branching.analytics.filters import Filters
from branching.analytics.report import build_report
from branching.analytics.source import Version
from branching.store.digests import chars
from branching.store.ops import Op


def tagged_story(version: Version) -> Op:
    """The fuzz story with tags: choice x "bold", y "calm" (x in a and c only); scenes b
    "mid", d "end" and "mid"."""
    goes = "b" if version is V1 else "c"
    scenes = [
        {
            "id": scene,
            "kind": "choice",
            "timer": 5,
            "tags": {"b": ["mid"], "d": ["end", "mid"]}.get(scene, []),
            "choices": [
                {"id": "x", "goto": goes, "tags": ["bold"] if scene in "ac" else []},
                {"id": "y", "goto": "d", "tags": ["calm"]},
            ],
            "routes": [{"goto": "d"}],
        }
        for scene in "abcd"
    ]
    return {
        "op": "story",
        "story_id": STORY,
        "content_hash": version.content_hash,
        "title": "Fuzz",
        "author": None,
        "version_label": version.label,
        "structure": json.dumps({"id": STORY, "start": "a", "scenes": scenes}),
        "registered_at": version.registered_at,
    }


def with_tags(ops: list[Op], seed: int) -> list[Op]:
    """`ops` with the tagged story, and half their routes carrying a choice."""
    rng = random.Random(seed)
    out = [tagged_story(V1), tagged_story(V2)]
    for op in ops:
        if op["op"] == "story":
            continue
        if op.get("type") == "route_taken" and rng.random() < 0.5:
            op = {**op, "choice": rng.choice(["x", "y"])}
        out.append(op)
    return out


def tags(db: Path, unit: str, filters: Filters) -> list[dict[str, Any]]:
    report = build_report(STORY, db=db, filters=filters, unit=unit, tables=["tags"])  # type: ignore[arg-type]
    return [dataclasses.asdict(t) for t in report.tags]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("unit", ["sessions", "viewers"])
def test_the_tags_from_the_digests_are_the_scans(
    tmp_path: Path, seed: int, unit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "fuzz.db"
    recorded(db, with_tags(random_ops(seed), seed)).close()
    for filters in SELECTIONS:
        digested = tags(db, unit, filters)
        with monkeypatch.context() as m:  # no digests: the raw events
            m.setattr(stats_rollup, "has_digests", lambda conn: False)
            scanned = tags(db, unit, filters)
        assert digested == scanned, filters
    assert any(t["count"] for t in tags(db, unit, Filters(audience="all")))


@pytest.mark.parametrize("unit", ["sessions", "viewers"])
def test_a_route_carrying_a_tagged_choice_is_not_taking_it(
    tmp_path: Path, unit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ann plays twice: routed from a with choice x in one (no decision), then takes y at
    a; Bob takes x at a and is timed out into y at c."""
    ops = [tagged_story(V1), tagged_story(V2)]
    plays = {
        "s1": ("ann", [("route_taken", "a", "x", "d")]),
        "s2": ("ann", [("choice_made", "a", "y", "d")]),
        "s3": ("bob", [("choice_made", "a", "x", "b"), ("timeout_default", "c", "y", "d")]),
    }
    for sid, (viewer, steps) in plays.items():
        ops.append(session(sid, "v1", viewer, "2026-01-05T10:00:00.000Z"))
        ops.append(event(sid, "v1", 0, "scene_shown", "a"))
        for seq, (kind, scene, choice, target) in enumerate(steps, start=1):
            ops.append(event(sid, "v1", seq, kind, scene, choice=choice, target=target))
        ops.append(finish(sid, "ending", "d"))
    db = tmp_path / "hand.db"
    recorded(db, ops).close()
    digested = tags(db, unit, Filters(audience="all"))
    rows = {(t["tag"], t["where"]): (t["base"], t["count"]) for t in digested}
    # bold is offered in a (all three sessions, both viewers) and taken by Bob only;
    # calm taken by Ann (s2) and Bob (s3); no session was shown b or d
    assert rows[("bold", "choice")] == ((3, 1) if unit == "sessions" else (2, 1))
    assert rows[("calm", "choice")] == ((3, 2) if unit == "sessions" else (2, 2))
    assert rows[("mid", "scene")][1] == 0
    monkeypatch.setattr(stats_rollup, "has_digests", lambda conn: False)  # the raw events
    assert tags(db, unit, Filters(audience="all")) == digested


@pytest.mark.parametrize("path", ["wide", "shown"])
@pytest.mark.parametrize("unit", ["sessions", "viewers"])
def test_the_scenes_shown_count_alike_from_every_form_of_the_lists(
    tmp_path: Path, unit: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scenes of a tag are counted from m018's `reached` a byte a code when every
    code is below 255; past it (here: below 2) by a regular expression, and before
    m018 from the JSON lists of `shown`: the same figures, the scan's."""
    db = tmp_path / "fuzz.db"
    recorded(db, with_tags(random_ops(4), 4)).close()
    narrow = {filters: tags(db, unit, filters) for filters in SELECTIONS}
    if path == "wide":
        monkeypatch.setattr(tags_rollup, "_NARROW", 2)
    else:
        monkeypatch.setattr(tags_rollup, "has_edges", lambda conn: False)
    for filters, counted in narrow.items():
        assert tags(db, unit, filters) == counted, filters
        with monkeypatch.context() as m:  # no digests: the raw events
            m.setattr(stats_rollup, "has_digests", lambda conn: False)
            assert tags(db, unit, filters) == counted, filters
    assert any(
        t["count"] and t["where"] == "scene" for t in tags(db, unit, Filters(audience="all"))
    )


@pytest.mark.parametrize("learnt", [255, 300, 0xD7FF, 0xE000])
def test_a_code_learnt_while_the_tags_are_counted_neither_splits_nor_stops_them(
    learnt: int,
) -> None:
    """Codes up to 254 when the count starts (one byte a code), then a session holding a
    code a writer added meanwhile: each unit still counts once, and the count goes on."""
    scenes = tags_rollup.ShownScenes([(0, frozenset({3, 5}))])
    scenes.add([chars([3, 7]), chars([9])])  # one byte a code so far
    scenes.add([chars([3, learnt, 5]), chars([5])])  # 3 and 5 in one session: one unit
    scenes.add([chars([learnt]), chars([5, 1])])
    totals = [0]
    scenes.count(totals)
    assert totals == [4]
