"""A key press writes its session's digest once, last scene included (m022).

Each scene shown moves the session's last scene, which its digest carries
as a copy (m018's trigger). The key press now writes the new last scene with
the rest of the digest, and m022's trigger skips the copy the digest already
holds. What a reader sees must not change: every digest's last scene is its
session's, whichever path moved it (a key press, the one-op path a spool
load takes, an upgraded file).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from branching.play.engine import Playthrough
from branching.recording import StoreRecorder
from branching.store import Store, StoryInfo, db
from branching.store.migrations import migrate
from branching.store.ops import apply_op
from branching.story.loader import load_story
from branching.story.model import Story

ROOT = Path(__file__).resolve().parent.parent

# m018's trigger, before m022 added its condition on the digest
M018_TRIGGER = """CREATE TRIGGER sessions_last_scene_to_digest
    AFTER UPDATE OF last_scene ON sessions
    WHEN NEW.last_scene IS NOT OLD.last_scene BEGIN
        UPDATE session_digests SET last_scene = NEW.last_scene
        WHERE session_id = NEW.session_id;
    END"""


@pytest.fixture(scope="module")
def signal() -> Story:
    return load_story(ROOT / "stories" / "signal")


def play(store: Store, story: Story, seed: int, presses: int) -> None:
    """A viewer's session: `presses` key presses (fewer at an ending)."""
    store.register_story(
        StoryInfo(
            story.id, story.title, story.author, story.version, story.content_hash,
            story.structure(),
        )
    )  # fmt: skip
    rec = StoreRecorder(store.start_session(story.id, story.content_hash, "ana", seed=seed))
    run = Playthrough.start(story, seed)
    rec.started(run)
    for _ in range(presses):
        view = run.view
        if view.finished:
            break
        choice = next(c for c in view.choices if not c.locked)
        run.choose(choice.id)
        rec.chose(run, view.scene, choice.id, choice.target, decide_ms=700, input="key")
        rec.shown(run)
    rec.close()


def mismatched(path: Path) -> list[tuple[str, str | None, str | None]]:
    """Sessions whose digest's last scene is not their own."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            """SELECT s.session_id, s.last_scene, d.last_scene FROM sessions s
            JOIN session_digests d ON d.session_id = s.session_id
            WHERE d.last_scene IS NOT s.last_scene"""
        ).fetchall()
    finally:
        conn.close()


def test_key_presses_leave_every_digest_with_its_sessions_last_scene(
    tmp_path: Path, signal: Story
) -> None:
    path = tmp_path / "t.db"
    with Store.open(path) as store:
        for seed in range(1, 6):
            play(store, signal, seed, presses=4 + seed)  # some in progress, some ended
    assert mismatched(path) == []
    conn = sqlite3.connect(path)
    try:
        moved = conn.execute("SELECT COUNT(*) FROM sessions WHERE last_scene IS NOT NULL")
        assert moved.fetchone()[0] == 5
    finally:
        conn.close()


def test_a_key_press_writes_the_digest_once_where_m018_wrote_it_twice(
    tmp_path: Path, signal: Story
) -> None:
    """The same presses, against m018's trigger and m022's: one row change fewer per press
    (the trigger's second write of the digest), and the same digests."""
    changes: dict[str, int] = {}
    rows: dict[str, list[tuple[object, ...]]] = {}
    for name, trigger in (("m018", M018_TRIGGER), ("m022", None)):
        path = tmp_path / f"{name}.db"
        with Store.open(path) as store:
            play(store, signal, 1, presses=0)  # the story and a first session: none pressed
        if trigger is not None:
            conn = sqlite3.connect(path)
            conn.execute("DROP TRIGGER sessions_last_scene_to_digest")
            conn.execute(trigger)
            conn.commit()
            conn.close()
        with Store.open(path) as store:
            store.flush()
            writer = store._writer
            play(store, signal, 7, presses=0)
            conn = writer._conn
            assert conn is not None
            before = conn.total_changes
            play(store, signal, 8, presses=3)
            store.flush()
            changes[name] = conn.total_changes - before
        check = sqlite3.connect(path)
        try:
            rows[name] = check.execute(
                """SELECT d.made, d.depth, d.views, d.last_scene, d.reached FROM session_digests d
                JOIN sessions s ON s.session_id = d.session_id ORDER BY s.seed"""
            ).fetchall()
        finally:
            check.close()
        assert mismatched(path) == []
    assert rows["m022"] == rows["m018"]
    assert changes["m022"] <= changes["m018"] - 3  # at least one write fewer per press


def test_the_one_op_path_still_copies_the_last_scene(tmp_path: Path, signal: Story) -> None:
    """A spool load applies ops one by one (`apply_op`): the trigger copies as before."""
    source = tmp_path / "source.db"
    with Store.open(source) as store:
        play(store, signal, 4, presses=5)
    conn = sqlite3.connect(source)
    try:
        session = conn.execute("SELECT session_id, last_scene FROM sessions").fetchone()
        shown = conn.execute(
            "SELECT seq, ts, scene FROM events WHERE session_id = ? AND type = 'scene_shown' "
            "ORDER BY seq DESC LIMIT 1",
            [session[0]],
        ).fetchone()
    finally:
        conn.close()
    # a scene shown later than any recorded, applied alone, moves the session and its digest
    target = next(s for s in signal.scenes if s != session[1])
    with Store.open(source) as store:
        store.flush()
    conn = db.connect(source)
    try:
        conn.execute("BEGIN IMMEDIATE")
        apply_op(
            conn,
            {
                "v": 2, "op": "event", "session_id": session[0], "story_id": signal.id,
                "content_hash": signal.content_hash, "seq": shown[0] + 100, "ts": shown[1],
                "type": "scene_shown", "scene": target, "choice": None, "target": None,
                "decide_ms": None, "input": None, "label": None, "state": None,
            },
        )  # fmt: skip
        conn.execute("COMMIT")
    finally:
        conn.close()
    assert mismatched(source) == []
    check = sqlite3.connect(source)
    try:
        assert check.execute(
            "SELECT last_scene FROM session_digests WHERE session_id = ?", [session[0]]
        ).fetchone() == (target,)
    finally:
        check.close()


def test_an_upgraded_file_gets_the_guarded_trigger_and_keeps_its_copies(
    tmp_path: Path, signal: Story
) -> None:
    path = tmp_path / "old.db"
    db.create_file(path)
    conn = db.connect(path)
    migrate(conn, path, stop_before="m022_one_digest_write_per_key_press")
    conn.close()
    with Store.open(path) as store:  # migrates to the current schema
        play(store, signal, 2, presses=6)
    conn = sqlite3.connect(path)
    try:
        sql = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'sessions_last_scene_to_digest'"
        ).fetchone()[0]
    finally:
        conn.close()
    assert "session_digests d" in sql  # m022's condition on the digest
    assert mismatched(path) == []


def test_a_key_press_updates_its_digest_in_place_and_writes_back_one_gone_missing(
    tmp_path: Path, signal: Story
) -> None:
    """A key press changes its session's digest with one UPDATE (no upsert: the row
    exists since the session started); should the row be gone, the press inserts it
    whole again, and every digest stays exact (`test_store_digests.check`)."""
    from tests.test_store_digests import check

    path = tmp_path / "t.db"
    statements: list[str] = []
    with Store.open(path) as store:
        play(store, signal, 1, presses=2)
        store.flush()
        conn = store._writer._conn
        assert conn is not None
        conn.set_trace_callback(statements.append)
        rec = StoreRecorder(store.start_session(signal.id, signal.content_hash, "ana", seed=2))
        run = Playthrough.start(signal, 2)
        rec.started(run)
        for press in range(6):
            if press == 3:  # another program deletes the session's digest meanwhile
                store.flush()
                before = len(statements)
                sid = rec.session.session_id
                other = sqlite3.connect(path)
                other.execute("DELETE FROM session_digests WHERE session_id = ?", [sid])
                other.commit()
                other.close()
            view = run.view
            choice = next(c for c in view.choices if not c.locked)
            run.choose(choice.id)
            rec.chose(run, view.scene, choice.id, choice.target, decide_ms=700, input="key")
            rec.shown(run)
        rec.close()
        store.flush()
        conn.set_trace_callback(None)
    digest = ("UPDATE session_digests", "INSERT INTO session_digests")
    # (a statement that fires triggers is traced again for each: one INSERT shows as several)
    pressed = [s.split()[0] for s in statements[:before] if s.startswith(digest)]
    started = pressed.index("UPDATE")
    assert set(pressed[:started]) == {"INSERT"}  # the new session's empty digest
    assert pressed[started:] == ["UPDATE"] * 4  # its start and three presses: in place
    after = [s.split()[0] for s in statements[before:] if s.startswith(digest)]
    assert after[:2] == ["UPDATE", "INSERT"]  # it found no row: the whole digest again
    assert after[-2:] == ["UPDATE", "UPDATE"]  # the next presses: in place again
    check(path)
