"""A key press applied on the player's own thread, and the log grown once.

When the writer has nothing queued, the player's thread applies and commits
its key press itself (`Writer.submit_group`): no hand-over between threads,
and still one transaction, on disk before the call returns. Anything queued
before it keeps its place: the press then waits its turn on the writer thread.
A press that cannot be committed from the player's thread is kept in the spool
as ever, and the writer thread loads it back on its own. The writer's log is
grown once when it connects (`db.reserve_wal`), so commits overwrite it
instead of growing it, and nothing in the database changes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from branching.store import Store, StoryInfo
from branching.store import db as db_module
from branching.store.db import reserve_wal
from branching.store.session import SessionWriter


def wait_until(predicate: Callable[[], bool], limit: float = 15.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def committing_threads(store: Store) -> list[str]:
    """The name of the thread sending each COMMIT of the store's writer from now on."""
    seen: list[str] = []
    connect = store._connect_writer

    def traced(busy_ms: int) -> sqlite3.Connection:
        conn = connect(busy_ms)
        conn.set_trace_callback(
            lambda sql: seen.append(threading.current_thread().name) if sql == "COMMIT" else None
        )
        return conn

    store._writer._drop_connection()
    store._writer._connect = traced
    return seen


def session_of(store: Store) -> SessionWriter:
    store.register_story(StoryInfo("s", "S", None, None, "h", "{}")).result()
    session = store.start_session("s", "h", "ana", seed=1)
    assert session.record("scene_shown", scene="a").result()
    return session


def key_press(session: SessionWriter, scene: str, target: str) -> list[bool]:
    session.begin_group()
    futures = [
        session.record("choice_made", scene=scene, choice="go", target=target, input="key"),
        session.record("scene_shown", scene=target),
    ]
    session.end_group()
    return [f.result(timeout=30) for f in futures]


def test_a_key_press_on_an_idle_writer_commits_on_the_players_thread(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with Store.open(db) as store:
        session = session_of(store)
        threads = committing_threads(store)
        assert key_press(session, "a", "b") == [True, True]
        assert key_press(session, "b", "c") == [True, True]
        session.close()
        assert threads == [threading.current_thread().name] * 2  # one commit each, here
    assert rows(db, "SELECT seq, type FROM events ORDER BY seq") == [
        (1, "scene_shown"),
        (2, "choice_made"),
        (3, "scene_shown"),
        (4, "choice_made"),
        (5, "scene_shown"),
    ]
    assert rows(db, "SELECT last_scene FROM sessions") == [("c",)]


def test_a_key_press_behind_queued_records_waits_its_turn(tmp_path: Path) -> None:
    """A record queued to the writer thread (waiting out a short lock) commits first;
    the key press submitted after it is applied after it, on the writer thread."""
    db = tmp_path / "t.db"
    with Store.open(db) as store:
        session = session_of(store)
        threads = committing_threads(store)
        other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.3, lambda: other.execute("ROLLBACK"))
        release.start()
        try:
            single = session.record("pause", scene="a")  # queued: the writer waits on the lock
            assert key_press(session, "a", "b") == [True, True]
            assert single.result(timeout=30) is True
        finally:
            release.join()
            other.close()
        session.close()
        assert threads == ["branching-store-writer"] * 2
    assert rows(db, "SELECT seq, type FROM events ORDER BY seq") == [
        (1, "scene_shown"),
        (2, "pause"),
        (3, "choice_made"),
        (4, "scene_shown"),
    ]
    assert rows(db, "SELECT last_scene FROM sessions") == [("b",)]


def test_a_key_press_kept_from_the_players_thread_loads_back_with_nothing_more_sent(
    tmp_path: Path,
) -> None:
    """Kept in the spool by the player's thread (the database locked past the retry
    window), the press is loaded back by the writer thread once the lock is gone,
    though the player sends nothing more."""
    db = tmp_path / "t.db"
    with Store.open(db, busy_timeout_ms=100, retry_window=0.2) as store:
        session = session_of(store)
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            assert key_press(session, "a", "b") == [False, False]  # kept in the spool
            assert store.pending == 2
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert wait_until(lambda: store.pending == 0)
        assert rows(db, "SELECT seq, type FROM events ORDER BY seq")[1:] == [
            (2, "choice_made"),
            (3, "scene_shown"),
        ]
        assert key_press(session, "b", "c") == [True, True]  # and on it goes, committed
        session.close()
    assert [seq for (seq,) in rows(db, "SELECT seq FROM events ORDER BY seq")] == [1, 2, 3, 4, 5]


def wal_size(db: Path) -> int:
    return db.with_name(db.name + "-wal").stat().st_size


def test_the_writers_log_is_grown_once_and_then_overwritten(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with Store.open(db) as store:
        session = session_of(store)  # the writer connects: its log is grown
        conn = sqlite3.connect(db)
        frames, page = (
            conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0],
            conn.execute("PRAGMA page_size").fetchone()[0],
        )
        conn.close()
        grown = wal_size(db)
        assert grown >= 32 + frames * (page + 24)
        for i in range(40):
            assert key_press(session, f"s{i}", f"s{i + 1}") == [True, True]
        assert wal_size(db) == grown  # the presses overwrote it: it never grew
        session.close()
    # nothing of the growing is in the database; what was recorded is
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert rows(db, "SELECT name FROM sqlite_master WHERE name LIKE '%reserve%'") == []
    assert rows(db, "SELECT COUNT(*), MAX(seq) FROM events") == [(81, 81)]
    assert rows(db, "SELECT last_scene FROM sessions") == [("s40",)]


def test_growing_the_log_skips_a_locked_database_and_leaves_the_connection_as_it_was(
    tmp_path: Path,
) -> None:
    db = tmp_path / "t.db"
    Store.open(db).close()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA busy_timeout = 4321")
    conn.execute("PRAGMA cache_size = -3000")
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert reserve_wal(conn) is False  # locked: it does nothing, and never waits
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert reserve_wal(conn) is True
    assert reserve_wal(conn) is False  # already grown
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 4321
    assert conn.execute("PRAGMA cache_size").fetchone()[0] == -3000
    assert not conn.in_transaction
    conn.close()
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


def test_closing_while_a_key_press_commits_on_the_players_thread_loses_nothing(
    tmp_path: Path,
) -> None:
    """The store closed (another thread) while a press is being committed on the
    player's thread, waiting out a short lock: the press is committed first."""
    db = tmp_path / "t.db"
    store = Store.open(db)
    session = session_of(store)
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    answers: list[list[bool]] = []
    player = threading.Thread(target=lambda: answers.append(key_press(session, "a", "b")))
    player.start()
    assert wait_until(lambda: store._writer._queued == 1)  # the press holds the writer
    release = threading.Timer(0.3, lambda: other.execute("ROLLBACK"))
    release.start()
    store.close()  # waits for the press
    player.join(30)
    release.join()
    other.close()
    assert answers == [[True, True]]
    assert rows(db, "SELECT seq, type FROM events ORDER BY seq") == [
        (1, "scene_shown"),
        (2, "choice_made"),
        (3, "scene_shown"),
    ]


def test_the_log_is_not_grown_into_a_nearly_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "t.db"
    Store.open(db).close()
    free = os.statvfs(tmp_path)
    monkeypatch.setattr(db_module, "WAL_RESERVE_MIN_FREE", free.f_bavail * free.f_frsize)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    before = wal_size(db) if db.with_name(db.name + "-wal").exists() else 0
    assert reserve_wal(conn) is False  # the disk's last space is left to the records
    after = wal_size(db) if db.with_name(db.name + "-wal").exists() else 0
    assert after == before
    conn.close()
