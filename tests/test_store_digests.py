"""Per-session digests stay what a replay of the stored events gives, on every write path.

The rule (`store/digests.py`): a digest exists only for a session that is
not in progress, and then equals the replay of its stored events. Each test
writes ops (random ones: choices, timeouts, rewinds to scenes chosen before
and not, scenes shown, routes, pauses, quits, finishes of every outcome,
going back from an ending, events after a finish; and a simulated audience
of Signal) through one path (op by op, key-press groups, the bulk writer),
then prune, forget, merge or the migration's backfill, and checks every row
against an oracle that does not use the store's replay: `made`, `shown` and
`took` counted by SQL over the events, `depth` and `path` by the analytics
walk's rule written out again (`walked`; the walk itself undoes steps with
the store's `digests.rewind`). Live and bulk must give the same rows, and the
fuzzed paths must keep most finished sessions' digests (a rule kept by
deleting every row would pass the oracle).
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from branching.simulate.audience import Audience
from branching.simulate.run import simulate
from branching.store import digests
from branching.store.bulk import BulkWriter
from branching.store.erase import forget_simulated, prune
from branching.store.merge import merge
from branching.store.ops import Op, apply_op, apply_ops
from branching.store.store import Store
from branching.story.loader import load_story

ROOT = Path(__file__).resolve().parent.parent
SCENES = ("a", "b", "c", "d")
CHOICES = ("x", "y")
STORY = "fuzz"
VERSION = "v1"


# -- the oracle: SQL for what is counted, the analytics walk for the path ---------------


def walked(events: list[tuple[str, str | None, str | None]]) -> list[list[str]]:
    """The path as the analytics walk defines it, written out again independently."""
    path: list[list[str]] = []
    for kind, scene, choice in events:
        if kind in ("choice_made", "timeout_default") and scene and choice:
            path.append([scene, choice])
        elif kind == "rewind" and scene:
            at = [i for i, (there, _) in enumerate(path) if there == scene]
            path = path[: at[-1]] if at else path
    return path


def expected(conn: sqlite3.Connection) -> dict[str, tuple[Any, ...]]:
    """Each finished session's digest, from its stored events (SQL, and `walked`)."""
    out = {}
    for (sid,) in conn.execute("SELECT session_id FROM sessions WHERE outcome <> 'in_progress'"):
        made = conn.execute(
            "SELECT COUNT(*) FROM events WHERE session_id = ? "
            "AND type IN ('choice_made', 'timeout_default')",
            [sid],
        ).fetchone()[0]
        shown = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT scene FROM events WHERE session_id = ? AND type = 'scene_shown' "
                "AND scene <> '' ORDER BY scene",
                [sid],
            )
        ]
        took = [
            list(r)
            for r in conn.execute(
                "SELECT DISTINCT scene, choice FROM events WHERE session_id = ? "
                "AND type IN ('choice_made', 'timeout_default') AND scene <> '' AND choice <> '' "
                "ORDER BY scene, choice",
                [sid],
            )
        ]
        path = walked(
            conn.execute(
                "SELECT type, scene, choice FROM events WHERE session_id = ? ORDER BY seq", [sid]
            ).fetchall()
        )
        out[sid] = (made, len(path), path, shown, took)
    return out


def stored(conn: sqlite3.Connection) -> dict[str, tuple[Any, ...]]:
    """Each stored digest, its codes spelt out."""
    name = {c: json.loads(n) for c, n in conn.execute("SELECT code, name FROM digest_names")}
    assert digests.names(conn) == {
        c: tuple(n) if isinstance(n, list) else n for c, n in name.items()
    }
    out = {}
    for sid, made, depth, path, shown, took in conn.execute(
        "SELECT session_id, made, depth, path, shown, took FROM session_digests"
    ):
        path, shown, took = json.loads(path), json.loads(shown), json.loads(took)
        assert shown == sorted(shown) and took == sorted(took)  # one text per set
        took_names = sorted(name[c] for c in took)
        out[sid] = (
            made,
            depth,
            [name[c] for c in path],
            sorted(name[c] for c in shown),
            took_names,
        )
    return out


def check(path: Path, *, kept: float = 0.5) -> dict[str, tuple[Any, ...]]:
    """The rule holds in `path`, and at least `kept` of the finished sessions have a digest."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        want, have = expected(conn), stored(conn)
        open_ = {
            r[0]
            for r in conn.execute("SELECT session_id FROM sessions WHERE outcome = 'in_progress'")
        }
        assert not open_ & set(have), "a session in progress has a digest"
        assert {sid: want.get(sid) for sid in have} == have
        assert len(have) >= kept * len(want)
        return have
    finally:
        conn.close()


# -- random ops ----------------------------------------------------------------------


def story_op() -> Op:
    return {
        "op": "story",
        "story_id": STORY,
        "content_hash": VERSION,
        "title": "Fuzz",
        "author": None,
        "version_label": None,
        "structure": "{}",
        "registered_at": "2026-01-01T00:00:00.000Z",
    }


def random_session(rng: random.Random, n: int, viewer: str, simulated: bool) -> list[Op]:
    """One session's ops: a start, random events, finishes now and then (and after them)."""
    sid = f"s{n:03d}"
    ops: list[Op] = [
        {
            "op": "session",
            "session_id": sid,
            "story_id": STORY,
            "content_hash": VERSION,
            "viewer_id": viewer,
            "started_at": f"2026-01-{1 + n % 9:02d}T10:00:00.000Z",
            "seed": n,
            "simulated": simulated,
            "attrs": {"region": rng.choice(["NL", "UK"])},
        }
    ]
    outcome = "in_progress"
    for seq in range(rng.randint(0, 24)):
        ts = f"2026-01-{1 + (n + seq // 8) % 9:02d}T10:{seq:02d}:00.000Z"
        kind = rng.choice(
            ["choice_made"] * 4
            + ["scene_shown"] * 3
            + ["timeout_default", "rewind", "rewind", "route_taken", "quit", "pause"]
        )
        scene = rng.choice(SCENES)
        event = {
            "v": 2, "op": "event", "session_id": sid, "story_id": STORY, "content_hash": VERSION,
            "seq": seq, "ts": ts, "type": kind, "scene": scene,
            "choice": rng.choice(CHOICES) if kind in digests.DECISIONS else None,
            "target": rng.choice(SCENES) if kind in ("choice_made", "route_taken") else None,
            "decide_ms": None, "input": None, "state": None, "label": None,
        }  # fmt: skip
        ops.append(event)
        if rng.random() < 0.06:
            outcome = rng.choice(["ending", "ending", "abandoned", "quit", "stuck"])
            ops.append(
                {
                    "v": 2,
                    "op": "finish",
                    "session_id": sid,
                    "outcome": outcome,
                    "ending_id": scene if outcome == "ending" else None,
                    "ending_kind": "good" if outcome == "ending" else None,
                    "ended_at": ts,
                }
            )
    if outcome == "in_progress" and rng.random() < 0.7:
        ops.append(
            {
                "v": 2, "op": "finish", "session_id": sid, "outcome": "ending",
                "ending_id": "d", "ending_kind": "good", "ended_at": "2026-01-20T00:00:00.000Z",
            }
        )  # fmt: skip
    return ops


def fuzzed(seed: int, sessions: int = 30) -> list[Op]:
    """Several sessions' ops, interleaved (each session's own order kept)."""
    rng = random.Random(seed)
    played = [random_session(rng, n, f"v{n % 7}", simulated=n % 3 == 0) for n in range(sessions)]
    out = [story_op()]
    while played:
        ops = rng.choice(played)
        out.append(ops.pop(0))
        if not ops:
            played.remove(ops)
    return out


def fresh_db(path: Path) -> sqlite3.Connection:
    Store.open(path, create_key=False).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def one_by_one(path: Path, ops: list[Op]) -> None:
    conn = fresh_db(path)
    try:
        for op in ops:
            conn.execute("BEGIN IMMEDIATE")
            apply_op(conn, op)
            conn.execute("COMMIT")
    finally:
        conn.close()


def in_groups(path: Path, ops: list[Op], seed: int) -> None:
    rng = random.Random(seed)
    conn = fresh_db(path)
    try:
        while ops:
            n = rng.randint(1, 9)
            group, ops = ops[:n], ops[n:]
            conn.execute("BEGIN IMMEDIATE")
            apply_ops(conn, group)
            conn.execute("COMMIT")
    finally:
        conn.close()


def in_bulk(path: Path, ops: list[Op], batch: int) -> None:
    with BulkWriter(path, batch=batch) as writer:
        writer.add(ops)


def rows(path: Path) -> dict[str, tuple[Any, ...]]:
    """The digests of `path`, decoded (codes are per database)."""
    conn = sqlite3.connect(path)
    try:
        return stored(conn)
    finally:
        conn.close()


# -- the tests -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_write_path_keeps_the_digests_of_random_ops_exact(tmp_path: Path, seed: int) -> None:
    """Op by op, in key-press groups and in bulk (whole, and split across batches)."""
    ops = fuzzed(seed)
    one_by_one(tmp_path / "one.db", ops)
    in_groups(tmp_path / "groups.db", ops, seed)
    in_bulk(tmp_path / "bulk.db", ops, batch=10_000)
    in_bulk(tmp_path / "split.db", ops, batch=97)
    check(tmp_path / "one.db", kept=0.3)  # events after a finish drop some, by design
    for name in ("groups.db", "bulk.db", "split.db"):
        check(tmp_path / name, kept=0.3)
        assert rows(tmp_path / name) == rows(tmp_path / "one.db"), name


def test_a_session_in_progress_has_no_digest_and_a_finished_one_has(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    conn = fresh_db(path)
    ops = random_session(random.Random(0), 1, "v", simulated=False)
    start, events = ops[0], [op for op in ops if op["op"] == "event"]
    finish = {
        "v": 2, "op": "finish", "session_id": start["session_id"], "outcome": "ending",
        "ending_id": "d", "ending_kind": "good", "ended_at": "2026-01-02T00:00:00.000Z",
    }  # fmt: skip
    rewind = {**events[0], "seq": 100, "type": "rewind", "scene": "a", "choice": None}
    for group in ([story_op(), start, *events], [finish], [rewind], [finish]):
        conn.execute("BEGIN IMMEDIATE")
        apply_ops(conn, group)
        conn.execute("COMMIT")
        outcome = conn.execute("SELECT outcome FROM sessions").fetchone()[0]
        count = conn.execute("SELECT COUNT(*) FROM session_digests").fetchone()[0]
        assert count == (outcome != "in_progress"), group[0]["op"]
    conn.close()
    check(path, kept=1.0)


def test_prune_forget_and_merge_leave_digests_exact(tmp_path: Path) -> None:
    target, source = tmp_path / "target.db", tmp_path / "source.db"
    ops = fuzzed(7, sessions=40)
    # the target stops half way (sessions in progress), the source holds them all
    one_by_one(target, ops[: len(ops) // 2])
    in_bulk(source, ops, batch=10_000)
    merge(target, [source])
    check(target, kept=1.0)  # merge replays every session: each finished one has its digest
    prune(target, "2026-01-04")
    have = check(target, kept=0.9)
    conn = sqlite3.connect(target)
    pruned = conn.execute("SELECT COUNT(*) FROM events WHERE ts < '2026-01-04'").fetchone()[0]
    conn.close()
    assert pruned == 0 and have
    forget_simulated(target)
    after = check(target, kept=0.9)
    assert after and set(after) < set(have)  # the simulated sessions' digests went with them


def test_a_deleted_session_takes_its_digest_with_it(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    in_bulk(path, fuzzed(4), batch=10_000)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    (sid,) = conn.execute("SELECT session_id FROM session_digests LIMIT 1").fetchone()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DELETE FROM events WHERE session_id = ?", [sid])
    conn.execute("DELETE FROM sessions WHERE session_id = ?", [sid])
    conn.execute("COMMIT")
    assert (
        conn.execute("SELECT 1 FROM session_digests WHERE session_id = ?", [sid]).fetchone() is None
    )
    conn.close()


def test_the_upgrade_backfills_the_digests(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    one_by_one(path, fuzzed(5))
    want = rows(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE session_digests")  # as a branching before m012 left it
    conn.execute("DROP TABLE digest_names")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name LIKE 'm012%'")
    conn.close()
    Store.open(path, create_key=False).close()
    assert want and set(want) <= set(rows(path))  # the live path's, and those it dropped
    check(path, kept=1.0)


def test_a_simulated_audience_gets_the_same_digests_live_and_in_bulk(tmp_path: Path) -> None:
    story = load_story(ROOT / "stories" / "signal")
    audience = Audience(
        sessions=60, viewers=20, seed=3, start=date(2026, 2, 1), end=date(2026, 2, 5),
        timeouts=0.2, back=0.15, abandon=0.1,
    )  # fmt: skip
    batches = list(simulate(story, audience))
    in_bulk(tmp_path / "bulk.db", [op for b in batches for op in b], batch=20_000)
    in_groups(tmp_path / "live.db", [op for b in batches for op in b], 1)
    have = check(tmp_path / "bulk.db", kept=1.0)
    assert any(made > depth for made, depth, *_ in have.values())  # rewinds undid some
    assert rows(tmp_path / "live.db") == rows(tmp_path / "bulk.db")
    copy = tmp_path / "rebuilt.db"
    shutil.copy(tmp_path / "bulk.db", copy)
    conn = sqlite3.connect(copy, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    digests.rebuild(conn)
    conn.execute("COMMIT")
    conn.close()
    assert rows(copy) == rows(tmp_path / "bulk.db")


def test_replay_undoes_what_a_rewind_takes_back() -> None:
    """The pure replay: a rewind undoes the latest choice at its scene and all after it."""
    events = [
        (0, "choice_made", "a", "x"),
        (1, "scene_shown", "b", None),
        (2, "choice_made", "b", "y"),
        (3, "timeout_default", "c", "x"),
        (4, "rewind", "b", None),  # undoes b/y and c/x
        (5, "choice_made", "b", "x"),
        (6, "rewind", "d", None),  # no choice at d: nothing undone
        (7, "scene_shown", "a", None),
        (8, "choice_made", "", "x"),  # no scene: counted as made, not a step
    ]
    replayed = digests.replay(events)
    assert replayed.made == 5
    assert replayed.path == [("a", "x"), ("b", "x")]
    assert replayed.shown == {"a", "b"}
    assert replayed.took == {("a", "x"), ("b", "x"), ("b", "y"), ("c", "x")}


def test_the_same_path_is_the_same_text(tmp_path: Path) -> None:
    """Compact arrays of codes: two sessions down the same path store the same text."""
    path = tmp_path / "a.db"
    conn = fresh_db(path)
    book = digests.Codebook(conn)
    one = book.encode(digests.replay([(0, "choice_made", "a", "x"), (1, "choice_made", "b", "y")]))
    two = book.encode(
        digests.replay(
            [
                (0, "choice_made", "a", "y"),
                (1, "rewind", "a", None),
                (2, "choice_made", "a", "x"),
                (3, "choice_made", "b", "y"),
            ]
        )
    )
    assert one.path == two.path and one.path.startswith("[") and " " not in one.path
    assert one.took != two.took and (one.depth, two.depth, two.made) == (2, 2, 3)
    conn.close()
