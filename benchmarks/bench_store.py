"""Telemetry store throughput and read speed.

(a) Choices recorded per second through the real store API (validation, the
    writer thread, event + running totals in one BEGIN IMMEDIATE transaction
    each, WAL, synchronous=FULL), awaiting every commit as a player does,
    against raw sqlite3 single-row inserts, one transaction each, into an
    equally indexed events table (the store's own schema, created the same
    way: the (session_id, seq) primary key of a WITHOUT ROWID table, the
    foreign key) with the same pragmas. Paired rounds: each round runs both sides on
    fresh files back to back, alternating which goes first; the ratio of a
    round is API rate / raw rate. Target: median of the paired ratios >= 0.5
    (min and max printed). For information, the same pairs with
    synchronous=NORMAL show the CPU overhead once fsync no longer dominates.
    Also for information: the store's writer grows its log once when it
    connects (`db.reserve_wal`), so its commits overwrite the log where the
    raw side's grow it; the same API rounds against raw inserts into a log
    grown the same way show what that is worth.
(b) 8 processes x 5,000 choices into one new file at once: every event kept,
    no error or store warning surfaced, totals equal to a recount, integrity
    ok. A write the store spooled under contention (its future says False)
    and loaded later is no error; how many did is printed.
(c) Reading the per-choice totals of a story with 10 million recorded events
    (generated with set-based SQL, not through the API). Target: p95 < 50 ms
    (median printed beside it).

Every target prints a PASS/FAIL line; the exit status is 1 when any is missed.

Usage: python benchmarks/bench_store.py [--quick]
Writes benchmarks/results/store.json (store-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _pairs import (  # noqa: E402
    Verdicts,
    fmt_ratio,
    latency_summary,
    paired,
    ratio_summary,
    write_results,
)

from branching.store import Store, StoryInfo, db  # noqa: E402
from branching.store.clock import now_ts  # noqa: E402
from branching.store.totals import rebuild, recount_matches  # noqa: E402

SCENES = 20
CHOICES_PER_SCENE = 3


def structure() -> dict[str, Any]:
    scenes = [
        {
            "id": f"s{i}",
            "title": f"Scene {i}",
            "chapter": None,
            "tags": [],
            "kind": "choice",
            "ending": None,
            "timer": None,
            "routes": [],
            "rewind": [],
            "choices": [
                {
                    "id": f"c{j}",
                    "label": f"Choice {j}",
                    "goto": f"s{(i + 1) % SCENES}",
                    "tags": [],
                    "default": j == 0,
                    "conditional": False,
                }
                for j in range(CHOICES_PER_SCENE)
            ],
        }
        for i in range(SCENES)
    ]
    return {"id": "bench", "title": "Bench", "start": "s0", "chapters": [], "scenes": scenes}


STORY = StoryInfo(
    id="bench",
    title="Bench",
    author=None,
    version_label="1",
    content_hash="bench-hash",
    structure=structure(),
)


def fresh(tmp: Path, name: str) -> Path:
    path = tmp / name
    for p in tmp.glob(name + "*"):
        p.unlink()
    return path


# -- (a) API vs raw ------------------------------------------------------------------


def api_seconds(path: Path, n: int) -> float:
    store = Store.open(path, viewer_key=path.with_suffix(".key"))
    store.register_story(STORY).result()
    session = store.start_session("bench", "bench-hash", "viewer")
    session.record("session_started").result()
    started = time.perf_counter()
    for i in range(n):
        ok = session.record(
            "choice_made",
            scene=f"s{i % SCENES}",
            choice=f"c{i % 3}",
            target=f"s{(i + 1) % SCENES}",
            decide_ms=i % 5000,
            input="key",
            state={"turn": i},
        ).result()
        assert ok
    elapsed = time.perf_counter() - started
    session.close()
    store.close()
    return elapsed


def raw_seconds(path: Path, n: int, grown: bool = False) -> float:
    """Single-row inserts into the same events table, one transaction each, same pragmas
    (`grown`: into a log grown beforehand, as the store's writer grows its own)."""
    Store.open(path, viewer_key=path.with_suffix(".key")).close()
    conn = db.connect(path)
    if grown:
        db.reserve_wal(conn)
    conn.execute("INSERT INTO stories VALUES ('bench', 'bench-hash', 'B', NULL, NULL, '{}', 'x')")
    conn.execute(
        "INSERT INTO sessions (session_id, story_id, content_hash, viewer_id, "
        "started_at) VALUES ('raw', 'bench', 'bench-hash', 'v', 'x')"
    )
    sql = (
        "INSERT INTO events (session_id, seq, ts, type, scene, choice, target, "
        "decide_ms, input, state) VALUES ('raw', ?, ?, 'choice_made', ?, ?, ?, ?, 'key', ?)"
    )
    started = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            sql,
            [
                i + 1,
                now_ts(),
                f"s{i % SCENES}",
                f"c{i % 3}",
                f"s{(i + 1) % SCENES}",
                i % 5000,
                json.dumps({"turn": i}),
            ],
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def event_indexes(path: Path) -> list[tuple[str, str | None]]:
    """The indexes (and their SQL) of the events table in `path`."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' "
            "ORDER BY name"
        ).fetchall()
    finally:
        conn.close()
    return [(name, sql) for name, sql in rows]


def bench_throughput(tmp: Path, per_round: int, rounds: int) -> dict[str, Any]:
    """Paired rounds of API and raw inserts; the median of the per-round ratios."""
    result: dict[str, Any] = {"choices_per_round": per_round}
    for sync in ("FULL", "NORMAL"):
        saved = db.WRITER_PRAGMAS
        if sync != "FULL":
            db.WRITER_PRAGMAS = tuple((k, sync if k == "synchronous" else v) for k, v in saved)
        try:
            raw_path, api_path = tmp / f"raw-{sync}.db", tmp / f"api-{sync}.db"
            raw_s, api_s = paired(
                lambda raw_path=raw_path: raw_seconds(fresh(tmp, raw_path.name), per_round),
                lambda api_path=api_path: api_seconds(fresh(tmp, api_path.name), per_round),
                rounds,
            )
            same_indexes = event_indexes(raw_path) == event_indexes(api_path)
        finally:
            db.WRITER_PRAGMAS = saved
        ratios = ratio_summary([r / a for r, a in zip(raw_s, api_s, strict=True)])
        result[f"synchronous_{sync}"] = {
            "api_per_s_median": round(per_round / statistics.median(api_s)),
            "raw_per_s_median": round(per_round / statistics.median(raw_s)),
            "ratio_api_over_raw": ratios,
            "raw_table_indexed_like_api": same_indexes,
        }
    grown_s, api_s = paired(
        lambda: raw_seconds(fresh(tmp, "raw-grown.db"), per_round, grown=True),
        lambda: api_seconds(fresh(tmp, "api-FULL.db"), per_round),
        rounds,
    )
    result["ratio_api_over_raw_grown_log"] = ratio_summary(
        [r / a for r, a in zip(grown_s, api_s, strict=True)]
    )
    result["indexes"] = [name for name, _ in event_indexes(tmp / "api-FULL.db")]
    result["target_ratio"] = 0.5
    return result


# -- (b) many processes ----------------------------------------------------------------


def kiosk(path: str, worker: int, choices: int, barrier: Any, out: Any) -> None:
    barrier.wait()
    errors = spooled = 0
    try:
        store = Store.open(path, viewer_key=Path(path).with_suffix(".key"))
        store.register_story(STORY)
        session = store.start_session("bench", "bench-hash", f"kiosk-{worker}")
        for i in range(choices):
            spooled += not session.record(
                "choice_made",
                scene=f"s{i % SCENES}",
                choice=f"c{(i + worker) % 3}",
                target=f"s{(i + 1) % SCENES}",
                decide_ms=i % 5000,
                input="scripted",
                state={"turn": i},
            ).result()
        session.finish("quit")
        session.close()
        store.close()
        errors += len(store.warnings)
        for warning in store.warnings:
            print(f"worker {worker}: {warning}", file=sys.stderr)
    except Exception as exc:  # report, do not hide: the figure below counts it
        print(f"worker {worker}: {exc!r}", file=sys.stderr)
        errors += 1
    out.put((errors, spooled))


def bench_processes(tmp: Path, procs: int, choices: int) -> dict[str, Any]:
    path = fresh(tmp, "multi.db")
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(procs + 1), ctx.Queue()
    workers = [
        ctx.Process(target=kiosk, args=(str(path), n, choices, barrier, out)) for n in range(procs)
    ]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    reports = [out.get(timeout=900) for _ in workers]
    errors = sum(e for e, _ in reports)
    spooled = sum(s for _, s in reports)
    elapsed = time.perf_counter() - started
    for w in workers:
        w.join()
    conn = sqlite3.connect(path)
    events = conn.execute("SELECT COUNT(*) FROM events WHERE type = 'choice_made'").fetchone()[0]
    total = conn.execute("SELECT SUM(count) FROM traversals").fetchone()[0]
    matches = recount_matches(conn)
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    return {
        "processes": procs,
        "choices_each": choices,
        "events": events,
        "expected": procs * choices,
        "errors": errors + sum(w.exitcode != 0 for w in workers),
        "spooled_under_contention": spooled,
        "totals_sum": total,
        "totals_equal_recount": matches,
        "integrity": integrity,
        "seconds": round(elapsed, 2),
        "choices_per_s": round(events / elapsed),
    }


# -- (c) reading totals over 10M events -----------------------------------------------


def generate(path: Path, events: int, per_session: int = 100) -> float:
    """`events` events in sessions of `per_session`: half scene_shown, half choice_made."""
    Store.open(path, viewer_key=path.with_suffix(".key")).close()
    conn = db.connect(path)
    conn.execute("PRAGMA synchronous = OFF")  # generation only; the reads below are unaffected
    conn.execute("PRAGMA cache_size = -262144")
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO stories VALUES (?, ?, ?, NULL, '1', ?, '2025-01-01T00:00:00.000Z')",
        ["bench", "bench-hash", "Bench", json.dumps(structure())],
    )
    sessions = events // per_session
    conn.execute(
        """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
        INSERT INTO sessions (session_id, story_id, content_hash, viewer_id, started_at, outcome)
        SELECT printf('%08d', i), 'bench', 'bench-hash', printf('v%06d', i % 50000),
               '2025-01-01T00:00:00.000Z', 'quit' FROM n""",
        [sessions],
    )
    conn.execute("COMMIT")
    chunk = max(1, 1_000_000 // per_session)
    for first in range(1, sessions + 1, chunk):
        last = min(sessions, first + chunk - 1)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            """WITH RECURSIVE s(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM s WHERE i < ?),
                            q(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM q WHERE j < ?)
            INSERT INTO events (session_id, seq, ts, type, scene, choice, target)
            SELECT printf('%08d', i), j,
                   strftime('%Y-%m-%dT%H:%M:%S', 1735689600 + i * 200 + j, 'unixepoch')
                     || '.000Z',
                   CASE j % 2 WHEN 1 THEN 'scene_shown' ELSE 'choice_made' END,
                   's' || ((j / 2 + i) % 20),
                   CASE j % 2 WHEN 0 THEN 'c' || ((i * 7 + j) % 3) END,
                   CASE j % 2 WHEN 0 THEN 's' || ((j / 2 + i + 1) % 20) END
            FROM s, q""",
            [first, last, per_session],
        )
        conn.execute("COMMIT")
    conn.execute("BEGIN IMMEDIATE")
    rebuild(conn)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started


PER_CHOICE = """SELECT scene, choice, target, count, timeouts FROM traversals
                WHERE story_id = ? AND content_hash = ? ORDER BY scene, choice, target"""
SHARES = "SELECT scene, choice, traversals, share FROM choice_shares WHERE story_id = ?"


def timed(conn: sqlite3.Connection, sql: str, params: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    result = conn.execute(sql, params).fetchall()
    return (time.perf_counter() - started) * 1000, len(result)


def bench_read(tmp: Path, events: int) -> dict[str, Any]:
    path = fresh(tmp, "big.db")
    gen_s = generate(path, events)
    started = time.perf_counter()
    conn = db.connect(path, readonly=True)
    first_ms, rows = timed(conn, PER_CHOICE, ["bench", "bench-hash"])
    cold_ms = (time.perf_counter() - started) * 1000
    runs = [timed(conn, PER_CHOICE, ["bench", "bench-hash"])[0] for _ in range(100)]
    view_runs = [timed(conn, SHARES, ["bench"])[0] for _ in range(20)]
    raw_ms, _ = timed(
        conn,
        """SELECT e.scene, e.choice, COUNT(*) FROM events e
        JOIN sessions s ON s.session_id = e.session_id
        WHERE s.story_id = ? AND e.type = 'choice_made' GROUP BY 1, 2""",
        ["bench"],
    )
    recorded = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    counted = conn.execute("SELECT SUM(count) FROM traversals").fetchone()[0]
    choices = conn.execute("SELECT COUNT(*) FROM events WHERE type = 'choice_made'").fetchone()[0]
    conn.close()
    size = sum(p.stat().st_size for p in tmp.glob("big.db*"))
    return {
        "events": recorded,
        "choice_events": choices,
        "totals_sum": counted,
        "generate_s": round(gen_s, 1),
        "db_bytes": size,
        "total_rows": rows,
        "open_and_first_read_ms": round(cold_ms, 2),
        "first_read_ms": round(first_ms, 2),
        "read": latency_summary(runs),
        "choice_shares_view_median_ms": round(statistics.median(view_runs), 3),
        "same_counts_from_raw_events_ms": round(raw_ms, 1),
        "target_ms": 50,
    }


def judge_throughput(verdicts: Verdicts, a: dict[str, Any]) -> None:
    for sync in ("FULL", "NORMAL"):
        row = a[f"synchronous_{sync}"]
        print(
            f"(a) synchronous={sync}: API {row['api_per_s_median']:,}/s, raw "
            f"{row['raw_per_s_median']:,}/s (medians of rounds); paired ratio API/raw "
            f"{fmt_ratio(row['ratio_api_over_raw'])}",
            flush=True,
        )
    print(
        "(a) for information, synchronous=FULL against raw inserts into a log grown "
        f"beforehand: paired ratio API/raw {fmt_ratio(a['ratio_api_over_raw_grown_log'])}",
        flush=True,
    )
    full = a["synchronous_FULL"]
    verdicts.judge(
        "raw side equally indexed",
        full["raw_table_indexed_like_api"]
        and a["synchronous_NORMAL"]["raw_table_indexed_like_api"],
        f"both sides' events tables have the indexes {a['indexes']}",
    )
    verdicts.judge(
        "store API vs raw inserts (synchronous=FULL)",
        full["ratio_api_over_raw"]["median"] >= 0.5,
        f"median paired ratio {fmt_ratio(full['ratio_api_over_raw'])}, target >= 0.5",
    )


def judge_processes(verdicts: Verdicts, b: dict[str, Any]) -> None:
    print("(b)", json.dumps(b), flush=True)
    verdicts.judge(
        f"{b['processes']} processes at once",
        b["errors"] == 0
        and b["events"] == b["expected"]
        and b["totals_equal_recount"]
        and b["integrity"] == "ok",
        f"{b['events']:,} of {b['expected']:,} events kept, {b['errors']} errors, totals "
        f"{'equal' if b['totals_equal_recount'] else 'NOT equal'} to a recount, "
        f"integrity {b['integrity']}, {b['choices_per_s']:,} choices/s "
        f"({b['spooled_under_contention']:,} writes went through the spool first)",
    )


def judge_read(verdicts: Verdicts, c: dict[str, Any]) -> None:
    print("(c)", json.dumps(c), flush=True)
    verdicts.judge(
        f"read per-choice totals over {c['events']:,} events",
        c["read"]["p95_ms"] < 50,
        f"p95 {c['read']['p95_ms']} ms (median {c['read']['median_ms']} ms, "
        f"{c['read']['samples']} reads), target p95 < 50 ms",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the scratch files")
    args = parser.parse_args()
    sizes = (
        {"per_round": 200, "rounds": 6, "procs": 8, "choices": 500, "events": 1_000_000}
        if args.quick
        else {"per_round": 1_000, "rounds": 16, "procs": 8, "choices": 5_000, "events": 10_000_000}
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-", dir=args.dir))
    verdicts = Verdicts()
    results: dict[str, Any] = {"sqlite": sqlite3.sqlite_version}
    sections = [
        ("a_throughput", "store API vs raw inserts", judge_throughput,
         lambda: bench_throughput(tmp, sizes["per_round"], sizes["rounds"])),
        ("b_processes", "processes at once", judge_processes,
         lambda: bench_processes(tmp, sizes["procs"], sizes["choices"])),
        ("c_read_totals", "read per-choice totals", judge_read,
         lambda: bench_read(tmp, sizes["events"])),
    ]  # fmt: skip
    try:
        for key, name, judge, run in sections:
            try:
                results[key] = run()
            except Exception as exc:  # a broken store is a missed target, said in one line
                verdicts.judge(name, False, f"could not run: {type(exc).__name__}: {exc}")
                continue
            judge(verdicts, results[key])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_results("store", args.quick, results, verdicts)
    return verdicts.exit_code()


if __name__ == "__main__":
    sys.exit(main())
