"""`branching stats` and `flowchart --format html`: time and peak memory at two sizes.

Builds (once, cached in benchmarks/data/) two simulated audiences of the
bundled story Signal with `branching simulate signal --seed 1 --from
2026-01-01 --to 2026-03-31`: `--sessions` sessions (default 40,000, about
2.2 M events: scene shown and choice events, states, attributes, replays) and
a quarter of that. On each, every case runs as a user runs it, one process
each, and the script prints its wall time, CPU time and peak memory (the
child's peak resident set, `ru_maxrss`):

- `stats signal` in each output format (`--format text -o FILE`, `json`,
  `csv --table choices`), `stats stories/signal` (the story file: the
  explorer's verdicts decide the "no difference" flags), and
  `stats signal --by viewers`;
- `flowchart signal --format html` (the page; its stats tables are left out
  above 200,000 scene views, so on these sizes it is the drawing alone) and
  the same with `--since 2026-03-25` (a week: the page carries the stats
  tables).

With `--before REV` the same cases also run on the code of commit REV
(extracted with `git archive`, read-only, into a temporary folder, and put
first on PYTHONPATH; or REV is a folder holding an older `branching`), side
by side with this checkout, and the JSON outputs of the two must be byte for
byte the same.

Targets (issue 14): the peak memory of `stats` does not grow with the events
(the larger audience's peak at most 1.5x the smaller one's, for four times
the events) and stays under 200 MB; with `--before`, identical figures.
One PASS/FAIL line each; exit status 1 when one is missed.

    python benchmarks/bench_stats.py [--quick] [--sessions N] [--before REV|DIR]

`--quick`: 2,000 and 8,000 sessions. Writes benchmarks/results/stats.json
(stats-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _pairs import Verdicts, child_env, python, write_results  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
SIGNAL = ROOT / "stories" / "signal"

# a child that runs one command and reports its wall, CPU and peak memory
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
use = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "wall_s": wall, "cpu_s": use.ru_utime + use.ru_stime,
                  "peak_mb": use.ru_maxrss / 1024}))
"""


def database(sessions: int) -> Path:
    """The simulated audience of `sessions` sessions, built once."""
    DATA.mkdir(parents=True, exist_ok=True)
    db = DATA / f"stats-signal-{sessions}.db"
    if not db.exists():
        part = db.with_suffix(".part")
        part.unlink(missing_ok=True)
        print(f"simulating {sessions:,} sessions into {db.name}...", flush=True)
        subprocess.run(
            [python(), "-m", "branching", "simulate", "signal", "--sessions", str(sessions),
             "--seed", "1", "--db", str(part), "--from", "2026-01-01", "--to", "2026-03-31"],
            check=True, cwd=ROOT, env=child_env(), capture_output=True,
        )  # fmt: skip
        part.rename(db)
    _migrated(db)
    return db


def _migrated(db: Path) -> None:
    """Bring a database kept from an earlier run to the current schema: `stats` opens
    files read-only and never migrates them, so an old one would be timed on the
    scan path (no digests) instead of the path a current file takes."""
    from branching.store.db import connect
    from branching.store.migrations import migrate

    conn = connect(db)
    try:
        migrate(conn, db)
    finally:
        conn.close()


def counts(db: Path) -> tuple[int, int]:
    """(events, sessions) of a database."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        events = int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        sessions = int(conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])
    finally:
        conn.close()
    return events, sessions


def cases(db: Path, out: Path) -> dict[str, list[str]]:
    """Each measured command's arguments after `python -m branching`."""
    d = ["--db", str(db)]
    return {
        "stats text": ["stats", "signal", *d, "--format", "text", "-o", str(out / "stats.txt")],
        "stats json": ["stats", "signal", *d, "--format", "json", "-o", str(out / "stats.json")],
        "stats csv": ["stats", "signal", *d, "--format", "csv", "--table", "choices",
                      "-o", str(out / "stats.csv")],
        "stats file json": ["stats", str(SIGNAL), *d, "--format", "json",
                            "-o", str(out / "stats-file.json")],
        "stats viewers json": ["stats", "signal", *d, "--by", "viewers", "--format", "json",
                               "-o", str(out / "stats-viewers.json")],
        "html": ["flowchart", "signal", *d, "--format", "html", "-o", str(out / "page.html")],
        "html week": ["flowchart", "signal", *d, "--since", "2026-03-25", "--format", "html",
                      "-o", str(out / "page-week.html")],
    }  # fmt: skip


def measure(args: list[str], code_dir: Path | None) -> dict[str, Any]:
    """One command in a fresh process: wall and CPU seconds, peak MB."""
    env = child_env()
    if code_dir is not None:
        env["PYTHONPATH"] = f"{code_dir}:{env['PYTHONPATH']}"
    done = subprocess.run(
        [python(), "-c", MEASURE, python(), "-m", "branching", *args],
        capture_output=True, text=True, cwd=tempfile.gettempdir(), env=env, check=True,
    )  # fmt: skip
    figures: dict[str, Any] = json.loads(done.stdout)
    if figures["code"]:
        raise SystemExit(f"{' '.join(args)} failed with exit status {figures['code']}")
    return {k: round(v, 3) for k, v in figures.items() if k != "code"}


def old_code(rev: str) -> Path:
    """The older `branching` package: a folder holding it, or commit `rev`'s, extracted."""
    if (Path(rev) / "branching" / "__init__.py").exists():
        return Path(rev)
    folder = Path(tempfile.mkdtemp(prefix="bench-stats-before-"))
    archive = subprocess.run(
        ["git", "archive", rev, "branching"], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 and 8,000 sessions")
    parser.add_argument("--sessions", type=int, default=None, help="the larger audience")
    parser.add_argument(
        "--before",
        default=None,
        metavar="REV|DIR",
        help="compare with the code of this commit (or a folder holding a branching package)",
    )
    args = parser.parse_args()
    large = args.sessions or (8_000 if args.quick else 40_000)
    sizes = (max(1, large // 4), large)
    sides: dict[str, Path | None] = {"after": None}
    if args.before:
        sides = {"before": old_code(args.before), "after": None}
    results: dict[str, Any] = {"sizes": {}}
    verdicts = Verdicts()
    same = True
    for sessions in sizes:
        db = database(sessions)
        events, stored = counts(db)
        print(f"\n{sessions:,} sessions, {events:,} events ({db.stat().st_size / 1e6:.0f} MB)")
        print(f"{'case':<20}" + "".join(f"{s + ' s':>10}{s + ' MB':>10}" for s in sides))
        size: dict[str, Any] = {"events": events, "sessions": stored, "cases": {}}
        for name in cases(db, Path(".")):
            row: dict[str, Any] = {}
            outputs = {}
            for side, code in sides.items():
                out = Path(tempfile.mkdtemp(prefix=f"bench-stats-{side}-"))
                row[side] = measure(cases(db, out)[name], code)
                outputs[side] = out
            if len(outputs) == 2 and name.endswith("json"):
                a, b = (sorted(o.glob("*.json"))[0].read_bytes() for o in outputs.values())
                row["identical"] = a == b
                same = same and a == b
            for out in outputs.values():
                shutil.rmtree(out, ignore_errors=True)
            size["cases"][name] = row
            print(
                f"{name:<20}"
                + "".join(f"{row[s]['wall_s']:>10.2f}{row[s]['peak_mb']:>10.0f}" for s in sides)
                + ("" if row.get("identical", True) else "  DIFFERENT FIGURES")
            )
        results["sizes"][str(sessions)] = size
    small, big = (results["sizes"][str(n)]["cases"] for n in sizes)
    for side in sides:
        growth = big["stats json"][side]["peak_mb"] / small["stats json"][side]["peak_mb"]
        results[f"peak_growth_{side}"] = round(growth, 2)
        print(f"{side}: stats peak memory x{growth:.2f} for x4 the sessions")
    growth = results["peak_growth_after"]
    verdicts.judge(
        "stats memory does not grow with the events",
        growth <= 1.5,
        f"peak x{growth:.2f} from {sizes[0]:,} to {sizes[1]:,} sessions",
    )
    peak = max(big[name]["after"]["peak_mb"] for name in big if name.startswith("stats"))
    verdicts.judge("stats peak memory under 200 MB", peak < 200, f"{peak:.0f} MB")
    if args.before:
        verdicts.judge("the same figures as before", same, "JSON outputs compared byte for byte")
        results["before"] = args.before
    write_results("stats", args.quick, results, verdicts)
    raise SystemExit(verdicts.exit_code())


if __name__ == "__main__":
    main()
