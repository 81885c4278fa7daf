"""A group of ops applied the fast way leaves every row as applying them one by one does.

The writer commits a key press (a group of ops) with `ops.apply_ops`, which
reads each session once and sums what the events add before one upsert per
row. These tests feed the same ops to two databases, one group at a time
through `apply_ops` and one op at a time through `apply_op`, and compare every
row of every table, rows left at zero included: a simulated audience of Signal
(choices, timeouts, going back from scenes and from endings, pauses, quits,
abandoned and finished sessions, attributes, one with too many values),
several sessions interleaved in a group, groups replayed (nothing counted
twice), sessions forgotten before and during play (their ops dropped), and
viewers whose later sessions arrive first. And the writer's way: groups and
single ops applied with a `WriterMemory` kept across transactions, while
another connection forgets sessions, the same connection writes without it
and transactions roll back, leave the same rows too.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from branching.simulate.audience import Audience
from branching.simulate.run import simulate
from branching.store import InvalidInput, aggregates, totals
from branching.store.ops import Op, WriterMemory, apply_op, apply_ops
from branching.store.store import Store
from branching.story.loader import load_story

ROOT = Path(__file__).resolve().parent.parent
SEATS = {f"s{n}": 1.0 for n in range(20)}  # more values than the lowered limit


@pytest.fixture(autouse=True)
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aggregates, "ATTR_LIMIT", 8)


def sessions_played(
    seed: int, timeouts: float = 0.25, back: float = 0.12
) -> tuple[Op, list[list[Op]]]:
    """The story's registration and each simulated session's ops, in order."""
    audience = Audience(
        sessions=36,
        viewers=12,
        seed=seed,
        start=date(2026, 3, 1),
        end=date(2026, 3, 4),
        timeouts=timeouts,
        back=back,
        abandon=0.1,
        attrs={"region": {"NL": 1, "UK": 1}, "seat": SEATS},
    )
    batches = list(simulate(load_story(ROOT / "stories" / "signal"), audience))
    story, rest = batches[0][0], [op for batch in batches[1:] for op in batch]
    played: list[list[Op]] = []
    for op in rest:
        if op["op"] == "session":
            played.append([])
        played[-1].append(op)
    return story, played


def interleaved(played: list[list[Op]], rng: random.Random) -> Iterator[Op]:
    """Sessions three at a time, their ops mixed (each session's own order kept);
    every other window the later sessions first (a viewer's earlier session arrives late)."""
    for n in range(0, len(played), 3):
        window = [list(ops) for ops in played[n : n + 3]]
        if n % 2:
            window.reverse()
        while window:
            ops = rng.choice(window)
            yield ops.pop(0)
            if not ops:
                window.remove(ops)


def groups(ops: Iterator[Op], rng: random.Random) -> Iterator[list[Op]]:
    """The ops cut into groups of 1 to 12, as key presses and more."""
    group: list[Op] = []
    for op in ops:
        group.append(op)
        if len(group) >= rng.randint(1, 12):
            yield group
            group = []
    if group:
        yield group


def open_db(path: Path) -> sqlite3.Connection:
    Store.open(path, create_key=False).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")  # durability is not what these tests are about
    return conn


def forget(conn: sqlite3.Connection, session_id: str) -> None:
    """What `forget` does to one playthrough (the files aside)."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO forgotten_sessions VALUES (?, '2026-03-02T00:00:00.000Z')", [session_id]
    )
    conn.execute("DELETE FROM events WHERE session_id = ?", [session_id])
    conn.execute("DELETE FROM session_attrs WHERE session_id = ?", [session_id])
    conn.execute("DELETE FROM sessions WHERE session_id = ?", [session_id])
    totals.rebuild(conn)
    conn.execute("COMMIT")


def every_row(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, zero rows included (not when the migrations ran)."""
    tables = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name <> '_sqlite_migrations'"
        )
    ]
    return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}


def one_by_one(conn: sqlite3.Connection, group: list[Op]) -> list[bool]:
    done = []
    for op in group:
        conn.execute("BEGIN IMMEDIATE")
        done.append(apply_op(conn, op))
        conn.execute("COMMIT")
    return done


def together(conn: sqlite3.Connection, group: list[Op]) -> list[bool]:
    conn.execute("BEGIN IMMEDIATE")
    done = apply_ops(conn, group)
    conn.execute("COMMIT")
    return done


@pytest.mark.parametrize(
    ("seed", "timeouts", "back"),
    [(1, 0.25, 0.12), (2, 0.7, 0.35)],  # the second: the clock and going back, again and again
)
def test_groups_leave_every_row_as_op_by_op(
    tmp_path: Path, seed: int, timeouts: float, back: float
) -> None:
    rng = random.Random(seed)
    story, played = sessions_played(seed, timeouts, back)
    fast, slow = open_db(tmp_path / "fast.db"), open_db(tmp_path / "slow.db")
    gone_early = played[4][0]["session_id"]  # forgotten before it starts
    gone_midway = played[10][0]["session_id"]  # forgotten while it plays
    for conn in (fast, slow):
        one_by_one(conn, [story])
        forget(conn, gone_early)
    midway_done = False
    seen: set[str] = set()
    fast_done: list[bool] = []
    slow_done: list[bool] = []
    for n, group in enumerate(groups(interleaved(played, rng), rng)):
        fast_done += together(fast, group)
        slow_done += one_by_one(slow, group)
        if n % 9 == 4:  # replayed (a spool loaded twice): nothing counts twice
            fast_done += together(fast, group)
            slow_done += one_by_one(slow, group)
        seen |= {op.get("type") or op["op"] for op in group}
        if gone_midway in {op.get("session_id") for op in group} and not midway_done:
            midway_done = True
            for conn in (fast, slow):
                forget(conn, gone_midway)
    assert fast_done == slow_done
    assert True in fast_done and False in fast_done
    for kind in ("timeout_default", "rewind", "ending_reached", "finish", "session", "pause"):
        assert kind in seen, kind  # the audience did everything the groups must handle
    fast_rows, slow_rows = every_row(fast), every_row(slow)
    assert fast_rows["events"] and fast_rows["agg_sessions"]
    assert not any(r[0] in (gone_early, gone_midway) for r in fast_rows["sessions"])
    assert fast_rows == slow_rows
    assert totals.recount_matches(fast)
    fast.close()
    slow.close()


def test_a_group_of_a_forgotten_session_is_dropped_whole(tmp_path: Path) -> None:
    story, played = sessions_played(3)
    conn = open_db(tmp_path / "t.db")
    one_by_one(conn, [story])
    forget(conn, played[0][0]["session_id"])
    before = every_row(conn)
    assert together(conn, played[0]) == [False] * len(played[0])
    assert every_row(conn) == before
    conn.close()


def test_an_event_already_stored_as_another_is_refused_and_nothing_of_the_group_kept(
    tmp_path: Path,
) -> None:
    story, played = sessions_played(4)
    conn = open_db(tmp_path / "t.db")
    ops = played[0]
    one_by_one(conn, [story, *ops[:4]])
    before = every_row(conn)
    changed = [dict(op) for op in ops[2:6]]
    changed[1] = {**changed[1], "ts": "2030-01-01T00:00:00.000Z", "type": "pause"}  # seq taken
    conn.execute("BEGIN IMMEDIATE")
    with pytest.raises(InvalidInput):
        apply_ops(conn, changed)
    conn.execute("ROLLBACK")
    assert every_row(conn) == before
    conn.close()


@pytest.mark.parametrize("seed", [5, 6])
def test_a_writer_memory_kept_across_transactions_leaves_every_row_as_op_by_op(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    story, played = sessions_played(seed, 0.4, 0.2)
    kept, slow = open_db(tmp_path / "kept.db"), open_db(tmp_path / "slow.db")
    other = sqlite3.connect(tmp_path / "kept.db", isolation_level=None)  # another program
    memory = WriterMemory()
    gone = [played[n][0]["session_id"] for n in (7, 15)]  # forgotten while they play
    for conn in (kept, slow):
        one_by_one(conn, [story])
    kept_done: list[bool] = []
    slow_done: list[bool] = []
    rolled_back = plain = 0
    for n, group in enumerate(groups(interleaved(played, rng), rng)):
        if n % 11 == 3:  # a transaction that does not commit: what it changed is not kept
            kept.execute("BEGIN IMMEDIATE")
            apply_ops(kept, group, memory.names, memory)
            kept.execute("ROLLBACK")
            rolled_back += 1
        if n % 7 == 5:  # the same connection writes without the memory (a spool load)
            kept_done += one_by_one(kept, group)
            plain += 1
        else:
            for part in [group] if n % 2 else [[op] for op in group]:  # a press, or op by op
                kept.execute("BEGIN IMMEDIATE")
                kept_done += apply_ops(kept, part, memory.names, memory)
                kept.execute("COMMIT")
                memory.committed(kept)
        slow_done += one_by_one(slow, group)
        for sid in gone:
            if sid in {op.get("session_id") for op in group}:
                gone.remove(sid)
                forget(other, sid)
                forget(slow, sid)
    assert not gone and rolled_back and plain
    assert kept_done == slow_done
    kept_rows, slow_rows = every_row(kept), every_row(slow)
    assert kept_rows["events"] and kept_rows["agg_edges"] and kept_rows["session_digests"]
    assert kept_rows == slow_rows
    assert totals.recount_matches(kept)
    for conn in (kept, slow, other):
        conn.close()
