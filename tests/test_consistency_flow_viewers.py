"""The flowchart by viewers from the session digests equals the scan of the raw events.

On SQLite `flowchart --by viewers` counts from the digests the store keeps
(`analytics/flow_viewers.py`, m018), not from the events
(`scan.event_counts`). Both are computed here over the same files and
selections and must be equal in every figure: edges (choices and routes, by
their target), the viewers the clock chose for on each, visits, views, where
viewers stopped or ended, completed, sessions and viewers. The recordings
hold what makes the two disagree when one is wrong: viewers who play again
(a viewer counted twice), the same choice going to another target in a
later version (an edge's target), routes, timeouts, rewinds, events that
arrive late, real and simulated sessions, several attributes, starts at
different times of day. A hand-made recording checks the figures themselves.
"""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from branching.analytics import flow, scan
from branching.analytics.filters import Filters
from branching.analytics.flow_viewers import viewer_counts
from branching.analytics.source import Version
from branching.store.ops import Op, apply_op
from branching.store.store import Store

STORY = "fuzz"
SCENES = ("a", "b", "c", "d")
V1, V2 = Version("v1", "1", "2026-01-01T00:00:00.000Z"), Version("v2", "2", "2026-01-02")


def structure(version: Version) -> dict[str, Any]:
    """Every scene has choices x and y (x leads to b in v1, to c in v2) and a route."""
    goes = "b" if version is V1 else "c"
    return {
        "id": STORY,
        "start": "a",
        "scenes": [
            {
                "id": scene,
                "kind": "choice",
                "timer": 5,
                "choices": [{"id": "x", "goto": goes}, {"id": "y", "goto": "d"}],
                "routes": [{"goto": "d"}],
            }
            for scene in SCENES
        ],
    }


def story_op(version: Version) -> Op:
    return {
        "op": "story",
        "story_id": STORY,
        "content_hash": version.content_hash,
        "title": "Fuzz",
        "author": None,
        "version_label": version.label,
        "structure": json.dumps(structure(version)),
        "registered_at": version.registered_at,
    }


def event(sid: str, version: str, seq: int, kind: str, scene: str, **more: Any) -> Op:
    return {
        "v": 2, "op": "event", "session_id": sid, "story_id": STORY, "content_hash": version,
        "seq": seq, "ts": f"2026-01-05T10:00:{seq:02d}.000Z", "type": kind, "scene": scene,
        "choice": more.get("choice"), "target": more.get("target"), "decide_ms": None,
        "input": None, "state": None, "label": None,
    }  # fmt: skip


def session(sid: str, version: str, viewer: str, started: str, **attrs: str) -> Op:
    return {
        "op": "session", "session_id": sid, "story_id": STORY, "content_hash": version,
        "viewer_id": viewer, "started_at": started, "seed": 1, "simulated": False,
        "attrs": attrs,
    }  # fmt: skip


def finish(sid: str, outcome: str, ending: str | None = None) -> Op:
    return {
        "v": 2, "op": "finish", "session_id": sid, "outcome": outcome, "ending_id": ending,
        "ending_kind": "good" if ending else None, "ended_at": "2026-01-20T00:00:00.000Z",
    }  # fmt: skip


def random_ops(seed: int, sessions: int = 60) -> list[Op]:
    """Sessions of 9 viewers (who play again), in two versions: in v2 choice `x` leads
    elsewhere; routes, timeouts, rewinds, pauses, events out of order, finishes."""
    rng = random.Random(seed)
    out = [story_op(V1), story_op(V2)]
    for n in range(sessions):
        sid, version = f"s{n:03d}", rng.choice(["v1", "v2"])
        start = session(
            sid,
            version,
            f"viewer{rng.randint(0, 8)}",
            f"2026-01-{1 + n % 6:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00.000Z",
            region=rng.choice(["NL", "UK"]),
            device=rng.choice(["ssh", "desktop"]),
        )
        start["simulated"] = rng.random() < 0.3
        ops = [start]
        for seq in range(rng.randint(0, 16)):
            kind = rng.choice(
                ["choice_made"] * 4 + ["scene_shown"] * 4 + ["timeout_default", "route_taken"] * 2
                + ["rewind", "pause"]
            )  # fmt: skip
            scene, choice = rng.choice(SCENES), rng.choice(["x", "y"])
            target = {"x": "b" if version == "v1" else "c", "y": rng.choice(SCENES)}[choice]
            if kind in ("choice_made", "timeout_default"):
                ops.append(event(sid, version, seq, kind, scene, choice=choice, target=target))
            elif kind == "route_taken":
                ops.append(event(sid, version, seq, kind, scene, target=rng.choice(SCENES)))
            else:
                ops.append(event(sid, version, seq, kind, scene))
        for i in range(1, len(ops) - 1):  # now and then an event arrives after a later one
            if rng.random() < 0.1:
                ops[i], ops[i + 1] = ops[i + 1], ops[i]
        if rng.random() < 0.6:
            outcome = rng.choice(["ending", "ending", "quit", "abandoned"])
            ops.append(
                finish(sid, outcome, rng.choice(["c", "d"]) if outcome == "ending" else None)
            )
        out += ops
    return out


def recorded(path: Path, ops: list[Op]) -> sqlite3.Connection:
    Store.open(path, create_key=False).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    for op in ops:
        conn.execute("BEGIN IMMEDIATE")
        apply_op(conn, op)
        conn.execute("COMMIT")
    return conn


SELECTIONS = [
    Filters(audience="all"),
    Filters(audience="real"),
    Filters(audience="simulated"),
    Filters(audience="all", where=(("region", "NL"),)),
    Filters(audience="all", where=(("region", "NL"), ("device", "ssh"))),
    Filters(audience="all", first_only=True),
    Filters(audience="real", first_only=True, where=(("region", "UK"),)),
    Filters(audience="all", since="2026-01-03T00:00:00.000Z"),
    Filters(audience="all", since="2026-01-02T12:30:00.000Z", until="2026-01-05T08:00:00.000Z"),
    Filters(audience="all", version="v2"),
    Filters(audience="all", version="v1", first_only=True),
    Filters(audience="all", where=(("region", "nowhere"),)),
]


@pytest.mark.parametrize("seed", [1, 2])
def test_the_digests_give_the_scans_figures_for_every_selection(tmp_path: Path, seed: int) -> None:
    conn = recorded(tmp_path / "fuzz.db", random_ops(seed))
    try:
        for filters in SELECTIONS:
            chosen = {"v1": [V1], "v2": [V2]}.get(filters.version or "", [V1, V2])
            digested, why = viewer_counts(conn, STORY, chosen, filters)
            scanned = scan.event_counts(conn, scan.picked(STORY, chosen, filters), "viewers")
            assert digested == scanned, filters
            assert why == ""
    finally:
        conn.close()


def test_each_viewer_counts_once_per_edge_and_each_edge_keeps_its_target(
    tmp_path: Path,
) -> None:
    """Ann plays three times (twice a -x-> b in v1, then a -x-> c in v2, where the clock
    chose), Bob once; by viewers, not sessions, and per target."""
    ops = [story_op(V1), story_op(V2)]
    plays = [
        ("s1", "v1", "ann", "b", "choice_made"),
        ("s2", "v1", "ann", "b", "choice_made"),
        ("s3", "v2", "ann", "c", "timeout_default"),
        ("s4", "v1", "bob", "b", "choice_made"),
    ]
    for sid, version, viewer, target, kind in plays:
        ops += [
            session(sid, version, viewer, "2026-01-05T10:00:00.000Z", region="NL"),
            event(sid, version, 0, "scene_shown", "a"),
            event(sid, version, 1, kind, "a", choice="x", target=target),
            event(sid, version, 2, "scene_shown", target),
            event(sid, version, 3, "route_taken", target, target="d"),
            event(sid, version, 4, "scene_shown", "d"),
        ]
    ops += [finish("s1", "ending", "d"), finish("s2", "quit"), finish("s4", "ending", "d")]
    conn = recorded(tmp_path / "hand.db", ops)
    try:
        counts, _ = viewer_counts(conn, STORY, [V1, V2], Filters(audience="all"))
    finally:
        conn.close()
    assert counts is not None
    assert counts.edges == {
        ("a", "x", "b"): (2, 0),
        ("a", "x", "c"): (1, 1),
        ("b", "", "d"): (2, 0),
        ("c", "", "d"): (1, 0),
    }
    assert counts.visits == {"a": 2, "b": 2, "c": 1, "d": 2}
    assert (counts.sessions, counts.viewers, counts.completed, counts.views) == (4, 2, 2, 12)
    assert counts.ended == {"d": 2} and counts.stopped == {"d": 1}  # Ann quit s2, open s3
    assert counts.timed_out == {"a": 1}


def test_the_flowchart_by_viewers_is_the_scans_but_for_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole flowchart, through `flow_graph`: the same graph either way."""
    recorded(tmp_path / "fuzz.db", random_ops(3)).close()
    for filters in SELECTIONS[:6]:
        kept = flow.flow_graph(STORY, db=tmp_path / "fuzz.db", filters=filters, unit="viewers")
        monkeypatch.setattr(flow, "USE_AGGREGATES", False)
        read = flow.flow_graph(STORY, db=tmp_path / "fuzz.db", filters=filters, unit="viewers")
        monkeypatch.setattr(flow, "USE_AGGREGATES", True)
        assert (kept.source, read.source) == ("aggregates", "raw events")
        assert replace(kept, source="") == replace(read, source="")


def test_a_file_whose_digests_predate_the_edges_is_read_from_the_events(
    tmp_path: Path,
) -> None:
    conn = recorded(tmp_path / "old.db", random_ops(4, sessions=10))
    try:
        conn.execute("DROP INDEX session_digests_by_viewer")
        for column in ("reached", "clocked"):
            conn.execute(f"ALTER TABLE session_digests DROP COLUMN {column}")
        counts, why = viewer_counts(conn, STORY, [V1, V2], Filters(audience="all"))
        assert counts is None and "raw events" in why
    finally:
        conn.close()
