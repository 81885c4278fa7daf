"""Flowchart aggregation over 10 million recorded choices.

Builds (once, cached beside the system temp folder) a telemetry database of
the bundled story `stories/signal` holding 10 million `choice_made` events in
sessions of 12 choices, with set-based SQL: sessions, events, then the running
totals rebuilt by the store's own `totals.rebuild` and the scene visits
computed from the choices' targets. Then, in the same run:

- aggregation: `analytics.flow_graph()` for the whole story with no filters
  (the fast path: running totals + one covering-index scan of the sessions
  for where each stopped; no raw events), median of several runs, and the
  same call for one version; for information, the per-choice totals query
  alone and the sessions scan alone;
- the plain `GROUP BY` over the raw events that the totals replace (the same
  per-choice counts, joined to sessions for the story), median of 3 runs;
- end to end: `branching flowchart signal --db ...` in a fresh process, with
  the terminal flowchart written to a file.

Targets (issue 5): aggregation < 100 ms, and >= 10x faster than the GROUP BY.

Usage: python benchmarks/bench_analytics.py [--quick] [--rebuild]
Writes benchmarks/results/analytics.json (analytics-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from branching.analytics import flow_graph  # noqa: E402
from branching.analytics.source import open_readonly  # noqa: E402
from branching.loader import load_story  # noqa: E402
from branching.store import Store, db  # noqa: E402
from branching.store.totals import rebuild  # noqa: E402

STORY = ROOT / "stories" / "signal"
PER_SESSION = 12
RAW_GROUP_BY = """SELECT e.scene, e.choice, e.target, COUNT(*), SUM(e.type = 'timeout_default')
    FROM events e JOIN sessions s ON s.session_id = e.session_id
    WHERE s.story_id = ? AND e.type IN ('choice_made', 'timeout_default', 'route_taken')
    GROUP BY 1, 2, 3"""
RAW_NO_JOIN = """SELECT scene, choice, target, COUNT(*) FROM events
    WHERE type IN ('choice_made', 'timeout_default', 'route_taken') GROUP BY 1, 2, 3"""


def _edges(conn: Any) -> int:
    story = load_story(str(STORY))
    rows = [(s.id, c.id, c.goto) for s in story.scenes.values() for c in s.choices]
    conn.execute("CREATE TEMP TABLE edges (k INTEGER PRIMARY KEY, scene TEXT, choice TEXT, "
                 "target TEXT)")
    conn.executemany("INSERT INTO temp.edges VALUES (?, ?, ?, ?)",
                     [(i, *row) for i, row in enumerate(rows)])
    return len(rows)


def generate(path: Path, events: int) -> float:
    """The database: `events` choice events of the signal story, set-based."""
    story = load_story(str(STORY))
    Store.open(path, viewer_key=path.with_suffix(".key")).close()
    conn = db.connect(path)
    conn.execute("PRAGMA synchronous = OFF")  # generation only
    conn.execute("PRAGMA cache_size = -262144")
    started = time.perf_counter()
    n_edges = _edges(conn)
    endings = [s.id for s in story.scenes.values() if s.ending is not None]
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO stories VALUES (?, ?, ?, ?, ?, ?, '2025-01-01T00:00:00.000Z')",
                 [story.id, story.content_hash, story.title, story.author, story.version,
                  json.dumps(story.structure())])
    sessions = events // PER_SESSION
    conn.execute(
        """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n)
        INSERT INTO sessions (session_id, story_id, content_hash, viewer_id, started_at,
                              outcome, ending_id, ending_kind, last_scene, terminal, platform,
                              utc_offset_min)
        SELECT printf('%08d', i), :story, :hash, printf('v%07d', i % (:n / 2 + 1)),
               strftime('%Y-%m-%dT%H:%M:%S', 1735689600 + i * 37, 'unixepoch') || '.000Z',
               CASE WHEN i % 10 < 7 THEN 'ending' WHEN i % 10 < 9 THEN 'quit'
                    ELSE 'in_progress' END,
               CASE WHEN i % 10 < 7 THEN json_extract(:endings, '$[' || (i % :ne) || ']') END,
               CASE WHEN i % 10 < 7 THEN 'neutral' END,
               (SELECT scene FROM temp.edges WHERE k = i % :edges), 'xterm-256color',
               'Linux x86_64', 60
        FROM n""",
        {"n": sessions, "story": story.id, "hash": story.content_hash,
         "endings": json.dumps(endings), "ne": len(endings), "edges": n_edges})
    conn.execute("COMMIT")
    chunk = 1_000_000 // PER_SESSION
    for first in range(1, sessions + 1, chunk):
        last = min(sessions, first + chunk - 1)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            """WITH RECURSIVE s(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM s WHERE i < ?),
                            q(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM q WHERE j < ?)
            INSERT INTO events (event_id, session_id, seq, ts, type, scene, choice, target,
                                decide_ms, input)
            SELECT printf('%08d-%04d', i, j), printf('%08d', i), j,
                   strftime('%Y-%m-%dT%H:%M:%S', 1735689600 + i * 37 + j * 3, 'unixepoch')
                     || '.000Z',
                   CASE WHEN (i + j) % 9 = 0 THEN 'timeout_default' ELSE 'choice_made' END,
                   x.scene, x.choice, x.target, 500 + (i * 7919 + j * 104729) % 9000, 'key'
            FROM s, q JOIN temp.edges x ON x.k = ((i * 31 + j * 17) * (j % 3 + 1)) % ?""",
            [first, last, PER_SESSION, n_edges])
        conn.execute("COMMIT")
    conn.execute("BEGIN IMMEDIATE")
    rebuild(conn)
    conn.execute("DELETE FROM scene_views")
    conn.execute(
        """INSERT INTO scene_views (story_id, content_hash, scene, count)
        SELECT story_id, content_hash, target, SUM(count) FROM traversals GROUP BY 1, 2, 3""")
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started


def ms_runs(fn: Any, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def end_to_end(path: Path, tmp: Path) -> tuple[float, str]:
    code = ("import branching.cli.analytics\nfrom branching.cli import cli\n"
            "cli(prog_name='branching')")
    out = tmp / "flowchart.txt"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, "flowchart", "signal", "--db", str(path),
                           "-o", str(out), "--width", "100"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise SystemExit(f"branching flowchart failed: {done.stderr}")
    return elapsed, out.read_text(encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 million choices, not 10")
    parser.add_argument("--rebuild", action="store_true", help="regenerate the database")
    args = parser.parse_args()
    events = 1_000_000 if args.quick else 10_000_000
    tmp = Path(tempfile.gettempdir()) / "branching-bench-analytics"
    tmp.mkdir(exist_ok=True)
    path = tmp / f"signal-{events}.db"
    made = path.with_suffix(".generated.json")
    if args.rebuild or not path.exists() or not made.exists():
        for old in tmp.glob(path.stem + "*"):
            old.unlink()
        made.write_text(json.dumps({"generate_s": round(generate(path, events), 1)}))
    gen_s = json.loads(made.read_text())["generate_s"]
    print(f"database of {events:,} choice events (generated in {gen_s} s): {path}")
    conn = open_readonly(path)
    choices = conn.execute("SELECT COUNT(*) FROM events WHERE type IN "
                           "('choice_made', 'timeout_default')").fetchone()[0]
    sessions = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    version = conn.execute("SELECT content_hash FROM stories").fetchone()[0]
    flow_graph("signal", db=path)  # warm the page cache like any second run
    agg = ms_runs(lambda: flow_graph("signal", db=path), 15)
    agg_version = ms_runs(lambda: flow_graph("signal", db=path,
                                             filters=_version(version)), 5)
    graph = flow_graph("signal", db=path)
    totals_only = ms_runs(lambda: conn.execute(
        "SELECT scene, choice, target, SUM(count), SUM(timeouts) FROM traversals "
        "WHERE story_id = 'signal' GROUP BY 1, 2, 3").fetchall(), 15)
    sessions_scan = ms_runs(lambda: conn.execute(
        "SELECT content_hash, last_scene, COUNT(*) FROM sessions WHERE story_id = 'signal' "
        "GROUP BY 1, 2").fetchall(), 5)
    raw = ms_runs(lambda: conn.execute(RAW_GROUP_BY, ["signal"]).fetchall(), 3)
    raw_no_join = ms_runs(lambda: conn.execute(RAW_NO_JOIN).fetchall(), 3)
    totals = {(s, c, t): n for s, c, t, n, _ in conn.execute(RAW_GROUP_BY, ["signal"])}
    conn.close()
    drawn = {(s.id, e.choice, e.target): e.count for s in graph.scenes.values()
             for e in s.edges if e.count and e.choice}
    e2e_ms, text = end_to_end(path, tmp)
    result = {
        "quick": args.quick, "choice_events": choices, "sessions": sessions,
        "generate_s": gen_s,
        "db_bytes": sum(p.stat().st_size for p in tmp.glob(path.name + "*")),
        "aggregation_median_ms": round(statistics.median(agg), 2),
        "aggregation_max_ms": round(max(agg), 2),
        "aggregation_one_version_median_ms": round(statistics.median(agg_version), 2),
        "choice_totals_query_median_ms": round(statistics.median(totals_only), 3),
        "sessions_scan_median_ms": round(statistics.median(sessions_scan), 2),
        "raw_group_by_median_ms": round(statistics.median(raw), 1),
        "raw_group_by_without_join_median_ms": round(statistics.median(raw_no_join), 1),
        "speedup_vs_group_by": round(statistics.median(raw) / statistics.median(agg), 1),
        "end_to_end_ms": round(e2e_ms, 1),
        "flowchart_lines": len(text.splitlines()),
        "same_counts_as_group_by": drawn == totals,
        "source": graph.source,
        "targets": {"aggregation_ms": 100, "speedup": 10},
    }
    result["meets_targets"] = (result["aggregation_median_ms"] < 100
                               and result["speedup_vs_group_by"] >= 10)
    for key, value in result.items():
        print(f"{key:40} {value}")
    out = ROOT / "benchmarks" / "results" / (
        "analytics-quick.json" if args.quick else "analytics.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0 if result["meets_targets"] and result["same_counts_as_group_by"] else 1


def _version(content_hash: str) -> Any:
    from branching.analytics import Filters

    return Filters(version=content_hash)


if __name__ == "__main__":
    sys.exit(main())
