"""Synthetic audience throughput: `branching simulate` end to end against a raw executemany insert.

Side A: the whole `branching simulate signal --sessions N --seed S` process
into a fresh database (engine, recorder, event ops, bulk writer with running
totals, WAL, synchronous=FULL commits per batch).
Side B, in the same run: the very rows A wrote (sessions, attributes, events,
read back from A's first file) inserted with `executemany` into a fresh
database with the same schema and pragmas, in one transaction, no totals: the
raw insert rate of the same rows.

Rounds alternate which side goes first; the first round's simulation (A
first) is the reference whose rows B inserts, so no untimed run is spent.
Targets (issue 12): A under 15 s for 100,000 sessions, and A within 3x of B
(median of the per-round ratios).
Each round also prints A's CPU time (the command, its worker processes
included) per event: on a shared machine the wall time moves with the load,
the CPU a simulation costs much less.

`--against DIR` (another checkout of the package, e.g. the last commit's)
also runs DIR's `branching simulate` in every round, next to this one's and
the raw insert, so a change is measured against its baseline on the same
machine at the same moment (the same rows, but for the session ids when
one side predates `Audience.fingerprint`; the row counts are what matter).

Usage: python benchmarks/bench_simulate.py [--quick] [--sessions N] [--rounds R] [--against DIR]
Writes benchmarks/results/simulate.json (simulate-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _pairs import (  # noqa: E402
    Timed,
    Verdicts,
    child_env,
    fmt_ratio,
    ratio_summary,
    run_process,
    write_results,
)

from branching.store import Store  # noqa: E402

TABLES = ("sessions", "session_attrs", "events")


def simulate(db: Path, sessions: int, seed: int, root: Path | None = None) -> Timed:
    argv = [
        sys.executable,
        "-m",
        "branching",
        "simulate",
        "signal",
        "--sessions",
        str(sessions),
        "--seed",
        str(seed),
        "--db",
        str(db),
        "--from",
        "2026-01-01",
        "--to",
        "2026-03-31",
    ]
    env = child_env() if root is None else child_env(PYTHONPATH=str(root))
    timed = run_process(argv, env=env)
    if timed.code != 0:
        raise SystemExit(f"simulate failed (exit {timed.code}): run {' '.join(argv)}")
    return timed


def read_rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(db)
    try:
        return {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in TABLES}
    finally:
        conn.close()


def raw_insert(db: Path, rows: dict[str, list[tuple[object, ...]]]) -> float:
    Store.open(db, create_key=False).close()  # the same schema and pragmas
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO stories SELECT * FROM stories WHERE 0")  # nothing: warm only
    for table in TABLES:
        if rows[table]:
            marks = ", ".join("?" for _ in rows[table][0])
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows[table])
    conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sessions", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--against", type=Path, default=None, help="a baseline checkout")
    args = parser.parse_args()
    sessions = args.sessions or (5_000 if args.quick else 100_000)
    rounds = args.rounds or (2 if args.quick else 2)
    verdicts = Verdicts()
    ratios: list[float] = []
    times: list[float] = []
    cpus: list[float] = []
    peaks: list[float] = []
    baseline: list[float] = []  # --against: its ratios to the same round's raw insert
    events = 0
    rows: dict[str, list[tuple[object, ...]]] = {}
    size = 0
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for r in range(rounds):
            a_db, b_db = base / f"a{r}.db", base / f"b{r}.db"
            if r % 2 == 0:
                timed = simulate(a_db, sessions, 1)
                if not rows:  # the first round's file gives the rows (the seed fixes them)
                    rows = read_rows(a_db)
                    events = len(rows["events"])
                    size = a_db.stat().st_size
                b = raw_insert(b_db, rows)
            else:
                b = raw_insert(b_db, rows)
                timed = simulate(a_db, sessions, 1)
            a = timed.wall_s
            times.append(a)
            cpus.append(timed.cpu_s)
            ratios.append(a / b)
            print(
                f"round {r + 1}: simulate {a:.1f} s (CPU {timed.cpu_s:.1f} s, "
                f"{timed.cpu_s / max(1, events) * 1e6:.1f} us per event, peak "
                f"{timed.peak_mb:.0f} MB), raw executemany {b:.1f} s, ratio {a / b:.2f} "
                f"(load {timed.load:.1f})"
            )
            peaks.append(timed.peak_mb)
            a_db.unlink()
            b_db.unlink()
            if args.against is not None:
                c_db = base / f"c{r}.db"
                old = simulate(c_db, sessions, 1, args.against.resolve())
                baseline.append(old.wall_s / b)
                print(
                    f"  baseline {args.against}: simulate {old.wall_s:.1f} s (CPU "
                    f"{old.cpu_s:.1f} s, {old.cpu_s / max(1, events) * 1e6:.1f} us per event, "
                    f"peak {old.peak_mb:.0f} MB), ratio {old.wall_s / b:.2f} (load {old.load:.1f})"
                )
                c_db.unlink()
    summary = ratio_summary(ratios)
    worst = max(times)
    print(
        f"{sessions:,} sessions, {events:,} events, {size / 1e6:.0f} MB; "
        f"{sessions / worst:,.0f} sessions/s, {events / worst:,.0f} events/s (slowest round)"
    )
    print(f"simulate / raw insert: {fmt_ratio(summary)}")
    if baseline:
        print(f"baseline / raw insert: {fmt_ratio(ratio_summary(baseline))}")
    limit = 15.0 * sessions / 100_000
    verdicts.judge(
        f"simulate {sessions:,} sessions under {limit:.1f} s", worst < limit, f"{worst:.1f} s"
    )
    verdicts.judge(
        "simulate within 3x of the raw insert", summary["median"] <= 3.0, fmt_ratio(summary)
    )
    data = {
        "sessions": sessions,
        "events": events,
        "bytes": size,
        "seconds": times,
        "cpu_seconds": cpus,
        "peak_mb": peaks,
        "ratio": summary,
    }
    write_results("simulate", args.quick, data, verdicts)
    return verdicts.exit_code()


if __name__ == "__main__":
    raise SystemExit(main())
