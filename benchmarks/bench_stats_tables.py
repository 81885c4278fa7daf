"""`branching stats`, one table at a time: time and peak memory of each, filtered and not.

Issue 14's target: on a database of ten million events, every `stats` table
answers in under a second with a peak memory under 200 MB. Each case runs as
a user runs it, `branching stats signal --table NAME --format json`, one
process each, and the script prints its wall time, CPU time and the child's
peak resident set, then one PASS/FAIL line per case.

Selections: none; `--where region=NL`; `--since` the last 7 days of the
data; `--first-only`; and `--by viewers` unfiltered (`viewers`), with
`--where region=NL` (`viewers NL`) and with `--first-only` (`viewers 1st`). The database is
`--db PATH` (e.g. one built with `branching simulate signal --sessions
180000`), or by default the 40,000-session audience `bench_stats.py` builds
(about 2.2 M events).

`--source parquet:OUT/` runs the same cases through DuckDB on the Parquet
export as well, side by side. `--before REV` runs the whole report (every
table at once, which is all older code could do) on the code of commit REV,
once per selection, as the baseline ("today's scan"). `--paired REV` runs
each case on the code of REV (a commit, or a folder holding a `branching`
package) right before the same case on this code, so both see the same
machine load, and prints the two side by side (this code's, then `REV
wall`), and whether the two outputs are the same byte for byte (a case
whose figures differ fails). `--code DIR` measures the package in DIR instead of the installed one.
`--paired-db PATH` gives REV its own copy of the database: code older than
a schema step refuses a file that step upgraded (m015 copies each session's
columns to its digest), so measure REV on a copy kept at its schema, e.g.
`--db new.db --paired HEAD --paired-db old.db`, where new.db is a copy of
old.db that this code has opened once (`Store.open` upgrades it).

    python benchmarks/bench_stats_tables.py [--db PATH] [--source parquet:OUT/]
        [--before REV] [--paired REV [--paired-db PATH]] [--code DIR]
        [--selections all,viewers]
        [--tables a,b] [--quick]

Writes benchmarks/results/stats-tables.json.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _pairs import Verdicts, write_results  # noqa: E402
from bench_stats import database, measure, old_code  # noqa: E402

from branching.analytics.rows import TABLES  # noqa: E402

WALL_S = 1.0
PEAK_MB = 200.0


def last_week(db: Path) -> str:
    """The day seven days before the latest session's start (a `--since`)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (latest,) = conn.execute("SELECT MAX(started_at) FROM sessions").fetchone()
    finally:
        conn.close()
    from datetime import date, timedelta

    return (date.fromisoformat(str(latest)[:10]) - timedelta(days=7)).isoformat()


def selections(db: Path) -> dict[str, list[str]]:
    return {
        "all": [],
        "region=NL": ["--where", "region=NL"],
        "last week": ["--since", last_week(db)],
        "first only": ["--first-only"],
        "viewers": ["--by", "viewers"],
        "viewers NL": ["--by", "viewers", "--where", "region=NL"],
        "viewers 1st": ["--by", "viewers", "--first-only"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None, help="the database to read")
    parser.add_argument("--source", default=None, help="also read this Parquet export")
    parser.add_argument("--before", default=None, help="baseline: the whole report at REV")
    parser.add_argument("--paired", default=None, help="baseline per case: the code of REV")
    parser.add_argument("--paired-db", type=Path, default=None, help="the database REV reads")
    parser.add_argument("--code", type=Path, default=None, help="measure this folder's package")
    parser.add_argument("--tables", default=",".join(TABLES), help="comma-separated tables")
    parser.add_argument("--selections", default=None, help="comma-separated selections")
    parser.add_argument("--quick", action="store_true", help="8,000 sessions by default")
    args = parser.parse_args()
    db = args.db or database(8_000 if args.quick else 40_000)
    tables = [t for t in args.tables.split(",") if t]
    out = Path(tempfile.mkdtemp(prefix="bench-stats-tables-"))
    verdicts = Verdicts()
    results: dict[str, Any] = {"db": str(db), "cases": []}
    sources = [("sqlite", ["--db", str(db)])]
    if args.source:
        sources.append(("duckdb", ["--source", args.source]))
    paired = old_code(args.paired) if args.paired else None
    head = f"{'source':7} {'selection':11} {'table':13} {'wall s':>7} {'cpu s':>7} {'peak MB':>8}"
    print(head + (f" {'REV wall':>8} {'REV cpu':>7} {'REV MB':>7}  output" if paired else ""))
    chosen = selections(db)
    if args.selections:
        chosen = {k: v for k, v in chosen.items() if k in args.selections.split(",")}
    for name, picked in chosen.items():
        for src, where in sources:
            for table in tables:
                cmd = ["stats", "signal", *where, *picked, "--table", table, "--format", "json"]
                mine = out / f"{src}-{table}.json"
                cmd += ["-o", str(mine)]
                theirs = [*cmd[:-1], str(out / f"{src}-{table}-rev.json")]
                if args.paired_db is not None and src == "sqlite":
                    theirs = [str(args.paired_db) if c == str(db) else c for c in theirs]
                base = measure(theirs, paired) if paired is not None else None
                got = measure(cmd, args.code)
                line = (
                    f"{src:7} {name:11} {table:13} {got['wall_s']:7.2f} {got['cpu_s']:7.2f} "
                    f"{got['peak_mb']:8.1f}"
                )
                if base is not None:
                    line += f" {base['wall_s']:8.2f} {base['cpu_s']:7.2f} {base['peak_mb']:7.1f}"
                    # the same figures, byte for byte, as REV's
                    same = mine.read_bytes() == Path(theirs[-1]).read_bytes()
                    line += "  same" if same else "  DIFFERENT"
                    verdicts.judge(f"{src} {name} {table}: REV's figures", same, "")
                print(line, flush=True)
                case = {"source": src, "selection": name, "table": table, **got}
                if base is not None:
                    case["paired"] = {"rev": args.paired, **base}
                results["cases"].append(case)
                verdicts.judge(
                    f"{src} {name} {table} under {WALL_S:g} s and {PEAK_MB:g} MB",
                    got["wall_s"] < WALL_S and got["peak_mb"] < PEAK_MB,
                    f"{got['wall_s']:.2f} s, {got['peak_mb']:.0f} MB",
                )
        if args.before:
            cmd = ["stats", "signal", "--db", str(db), *picked, "--format", "json"]
            got = measure([*cmd, "-o", str(out / "before.json")], old_code(args.before))
            print(f"{'before':7} {name:11} {'(all)':13} {got['wall_s']:7.2f} {got['cpu_s']:7.2f} "
                  f"{got['peak_mb']:8.1f}", flush=True)  # fmt: skip
            results["cases"].append({"source": f"before {args.before}", "selection": name, **got})
    write_results("stats-tables", args.quick, results, verdicts)
    raise SystemExit(verdicts.exit_code())


if __name__ == "__main__":
    main()
