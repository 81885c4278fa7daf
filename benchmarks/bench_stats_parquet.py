"""`stats --source parquet:OUT/` one table at a time, before and after, paired.

Issue 14's target for DuckDB over the Parquet export: every `stats` table
under a second and 200 MB (the whole process), filtered or not, with the
figures of the database it was exported from. Each case runs as a user runs
it (`branching stats signal --source parquet:OUT/ --table NAME --format
json`, one process each) on the code of REV (`--before`, a commit extracted
read-only, or a folder holding a `branching` package) right before the same
case on this checkout, so both see the same machine load; each export given
(`--source`, repeatable: e.g. one of layout 5 and one of layout 4, written
before the sessions carried their lists as bits) is a column of its own. The two
outputs of a case must be byte for byte the same (the figures did not
change); the script prints wall time, CPU time and the child's peak resident
set, then one PASS/FAIL line per case and export.

    python benchmarks/bench_stats_parquet.py [--db PATH --source parquet:OUT/ ...]
        [--before REV] [--tables a,b] [--selections all,viewers] [--quick]

Without `--db`, the audience `bench_stats.py` builds (40,000 sessions, 8,000
with `--quick`); without `--source`, its export, written once next to it, a
copy of that as layout 4 wrote it (no `_bits` lists, attributes without
`session_key`: by viewers from the events) and one without the sessions'
`path` and `depth` either (as layout 2 wrote).

Selections as `bench_stats_tables.py`'s: none, `--where region=NL`, the last
week (`--since`), `--first-only`, `--by viewers`. Writes
benchmarks/results/stats-parquet.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _pairs import Verdicts, child_env, figures_cells, python, write_results  # noqa: E402
from bench_stats import DATA, database, measure, old_code  # noqa: E402
from bench_stats_tables import PEAK_MB, WALL_S, selections  # noqa: E402

from branching.analytics.parquet_viewers import LISTS  # noqa: E402
from branching.analytics.rows import TABLES  # noqa: E402
from branching.store.parquet_files import LAYOUT, MANIFEST  # noqa: E402


def exports(db: Path) -> list[str]:
    """`db`'s Parquet export (this layout: one written by older code is run again, which
    rewrites its sessions and attributes), a copy as layout 4 wrote it (no lists as
    bits, attributes without their session key) and one without the sessions' paths
    either (as layout 2 wrote them), made once."""
    import pyarrow.parquet as pq

    out = DATA / f"{db.stem}-parquet"
    old = DATA / f"{db.stem}-parquet-layout2"
    four = DATA / f"{db.stem}-parquet-layout4"
    if _layout(out) != LAYOUT:
        subprocess.run(
            [python(), "-m", "branching", "export", "--db", str(db), "--format", "parquet",
             str(out)],
            check=True, cwd=ROOT, env=child_env(), capture_output=True,
        )  # fmt: skip
        for stale in (old, four):
            shutil.rmtree(stale, ignore_errors=True)
    dropped = {"sessions": [f"{name}_bits" for name in LISTS], "session_attrs": ["session_key"]}
    for copy, paths in ((four, False), (old, True)):
        if copy.exists():
            continue
        shutil.copytree(out, copy)
        for name, columns in dropped.items():
            columns = columns + (["path", "depth"] if paths and name == "sessions" else [])
            for part in (copy / name).rglob("*.parquet"):
                pq.write_table(pq.read_table(part).drop_columns(columns), part)
    return [f"parquet:{out}", f"parquet:{four}", f"parquet:{old}"]


def _layout(out: Path) -> int | None:
    """The layout of the export in `out` (its manifest's), None without one."""
    try:
        layout = json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("layout")
    except (OSError, ValueError):
        return None
    return layout if type(layout) is int else None


FAILED = {"wall_s": float("nan"), "cpu_s": float("nan"), "peak_mb": float("nan"), "failed": True}


def attempt(args: list[str], code_dir: Path | None) -> dict[str, Any]:
    """`measure`, but a command that fails (DuckDB out of its memory, say) is a case
    that failed, printed as `nan`, not the end of the run."""
    try:
        return measure(args, code_dir)
    except SystemExit as exc:
        print(f"  {exc}", flush=True)
        return dict(FAILED)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None, help="the database exported")
    parser.add_argument("--source", action="append", default=None, help="parquet:OUT/")
    parser.add_argument("--before", default=None, help="baseline: the code of REV (or a DIR)")
    parser.add_argument("--tables", default=",".join(TABLES), help="comma-separated tables")
    parser.add_argument("--selections", default=None, help="comma-separated selections")
    parser.add_argument("--quick", action="store_true", help="8,000 sessions by default")
    args = parser.parse_args()
    db = args.db or database(8_000 if args.quick else 40_000)
    sources = args.source or exports(db)
    tables = [t for t in args.tables.split(",") if t]
    chosen = selections(db)
    if args.selections:
        chosen = {k: v for k, v in chosen.items() if k in args.selections.split(",")}
    before = old_code(args.before) if args.before else None
    if before is not None and before.name.startswith("bench-stats-before-"):
        # a commit's `branching` alone has no bundled stories: without them `stats signal`
        # cannot prove its flags on the story file and replays every session's states
        (before / "branching" / "_stories").symlink_to(ROOT / "stories")
    out = Path(tempfile.mkdtemp(prefix="bench-stats-parquet-"))
    verdicts = Verdicts()
    results: dict[str, Any] = {"db": str(db), "before": args.before, "cases": []}
    load = os.getloadavg()[0]
    print(f"load average at start: {load:.2f}")
    for i, source in enumerate(sources, 1):
        print(f"export #{i}: {source}")
    print(f"{'export':12} {'selection':11} {'table':13} {'wall s':>7} {'cpu s':>6} {'MB':>6}"
          f" {'REV wall':>8} {'REV cpu':>7} {'REV MB':>6}")  # fmt: skip
    for name, picked in chosen.items():
        for i, source in enumerate(sources, 1):
            label = f"#{i}"
            for table in tables:
                cmd = ["stats", "signal", "--source", source, *picked, "--table", table]
                cmd += ["--format", "json", "-o"]
                for name_ in ("before.json", "after.json"):
                    (out / name_).unlink(missing_ok=True)
                base = attempt([*cmd, str(out / "before.json")], before) if before else None
                got = attempt([*cmd, str(out / "after.json")], None)
                line = f"{label:12} {name:11} {table:13}" + figures_cells(got, base)
                case: dict[str, Any] = {"export": source, "selection": name, "table": table}
                case.update(got)
                if base is not None:
                    case["before"] = base
                    if "failed" not in base and "failed" not in got:
                        same = (out / "before.json").read_bytes() == (
                            out / "after.json"
                        ).read_bytes()
                        verdicts.judge(f"{label} {name} {table}: figures as before", same, "")
                print(line, flush=True)
                results["cases"].append(case)
                verdicts.judge(
                    f"{label} {name} {table} under {WALL_S:g} s and {PEAK_MB:g} MB",
                    got["wall_s"] < WALL_S and got["peak_mb"] < PEAK_MB,
                    f"{got['wall_s']:.2f} s, {got['peak_mb']:.0f} MB",
                )
    results["load_average"] = {"start": load, "end": os.getloadavg()[0]}
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    write_results("stats-parquet", args.quick, results, verdicts)
    raise SystemExit(verdicts.exit_code())


if __name__ == "__main__":
    main()
