"""How long `branching flowchart` takes on the film-sized story with about a million events.

Fills a database with `branching simulate` (the real engine and store) until
it holds about `--events` events, then times `flowchart --format svg|png|html`
(and the terminal, dot, mermaid and json formats, the overview and a chapter
drill-down) as a user runs them, one process each. Prints a table and JSON.

    python benchmarks/bench_flowchart.py [--quick] [--events 1000000] [--db PATH] [--out DIR]

Target (issue 11): svg, png and html each in under 5 s at a million events;
one PASS/FAIL line each, exit 1 when one is missed. `--quick`: 100,000 events.
Writes benchmarks/results/flowchart.json (flowchart-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILM = ROOT / "tests" / "fixtures" / "film"


def events(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def fill(db: Path, target: int) -> None:
    """Simulated sessions in batches until the database holds `target` events."""
    seed = 1
    while not db.exists() or events(db) < target:
        have = events(db) if db.exists() else 0
        per = max(20, have // max(1, seed - 1)) if seed > 1 else 65
        sessions = max(100, min(20000, (target - have) // per + 1))
        subprocess.run(
            [sys.executable, "-m", "branching", "simulate", str(FILM), "--db", str(db),
             "--sessions", str(sessions), "--seed", str(seed)],
            check=True, capture_output=True,
        )  # fmt: skip
        seed += 1


def timed(args: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "branching", "flowchart", *args], capture_output=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"flowchart {' '.join(args)} failed: {done.stderr.decode()[-500:]}")
    return time.perf_counter() - start, len(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 events")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="folder for the pictures")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-flowchart-"))
    db = args.db or folder / "film.db"
    out = args.out or folder
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    fill(db, args.events or (100_000 if args.quick else 1_000_000))
    n = events(db)
    print(f"database: {db} ({n:,} events, filled in {time.perf_counter() - start:.0f} s)")
    chapter = _first_chapter()
    cases = {
        "svg": ["--format", "svg"],
        "png": ["--format", "png"],
        "html": ["--format", "html"],
        "svg --full": ["--format", "svg", "--full"],
        "png --chapter": ["--format", "png", "--chapter", chapter],
        "html --chapter": ["--format", "html", "--chapter", chapter],
        "mermaid": ["--format", "mermaid"],
        "dot": ["--format", "dot"],
        "json": ["--format", "json"],
        "terminal": ["--width", "100"],
        "terminal --overview": ["--overview", "--width", "100"],
    }
    results = {}
    print(f"{'case':<22} {'seconds':>8} {'bytes':>11}")
    for name, extra in cases.items():
        suffix = extra[1] if extra[0] == "--format" else "txt"
        target = out / f"film-{name.replace(' --', '-').replace(' ', '')}.{suffix}"
        seconds, _ = timed([str(FILM), "--db", str(db), *extra, "-o", str(target)])
        results[name] = {"seconds": round(seconds, 3), "bytes": target.stat().st_size}
        print(f"{name:<22} {seconds:>8.2f} {target.stat().st_size:>11,}")
    print(json.dumps({"events": n, "results": results, "pictures": str(out)}))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _pairs import Verdicts, write_results

    verdicts = Verdicts()
    for name in ("svg", "png", "html"):
        took = results[name]["seconds"]
        verdicts.judge(f"flowchart --format {name} under 5 s", took < 5.0, f"{took:.2f} s")
    write_results("flowchart", args.quick, {"events": n, "results": results}, verdicts)
    raise SystemExit(verdicts.exit_code())


def _first_chapter() -> str:
    sys.path.insert(0, str(ROOT))
    from branching.story.loader import load_story

    story = load_story(str(FILM))
    return next(s.chapter for s in story.scenes.values() if s.chapter)


if __name__ == "__main__":
    main()
