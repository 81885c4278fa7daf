"""Per-session digests stay what a replay of the stored events gives, on every write path.

The rule (`store/digests.py`): every session, in progress or not, has one
digest, and it equals the replay of its stored events. Each test writes ops
(random ones: choices, timeouts, rewinds to scenes chosen before and not,
scenes shown, routes, pauses, quits, finishes of every outcome, going back
from an ending, events after a finish, events that arrive after later ones,
ops sent twice; and a simulated audience of Signal) through one path (op by
op, key-press groups with the writer's code cache across transactions, some
rolled back, the bulk writer whole or split across batches), then prune,
forget, merge, a rebuild or the migration's backfill, and checks every row
against an oracle that does not use the store's replay: `made`, `shown`,
`took` and `seq` counted by SQL over the events, `depth` and `path` by the
analytics walk's rule written out again (`walked`; the walk itself undoes
steps with the store's `digests.rewind`). Every path must give the same rows.
"""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from branching.analytics.segments_rollup import attributes
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
    """Each session's digest, from its stored events (SQL, and `walked`)."""
    out = {}
    for (sid,) in conn.execute("SELECT session_id FROM sessions"):
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
        (seq,) = conn.execute(
            "SELECT COALESCE(MAX(seq), -1) FROM events WHERE session_id = ? AND type IN "
            "('choice_made', 'timeout_default', 'route_taken', 'rewind', 'scene_shown', 'pause', "
            "'reveal_skipped')",
            [sid],
        ).fetchone()
        acts = tuple(
            [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT scene FROM events WHERE session_id = ? AND type = ? "
                    "AND scene <> '' ORDER BY scene",
                    [sid, kind],
                )
            ]
            for kind in ACT_TYPES
        )
        edge = "SELECT DISTINCT scene, COALESCE(choice, ''), COALESCE(target, '') FROM events"
        edges = [
            list(r)
            for r in conn.execute(
                f"{edge} WHERE session_id = ? AND type IN "
                "('choice_made', 'timeout_default', 'route_taken') ORDER BY 1, 2, 3",
                [sid],
            )
        ]
        late = [
            list(r)
            for r in conn.execute(
                f"{edge} WHERE session_id = ? AND type = 'timeout_default' ORDER BY 1, 2, 3", [sid]
            )
        ]
        (views,) = conn.execute("SELECT COUNT(*) FROM events WHERE session_id = ? "
            "AND type = 'scene_shown'", [sid]).fetchone()  # fmt: skip
        out[sid] = (made, len(path), path, shown, took, seq, acts, (edges, late, views))
    return out


# the event type whose scenes each of m016's lists holds
ACT_TYPES = ("timeout_default", "rewind", "pause", "reveal_skipped")


def stored(conn: sqlite3.Connection) -> dict[str, tuple[Any, ...]]:
    """Each stored digest, its codes spelt out."""
    name = {c: json.loads(n) for c, n in conn.execute("SELECT code, name FROM digest_names")}
    assert digests.names(conn) == {
        c: tuple(n) if isinstance(n, list) else n
        for c, n in name.items()
        if not isinstance(n, list) or len(n) == 2
    }
    assert digests.edge_names(conn) == {
        c: tuple(n) for c, n in name.items() if isinstance(n, list) and len(n) == 3
    }
    out = {}
    for sid, made, depth, path, shown, took, seq, *lists, reached, clocked, views in conn.execute(
        "SELECT session_id, made, depth, path, shown, took, seq, timed_out, rewound, paused, "
        "skipped, reached, clocked, views FROM session_digests"
    ):
        path, shown, took = json.loads(path), json.loads(shown), json.loads(took)
        acts = tuple(json.loads(text) for text in lists)
        assert all(codes == sorted(codes) for codes in acts)  # one text per set
        assert shown == sorted(shown) and took == sorted(took)  # one text per set
        # m018's lists: a character per code, sorted; the scenes' codes are the lists'
        flow = [[digests.code_of(char) for char in text] for text in (reached, clocked)]
        assert all(codes == sorted(set(codes)) for codes in flow)
        assert [c for c in flow[0] if not isinstance(name[c], list)] == shown
        assert [c for c in flow[1] if not isinstance(name[c], list)] == acts[0]
        edges = [sorted(name[c] for c in codes if isinstance(name[c], list)) for codes in flow]
        took_names = sorted(name[c] for c in took)
        out[sid] = (
            made,
            depth,
            [name[c] for c in path],
            sorted(name[c] for c in shown),
            took_names,
            seq,
            tuple(sorted(name[c] for c in codes) for codes in acts),
            (*edges, views),
        )
    return out


COPIED = (
    "story_id, content_hash, started_at, simulated, outcome, ending_id, term_program, "
    "terminal, platform, term_cols, term_rows, utc_offset_min, viewer_id, last_scene"
)


def copies(conn: sqlite3.Connection) -> None:
    """Each digest's copies of its session's columns (m015, its viewer: m016) are the
    session's, its
    `attrs` its attributes (keys in order), and its `first_play` says whether
    `agg_firsts` names it."""
    mine = ", ".join(f"d.{c}" for c in COPIED.split(", "))
    theirs = ", ".join(f"s.{c}" for c in COPIED.split(", "))
    found = conn.execute(
        f"""SELECT d.session_id, ({mine}) IS ({theirs}), d.first_play,
               EXISTS (SELECT 1 FROM agg_firsts f WHERE f.story_id = s.story_id
                       AND f.viewer_id = s.viewer_id AND f.session_id = s.session_id)
        FROM session_digests d JOIN sessions s ON s.session_id = d.session_id"""
    ).fetchall()
    assert len(found) == conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    for sid, same, flag, first in found:
        assert same and flag == first, sid
    held: dict[str, dict[str, str]] = {}
    for sid, key, value in conn.execute("SELECT session_id, key, value FROM session_attrs"):
        held.setdefault(sid, {})[key] = value
    for sid, attrs in conn.execute("SELECT session_id, attrs FROM session_digests"):
        assert list(attributes(attrs).items()) == sorted(held.get(sid, {}).items()), sid


def check(path: Path) -> dict[str, tuple[Any, ...]]:
    """The rule holds in `path`: every session has its digest, and it is exact."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        want, have = expected(conn), stored(conn)
        assert want == have
        copies(conn)
        return have
    finally:
        conn.close()


def before_m015(conn: sqlite3.Connection) -> None:
    """Make the file one that m015 has not upgraded yet: no triggers, no record of it
    (a test that remakes the digests' table makes it without the copies); nor m016."""
    before_m016(conn)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name LIKE 'm015%'")


M016_TRIGGERS = ("session_digests_copy_viewer", "sessions_viewer_to_digest")


M018_TRIGGERS = ("session_digests_copy_last_scene", "sessions_last_scene_to_digest")


def before_m018(conn: sqlite3.Connection) -> None:
    """Make the file one that m018 has not upgraded yet: its triggers and columns gone,
    m016's index as m016 made it, each digest's `seq` over the events m016's digests
    read, no record of it."""
    for name in M018_TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    conn.execute("DROP INDEX IF EXISTS session_digests_by_viewer")
    for column in ("reached", "clocked", "views", "last_scene"):
        conn.execute(f"ALTER TABLE session_digests DROP COLUMN {column}")
    conn.execute(
        """CREATE INDEX session_digests_by_viewer ON session_digests (story_id, viewer_id,
            outcome, started_at, first_play, simulated, content_hash, attrs,
            shown, took, timed_out, rewound, paused, skipped)"""
    )
    conn.execute(
        """UPDATE session_digests SET seq = (SELECT COALESCE(MAX(e.seq), -1) FROM events e
        WHERE e.session_id = session_digests.session_id
          AND e.type IN ('choice_made', 'timeout_default', 'scene_shown', 'rewind', 'pause',
                         'reveal_skipped'))"""
    )
    conn.execute("DELETE FROM _sqlite_migrations WHERE name LIKE 'm018%'")


def before_m016(conn: sqlite3.Connection) -> None:
    """Make the file one that m016 has not upgraded yet: its triggers, index and columns
    gone, each digest's `seq` over the events m015's digests read, no record of it
    (nor of m018)."""
    before_m018(conn)
    for name in M016_TRIGGERS:
        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
    conn.execute("DROP INDEX IF EXISTS session_digests_by_viewer")
    for column in ("viewer_id", *digests.ACTS):
        conn.execute(f"ALTER TABLE session_digests DROP COLUMN {column}")
    conn.execute(
        """UPDATE session_digests SET seq = (SELECT COALESCE(MAX(e.seq), -1) FROM events e
        WHERE e.session_id = session_digests.session_id
          AND (e.type IN ('choice_made', 'timeout_default', 'scene_shown')
               OR e.type = 'rewind' AND e.scene <> ''))"""
    )
    conn.execute("DELETE FROM _sqlite_migrations WHERE name LIKE 'm016%'")


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
            + ["reveal_skipped"]
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
    for i in range(2, len(ops) - 1):  # now and then an event arrives after a later one
        if ops[i]["op"] == ops[i + 1]["op"] == "event" and rng.random() < 0.12:
            ops[i], ops[i + 1] = ops[i + 1], ops[i]
    if len(ops) > 2 and rng.random() < 0.3:  # and an op is sent twice (a replayed spool)
        ops.insert(rng.randint(2, len(ops)), dict(rng.choice(ops[1:])))
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
    """Key-press groups as the writer applies them, its code cache kept across them;
    now and then a group rolls back (and another transaction takes the codes it had
    given) before its ops go again one by one."""
    rng = random.Random(seed)
    names = digests.Names()
    conn = fresh_db(path)
    try:
        while ops:
            n = rng.randint(1, 9)
            group, ops = ops[:n], ops[n:]
            conn.execute("BEGIN IMMEDIATE")
            apply_ops(conn, group, names)
            if rng.random() < 0.15:
                conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                digests.Codebook(conn).learn(scenes=[f"decoy {len(ops)}-{i}" for i in range(3)])
                conn.execute("COMMIT")
                for op in group:
                    conn.execute("BEGIN IMMEDIATE")
                    apply_op(conn, op)
                    conn.execute("COMMIT")
            else:
                conn.execute("COMMIT")
                names.committed()
    finally:
        conn.close()


def in_bulk(path: Path, ops: list[Op], batch: int) -> None:
    """The bulk writer, as a simulator feeds it: each event once."""
    seen: set[tuple[str, int]] = set()
    once = []
    for op in ops:
        if op["op"] == "event":
            if (op["session_id"], op["seq"]) in seen:
                continue
            seen.add((op["session_id"], op["seq"]))
        once.append(op)
    with BulkWriter(path, batch=batch) as writer:
        writer.add(once)


def rebuilt(path: Path, copy: Path) -> Path:
    """A copy of `path` with every digest rebuilt from the events."""
    shutil.copy(path, copy)
    conn = sqlite3.connect(copy, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    digests.rebuild(conn)
    conn.execute("COMMIT")
    conn.close()
    return copy


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
    have = check(tmp_path / "one.db")
    open_ = {sid for sid, (_, _, _, _, _, seq, *_) in have.items() if seq >= 0}
    assert len(have) == 30 and len(open_) > 20  # every session has its row, most with events
    for name in ("groups.db", "bulk.db", "split.db"):
        check(tmp_path / name)
        assert rows(tmp_path / name) == have, name
    assert rows(rebuilt(tmp_path / "split.db", tmp_path / "rebuilt.db")) == have


def test_sessions_in_progress_have_their_digest_at_every_step(tmp_path: Path) -> None:
    """Open, finished, reopened by a rewind from the ending, finished again: always exact."""
    path = tmp_path / "a.db"
    conn = fresh_db(path)
    ops = random_session(random.Random(0), 1, "v", simulated=False)
    start, events = ops[0], [op for op in ops if op["op"] == "event"]
    finish = {
        "v": 2, "op": "finish", "session_id": start["session_id"], "outcome": "ending",
        "ending_id": "d", "ending_kind": "good", "ended_at": "2026-01-02T00:00:00.000Z",
    }  # fmt: skip
    rewind = {**events[0], "seq": 100, "type": "rewind", "scene": "a", "choice": None}
    after = {**events[0], "seq": 101, "type": "choice_made", "scene": "b", "choice": "y"}
    seen = []
    for group in ([story_op(), start], events[:3], events[3:], [finish], [rewind], [after, finish]):
        conn.execute("BEGIN IMMEDIATE")
        apply_ops(conn, group)
        conn.execute("COMMIT")
        seen.append(conn.execute("SELECT outcome FROM sessions").fetchone()[0])
        assert conn.execute("SELECT COUNT(*) FROM session_digests").fetchone()[0] == 1
        assert stored(conn) == expected(conn), group[0]["op"]
    conn.close()
    assert seen[1:3] == ["in_progress"] * 2 and "ending" in seen and seen[4] == "in_progress"
    assert rows(path)["s001"][0] > 0  # its decisions are in it


@pytest.mark.parametrize("grouped", [False, True])
def test_an_event_that_arrives_after_later_ones_takes_its_place_in_the_path(
    tmp_path: Path, grouped: bool
) -> None:
    """The store accepts any seq not taken: a late choice goes where its seq puts it."""
    path = tmp_path / "a.db"
    conn = fresh_db(path)
    start = random_session(random.Random(0), 1, "v", simulated=False)[0]

    def event(seq: int, kind: str, scene: str, choice: str | None = None) -> Op:
        return {
            "v": 2, "op": "event", "session_id": "s001", "story_id": STORY,
            "content_hash": VERSION, "seq": seq, "ts": f"2026-01-02T10:00:{seq:02d}.000Z",
            "type": kind, "scene": scene, "choice": choice, "target": None,
            "decide_ms": None, "input": None, "state": None, "label": None,
        }  # fmt: skip

    arrivals = [
        [story_op(), start, event(0, "choice_made", "a", "x"), event(2, "choice_made", "c", "x")],
        [event(3, "scene_shown", "d"), event(1, "choice_made", "b", "y")],  # 1 after 2 and 3
        [event(5, "choice_made", "b", "x"), event(4, "rewind", "b")],  # 4 undoes b/y and c/x
    ]
    for group in arrivals:
        for applied in [group] if grouped else [[op] for op in group]:
            conn.execute("BEGIN IMMEDIATE")
            apply_ops(conn, applied)
            conn.execute("COMMIT")
    conn.close()
    made, depth, path_, shown, took, seq, *_ = check(path)["s001"]
    assert path_ == [["a", "x"], ["b", "x"]]  # in seq order: a/x, b/y, c/x, back to b, b/x
    assert (made, depth, shown, seq) == (4, 2, ["d"], 5)
    assert ["b", "y"] in took and ["c", "x"] in took


def test_prune_forget_and_merge_leave_digests_exact(tmp_path: Path) -> None:
    target, source = tmp_path / "target.db", tmp_path / "source.db"
    ops = fuzzed(7, sessions=40)
    # the target stops half way (sessions in progress), the source holds them all
    one_by_one(target, ops[: len(ops) // 2])
    check(target)
    in_bulk(source, ops, batch=10_000)
    merge(target, [source])
    check(target)
    prune(target, "2026-01-04")
    have = check(target)
    conn = sqlite3.connect(target)
    pruned = conn.execute("SELECT COUNT(*) FROM events WHERE ts < '2026-01-04'").fetchone()[0]
    conn.close()
    assert pruned == 0 and len(have) == 40
    forget_simulated(target)
    after = check(target)
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
    before_m015(conn)
    conn.execute("DROP TABLE session_digests")  # as a branching before m012 left it
    conn.execute("DROP TABLE digest_names")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name LIKE 'm012%'")
    conn.close()
    Store.open(path, create_key=False).close()
    assert rows(path) == want
    check(path)


def test_a_file_whose_m012_kept_finished_sessions_only_is_brought_to_the_rule(
    tmp_path: Path,
) -> None:
    """This morning's m012 (no `seq`, no row for a session in progress, rows dropped):
    rebuilt once at open, then left alone."""
    path = tmp_path / "morning.db"
    one_by_one(path, fuzzed(6))
    want = rows(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    before_m015(conn)
    conn.execute("ALTER TABLE session_digests RENAME TO new_digests")
    conn.execute(
        """CREATE TABLE session_digests (
            session_id TEXT PRIMARY KEY NOT NULL
                REFERENCES sessions (session_id) ON DELETE CASCADE,
            made INTEGER NOT NULL, depth INTEGER NOT NULL, path TEXT NOT NULL,
            shown TEXT NOT NULL, took TEXT NOT NULL) WITHOUT ROWID"""
    )
    conn.execute(
        """INSERT INTO session_digests SELECT d.session_id, made, depth, path, shown, took
        FROM new_digests d JOIN sessions s ON s.session_id = d.session_id
        WHERE s.outcome <> 'in_progress' AND s.session_id > 's010'"""
    )
    conn.execute("DROP TABLE new_digests")
    conn.execute("COMMIT")
    conn.close()
    Store.open(path, create_key=False).close()
    assert rows(path) == want
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    assert not digests.upgrade(conn)  # once: a file brought to the rule is left alone
    conn.execute("ROLLBACK")
    conn.close()


def test_a_simulated_audience_gets_the_same_digests_live_and_in_bulk(tmp_path: Path) -> None:
    story = load_story(ROOT / "stories" / "signal")
    audience = Audience(
        sessions=60, viewers=20, seed=3, start=date(2026, 2, 1), end=date(2026, 2, 5),
        timeouts=0.2, back=0.15, abandon=0.1,
    )  # fmt: skip
    batches = list(simulate(story, audience))
    in_bulk(tmp_path / "bulk.db", [op for b in batches for op in b], batch=20_000)
    in_groups(tmp_path / "live.db", [op for b in batches for op in b], 1)
    have = check(tmp_path / "bulk.db")
    assert any(made > depth for made, depth, *_ in have.values())  # rewinds undid some
    assert rows(tmp_path / "live.db") == have
    assert rows(rebuilt(tmp_path / "bulk.db", tmp_path / "rebuilt.db")) == have


def test_replay_undoes_what_a_rewind_takes_back() -> None:
    """The pure replay: a rewind undoes the latest choice at its scene and all after it;
    every edge walked (routes too) is listed whatever a rewind undid, with its target."""
    events = [
        (0, "choice_made", "a", "x", "b"),
        (1, "scene_shown", "b", None, None),
        (2, "choice_made", "b", "y", "c"),
        (3, "timeout_default", "c", "x", None),
        (4, "rewind", "b", None, None),  # undoes b/y and c/x
        (5, "choice_made", "b", "x", "d"),
        (6, "rewind", "d", None, None),  # no choice at d: nothing undone
        (7, "scene_shown", "a", None, None),
        (8, "choice_made", "", "x", "a"),  # no scene: counted as made, not a step
        (9, "route_taken", "d", None, "a"),
        (10, "choice_made", "a", "x", "c"),  # the same choice to another target
    ]
    replayed = digests.replay(events)
    assert replayed.made == 6
    assert replayed.path == [("a", "x"), ("b", "x"), ("a", "x")]
    assert replayed.shown == {"a", "b"}
    assert replayed.took == {("a", "x"), ("b", "x"), ("b", "y"), ("c", "x")}
    assert replayed.edges == {
        ("a", "x", "b"),
        ("a", "x", "c"),
        ("b", "y", "c"),
        ("c", "x", ""),
        ("b", "x", "d"),
        ("d", "", "a"),
    }
    assert replayed.late == {("c", "x", "")}
    assert (replayed.views, replayed.seq) == (2, 10)


def test_the_same_path_is_the_same_text(tmp_path: Path) -> None:
    """Compact arrays of codes: two sessions down the same path store the same text."""
    path = tmp_path / "a.db"
    conn = fresh_db(path)
    book = digests.Codebook(conn)
    one = book.encode(
        digests.replay([(0, "choice_made", "a", "x", "b"), (1, "choice_made", "b", "y", "c")])
    )
    two = book.encode(
        digests.replay(
            [
                (0, "choice_made", "a", "y", "c"),
                (1, "rewind", "a", None, None),
                (2, "choice_made", "a", "x", "b"),
                (3, "choice_made", "b", "y", "c"),
            ]
        )
    )
    assert one.path == two.path and one.path.startswith("[") and " " not in one.path
    assert one.took != two.took and (one.depth, two.depth, two.made) == (2, 2, 3)
    assert one.reached != two.reached and (len(one.reached), len(two.reached)) == (2, 3)
    conn.close()


def test_the_copies_follow_the_sessions_and_agg_firsts_however_they_change(
    tmp_path: Path,
) -> None:
    """m015's triggers, whatever writes: a session's finish copied, `agg_firsts` rows
    deleted, added back and moved to another session (the flag follows each), an
    attribute added, changed and deleted."""
    path = tmp_path / "a.db"
    in_bulk(path, fuzzed(8), batch=10_000)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    firsts = conn.execute("SELECT * FROM agg_firsts").fetchall()
    conn.execute("DELETE FROM agg_firsts")
    assert not conn.execute("SELECT SUM(first_play) FROM session_digests").fetchone()[0]
    conn.executemany("INSERT INTO agg_firsts VALUES (?, ?, ?, ?)", firsts)
    copies(conn)
    story, viewer, first, _ = firsts[0]
    (other,) = conn.execute(  # another of the viewer's sessions
        "SELECT session_id FROM sessions WHERE story_id = ? AND viewer_id = ? "
        "AND session_id <> ? LIMIT 1",
        [story, viewer, first],
    ).fetchone()
    conn.execute(
        "UPDATE agg_firsts SET session_id = ? WHERE story_id = ? AND viewer_id = ?",
        [other, story, viewer],
    )
    conn.execute(
        "UPDATE sessions SET outcome = 'ending', ending_id = 'z', platform = 'p' "
        "WHERE session_id = ?",
        [other],
    )
    flags = dict(conn.execute("SELECT session_id, first_play FROM session_digests"))
    assert flags[other] == 1 and flags[first] == 0
    conn.execute(
        "INSERT INTO session_attrs VALUES (?, 'zone', 'b'), (?, 'age', 'it''s ''3'',=4')",
        [first] * 2,
    )
    copies(conn)
    conn.execute(
        "UPDATE session_attrs SET value = 'c' WHERE session_id = ? AND key = 'zone'", [first]
    )
    conn.execute("DELETE FROM session_attrs WHERE session_id = ? AND key = 'age'", [first])
    copies(conn)
    conn.execute("ROLLBACK")
    conn.close()


def _upgraded(
    path: Path, undo: Callable[[sqlite3.Connection], None], want: dict[str, Any]
) -> sqlite3.Connection:
    """`path` taken back to before a step (`undo`), then upgraded by `Store.open`: its
    digests must be `want` again and keep the rule; a connection to it, to go on."""
    conn = sqlite3.connect(path, isolation_level=None)
    undo(conn)
    conn.close()
    Store.open(path, create_key=False).close()
    assert rows(path) == want
    check(path)
    return sqlite3.connect(path, isolation_level=None)


def test_m016_backfills_each_digests_viewer_and_the_scenes_of_its_acts(tmp_path: Path) -> None:
    """A file m016 has not upgraded gets each digest's viewer and its lists of scenes
    timed out, rewound to, paused and skipped at from the events, and `seq` over
    them: the rows the live writer keeps; then the triggers keep the viewer."""
    path = tmp_path / "m015.db"
    one_by_one(path, fuzzed(7))
    want = rows(path)
    assert any(any(acts) for *_, acts, _ in want.values())
    conn = _upgraded(path, before_m016, want)
    try:
        conn.execute("UPDATE sessions SET viewer_id = 'moved' WHERE session_id = 's003'")
        copies(conn)
    finally:
        conn.close()


def test_m018_backfills_each_digests_edges_views_and_last_scene(tmp_path: Path) -> None:
    """A file m018 has not upgraded gets each digest's edges (routes and targets too),
    the edges the clock chose, its views and its session's last scene from the events
    and the sessions, and `seq` over the routes: the rows the live writer keeps; then
    the triggers keep the last scene, and the index by viewer holds the new columns."""
    path = tmp_path / "m017.db"
    one_by_one(path, fuzzed(11))
    want = rows(path)
    assert any(edges and late for *_, (edges, late, _) in want.values())
    assert any(edge[1] == "" for *_, (edges, _, _) in want.values() for edge in edges)
    conn = _upgraded(path, before_m018, want)
    try:
        (index,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'session_digests_by_viewer'"
        ).fetchone()
        assert all(column in index for column in ("ending_id", "last_scene", "views", "reached"))
        conn.execute("UPDATE sessions SET last_scene = 'elsewhere' WHERE session_id = 's004'")
        conn.execute("UPDATE sessions SET last_scene = NULL WHERE session_id = 's005'")
        copies(conn)
    finally:
        conn.close()
