"""Exporting: JSON lines against the `sqlite3` command line, and Parquet's time, size and memory.

(a) `branching export --format jsonl -o FILE` (a whole process) against the
    `sqlite3` command line running one query that reads the same rows
    (`branching.store.export.ONE_QUERY`: every event joined with its session,
    version and attributes, in the export's order) in `-json` mode into a
    file, in paired rounds alternating which goes first. The export does more
    (it rebuilds the whole state at every event from the stored patches and
    escapes terminal controls), the CLI prints what is stored. Target: median
    of the per-round ratios (export / CLI) <= 2. The ratio of CPU seconds
    (user + system, from /usr/bin/time) is printed beside it: on a machine
    other work shares, it moves less than wall time (the load average is in
    the results).
(b) `branching export --format parquet OUT/` into a new folder at two
    database sizes: wall time, size on disk, and peak memory (maximum
    resident set size of the child process, from /usr/bin/time). Target: the
    peak at the larger size within 1.25x of the smaller (memory constant in
    the number of events), and under 200 MB. A second run with nothing new is
    timed too (the incremental path).

Databases come from `branching simulate signal --sessions N --seed 1
--from 2026-01-01 --to 2026-03-31` (about 56 events per session) and are
kept in benchmarks/data/ for the next run.

Usage: python benchmarks/bench_export.py [--quick]
Writes benchmarks/results/export.json (export-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _pairs import (  # noqa: E402
    Verdicts,
    child_env,
    fmt_ratio,
    paired,
    ratio_summary,
    write_results,
)

from branching.store.export import ONE_QUERY  # noqa: E402

DATA = ROOT / "benchmarks" / "data"


def database(sessions: int) -> Path:
    path = DATA / f"export_{sessions}.db"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".building.db")
    partial.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "branching", "simulate", "signal", "--sessions",
            str(sessions), "--seed", "1", "--db", str(partial), "--from", "2026-01-01",
            "--to", "2026-03-31"]  # fmt: skip
    print(f"building {path.name} ({sessions} sessions)...", flush=True)
    subprocess.run(argv, cwd=ROOT, env=child_env(), check=True, stdout=subprocess.DEVNULL)
    partial.rename(path)
    return path


def timed(argv: list[str], stdout: Any = subprocess.DEVNULL) -> tuple[float, int]:
    """Wall seconds and peak resident memory (KB) of one child process."""
    wall, peak, _ = timed_cpu(argv, stdout)
    return wall, peak


def timed_cpu(argv: list[str], stdout: Any = subprocess.DEVNULL) -> tuple[float, int, float]:
    """Wall seconds, peak resident memory (KB) and CPU seconds of one child process."""
    with tempfile.NamedTemporaryFile("r", suffix=".mem") as mem:
        started = time.perf_counter()
        code = subprocess.call(
            ["/usr/bin/time", "-f", "%M %U %S", "-o", mem.name, *argv],
            cwd=ROOT,
            env=child_env(),
            stdout=stdout,
            stderr=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - started
        if code != 0:
            raise SystemExit(f"failed (exit {code}): {' '.join(argv)}")
        peak, user, system = mem.read().strip().splitlines()[-1].split()
    return wall, int(peak), float(user) + float(system)


def events(db: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def jsonl_pairs(db: Path, rounds: int, scratch: Path) -> dict[str, Any]:
    out_a, out_b = scratch / "export.jsonl", scratch / "cli.json"
    cpu: dict[str, list[float]] = {"ours": [], "cli": []}

    def ours() -> float:
        wall, _, used = timed_cpu([sys.executable, "-m", "branching", "export", "--db",
                                   str(db), "--format", "jsonl", "-o", str(out_a)])  # fmt: skip
        cpu["ours"].append(used)
        return wall

    def cli() -> float:
        with out_b.open("w") as sink:
            wall, _, used = timed_cpu(["sqlite3", "-json", str(db), ONE_QUERY], stdout=sink)
        cpu["cli"].append(used)
        return wall

    ours()  # warm the page cache and the bytecode cache
    cpu["ours"].clear()
    a, b = paired(ours, cli, rounds)
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    cpu_ratios = [x / y for x, y in zip(cpu["ours"], cpu["cli"], strict=True)]
    return {
        "export_s": [round(x, 2) for x in a],
        "sqlite3_cli_s": [round(x, 2) for x in b],
        "ratio": ratio_summary(ratios),
        "export_cpu_s": [round(x, 2) for x in cpu["ours"]],
        "sqlite3_cli_cpu_s": [round(x, 2) for x in cpu["cli"]],
        "cpu_ratio": ratio_summary(cpu_ratios),
        "export_bytes": out_a.stat().st_size,
        "cli_bytes": out_b.stat().st_size,
    }


def parquet_run(db: Path, scratch: Path) -> dict[str, Any]:
    out = scratch / f"parquet-{db.stem}"
    shutil.rmtree(out, ignore_errors=True)
    argv = [sys.executable, "-m", "branching", "export", "--db", str(db), "--format",
            "parquet", str(out)]  # fmt: skip
    wall, peak = timed(argv)
    again, again_peak = timed(argv)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    files = sum(1 for _ in out.glob("events/*/*/*.parquet"))
    return {
        "events": events(db),
        "db_bytes": db.stat().st_size,
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(peak / 1024, 1),
        "bytes": size,
        "event_files": files,
        "again_nothing_new_s": round(again, 2),
        "again_peak_rss_mb": round(again_peak / 1024, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    small, large = (1000, 4000) if args.quick else (5000, 20000)
    rounds = 2 if args.quick else 5
    if shutil.which("sqlite3") is None:
        raise SystemExit("the sqlite3 command line is needed (apt-get install sqlite3)")
    verdicts = Verdicts()
    data: dict[str, Any] = {"sessions": [small, large]}
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        scratch = Path(tmp)
        dbs = {n: database(n) for n in (small, large)}
        print(f"(a) JSON lines vs sqlite3 -json, {events(dbs[large]):,} events", flush=True)
        data["jsonl"] = jsonl = jsonl_pairs(dbs[large], rounds, scratch)
        for name in ("export.jsonl", "cli.json"):
            (scratch / name).unlink(missing_ok=True)
        print(f"  export {jsonl['export_s']} s, sqlite3 {jsonl['sqlite3_cli_s']} s; CPU "
              f"{jsonl['export_cpu_s']} s against {jsonl['sqlite3_cli_cpu_s']} s, ratio "
              f"{fmt_ratio(jsonl['cpu_ratio'])}", flush=True)  # fmt: skip
        verdicts.judge(
            "jsonl export within 2x of the sqlite3 CLI",
            jsonl["ratio"]["median"] <= 2.0,
            f"ratio {fmt_ratio(jsonl['ratio'])}",
        )
        print("(b) Parquet", flush=True)
        runs = {}
        for n in (small, large):
            runs[n] = parquet_run(dbs[n], scratch)
            r = runs[n]
            print(
                f"  {r['events']:,} events: {r['wall_s']} s, {r['bytes'] / 1e6:.1f} MB on disk "
                f"({r['db_bytes'] / 1e6:.0f} MB database), peak {r['peak_rss_mb']} MB, "
                f"{r['event_files']} event files; again with nothing new: "
                f"{r['again_nothing_new_s']} s",
                flush=True,
            )
        data["parquet"] = {str(n): r for n, r in runs.items()}
    grow = runs[large]["peak_rss_mb"] / runs[small]["peak_rss_mb"]
    verdicts.judge(
        "parquet export memory constant in the number of events",
        grow <= 1.25,
        f"peak {runs[small]['peak_rss_mb']} MB at {runs[small]['events']:,} events, "
        f"{runs[large]['peak_rss_mb']} MB at {runs[large]['events']:,} ({grow:.2f}x)",
    )
    verdicts.judge(
        "parquet export peak memory under 200 MB",
        runs[large]["peak_rss_mb"] < 200,
        f"{runs[large]['peak_rss_mb']} MB",
    )
    write_results("export", args.quick, data, verdicts)
    return verdicts.exit_code()


if __name__ == "__main__":
    sys.exit(main())
