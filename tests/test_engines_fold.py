"""The paths DuckDB folds in one query are the store's replay, rewinds and all.

`walks.folded_walk` codes each session's decisions and rewinds and folds them
in SQL (a rewind cuts from the latest step at its scene); `store.digests.replay`
is the one definition of that rule. Random sessions (rewinds to scenes taken,
not taken and never seen, empty scenes and choices, timeouts, events out of
order in the table) must give each session the same depth and, when it
ended, the same path and ending. The paths and progress tables over the
folded rows are the ones `walk`'s rows give.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from branching.analytics import walks
from branching.analytics.scan import ChosenSessions
from branching.analytics.shape import shape_from_structure
from branching.store.digests import replay

duckdb = pytest.importorskip("duckdb")
pa = pytest.importorskip("pyarrow")

SCENES = ["hall", "cellar", "roof", "yard", ""]
CHOICES = ["left", "right", "wait", ""]
KINDS = ["choice_made"] * 6 + ["timeout_default", "rewind", "rewind", "scene_shown", "pause"]


class _Duck:
    """Just enough of an engine: DuckDB tables named like the views."""

    dialect = "duckdb"

    def __init__(self, events: list[tuple[Any, ...]], sessions: list[tuple[Any, ...]]) -> None:
        self.con = duckdb.connect(":memory:")
        for name, columns, rows in (
            ("events", ("session_id", "seq", "type", "scene", "choice"), events),
            ("sessions", ("session_id", "viewer_id", "outcome", "ending_id"), sessions),
        ):
            table = pa.table(
                {
                    c: pa.array(
                        [r[i] for r in rows], type=pa.int64() if c == "seq" else pa.string()
                    )
                    for i, c in enumerate(columns)
                }
            )
            self.con.register(f"raw_{name}", table)
            self.con.execute(f"CREATE TABLE {name} AS SELECT * FROM raw_{name}")

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()


def _audience(seed: int, n: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    rng = random.Random(seed)
    events, sessions = [], []
    for i in range(n):
        sid = f"s{i}"
        seqs = rng.sample(range(1, 200), rng.randint(0, 40))  # gaps, any order in the table
        for seq in seqs:
            kind = rng.choice(KINDS)
            scene = rng.choice([*SCENES, None, "attic"]) if kind == "rewind" else rng.choice(SCENES)
            choice = rng.choice([*CHOICES, None]) if kind != "rewind" else None
            events.append((sid, seq, kind, scene, choice))
        outcome = rng.choice(["ending", "ending", "abandoned", "in_progress"])
        ending = rng.choice(["dawn", "dusk", None]) if outcome == "ending" else None
        sessions.append((sid, f"v{rng.randint(0, n // 3)}", outcome, ending))
    rng.shuffle(events)
    return events, sessions


def _expected(
    events: list[tuple[Any, ...]], sessions: list[tuple[Any, ...]]
) -> Counter[tuple[Any, ...]]:
    by_session: dict[str, list[tuple[Any, ...]]] = {s[0]: [] for s in sessions}
    for sid, seq, kind, scene, choice in events:
        by_session[sid].append((seq, kind, scene, choice, None))  # no routes here: no target
    out: Counter[tuple[Any, ...]] = Counter()
    for sid, viewer, outcome, ending in sessions:
        found = replay(sorted(by_session[sid]))
        ended = outcome == "ending"
        path = tuple(found.path) if ended else None
        out[(viewer, len(found.path), ended, path, (ending or "") if ended else None)] += 1
    return out


@pytest.mark.parametrize("seed", range(6))
def test_each_sessions_folded_path_is_the_stores_replay(seed: int) -> None:
    events, sessions = _audience(seed, 120)
    engine = _Duck(events, sessions)
    chosen = ChosenSessions("picked AS (SELECT s.session_id, s.viewer_id FROM sessions s)", ())
    folded = walks.folded_walk(engine, chosen, "sessions")
    assert folded is not None
    got = Counter(
        (viewer, int(depth), bool(ended), folded.decode(path) if ended else None, ending)
        for viewer, depth, ended, path, ending in folded.rows(
            "SELECT viewer_id, depth, ended, path, ending FROM walked"
        )
    )
    assert got == _expected(events, sessions)


def _walked_in_python(
    events: list[tuple[Any, ...]], sessions: list[tuple[Any, ...]], unit: walks.Unit
) -> walks.Walks:
    """What `walk` writes for these sessions (replayed by the store's rule)."""
    python = walks.Walks(unit)
    by_session: dict[str, list[tuple[Any, ...]]] = {s[0]: [] for s in sessions}
    for sid, seq, kind, scene, choice in events:
        by_session[sid].append((seq, kind, scene, choice, None))  # no routes here: no target
    for sid, viewer, outcome, ending in sessions:
        found = replay(sorted(by_session[sid]))
        ended = outcome == "ending"
        path = "".join(python.code(s, c) for s, c in found.path) if ended else None
        python.add(sid, viewer, len(found.path), ended, path, (ending or "") if ended else None)
    python.flush()
    return python


@pytest.mark.parametrize("unit", ["sessions", "viewers"])
def test_paths_and_progress_over_the_folded_rows_are_the_walks(unit: walks.Unit) -> None:
    events, sessions = _audience(99, 300)
    shape = shape_from_structure({"id": "x", "title": "X", "start": "hall", "scenes": []})
    chosen = ChosenSessions("picked AS (SELECT s.session_id, s.viewer_id FROM sessions s)", ())
    folded = walks.folded_walk(_Duck(events, sessions), chosen, unit)
    assert folded is not None
    python = _walked_in_python(events, sessions, unit)
    assert folded.completed == python.completed
    for top in (1, 5, 1000):
        assert walks.paths(folded, shape, top) == walks.paths(python, shape, top)
    assert walks.progress(folded) == walks.progress(python)


def test_sessions_without_a_decision_have_no_path() -> None:
    sessions = [("s1", "v1", "ending", "dawn"), ("s2", "v2", "abandoned", None)]
    engine = _Duck([("s1", 1, "scene_shown", "hall", None)], sessions)
    chosen = ChosenSessions("picked AS (SELECT s.session_id, s.viewer_id FROM sessions s)", ())
    folded = walks.folded_walk(engine, chosen, "sessions")
    assert folded is not None
    rows = folded.rows("SELECT viewer_id, depth, ended, path, ending FROM walked ORDER BY 1")
    assert rows == [("v1", 0, True, "", "dawn"), ("v2", 0, False, None, None)]
