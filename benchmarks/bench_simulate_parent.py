"""The writing parent of `branching simulate` alone: its CPU per event, part by part.

A simulation is two workers and one writing parent on two cores; on a quiet
machine the parent's CPU is the bound, and on a shared one the wall time of
`bench_simulate.py` moves with the load far more than any change to it. This
script takes the workers out: it plays an audience of `signal` once (in
this checkout, as the workers play it: `Shard(prepared=True)`, chunks in the
parent's fixed order) and pickles the chunks the workers would send; then each
round replays them, unpickled one at a time, into a `BulkWriter` on a fresh
file in a process of its own, and prints that process's CPU time per event:
in all, and in the parts that matter (unpickling, the inserts, the aggregates,
settling the firsts, encoding and writing the digests). CPU time, not wall:
what the parent costs, whatever else the machine runs.

The default audience is 10,000 sessions over nine days: the sessions a day of
100,000 over three months, so each batch's aggregate groups are as full.

`--against DIR` (another checkout, e.g. the last commit's) replays DIR's
chunks (the same audience, played by DIR's code: what DIR's workers would send,
so a change to the session ids is measured too) with DIR's code in the same
rounds, alternating which goes first, and checks that both wrote the same rows
(every table, but the migrations' times; each side's session ids replaced by
their place in `sessions`, so ids that differ between the checkouts compare
equal; rowid tables in stored order, keyed tables as sets, whose stored order
is their keys').

Usage: python benchmarks/bench_simulate_parent.py [--sessions N] [--days D]
       [--rounds R] [--against DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# the parts timed: (module, class or "", function, label); one a checkout lacks is left out
PARTS = (
    ("branching.store.bulk", "", "_insert", "insert"),
    ("branching.store.aggregates", "", "add_grouped", "aggregates"),
    ("branching.store.aggregates", "", "_settle_firsts", "firsts"),
    ("branching.store.digests", "Codebook", "encode", "encode"),
    ("branching.store.digests", "", "write", "digest writes"),
    ("branching.store.digests", "", "insert_whole", "digest writes"),
)


def make_chunks(path: Path, sessions: int, days: int) -> None:
    """Play the audience as the workers do and pickle their chunks, in the parent's order."""
    from branching.cli.simulate import load_named
    from branching.simulate.audience import Audience
    from branching.simulate.run import Shard, chunks, registration, shard_count

    story = load_named("signal")
    start = date(2026, 1, 1)
    audience = Audience(
        sessions=sessions,
        viewers=max(1, sessions // 2),
        seed=1,
        start=start,
        end=start + timedelta(days=days - 1),
    )
    shards = shard_count(audience)
    streams = [
        chunks(Shard(story, audience, n, shards, prepared=True).sessions()) for n in range(shards)
    ]
    blobs: list[bytes] = []
    while streams:
        for stream in list(streams):
            chunk = next(stream, None)
            if chunk is None:
                streams.remove(stream)
            else:
                blobs.append(pickle.dumps(chunk))
    with path.open("wb") as f:
        pickle.dump((registration(story, audience), blobs), f)


def cpu() -> float:
    times = os.times()
    return times.user + times.system


def timed_parts() -> dict[str, float]:
    """Wrap each of `PARTS` this checkout has so its CPU time adds up (nested parts
    count in both: `firsts` is part of `aggregates`)."""
    import importlib

    spent: dict[str, float] = {}
    for module, owner, name, label in PARTS:
        target: Any = importlib.import_module(module)
        if owner:
            target = getattr(target, owner)
        original = getattr(target, name, None)
        if original is None:
            continue

        def wrapper(*args: Any, _f: Any = original, _label: str = label, **kw: Any) -> Any:
            started = cpu()
            try:
                return _f(*args, **kw)
            finally:
                spent[_label] = spent.get(_label, 0.0) + cpu() - started

        setattr(target, name, wrapper)
    return spent


def replay(chunks_path: Path, db: Path) -> dict[str, float]:
    """One round's side: the chunks written into a fresh `db`; CPU seconds by part."""
    from branching.simulate.parallel import rare_collections
    from branching.store.bulk import BulkWriter

    spent = timed_parts()
    with chunks_path.open("rb") as f:
        registered, blobs = pickle.load(f)
    started = cpu()
    unpickling = 0.0
    with rare_collections(), BulkWriter(db) as writer:
        writer.add([registered])
        for blob in blobs:
            before = cpu()
            chunk = pickle.loads(blob)
            unpickling += cpu() - before
            for items in chunk:
                writer.add(items)
    return {
        "events": writer.counts.events,
        "all": cpu() - started,
        "unpickling": unpickling,
        **spent,
    }


def table_digest(db: Path) -> dict[str, str]:
    """A digest of every table's rows, each session id replaced by its place in `sessions`."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        places = {
            sid: f"session#{n}"
            for n, (sid,) in enumerate(
                conn.execute("SELECT session_id FROM sessions ORDER BY rowid")
            )
        }
        out = {}
        tables = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY 1"
        ).fetchall()
        for table, ddl in tables:
            sql = f'SELECT * FROM "{table}"'
            if table == "_sqlite_migrations":
                sql = "SELECT id, migration_set, name FROM _sqlite_migrations"
            rows = (
                repr(tuple(places.get(v, v) if type(v) is str else v for v in row))
                for row in conn.execute(sql)
            )
            keyed = "WITHOUT ROWID" in (ddl or "").upper()  # stored in key order: by content
            h = hashlib.sha256()
            for text in sorted(rows) if keyed else rows:
                h.update(text.encode())
            out[table] = h.hexdigest()
        return out
    finally:
        conn.close()


def side(root: Path, chunks_path: Path, db: Path) -> dict[str, float]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--replay", str(chunks_path)]
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [*argv, "--db", str(db), "--root", str(root)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def make_side(root: Path, path: Path, sessions: int, days: int) -> None:
    """`make_chunks` with `root`'s code, in a process of its own."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--make", str(path), "--root", str(root)]
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run([*argv, "--sessions", str(sessions), "--days", str(days)], env=env, check=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", type=Path, default=None, help="a baseline checkout")
    parser.add_argument("--replay", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--make", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="2,000 sessions, 2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.rounds = min(args.sessions, 2_000), min(args.rounds, 2)
    if args.make is not None:  # a side's chunks, played by its own code
        if args.root is not None:
            sys.path.insert(0, str(args.root.resolve()))
        make_chunks(args.make, args.sessions, args.days)
        return 0
    if args.replay is not None:  # one side of a round, in a process of its own
        if args.root is not None:
            sys.path.insert(0, str(args.root.resolve()))
        print(json.dumps(replay(args.replay, args.db)))
        return 0
    sides = {"this": ROOT}
    if args.against is not None:
        sides["against"] = args.against.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        chunk_paths = {}
        for name, root in sides.items():  # each side's own workers' chunks
            chunk_paths[name] = base / f"chunks-{name}.pickle"
            began = time.perf_counter()
            make_side(root, chunk_paths[name], args.sessions, args.days)
            print(f"{name}: chunks of {args.sessions:,} sessions over {args.days} days made "
                  f"in {time.perf_counter() - began:.0f} s")  # fmt: skip
        per_event: dict[str, dict[str, list[float]]] = {name: {} for name in sides}
        digests: dict[str, dict[str, str]] = {}
        for r in range(args.rounds):
            order = list(sides) if r % 2 == 0 else list(sides)[::-1]
            for name in order:
                db = base / f"{name}{r}.db"
                result = side(sides[name], chunk_paths[name], db)
                events = result.pop("events")
                if r == 0:
                    digests[name] = table_digest(db)
                for part, seconds in result.items():
                    per_event[name].setdefault(part, []).append(seconds / events * 1e6)
                shown = ", ".join(f"{p} {s / events * 1e6:.2f}" for p, s in result.items())
                size = sum(
                    Path(f"{db}{x}").stat().st_size
                    for x in ("", "-wal")
                    if Path(f"{db}{x}").exists()
                )
                print(f"round {r + 1} {name}: us of CPU per event: {shown}; "
                      f"file {size / 1e6:.1f} MB (load {os.getloadavg()[0]:.1f})")  # fmt: skip
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
    for name, parts in per_event.items():
        shown = ", ".join(
            f"{p} {statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})" for p, v in parts.items()
        )
        print(f"{name} ({sides[name]}), median (range) us per event: {shown}")
    if len(digests) == 2:
        differ = sorted(
            t for t in digests["this"] if digests["this"][t] != digests["against"].get(t)
        )
        print("rows: the same in every table" if not differ else f"rows DIFFER in {differ}")
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
