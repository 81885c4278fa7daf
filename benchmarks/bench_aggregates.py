"""Filtered flowcharts from the aggregates against today's scan of the events, same run.

The database is a simulated audience (scene shown and choice events,
attributes, replays), built once and reused:

    branching simulate signal --sessions 40000 --seed 1 --db DB \\
        --from 2026-01-01 --to 2026-03-31          # ~2.2M events, a few minutes

For each selection (unfiltered, --since, --since/--until, --where,
--first-only, --audience) and unit (sessions, times), `flow_graph` is timed
twice per round, reading the aggregates and (with `flow.USE_AGGREGATES`
off) scanning the events, in paired rounds alternating which goes first; the
two graphs must hold the same figures. Target: every aggregate answer under
1 s (p95). With `--premigration COPY` (a file of the same audience written
before m011), the upgrade that creates and backfills the aggregates is timed
on a copy, with its peak memory (the process's maximum resident size).

Usage: python benchmarks/bench_aggregates.py [--db DB] [--premigration FILE] [--quick]
(without --db: the audience above, simulated once into benchmarks/data; 4,000
sessions with --quick)
Writes benchmarks/results/aggregates.json (aggregates-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _pairs import Verdicts, latency_summary, p95, paired, write_results  # noqa: E402

from branching.analytics import flow  # noqa: E402
from branching.analytics.filters import make_filters  # noqa: E402
from branching.store.store import Store  # noqa: E402

CASES: list[tuple[str, dict[str, Any]]] = [
    ("unfiltered", {}),
    ("--since 2026-02-01", {"since": "2026-02-01"}),
    ("--since/--until February", {"since": "2026-02-01", "until": "2026-02-28"}),
    ("--where region=NL", {"where": ("region=NL",)}),
    ("--first-only", {"first_only": True}),
    ("--first-only --since 2026-03-01", {"first_only": True, "since": "2026-03-01"}),
    ("--audience simulated", {"audience": "simulated"}),
]


def built(sessions: int) -> Path:
    """The audience of the docstring (`sessions` of them), simulated once and kept."""
    db = ROOT / "benchmarks" / "data" / f"aggregates-{sessions}.db"
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        print(f"simulating {sessions:,} sessions into {db} (once)...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "branching", "simulate", "signal", "--sessions", str(sessions),
             "--seed", "1", "--db", str(db), "--from", "2026-01-01", "--to", "2026-03-31"],
            check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return db


def story_of(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("SELECT story_id FROM stories LIMIT 1").fetchone()[0])
    finally:
        conn.close()


def time_graph(db: Path, story: str, kw: dict[str, Any], unit: str, use: bool) -> tuple[float, Any]:
    flow.USE_AGGREGATES = use
    started = time.perf_counter()
    graph = flow.flow_graph(story, db=db, filters=make_filters(**kw), unit=unit)
    return (time.perf_counter() - started) * 1000, graph


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, help="default: built under benchmarks/data")
    parser.add_argument("--premigration", type=Path)
    parser.add_argument("--quick", action="store_true", help="2 rounds instead of 5")
    args = parser.parse_args()
    if args.db is None:
        args.db = built(4000 if args.quick else 40000)
    verdicts = Verdicts()
    data: dict[str, Any] = {"db": str(args.db), "cases": []}
    if args.premigration:
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "old.db"
            shutil.copy(args.premigration, copy)
            started = time.perf_counter()
            Store.open(copy, create_key=False).close()
            seconds = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        data["migration"] = {"seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb, 1)}
        print(f"m011 upgrade (create + backfill): {seconds:.1f} s, peak RSS {peak_mb:.0f} MB")
    Store.open(args.db, create_key=False).close()  # upgraded before anything is timed
    conn = sqlite3.connect(args.db)
    events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    conn.close()
    data["events"] = events
    story = story_of(args.db)
    rounds = 2 if args.quick else 5
    print(f"{events:,} events of {story}; {rounds} paired rounds per case")
    print(f"{'selection':34} {'unit':9} {'source':15} {'aggregates ms':>14} {'scan ms':>10}")
    for name, kw in CASES:
        for unit in ("sessions", "times"):
            graphs: dict[bool, Any] = {}

            def side(
                use: bool,
                kw: dict[str, Any] = kw,
                unit: str = unit,
                graphs: dict[bool, Any] = graphs,
            ) -> float:
                ms, graphs[use] = time_graph(args.db, story, kw, unit, use)
                return ms

            fast, slow = paired(lambda: side(True), lambda: side(False), rounds)
            rolled, scanned = graphs[True], graphs[False]
            same = dataclasses.replace(rolled, source="", notes=()) == dataclasses.replace(
                scanned, source="", notes=()
            )
            row = {
                "selection": name,
                "unit": unit,
                "source": rolled.source,
                "aggregates": latency_summary(fast),
                "scan": latency_summary(slow),
                "same_figures": same,
            }
            data["cases"].append(row)
            print(
                f"{name:34} {unit:9} {rolled.source:15} {statistics.median(fast):14.1f} "
                f"{statistics.median(slow):10.1f}{'' if same else '  FIGURES DIFFER'}"
            )
            verdicts.judge(
                f"{name} by {unit}",
                same and p95(fast) < 1000,
                f"p95 {p95(fast):.1f} ms from {rolled.source} (scan median "
                f"{statistics.median(slow):.0f} ms), same figures: {same}",
            )
    write_results("aggregates", args.quick, data, verdicts)
    return verdicts.exit_code()


if __name__ == "__main__":
    raise SystemExit(main())
