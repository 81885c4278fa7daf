"""The aggregates answer filtered flowcharts with the scan's figures, and stay exact.

One small database: a simulated audience of Signal written the bulk way, and
a second audience of it replayed op by op through the live path as real
viewers, each viewer's later sessions first (so a first playthrough arrives
after the viewer's others and displaces one), with an attribute of too many
values (the limit is lowered for the test). Every filter kind and both units
are drawn twice, from the aggregates and from a scan of the events, and must
agree figure for figure; after prune, forget and merge the aggregates must
equal a recount from scratch.
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from branching.analytics import flow
from branching.analytics.filters import make_filters
from branching.analytics.graph import FlowGraph
from branching.simulate.audience import Audience
from branching.simulate.run import simulate
from branching.store import aggregates, decide_acts
from branching.store.bulk import BulkWriter
from branching.store.erase import forget_simulated, prune
from branching.store.merge import merge
from branching.store.ops import apply_op
from branching.story.loader import load_story

ROOT = Path(__file__).resolve().parent.parent
SIGNAL = ROOT / "stories" / "signal"
ZEROS = {"agg_edges": 4, "agg_scenes": 3, "agg_sessions": 1}  # trailing count columns
LIMIT = 12  # distinct values kept per attribute in these tests (64 in use)
SEATS = {f"s{n}": 1.0 for n in range(LIMIT * 3)}


@pytest.fixture(scope="module", autouse=True)
def small_limit() -> object:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(aggregates, "ATTR_LIMIT", LIMIT)
        yield


def audience(seed: int, **extra: object) -> Audience:
    settings: dict[str, object] = {
        "sessions": 70,
        "viewers": 25,
        "seed": seed,
        "start": date(2026, 1, 1),
        "end": date(2026, 1, 10),
        "timeouts": 0.2,
        "back": 0.08,
        "abandon": 0.05,
    }
    return Audience(**{**settings, **extra})  # type: ignore[arg-type]


def live(path: Path, batches: list[list[dict[str, object]]]) -> None:
    """Apply ops one transaction each, as players do; later sessions first."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for ops in [batches[0], *reversed(batches[1:])]:
            for op in ops:
                op = {k: v for k, v in op.items() if k != "simulated"}  # a real viewer's
                conn.execute("BEGIN IMMEDIATE")
                apply_op(conn, op)
                conn.execute("COMMIT")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory, small_limit: object) -> Path:
    path = tmp_path_factory.mktemp("aggregates") / "a.db"
    story = load_story(SIGNAL)
    with BulkWriter(path, batch=301) as writer:
        for ops in simulate(story, audience(5)):
            writer.add(ops)
    live(
        path,
        list(simulate(story, audience(6, attrs={"region": {"NL": 1, "UK": 1}, "seat": SEATS}))),
    )
    return path


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        out = {}
        for table in (*aggregates.TABLES, *decide_acts.TABLES, "agg_firsts", "agg_attr_keys",
                      "story_activity"):  # fmt: skip
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
            if table in ZEROS:
                rows = [r for r in rows if any(r[-ZEROS[table] :])]
            out[table] = sorted(rows, key=repr)
        return out
    finally:
        conn.close()


def recounted(path: Path, tmp: Path) -> dict[str, list[tuple[object, ...]]]:
    """The aggregates of a copy of `path`, rebuilt from scratch."""
    copy = tmp / "recount.db"
    shutil.copy(path, copy)
    conn = sqlite3.connect(copy, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    aggregates.rebuild(conn)
    conn.execute("COMMIT")
    conn.close()
    return dump(copy)


def both(path: Path, unit: str, **kw: object) -> tuple[FlowGraph, FlowGraph]:
    out = []
    for use in (True, False):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(flow, "USE_AGGREGATES", use)
            out.append(flow.flow_graph("signal", db=path, filters=make_filters(**kw), unit=unit))
    return out[0], out[1]


def figures(graph: FlowGraph) -> FlowGraph:
    return dataclasses.replace(graph, source="", notes=())


CASES = [
    {"audience": "all"},
    {"audience": "real"},
    {"audience": "simulated"},
    {"since": "2026-01-04", "audience": "all"},
    {"until": "2026-01-06"},
    {"since": "2026-01-03", "until": "2026-01-07T00:00", "audience": "all"},
    {"version": "1"},
    {"where": ("region=NL",)},
    {"where": ("region=NL",), "first_only": True},
    {"first_only": True, "audience": "all"},
    {"first_only": True, "since": "2026-01-05", "audience": "simulated"},
    {"where": ("region=XX",)},
]


@pytest.mark.parametrize("unit", ["sessions", "times"])
@pytest.mark.parametrize("kw", CASES, ids=[repr(c) for c in CASES])
def test_aggregates_answer_with_the_figures_of_the_scan(
    db: Path, unit: str, kw: dict[str, object]
) -> None:
    if "version" in kw:
        conn = sqlite3.connect(db)
        kw = {"version": conn.execute("SELECT content_hash FROM stories").fetchone()[0][:8]}
        conn.close()
    rolled, scanned = both(db, unit, **kw)
    unfiltered = unit == "times" and kw == {"audience": "all"}  # the running totals answer
    assert rolled.source == ("running totals" if unfiltered else "aggregates")
    assert scanned.source == ("running totals" if unfiltered else "raw events")
    if not unfiltered:
        assert figures(rolled) == figures(scanned)
    if kw.get("where") == ("region=XX",):
        assert rolled.sessions == 0
    else:
        assert rolled.sessions and rolled.edge_count()


@pytest.mark.parametrize(
    ("kw", "said"),
    [
        ({"since": "2026-01-04T12:00"}, "time of day"),
        ({"where": ("seat=s1",)}, "distinct values"),
        ({"where": ("region=NL", "seat=s1")}, "several --where"),
    ],
)
def test_what_the_aggregates_cannot_answer_is_read_from_the_events_and_said(
    db: Path, kw: dict[str, object], said: str
) -> None:
    graph = flow.flow_graph("signal", db=db, filters=make_filters(**kw), unit="sessions")
    assert graph.source == "raw events"
    assert any(said in note for note in graph.notes)
    viewers = flow.flow_graph("signal", db=db, unit="viewers")  # the digests (m018)
    assert viewers.source == "aggregates"


def test_the_live_path_equals_a_recount(db: Path, tmp_path: Path) -> None:
    assert dump(db) == recounted(db, tmp_path)
    conn = sqlite3.connect(db)
    kept = dict(conn.execute("SELECT key, kept FROM agg_attr_keys").fetchall())
    activity = conn.execute(
        "SELECT real_sessions, simulated_sessions, viewers FROM story_activity"
    ).fetchone()
    truth = conn.execute(
        "SELECT SUM(simulated = 0), SUM(simulated = 1), COUNT(DISTINCT viewer_id) FROM sessions"
    ).fetchone()
    conn.close()
    assert kept == {"device": 1, "region": 1, "seat": 0}
    assert activity == truth


def test_prune_forget_and_merge_keep_the_aggregates_exact(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "work.db"
    shutil.copy(db, path)
    prune(path, "2026-01-05T09:30")
    assert dump(path) == recounted(path, tmp_path)
    for kw in ({}, {"first_only": True}, {"since": "2026-01-05"}):
        rolled, scanned = both(path, "sessions", audience="all", **kw)
        assert rolled.source == "aggregates" and figures(rolled) == figures(scanned)
    other = tmp_path / "other.db"
    with BulkWriter(other) as writer:
        for ops in simulate(load_story(SIGNAL), audience(9, start=date(2025, 12, 20))):
            writer.add(ops)
    merge(path, [other, db])
    assert dump(path) == recounted(path, tmp_path)
    forget_simulated(path)
    assert dump(path) == recounted(path, tmp_path)
    rolled, scanned = both(path, "times", first_only=True)
    assert rolled.sessions and figures(rolled) == figures(scanned)
