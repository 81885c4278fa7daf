"""The timing and interactions aggregates (m013) stay exact, and answer as the scan does.

- The sketch's percentiles on hand-computed histograms: one bucket, two, a
  single value, odd and even counts, the wider buckets above 10 s and 100 s.
- The same simulated ops (choices with their times, rewinds, pauses, skipped
  reveals, timeouts, finishes, attributes, viewers whose later sessions come
  first) written op by op, a key press at a time and the bulk way leave the
  same `agg_decide` and `agg_acts` rows, and those are a rebuild's from the
  events (`test_aggregates.py` checks prune, forget and merge the same way).
- `stats_rollup.rolled_percentiles` and `rolled_interactions` give the scan's
  figures (`metrics.decide_percentiles`, `metrics.interactions` counting
  sessions) on random selections: version, whole days, one attribute,
  first playthroughs, audience.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from branching.analytics import metrics, scan
from branching.analytics.filters import make_filters, settle_audience
from branching.analytics.rollup import answerable, class_where
from branching.analytics.source import resolve_versions, stored_shape
from branching.analytics.stats_rollup import rolled_interactions, rolled_percentiles
from branching.simulate.audience import Audience
from branching.simulate.run import simulate
from branching.store import aggregates, decide_acts, sketch
from branching.store.bulk import BulkWriter
from branching.store.ops import Op, apply_op, apply_ops
from branching.store.store import Store
from branching.story.loader import load_story

ROOT = Path(__file__).resolve().parent.parent
START = date(2026, 2, 1)

# -- the sketch ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], (None, None)),
        ([1234], (1250.0, 1250.0)),  # n = 1: the middle of its bucket
        # one bucket of three: ranks 0, 1, 2 at 1200 + 100 * (r + 0.5) / 3
        ([1210, 1250, 1290], (1250.0, (1250 * 2 + (1200 + 250 / 3) * 8) / 10)),
        ([500, 700], (650.0, 730.0)),  # two buckets, n even: the mean of the middle two
        ([800, 900, 1000, 1500, 2500, 4000, 6000], (1550.0, 4850.0)),  # odd n
        ([510, 520, 640, 690], (600.0, 660.0)),  # even n, the middle two in two buckets
        ([15000, 15999], (15500.0, 15700.0)),  # 1,000 ms buckets from 10 s
        ([123456], (125000.0, 125000.0)),  # 10,000 ms buckets from 100 s
    ],
)
def test_the_sketch_reads_ranks_spread_evenly_in_their_buckets(
    values: list[int], expected: tuple[float | None, float | None]
) -> None:
    found = sketch.percentiles(sketch.histogram((v, 1) for v in values))
    assert found == (pytest.approx(expected) if values else expected)


def test_the_buckets_widen_at_ten_and_a_hundred_seconds() -> None:
    lows = [sketch.bucket(ms) for ms in (0, 99, 100, 9999, 10_000, 99_999, 100_000, 123_456)]
    assert lows == [0, 0, 100, 9900, 10_000, 99_000, 100_000, 120_000]
    assert [sketch.width(low) for low in (9900, 10_000, 99_000, 100_000)] == [
        100,
        1000,
        1000,
        10_000,
    ]
    conn = sqlite3.connect(":memory:")  # the store's SQL puts every value where Python does
    values = [0, 1, 99, 100, 9_999, 10_000, 54_321, 99_999, 100_000, 765_432]
    found = [
        conn.execute(f"SELECT {sketch.bucket_sql(':v')}", {"v": v}).fetchone()[0] for v in values
    ]
    assert found == [sketch.bucket(v) for v in values]


def test_the_percentiles_sum_over_buckets_merged_in_any_order() -> None:
    rng = random.Random(3)
    values = [int(rng.lognormvariate(8, 0.8)) for _ in range(501)]
    whole = sketch.percentiles(sketch.histogram((v, 1) for v in values))
    halves = sketch.histogram((v, 1) for v in values[:200])
    for low, n in sketch.histogram((v, 1) for v in values[200:]).items():
        halves[low] = halves.get(low, 0) + n
    assert sketch.percentiles(halves) == whole
    median, p90 = whole
    assert median is not None and p90 is not None and median < p90


# -- every write path keeps the rows a rebuild gives ------------------------------------


def played(seed: int, **extra: Any) -> tuple[Op, list[list[Op]]]:
    """The story's registration, and each simulated session's ops in order; a third
    of the resumes become skipped text reveals (the simulator never skips one)."""
    settings: dict[str, Any] = {
        "sessions": 40,
        "viewers": 14,
        "seed": seed,
        "start": START,
        "end": START + timedelta(days=5),
        "timeouts": 0.2,
        "back": 0.15,
        "pause": 0.3,
        "abandon": 0.1,
        "attrs": {"region": {"NL": 1, "UK": 1, "DE": 1}},
    }
    batches = list(simulate(load_story(ROOT / "stories" / "signal"), Audience(**settings | extra)))
    rng = random.Random(seed)
    sessions: dict[str, list[Op]] = {}  # a finish of an earlier session goes with it
    for op in (op for batch in batches[1:] for op in batch):
        if op.get("type") == "resume" and rng.random() < 0.34:
            op = {**op, "type": "reveal_skipped"}
        sessions.setdefault(op["session_id"], []).append(op)
    return batches[0][0], list(sessions.values())


def open_db(path: Path) -> sqlite3.Connection:
    Store.open(path, create_key=False).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    return conn


def rows(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in decide_acts.TABLES}


def rebuilt(source: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """The two tables of a copy of `source`, rebuilt from its events."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    source.backup(conn)
    conn.execute("BEGIN IMMEDIATE")
    aggregates.rebuild(conn)
    conn.execute("COMMIT")
    try:
        return rows(conn)
    finally:
        conn.close()


def test_op_by_op_key_presses_and_bulk_leave_the_rows_of_a_rebuild(tmp_path: Path) -> None:
    story, sessions = played(11)
    kinds = {op.get("type") for ops in sessions for op in ops}
    assert {"rewind", "pause", "reveal_skipped", "choice_made", "timeout_default"} <= kinds
    order = [sessions[0], *reversed(sessions[1:])]  # later sessions first: firsts move
    rng = random.Random(5)
    single, grouped = open_db(tmp_path / "single.db"), open_db(tmp_path / "grouped.db")
    for conn in (single, grouped):
        conn.execute("BEGIN IMMEDIATE")
        apply_op(conn, story)
        conn.execute("COMMIT")
    for ops in order:
        for op in ops:
            single.execute("BEGIN IMMEDIATE")
            apply_op(single, op)
            single.execute("COMMIT")
        for start in range(0, len(ops), 4):
            press = ops[start : start + rng.randint(1, 6)]
            grouped.execute("BEGIN IMMEDIATE")
            apply_ops(grouped, press)
            apply_ops(grouped, press)  # a replay counts nothing twice
            grouped.execute("COMMIT")
        grouped.execute("BEGIN IMMEDIATE")
        apply_ops(grouped, ops)  # whatever a press skipped, in one group
        grouped.execute("COMMIT")
    with BulkWriter(tmp_path / "bulk.db", batch=97) as writer:  # sessions span batches
        writer.add([story])
        for ops in order:
            writer.add(ops)
    bulk = sqlite3.connect(tmp_path / "bulk.db")
    expected = rows(single)
    assert all(expected[t] for t in decide_acts.TABLES)
    assert not any(r[-1] in ("", 0) for r in expected["agg_decide"])  # no row left at zero
    times = single.execute(
        """SELECT COUNT(*) FROM events WHERE type = 'choice_made' AND decide_ms IS NOT NULL
        AND scene IS NOT NULL"""
    ).fetchone()[0]
    packed = [decide_acts.decode(r[-1]) for r in expected["agg_decide"] if r[1] == ""]
    assert sum(sum(b.values()) for b in packed) == times  # every time, once, in its bucket
    assert [decide_acts.encode(b) for b in packed] == [
        r[-1] for r in expected["agg_decide"] if r[1] == ""
    ]  # one spelling: by bucket, no zero
    assert rows(grouped) == expected
    assert rows(bulk) == expected
    assert rebuilt(single) == expected
    sessions_in_rows = {
        kind: n
        for kind, n in single.execute(
            "SELECT kind, SUM(sessions) FROM agg_acts WHERE attr_key = '' GROUP BY 1"
        )
    }
    assert sessions_in_rows == {
        kind: n
        for kind, n in single.execute(
            """SELECT type, COUNT(*) FROM (SELECT DISTINCT session_id, scene, type FROM events
            WHERE type IN ('rewind', 'pause', 'reveal_skipped') AND scene IS NOT NULL)
            GROUP BY 1"""
        )
    }
    for conn in (single, grouped, bulk):
        conn.close()


# -- the fast readers give the scan's figures ---------------------------------------------


@pytest.fixture(scope="module")
def audience_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated audience written the bulk way, and real viewers op by op."""
    path = tmp_path_factory.mktemp("decide") / "a.db"
    story, simulated = played(21, sessions=60, viewers=20)
    with BulkWriter(path, batch=500) as writer:
        writer.add([story])
        for ops in simulated:
            writer.add(ops)
    _, real = played(22, sessions=40, viewers=15)
    conn = sqlite3.connect(path, isolation_level=None)
    for ops in reversed(real):
        for op in ops:
            conn.execute("BEGIN IMMEDIATE")
            apply_op(conn, {k: v for k, v in op.items() if k != "simulated"})
            conn.execute("COMMIT")
    conn.close()
    return path


def selections(rng: random.Random, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{}, {"audience": "all"}]
    while len(out) < n:
        kw: dict[str, Any] = {"audience": rng.choice(["auto", "real", "simulated", "all"])}
        if rng.random() < 0.4:
            day = START + timedelta(days=rng.randrange(5))
            kw["since"] = day.isoformat()
            if rng.random() < 0.5:
                kw["until"] = (day + timedelta(days=rng.randint(1, 3))).isoformat()
        if rng.random() < 0.4:
            kw["where"] = (f"region={rng.choice(['NL', 'UK', 'DE', 'XX'])}",)
        if rng.random() < 0.3:
            kw["first_only"] = True
        if rng.random() < 0.2:
            kw["version"] = "latest"
        out.append(kw)
    return out


def test_the_fast_readers_equal_the_scan_on_random_selections(audience_db: Path) -> None:
    conn = sqlite3.connect(f"file:{audience_db}?mode=ro", uri=True)
    (version,) = conn.execute("SELECT content_hash FROM stories").fetchone()
    answered = 0
    for kw in selections(random.Random(8), 14):
        if kw.get("version"):
            kw["version"] = version[:8]
        filters = settle_audience(conn, "signal", make_filters(**kw))
        chosen = resolve_versions(conn, "signal", filters.version)
        assert answerable(conn, "signal", filters)[0], kw
        where, params = class_where("signal", chosen, filters)
        picked = scan.picked("signal", chosen, filters)
        shape = stored_shape(conn, "signal", chosen)
        scanned = {
            r.scene: (r.rewinds, r.pauses, r.skips, *r.events)
            for r in metrics.interactions(conn, picked, shape, "sessions", reached={})
            if any(r.events)
        }
        assert rolled_interactions(conn, where, params) == scanned, kw
        percentiles = metrics.decide_percentiles(conn, picked)
        assert rolled_percentiles(conn, where, params) == percentiles, kw
        answered += bool(percentiles) and any(r[3] for r in scanned.values())
    assert answered >= 8  # most selections hold choices and rewinds: the test compares figures
    conn.close()
