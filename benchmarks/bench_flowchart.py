"""How long `branching flowchart` takes on the film-sized story with about a million events.

Fills a database with `branching simulate` (the real engine and store) until
it holds about `--events` events, then times `flowchart --format svg|png|html`
(and the terminal, dot, mermaid and json formats, the overview and a chapter
drill-down) as a user runs them, one process each. Prints a table and JSON.

    python benchmarks/bench_flowchart.py [--quick] [--events 1000000] [--db PATH] [--out DIR]

Target (issue 11): svg, png and html each in under 5 s at a million events;
one PASS/FAIL line each, exit 1 when one is missed. `--quick`: 100,000 events.
Writes benchmarks/results/flowchart.json (flowchart-quick.json with --quick).

With `--source parquet:OUT/` (repeatable; `--db` the database it was exported
from) it times instead `flowchart STORY` (default signal) in every format,
unfiltered and filtered (`--where region=NL`, the last week, `--first-only`,
`--by viewers`), on each source and on the database (not with `--no-db`),
one process each, as `bench_stats_parquet.py` does `stats`: wall, CPU and
the child's peak memory, with `--before REV` the code of REV right before
this checkout's on the same case (the two outputs must be byte for byte the
same, pictures apart; `--before-source parquet:OLD/`, one per `--source`,
has REV read its own export of the same database), and issue 14's target:
every case under 1 s and 200 MB. Writes benchmarks/results/flowchart-sources.json.

    python benchmarks/bench_flowchart.py --db DB --source parquet:OUT/ [--before REV]
        [--before-source parquet:OLD/]
        [--formats json,dot] [--selections all,viewers] [--story signal]

With `--viewers` it times `flowchart STORY --db DB --by viewers` on SQLite in
every format (`--formats`), unfiltered and filtered: `--where region=NL`,
`--first-only`, `--since` the latest day, `--since` that day at noon (a
time of day) and `--until` it; with `--before REV|DIR` the older code on
the same case, in the same run, right before, reading `--before-db` (the
same recordings at the schema that code knows, e.g. the file before m018:
an older branching refuses a newer schema), its output compared byte for
byte (but for where the figures came from: the older code said "raw
events"). Issue 14's target: every case under 1 s and 200 MB. Writes
benchmarks/results/flowchart-viewers.json.

    python benchmarks/bench_flowchart.py --viewers --db NEW.db [--before REV|DIR
        --before-db OLD.db] [--formats json,terminal] [--selections all,NL]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


# format -> the arguments that choose it (the terminal drawing at a fixed width)
SOURCE_FORMATS = {
    "terminal": ["--width", "100"],
    "dot": ["--format", "dot"],
    "mermaid": ["--format", "mermaid"],
    "json": ["--format", "json"],
    "html": ["--format", "html"],
    "svg": ["--format", "svg"],
    "png": ["--format", "png"],
}


def _set_up(
    args: argparse.Namespace, chosen: dict[str, list[str]], what: str
) -> tuple[dict[str, list[str]], dict[str, list[str]], Path | None, Path]:
    """The selections and formats asked for, REV's code (if any) and a folder for outputs."""
    from bench_stats import old_code

    if args.selections:
        chosen = {k: v for k, v in chosen.items() if k in args.selections.split(",")}
    formats = {k: v for k, v in SOURCE_FORMATS.items() if k in args.formats.split(",")}
    before = old_code(args.before) if args.before else None
    if before is not None and before.name.startswith("bench-stats-before-"):
        (before / "branching" / "_stories").symlink_to(ROOT / "stories")
    return chosen, formats, before, Path(tempfile.mkdtemp(prefix=f"bench-flowchart-{what}-"))


def _same(before: Path, after: Path) -> bool:
    return before.read_bytes() == after.read_bytes()


def _pair(
    cmd: list[str],
    fmt: str,
    before: Path | None,
    out: Path,
    verdicts: Any,
    title: tuple[str, ...],
    line: str,
    dbs: tuple[list[str], list[str]],
    same: Callable[[Path, Path], bool] = _same,
) -> dict[str, Any]:
    """One case (`cmd` ends in `-o`): REV's code (`before`, reading after `dbs[0]`) right
    before this code (`dbs[1]`), their outputs compared (`same`), its `line` of the
    table printed and the target judged. Its figures, REV's as `before`."""
    from _pairs import figures_cells
    from bench_stats import measure
    from bench_stats_tables import PEAK_MB, WALL_S

    suffix = "txt" if fmt == "terminal" else fmt
    what = " ".join((*title, fmt))
    base = None
    if before is not None:
        base = measure([*cmd, str(out / f"before.{suffix}"), *dbs[0]], before)
    got = measure([*cmd, str(out / f"after.{suffix}"), *dbs[1]], None)
    case: dict[str, Any] = {"format": fmt, **got}
    if base is not None:
        case["before"] = base
        if fmt not in ("svg", "png"):  # pictures may differ by a byte of metadata
            ok = same(out / f"before.{suffix}", out / f"after.{suffix}")
            verdicts.judge(f"{what}: the same as before", ok, "")
    print(line + figures_cells(got, base), flush=True)
    verdicts.judge(
        f"{what} under {WALL_S:g} s and {PEAK_MB:g} MB",
        got["wall_s"] < WALL_S and got["peak_mb"] < PEAK_MB,
        f"{got['wall_s']:.2f} s, {got['peak_mb']:.0f} MB",
    )
    return case


def sources(args: argparse.Namespace) -> None:
    """Every format and selection on each `--source` and the database, paired with REV."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import os

    from _pairs import Verdicts, write_results
    from bench_stats_tables import selections

    if args.db is None:
        raise SystemExit("--source needs --db, the database the export was written from")
    chosen, formats, before, out = _set_up(args, selections(args.db), "sources")
    where = {} if args.no_db else {"sqlite": ["--db", str(args.db)]}
    where.update({f"#{i}": ["--source", src] for i, src in enumerate(args.source, 1)})
    for i, src in enumerate(args.source, 1):
        print(f"export #{i}: {src}")
    load = os.getloadavg()[0]
    print(f"load average at start: {load:.2f}")
    print(f"{'source':7} {'selection':11} {'format':9} {'wall s':>7} {'cpu s':>6} {'MB':>6}"
          f" {'REV wall':>8} {'REV cpu':>7} {'REV MB':>6}")  # fmt: skip
    verdicts = Verdicts()
    cases: list[dict[str, object]] = []
    old = {f"#{i}": ["--source", src] for i, src in enumerate(args.before_source or [], 1)}
    for name, picked in chosen.items():
        for label, src in where.items():
            for fmt, extra in formats.items():
                cmd = ["flowchart", args.story, *picked, *extra, "-o"]
                line = f"{label:7} {name:11} {fmt:9}"
                dbs = (old.get(label, src), src)  # REV on its own export, if named
                case = _pair(cmd, fmt, before, out, verdicts, (label, name), line, dbs)
                cases.append({"source": label, "selection": name, **case})
    end = os.getloadavg()[0]
    print(f"load average at end: {end:.2f}")
    results = {"db": str(args.db), "sources": args.source, "before": args.before,
               "cases": cases, "load_average": {"start": load, "end": end}}  # fmt: skip
    write_results("flowchart-sources", False, results, verdicts)
    raise SystemExit(verdicts.exit_code())


def latest_day(db: Path) -> str:
    """The UTC day the latest session of the database started (`YYYY-MM-DD`)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        (last,) = conn.execute("SELECT MAX(started_at) FROM sessions").fetchone()
    return str(last)[:10]


def viewer_selections(db: Path) -> dict[str, list[str]]:
    day = latest_day(db)
    return {
        "all": [],
        "NL": ["--where", "region=NL"],
        "first-only": ["--first-only"],
        "since": ["--since", day],
        "since 12:00": ["--since", f"{day}T12:00"],
        "until": ["--until", day],
    }


def _same_but_source(before: Path, after: Path) -> bool:
    """Byte for byte the same, but for the words saying where the figures came from."""
    old, new = before.read_bytes(), after.read_bytes()
    return old == new or old.replace(b"raw events", b"aggregates") == new


def by_viewers(args: argparse.Namespace) -> None:
    """Every format and selection by viewers on SQLite, paired with REV on `--before-db`."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import os

    from _pairs import Verdicts, write_results

    if args.db is None:
        raise SystemExit("--viewers needs --db, the database to read")
    chosen, formats, before, out = _set_up(args, viewer_selections(args.db), "viewers")
    before_db = args.before_db or args.db
    load = os.getloadavg()[0]
    print(f"database: {args.db}" + (f" (REV reads {before_db})" if before else ""))
    print(f"load average at start: {load:.2f}")
    print(f"{'selection':12} {'format':9} {'wall s':>7} {'cpu s':>6} {'MB':>6}"
          f" {'REV wall':>8} {'REV cpu':>7} {'REV MB':>6}")  # fmt: skip
    verdicts = Verdicts()
    cases: list[dict[str, object]] = []
    for name, picked in chosen.items():
        for fmt, extra in formats.items():
            cmd = ["flowchart", args.story, "--by", "viewers", *picked, *extra, "-o"]
            dbs = (["--db", str(before_db)], ["--db", str(args.db)])
            line = f"{name:12} {fmt:9}"
            case = _pair(cmd, fmt, before, out, verdicts, (name,), line, dbs, _same_but_source)
            cases.append({"selection": name, **case})
    end = os.getloadavg()[0]
    print(f"load average at end: {end:.2f}")
    results = {"db": str(args.db), "before": args.before, "before_db": str(before_db),
               "cases": cases, "load_average": {"start": load, "end": end}}  # fmt: skip
    write_results("flowchart-viewers", False, results, verdicts)
    raise SystemExit(verdicts.exit_code())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 events")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="folder for the pictures")
    parser.add_argument("--source", action="append", default=None, help="parquet:OUT/")
    parser.add_argument("--before", default=None, help="baseline: the code of REV (or a DIR)")
    parser.add_argument(
        "--before-source", action="append", default=None, help="what REV reads for each --source"
    )
    parser.add_argument("--story", default="signal", help="the story (with --source)")
    parser.add_argument("--formats", default=",".join(SOURCE_FORMATS), help="with --source")
    parser.add_argument("--selections", default=None, help="comma-separated, with --source")
    parser.add_argument("--no-db", action="store_true", help="with --source: not the database")
    parser.add_argument("--viewers", action="store_true", help="by viewers on SQLite (--db)")
    parser.add_argument("--before-db", type=Path, default=None, help="what --before reads")
    args = parser.parse_args()
    if args.viewers:
        by_viewers(args)
    if args.source:
        sources(args)
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
