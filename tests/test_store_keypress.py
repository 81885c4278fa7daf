"""One key press, one commit: the choice and everything it shows are on disk together.

A viewer's key press records the choice, each scene it passes through and
shows, and, at an ending, the ending and the session's outcome. They commit in
one transaction (one fsync instead of four or five), and the player still
shows the next scene only once they are on disk. When that transaction cannot
be committed (the database is locked), each record takes the usual one-by-one
path: kept in the spool, loaded back later, none lost and none doubled.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from branching.play.engine import Playthrough
from branching.recording import StoreRecorder
from branching.store import Store, StoryInfo
from branching.story.loader import load_story
from branching.story.model import Story

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def signal() -> Story:
    return load_story(ROOT / "stories" / "signal")


def recorder(store: Store, story: Story) -> StoreRecorder:
    store.register_story(
        StoryInfo(
            story.id, story.title, story.author, story.version, story.content_hash,
            story.structure(),
        )
    )  # fmt: skip
    return StoreRecorder(store.start_session(story.id, story.content_hash, "ana", seed=3))


def count_commits(store: Store) -> list[str]:
    """Every COMMIT the store's writer sends from now on."""
    sent: list[str] = []
    connect = store._connect_writer

    def traced(busy_ms: int) -> sqlite3.Connection:
        conn = connect(busy_ms)
        conn.set_trace_callback(lambda sql: sent.append(sql) if sql == "COMMIT" else None)
        return conn

    store._writer._drop_connection()
    store._writer._connect = traced
    return sent


def press(rec: StoreRecorder, run: Playthrough) -> None:
    """What a player does on a key press: step the engine, record the choice and the scenes."""
    view = run.view
    choice = next(c for c in view.choices if not c.locked)
    run.choose(choice.id)
    rec.chose(run, view.scene, choice.id, choice.target, decide_ms=900, input="key")
    rec.shown(run)


def events(db: Path) -> list[tuple[int, str]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT seq, type FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()


def test_each_key_press_is_one_commit_and_on_disk_when_the_call_returns(
    tmp_path: Path, signal: Story
) -> None:
    db = tmp_path / "t.db"
    with Store.open(db) as store:
        rec = recorder(store, signal)
        run = Playthrough.start(signal, 3)
        rec.started(run)
        commits = count_commits(store)
        presses = 0
        while not run.view.finished:
            before = len(events(db))
            press(rec, run)
            presses += 1
            recorded = events(db)[before:]  # read by another connection: committed
            assert recorded[0][1] in ("choice_made", "timeout_default")
            assert recorded[-1][1] in ("scene_shown", "ending_reached")
            assert len(recorded) >= 2
        rec.close()
        assert presses >= 3
        assert len(commits) == presses  # one transaction per key press, the ending's included
    seqs = [seq for seq, _ in events(db)]
    assert seqs == list(range(1, len(seqs) + 1))
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT outcome FROM sessions").fetchall() == [("ending",)]
    conn.close()


def test_a_key_press_on_a_locked_database_is_kept_and_loaded_back_whole(
    tmp_path: Path, signal: Story
) -> None:
    db = tmp_path / "t.db"
    with Store.open(db, retry_window=0.2) as store:
        rec = recorder(store, signal)
        run = Playthrough.start(signal, 3)
        rec.started(run)
        first = len(events(db))
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            press(rec, run)  # returns once kept in the spool
            assert len(events(db)) == first
        finally:
            other.execute("ROLLBACK")
            other.close()
        press(rec, run)
        rec.close()
    with Store.open(db):
        pass  # loads what the spool kept
    recorded = events(db)
    seqs = [seq for seq, _ in recorded]
    assert seqs == list(range(1, len(seqs) + 1))  # nothing lost, nothing twice
    assert sum(kind == "choice_made" or kind == "timeout_default" for _, kind in recorded) == 2


def test_a_key_press_says_whether_it_was_committed_or_kept(tmp_path: Path) -> None:
    """Every record of a key press answers for the whole press: True once committed,
    False once kept in the spool (the database locked), and the kept press loads back."""
    db = tmp_path / "t.db"
    with Store.open(db, retry_window=0.2) as store:
        store.register_story(StoryInfo("s", "S", None, None, "h", "{}"))
        session = store.start_session("s", "h", "ana", seed=1)
        session.begin_group()
        press = [
            session.record("choice_made", scene="a", choice="go", target="b", input="key"),
            session.record("scene_shown", scene="b"),
        ]
        session.end_group()
        assert [f.result() for f in press] == [True, True]
        assert [kind for _, kind in events(db)] == ["choice_made", "scene_shown"]
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            session.begin_group()
            press = [
                session.record("choice_made", scene="b", choice="on", target="c", input="key"),
                session.record("scene_shown", scene="c"),
                session.finish("ending", ending="c", ending_kind="good"),
            ]
            session.end_group()
            assert [f.result() for f in press] == [False, False, False]
        finally:
            other.execute("ROLLBACK")
            other.close()
        session.close()
    with Store.open(db):
        pass  # loads what the spool kept
    assert [seq for seq, _ in events(db)] == [1, 2, 3, 4]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT outcome, last_scene FROM sessions").fetchall() == [("ending", "c")]
    conn.close()


def test_a_bug_met_by_one_record_of_a_key_press_is_raised_to_the_player(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from branching.store import writer as writer_module
    from branching.store.ops import apply_op

    def broken(conn: sqlite3.Connection, op: dict[str, object]) -> bool:
        if op.get("type") == "scene_shown":
            raise TypeError("a bug")
        return apply_op(conn, op)

    # the writer's one name for applying, for a group and for one op
    monkeypatch.setattr(writer_module, "apply_ops", lambda c, ops, *_: [broken(c, o) for o in ops])
    db = tmp_path / "t.db"
    with Store.open(db) as store:
        store.register_story(StoryInfo("s", "S", None, None, "h", "{}"))
        session = store.start_session("s", "h", "ana", seed=1)
        session.begin_group()
        choice = session.record("choice_made", scene="a", choice="go", target="b", input="key")
        session.record("scene_shown", scene="b")
        session.end_group()
        with pytest.raises(TypeError):
            choice.result()
        session.close()
    assert [kind for _, kind in events(db)] == ["choice_made"]  # the rest is committed
