"""Recording one key press durably against raw single-row commits.

Side A: a viewer's key presses on the bundled Signal story through the real
player path: the engine steps (`Playthrough.choose`), then the real
`StoreRecorder` records the choice and what it shows (`chose` + `shown`: the
choice, each scene passed and shown, at an ending the ending and the outcome)
through the real `Store` (validation, state patches, the writer thread,
events + running totals and aggregates), waiting until it is on disk, as the
player does before it shows the next scene. A new session starts at each
ending. WAL, synchronous=FULL. The writer applies and commits a key press
on the player's own thread when it has nothing queued (no hand-over between
threads), and its log was grown once when it connected (`db.reserve_wal`:
commits overwrite the log instead of growing it).
Side B, in the same run: raw single-row commits (`BEGIN IMMEDIATE`, one
INSERT, `COMMIT`) into a minimal table with the same pragmas.
In the same rounds, for the gain: side A as it was before those two changes
(every key press handed to the writer thread, the log growing: "before"),
and side A with the group's ops applied one by one (`apply_op` each: the
writer's group path before `apply_ops`). For
information, side A with each record committed on its own (the recorder
before key presses were grouped: two to five commits per press). The writer
thread's CPU time applying a key press's ops (before the COMMIT) is printed
for both ways of applying, and where a key press's time goes (medians, the
apply_ops side): the player thread's CPU (the engine's step, building and
queueing the ops), the writer thread's CPU applying them, the COMMIT (wall
time: the WAL write and its fsync), and the rest (handing over between the
threads, waiting for a core), beside one raw commit, for "before" and now
(the player thread's CPU never counts the applying and committing it does
itself). For information, raw commits into a log grown beforehand, as the
store's is.

Pages per key press: the frames its commit adds to the write-ahead log (each
frame one page of the database), read from the log's index (`-shm`) before and
after each press, on side A's path, in a pass of its own; and which b-tree
(table or index) each of those pages belongs to, from the frames' page numbers
and SQLite's `dbstat` at the end of the pass (mean pages per press of each).

Paired rounds rotate which side goes first; a round's ratio is
(key presses per second) / (raw commits per second). Target (issue 14): the
median ratio at least 0.5.

Usage: python benchmarks/bench_keypress.py [--quick]
Writes benchmarks/results/keypress.json (keypress-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _pairs import Verdicts, fmt_ratio, paired, ratio_summary, write_results  # noqa: E402

from branching.play.engine import Playthrough  # noqa: E402
from branching.recording import StoreRecorder  # noqa: E402
from branching.store import Store, StoryInfo  # noqa: E402
from branching.store import writer as writer_module  # noqa: E402
from branching.store.db import immediate, reserve_wal  # noqa: E402
from branching.store.ops import apply_op, apply_ops  # noqa: E402
from branching.story.loader import load_story  # noqa: E402

STORY = load_story(ROOT / "stories" / "signal")


def fresh(tmp: Path, name: str) -> Path:
    for p in tmp.glob(name + "*"):
        p.unlink()
    return tmp / name


def op_by_op(conn: sqlite3.Connection, ops: list[dict[str, Any]], *_: Any) -> list[bool]:
    """The writer's group path before `apply_ops`: each op on its own, in one transaction."""
    return [apply_op(conn, op) for op in ops]


MAIN = threading.main_thread()
on_player = [0.0]  # CPU the player thread spent applying and committing (inline), this press


def timing(apply: Callable[..., list[bool]], spent: list[float]) -> Callable[..., list[bool]]:
    """`apply`, noting the CPU time applying each group, on whichever thread (not wall
    time: what another process does meanwhile does not count)."""

    def timed(conn: sqlite3.Connection, ops: list[dict[str, Any]], *rest: Any) -> list[bool]:
        started = time.thread_time()
        try:
            return apply(conn, ops, *rest)  # the writer's code cache too (`digests.Names`)
        finally:
            took = time.thread_time() - started
            spent.append(took)
            if threading.current_thread() is MAIN:
                on_player[0] += took

    return timed


def handed_over(self: writer_module.Writer, ops: list[Any], future: Any) -> None:
    """`Writer.submit_group` before this change: always queued to the writer thread."""
    if not ops:
        future.set_result(True)
        return
    self._put(writer_module._PressGroup(ops, future), len(ops))


def committing(commits: list[float]) -> Callable[[sqlite3.Connection], Any]:
    """`db.immediate` as the writer uses it, noting each COMMIT's wall time (and the
    player thread's CPU in it, when the player commits itself)."""

    @contextmanager
    def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        commits.append(time.perf_counter() - started)
        if threading.current_thread() is MAIN:
            on_player[0] += time.thread_time() - cpu

    return immediate


Breakdown = dict[str, list[float]]  # wall, player (CPU), commit: seconds per key press


def presses_per_second(
    path: Path,
    presses: int,
    group: bool,
    apply: Callable[..., list[bool]] = apply_ops,
    spent: list[float] | None = None,
    breakdown: Breakdown | None = None,
    before: bool = False,
) -> float:
    """Key presses per second; `apply` applies a group in the writer (its time into `spent`;
    each press's wall time, player thread CPU and COMMIT into `breakdown`). `before`:
    each key press handed to the writer thread, and the log growing, as before."""
    parts = breakdown if breakdown is not None else {}
    writer_module.apply_ops = timing(apply, spent if spent is not None else [])  # type: ignore[attr-defined]
    writer_module.immediate = committing(parts.setdefault("commit", []))  # type: ignore[attr-defined]
    if before:
        writer_module.reserve_wal = lambda conn: False  # type: ignore[attr-defined]
        writer_module.Writer.submit_group = handed_over  # type: ignore[method-assign]
    try:
        return _presses_per_second(path, presses, group, parts)
    finally:
        writer_module.apply_ops = apply_ops  # type: ignore[attr-defined]
        writer_module.immediate = immediate  # type: ignore[attr-defined]
        writer_module.reserve_wal = reserve_wal  # type: ignore[attr-defined]
        writer_module.Writer.submit_group = SUBMIT_GROUP  # type: ignore[method-assign]


SUBMIT_GROUP = writer_module.Writer.submit_group


def _presses_per_second(path: Path, presses: int, group: bool, parts: Breakdown) -> float:
    store = Store.open(path, viewer_key=path.with_suffix(".key"))
    s = STORY
    store.register_story(
        StoryInfo(s.id, s.title, s.author, s.version, s.content_hash, s.structure())
    ).result()
    done = 0
    seed = 0
    elapsed = 0.0
    while done < presses:
        seed += 1
        session = store.start_session(s.id, s.content_hash, "viewer", seed=seed)
        rec = StoreRecorder(session, group=group)
        run = Playthrough.start(s, seed)
        rec.started(run)
        while done < presses and not run.view.finished:
            view = run.view
            choice = [c for c in view.choices if not c.locked][
                done % 2 if len(view.choices) > 1 else 0
            ]
            on_player[0] = 0.0
            started, cpu = time.perf_counter(), time.thread_time()
            run.choose(choice.id)
            rec.chose(run, view.scene, choice.id, choice.target, decide_ms=1200, input="key")
            rec.shown(run)
            wall = time.perf_counter() - started
            parts.setdefault("player", []).append(time.thread_time() - cpu - on_player[0])
            parts.setdefault("wall", []).append(wall)
            elapsed += wall
            done += 1
        rec.close()
    store.close()
    return presses / elapsed


def wal_frames(path: Path) -> int:
    """The frames in the write-ahead log of `path` now: `mxFrame` of the log's index
    header (the `-shm` file, native byte order, at offset 16)."""
    with open(str(path) + "-shm", "rb") as shm:
        head = shm.read(20)
    return int(struct.unpack_from("=I", head, 16)[0])


def frame_pages(path: Path, first: int, last: int) -> list[int]:
    """The page numbers of frames `first` .. `last - 1` of the write-ahead log of `path`
    (each frame: a 24-byte header, its page number first, big-endian, then the page)."""
    with open(str(path) + "-wal", "rb") as wal:
        head = wal.read(32)
        size = int(struct.unpack_from(">I", head, 8)[0])  # the page size
        pages = []
        for frame in range(first, last):
            wal.seek(32 + frame * (24 + size))
            pages.append(int(struct.unpack(">I", wal.read(4))[0]))
    return pages


def pages_per_press(path: Path, presses: int) -> tuple[float, dict[str, float]]:
    """Mean pages (log frames) a key press's commit writes, on side A's path, and of them
    the mean per b-tree (page 1, the file's header, as `header`). A log restarted by the
    checkpoint in between counts from its start."""
    store = Store.open(path, viewer_key=path.with_suffix(".key"))
    s = STORY
    store.register_story(
        StoryInfo(s.id, s.title, s.author, s.version, s.content_hash, s.structure())
    ).result()
    frames: list[int] = []
    written: list[int] = []  # the page number of every frame counted
    done = seed = 0
    while done < presses:
        seed += 1
        session = store.start_session(s.id, s.content_hash, "viewer", seed=seed)
        rec = StoreRecorder(session)
        run = Playthrough.start(s, seed)
        rec.started(run)
        store.flush()
        while done < presses and not run.view.finished:
            view = run.view
            choice = [c for c in view.choices if not c.locked][
                done % 2 if len(view.choices) > 1 else 0
            ]
            before = wal_frames(path)
            run.choose(choice.id)
            rec.chose(run, view.scene, choice.id, choice.target, decide_ms=1200, input="key")
            rec.shown(run)
            after = wal_frames(path)
            frames.append(after - before if after >= before else after)
            written += frame_pages(path, before if after >= before else 0, after)
            done += 1
        rec.close()
    conn = sqlite3.connect(path)
    try:
        owner = dict(conn.execute("SELECT pageno, name FROM dbstat"))
    finally:
        conn.close()
    store.close()
    by_tree: dict[str, float] = {}
    for page in written:
        name = "header" if page == 1 else owner.get(page, "other (free pages)")
        by_tree[name] = by_tree.get(name, 0) + 1 / len(frames)
    return statistics.mean(frames), dict(sorted(by_tree.items(), key=lambda kv: -kv[1]))


def raw_per_second(path: Path, commits: int, grown: bool = False) -> float:
    """Raw single-row commits per second (`grown`: into a log grown beforehand)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    if grown:
        reserve_wal(conn)
    started = time.perf_counter()
    for i in range(commits):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (v) VALUES (?)", (f"row {i}",))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return commits / elapsed


def split(parts: Breakdown, spent: list[float], raw: list[float]) -> dict[str, int]:
    """Where a key press's time goes (medians, us), beside one raw commit."""
    us = {k: round(statistics.median(v) * 1e6) for k, v in parts.items()}
    us["apply_ops"] = round(statistics.median(spent) * 1e6)
    us["rest"] = us["wall"] - us["player"] - us["apply_ops"] - us["commit"]
    us["raw_commit"] = round(1e6 / statistics.median(raw))
    return us


def say_split(name: str, us: dict[str, int]) -> None:
    print(
        f"a key press, {name} (medians, us): {us['wall']} in all = player's own CPU "
        f"{us['player']} + CPU applying {us['apply_ops']} + COMMIT {us['commit']} + the rest "
        f"(hand-over, waiting for a core) {us['rest']}; one raw commit {us['raw_commit']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 150 if args.quick else 600
    rounds = 4 if args.quick else 6
    verdicts = Verdicts()
    fast_spent: list[float] = []
    before_spent: list[float] = []
    slow_spent: list[float] = []
    parts: Breakdown = {}
    before_parts: Breakdown = {}
    a: list[float] = []
    b: list[float] = []
    before: list[float] = []
    slow: list[float] = []
    grown: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        sides: list[tuple[list[float], Callable[[], float]]] = [
            (
                a,
                lambda: presses_per_second(
                    fresh(base, "a.db"), n, True, apply_ops, fast_spent, parts
                ),
            ),
            (b, lambda: raw_per_second(fresh(base, "b.db"), n)),
            (
                before,
                lambda: presses_per_second(
                    fresh(base, "f.db"), n, True, apply_ops, before_spent, before_parts, True
                ),
            ),
            (slow, lambda: presses_per_second(fresh(base, "e.db"), n, True, op_by_op, slow_spent)),
            (grown, lambda: raw_per_second(fresh(base, "g.db"), n, grown=True)),
        ]
        for r in range(rounds):  # every side in each round, which goes first rotating
            k = r % len(sides)
            for out, run in sides[k:] + sides[:k]:
                out.append(run())
        pages, by_tree = pages_per_press(fresh(base, "p.db"), n)
        ungrouped, raw2 = paired(
            lambda: presses_per_second(fresh(base, "c.db"), n, group=False),
            lambda: raw_per_second(fresh(base, "d.db"), n),
            max(2, rounds // 2),
        )
    summary = ratio_summary([x / y for x, y in zip(a, b, strict=True)])
    was = ratio_summary([x / y for x, y in zip(before, b, strict=True)])
    gain_now = ratio_summary([x / y for x, y in zip(a, before, strict=True)])
    one_by_one = ratio_summary([x / y for x, y in zip(slow, b, strict=True)])
    gain = ratio_summary([x / y for x, y in zip(before, slow, strict=True)])
    old = ratio_summary([x / y for x, y in zip(ungrouped, raw2, strict=True)])
    against_grown = ratio_summary([x / y for x, y in zip(a, grown, strict=True)])
    for r, (x, y, w, z) in enumerate(zip(a, b, before, slow, strict=True), start=1):
        print(
            f"round {r}: {x:,.0f} key presses/s, raw {y:,.0f} commits/s, ratio {x / y:.2f}; "
            f"before {w:,.0f} key presses/s, ratio {w / y:.2f}; "
            f"applied one by one {z:,.0f} key presses/s, ratio {z / y:.2f}"
        )
    print(f"key press (one commit) / raw single-row commit: {fmt_ratio(summary)}")
    print(f"before (handed to the writer thread, the log growing) / raw: {fmt_ratio(was)}")
    print(f"key presses/s, now / before: {fmt_ratio(gain_now)}")
    print(f"for information, key press / raw commits into a grown log: {fmt_ratio(against_grown)}")
    print(f"for information, the group's ops applied one by one / raw: {fmt_ratio(one_by_one)}")
    print(f"key presses/s (before), apply_ops / applied one by one: {fmt_ratio(gain)}")
    print(f"for information, each record its own commit / raw: {fmt_ratio(old)}")
    applying = {
        "apply_ops_cpu_us": round(statistics.median(fast_spent) * 1e6),
        "op_by_op_cpu_us": round(statistics.median(slow_spent) * 1e6),
        "apply_ops_cpu_mean_us": round(statistics.mean(fast_spent) * 1e6),
        "op_by_op_cpu_mean_us": round(statistics.mean(slow_spent) * 1e6),
    }
    print(
        "CPU applying a key press's ops (median / mean): "
        f"apply_ops {applying['apply_ops_cpu_us']} / {applying['apply_ops_cpu_mean_us']} us, "
        f"one by one {applying['op_by_op_cpu_us']} / {applying['op_by_op_cpu_mean_us']} us"
    )
    print(f"pages per key press (write-ahead log frames of its commit, mean): {pages:.1f}")
    print(
        "of them, per b-tree (mean per press): "
        + ", ".join(f"{name} {n:.2f}" for name, n in by_tree.items())
    )
    us = split(parts, fast_spent, b)
    us_before = split(before_parts, before_spent, b)
    say_split("before", us_before)
    say_split("now", us)
    verdicts.judge(
        "a key press at least 0.5x raw commits", summary["median"] >= 0.5, fmt_ratio(summary)
    )
    data = {
        "presses": n,
        "ratio": summary,
        "before_ratio": was,
        "gain_over_before": gain_now,
        "ratio_against_grown_log": against_grown,
        "one_by_one_ratio": one_by_one,
        "apply_ops_gain": gain,
        "ungrouped_ratio": old,
        "applying": applying,
        "press_us": us,
        "press_us_before": us_before,
        "pages_per_press": round(pages, 2),
        "pages_per_press_by_btree": {name: round(n, 2) for name, n in by_tree.items()},
        "rates": a,
        "raw": b,
        "raw_grown_log": grown,
        "rates_before": before,
    }
    write_results("keypress", args.quick, data, verdicts)
    return verdicts.exit_code()


if __name__ == "__main__":
    raise SystemExit(main())
