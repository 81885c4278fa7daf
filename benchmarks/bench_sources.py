"""The flowchart from every source side by side: SQLite (aggregates, scan), DuckDB, Spark.

The database is a simulated audience (scene shown and choice events,
attributes, replays), built once and reused:

    branching simulate signal --sessions 40000 --seed 1 --db DB \\
        --from 2026-01-01 --to 2026-03-31          # ~2.2M events, a few minutes

A database built here is copied and upgraded before timing; one given with
--db is read in place, read-only (the flowchart opens it so), never copied
(a 10-million-event file is 2 GB). It is exported once with `branching
export --format parquet` (timed, for information) unless --export names an
export of it already written, which is read as it is. Then for each
selection (unfiltered, --since, --where, --first-only) and unit (sessions,
times), `flow_graph` runs in a fresh process per source, so each has its own
peak memory (the process's maximum resident size, Python and the engine
included):
- `sqlite`: the default, the running totals or the aggregates where they answer;
- `sqlite-scan`: the same database with the aggregates off (the portable
  scan of the events, `analytics/scan.py`; minutes per case at 10 million
  events: leave it out with --sources);
- `duckdb`: `--source parquet:OUT/`, over the export;
- `spark` (with --spark, for information): `--source spark:OUT/` in local mode,
  one process for every case (its start-up is in the warm-up round).
Each process runs the case once to warm up, then `--rounds` times; the figures
must be the same from every source. Target (issue 14): DuckDB under 1 s (p95)
and 200 MB for every case.

With --stats, `branching stats` through DuckDB too: each table alone
(`build_report(tables=[T])`, what `stats --table T` reads), once, in a fresh
process per table, its time (engine opening included) and the process's
peak memory, and whether its figures equal SQLite's (read once, the whole
report, for all tables; slow at 10 million events: --stats-sqlite JSON reuses
a `branching stats --format json` output written before).

Usage: python benchmarks/bench_sources.py [--db DB [--export OUT]] [--quick]
       [--sources sqlite,duckdb] [--spark] [--rounds N] [--name NAME]
       [--stats [--stats-only] [--stats-sqlite JSON]]
e.g.   python benchmarks/bench_sources.py --db /tmp/big/10m.db \\
           --export /tmp/big/export10m --sources sqlite,duckdb --name sources-10m
(without --db: the audience above, simulated once into benchmarks/data; 4,000
sessions with --quick)
Writes benchmarks/results/NAME.json (default sources, sources-quick with --quick).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _pairs import Verdicts, child_env, latency_summary, p95, write_results  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
CASES: list[tuple[str, dict[str, Any]]] = [
    ("unfiltered", {}),
    ("--since 2026-02-01", {"since": "2026-02-01"}),
    ("--where region=NL", {"where": ["region=NL"]}),
    ("--first-only", {"first_only": True}),
]
UNITS = ("sessions", "times")
SOURCES = ("sqlite", "sqlite-scan", "duckdb")


def digest(graph: Any) -> str:
    """The figures of a graph, whatever source drew them (viewers only where known)."""
    same = dataclasses.replace(graph, source="", notes=(), viewers=None)
    return hashlib.sha256(repr(same).encode()).hexdigest()[:16]


def worker(
    source: str, db: str, out: str, jobs: list[tuple[str, dict[str, Any], str]], rounds: int
) -> None:
    """In a child process: time each job `rounds` times after a warm-up; print JSON lines."""
    from branching.analytics import flow
    from branching.analytics.filters import make_filters

    flow.USE_AGGREGATES = source != "sqlite-scan"
    where = {"duckdb": f"parquet:{out}", "spark": f"spark:{out}"}.get(source)
    for name, kw, unit in jobs:
        ms: list[float] = []
        graph = None
        for i in range(rounds + 1):
            began = time.perf_counter()
            graph = flow.flow_graph(
                "signal",
                db=None if where else db,
                source=where,
                filters=make_filters(**kw),
                unit=unit,
            )
            if i:  # the first is the warm-up (for Spark: with its start-up)
                ms.append((time.perf_counter() - began) * 1000)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            json.dumps(
                {
                    "case": name,
                    "unit": unit,
                    "ms": ms,
                    "peak_mb": round(peak, 1),
                    "source": graph.source if graph else "",
                    "figures": digest(graph),
                }
            ),
            flush=True,
        )


def stats_worker(out: str, table: str) -> None:
    """In a child process: one stats table through DuckDB, timed; print one JSON line."""
    from branching.analytics.report import build_report
    from branching.render.report_io import sheets_json
    from branching.render.tables import report_tables

    began = time.perf_counter()
    report = build_report("signal", db=None, source=f"parquet:{out}", tables=[table])
    ms = (time.perf_counter() - began) * 1000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shown = json.loads(sheets_json(report, report_tables(report, (table,), ids=True)))
    print(json.dumps({"table": table, "ms": ms, "peak_mb": round(peak, 1), "json": shown}))


def stats_side(db: Path, out: Path, sqlite_json: Path | None) -> tuple[list[Any], Verdicts]:
    """Every stats table through DuckDB, each in its own process, against SQLite's."""
    from branching.analytics.rows import TABLES

    if sqlite_json is None:
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "branching", "stats", "signal", "--db", str(db)]
            + ["--format", "json"],
            cwd=ROOT,
            env=child_env(),
            check=True,
            capture_output=True,
            text=True,
        )
        whole = json.loads(done.stdout)
        print(f"SQLite, the whole report: {time.perf_counter() - began:.1f} s")
    else:
        whole = json.loads(sqlite_json.read_text())
    rows, verdicts = [], Verdicts()
    print(f"{'stats table':14}{'DuckDB ms':>10}{'MB':>6}  same as SQLite")
    for table in TABLES:
        argv = [sys.executable, __file__, "--stats-worker", str(out), table]
        done = subprocess.run(argv, cwd=ROOT, env=child_env(), capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"stats {table} failed:\n{done.stderr[-2000:]}")
        got = json.loads(done.stdout.splitlines()[-1])
        same = (
            got["json"]["tables"][table] == whole["tables"][table]
            and got["json"]["summary"] == whole["summary"]
        )
        print(f"{table:14}{got['ms']:10.0f}{got['peak_mb']:6.0f}  {same}")
        rows.append(
            {
                "table": table,
                "ms": round(got["ms"], 1),
                "peak_rss_mb": got["peak_mb"],
                "same_figures": same,
            }
        )
        verdicts.judge(
            f"stats --table {table} on DuckDB",
            same and got["ms"] < 1000 and got["peak_mb"] < 200,
            f"{got['ms']:.0f} ms, peak {got['peak_mb']:.0f} MB; same figures as SQLite: {same}",
        )
    return rows, verdicts


def run_worker(
    source: str, db: Path, out: Path, jobs: list[Any], rounds: int
) -> list[dict[str, Any]]:
    argv = [
        sys.executable,
        __file__,
        "--worker",
        source,
        str(db),
        str(out),
        json.dumps(jobs),
        str(rounds),
    ]
    done = subprocess.run(argv, cwd=ROOT, env=child_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{source} worker failed:\n{done.stderr[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def built(sessions: int) -> Path:
    db = DATA / f"aggregates-{sessions}.db"  # the same file bench_aggregates builds
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        print(f"simulating {sessions:,} sessions into {db} (once)...", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "branching",
                "simulate",
                "signal",
                "--sessions",
                str(sessions),
                "--seed",
                "1",
                "--db",
                str(db),
                "--from",
                "2026-01-01",
                "--to",
                "2026-03-31",
            ],
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
    return db


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--db", type=Path, help="read in place, read-only; default: benchmarks/data"
    )
    parser.add_argument("--export", type=Path, help="an export of --db already written, reused")
    parser.add_argument("--quick", action="store_true", help="4,000 sessions, 2 rounds")
    parser.add_argument("--spark", action="store_true", help="Spark too (pyspark and Java)")
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated")
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument("--name", default="sources", help="results/NAME.json")
    parser.add_argument("--stats", action="store_true", help="stats tables via DuckDB too")
    parser.add_argument("--stats-only", action="store_true", help="only the stats tables")
    parser.add_argument("--stats-sqlite", type=Path, help="SQLite's stats JSON, written before")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 5)
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    sources += ["spark"] if args.spark and "spark" not in sources else []
    unknown = [s for s in sources if s not in (*SOURCES, "spark")]
    if unknown or "sqlite" not in sources or "duckdb" not in sources:
        parser.error(f"--sources: sqlite and duckdb, and any of sqlite-scan, spark ({unknown})")
    if args.export and not args.db:
        parser.error("--export is the export of a --db")
    if args.db:
        db = args.db  # read in place: the flowchart opens it read-only
        work = DATA / f"sources-{db.stem}"
    else:
        source_db = built(4000 if args.quick else 40000)
        work = DATA / f"sources-{source_db.stem}"
        work.mkdir(parents=True, exist_ok=True)
        db = work / "copy.db"
        if not db.exists() or db.stat().st_size != source_db.stat().st_size:
            shutil.copy(source_db, db)
            from branching.store.store import Store

            Store.open(db, create_key=False).close()  # upgraded (aggregates) before any timing
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    conn.close()
    out = args.export or work / "parquet"
    data: dict[str, Any] = {"db": str(db), "events": events, "rounds": rounds, "export": str(out)}
    if not (out / "_branching_export.json").exists():
        if args.export:
            parser.error(f"{out} holds no export: write it with branching export --format parquet")
        began = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "branching",
                "export",
                "--db",
                str(db),
                "--format",
                "parquet",
                str(out),
            ],
            cwd=ROOT,
            env=child_env(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        data["export_s"] = round(time.perf_counter() - began, 1)
        print(f"exported to Parquet in {data['export_s']} s")
    size = sum(p.stat().st_size for p in out.rglob("*.parquet"))
    data["parquet_mb"] = round(size / 1e6, 1)
    print(f"{events:,} events; Parquet export {size / 1e6:.0f} MB; {rounds} rounds per case")
    if args.stats or args.stats_only:
        data["stats"], stats_verdicts = stats_side(db, out, args.stats_sqlite)
        if args.stats_only:
            write_results(args.name, args.quick, data, stats_verdicts)
            return stats_verdicts.exit_code()
    jobs = [(name, kw, unit) for name, kw in CASES for unit in UNITS]
    results = {s: run_worker(s, db, out, jobs, rounds) for s in sources}
    verdicts = Verdicts()
    data["cases"] = []
    heads = "".join(f"{s + ' ms':>16}{'MB':>6}" for s in sources)
    print(f"{'selection':22} {'unit':9}{heads}   sqlite answers from")
    for i, (name, _, unit) in enumerate(jobs):
        rows = {s: results[s][i] for s in sources}
        same = len({r["figures"] for r in rows.values()}) == 1
        cells = "".join(
            f"{statistics.median(rows[s]['ms']):16.1f}{rows[s]['peak_mb']:6.0f}" for s in sources
        )
        print(
            f"{name:22} {unit:9}{cells}   {rows['sqlite']['source']}"
            f"{'' if same else '  FIGURES DIFFER'}"
        )
        data["cases"].append(
            {
                "selection": name,
                "unit": unit,
                "same_figures": same,
                **{
                    s: {
                        **latency_summary(rows[s]["ms"]),
                        "peak_rss_mb": rows[s]["peak_mb"],
                        "source": rows[s]["source"],
                    }
                    for s in sources
                },
            }
        )
        duck = rows["duckdb"]
        verdicts.judge(
            f"{name} by {unit} on DuckDB",
            same and p95(duck["ms"]) < 1000 and duck["peak_mb"] < 200,
            f"median {statistics.median(duck['ms']):.0f} ms, p95 {p95(duck['ms']):.0f} ms, "
            f"peak {duck['peak_mb']:.0f} MB; same figures as SQLite: {same}",
        )
    if args.stats:
        verdicts.lines += stats_verdicts.lines
    write_results(args.name, args.quick, data, verdicts)
    return verdicts.exit_code()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--stats-worker":
        stats_worker(sys.argv[2], sys.argv[3])
        raise SystemExit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, src, path, folder, jobs_json, n = sys.argv
        worker(src, path, folder, [tuple(j) for j in json.loads(jobs_json)], int(n))  # type: ignore[misc]
        raise SystemExit(0)
    raise SystemExit(main())
