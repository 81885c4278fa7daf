"""Faults: a locked, read-only or full database never crashes a player or loses an event.

Each test creates the real condition: a second connection holding
`BEGIN EXCLUSIVE`, a writer connection opened read-only (`mode=ro`, since the
tests run as root and chmod would not stop them), or a page limit that makes
SQLite report the disk full.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from branching.store import Store
from branching.store.db import connect, uri
from tests.test_store_api import begin, rows, totals_consistent

FAST = {"busy_timeout_ms": 100, "retry_window": 0.3}


@contextmanager
def exclusive_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Another program holding the database's write lock."""
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        yield blocker
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def _wait_until(predicate: object, limit: float = 15.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def _spooled(path: Path) -> list[dict[str, object]]:
    spool = path.with_name(path.name + ".spool")
    return [json.loads(line) for line in spool.read_text().splitlines()] if spool.exists() else []


def test_a_lock_held_beyond_the_timeout_keeps_the_event_and_writes_it_later(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = Store.open(path, **FAST)
    session = begin(store)
    assert session.record("scene_shown", scene="kitchen").result()
    with exclusive_lock(path):
        kept = session.record("choice_made", scene="kitchen", choice="puffs", target="bus")
        assert kept.result(timeout=10) is False  # not committed, and no exception
        assert store.pending == 1
    assert _wait_until(lambda: store.pending == 0)
    session.close()
    store.close()
    assert rows(path, "SELECT seq, type FROM events ORDER BY seq") == [
        (1, "scene_shown"),
        (2, "choice_made"),
    ]
    assert _spooled(path) == [] and totals_consistent(path)


def test_a_short_lock_is_waited_out_within_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    # the wait for a lock is the retry window (the busy timeout is cut to fit it)
    store = Store.open(path, busy_timeout_ms=5000, retry_window=2.0)
    session = begin(store)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    future = session.record("pause")
    time.sleep(0.3)
    blocker.execute("ROLLBACK")
    blocker.close()
    assert future.result(timeout=10) is True
    session.close()
    store.close()


def test_still_locked_at_close_goes_to_the_spool_and_loads_at_next_open(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = Store.open(path, **FAST)
    with exclusive_lock(path):
        session = begin(store)
        futures = [
            session.record("scene_shown", scene="kitchen", state={"n": 1}),
            session.record(
                "choice_made",
                scene="kitchen",
                choice="puffs",
                target="bus",
                decide_ms=300,
                input="key",
            ),
        ]
        assert [f.result(timeout=10) for f in futures] == [False, False]
        session.close()
        store.close()
        spooled = _spooled(path)
    spool = path.with_name("t.db.spool")
    assert stat.S_IMODE(spool.stat().st_mode) == 0o600
    assert [r["op"] for r in spooled] == ["story", "session", "event", "event"]
    assert rows(path, "SELECT COUNT(*) FROM events") == [(0,)]

    reopened = Store.open(path)
    assert reopened.spooled_in == 4
    reopened.close()
    assert not spool.exists()
    assert rows(path, "SELECT type, decide_ms FROM events ORDER BY seq") == [
        ("scene_shown", None),
        ("choice_made", 300),
    ]
    assert rows(path, "SELECT count FROM traversals") == [(1,)]
    assert totals_consistent(path)


def test_loading_the_same_spool_twice_counts_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    store = Store.open(path, **FAST)
    session = begin(store)
    with exclusive_lock(path):
        session.record("choice_made", scene="kitchen", choice="puffs", target="bus").result()
        store.close()
    spool = path.with_name("t.db.spool")
    saved = spool.read_bytes()
    Store.open(path).close()
    spool.write_bytes(saved + b'{"v":1,"op":"event","torn')  # replayed, plus a torn last line
    Store.open(path).close()
    assert rows(path, "SELECT COUNT(*) FROM events") == [(1,)]
    assert rows(path, "SELECT count FROM traversals") == [(1,)]
    rejected = path.with_name("t.db.spool.rejected").read_bytes()
    assert rejected == b'{"v":1,"op":"event","torn\n'
    assert not spool.exists()


def test_a_read_only_database_keeps_events_and_spools_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()

    def read_only(self: Store, busy_ms: int) -> sqlite3.Connection:
        return sqlite3.connect(
            uri(path, "ro"), uri=True, isolation_level=None, check_same_thread=False
        )

    monkeypatch.setattr(Store, "_connect_writer", read_only)
    store = Store.open(path, **FAST)
    session = begin(store)
    assert session.record("pause").result(timeout=10) is False
    assert "readonly" in (store._writer.last_error or "")
    session.close()  # spills to the spool now
    assert [r["op"] for r in _spooled(path)] == ["story", "session", "event"]
    store.close()
    monkeypatch.undo()
    Store.open(path).close()
    assert rows(path, "SELECT type FROM events") == [("pause",)]


def test_a_full_disk_keeps_events_and_spools_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.db"
    with Store.open(path) as store:
        begin(store).close()
    pages = rows(path, "PRAGMA page_count")[0][0]

    def full(self: Store, busy_ms: int) -> sqlite3.Connection:
        conn = connect(path, busy_timeout_ms=busy_ms)
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(Store, "_connect_writer", full)
    store = Store.open(path, **FAST)
    session = store.resume_session(rows(path, "SELECT session_id FROM sessions")[0][0])
    big = {"notes": "x" * 20_000}
    assert session.record("scene_shown", scene="kitchen", state=big).result(timeout=10) is False
    assert "full" in (store._writer.last_error or "")
    store.close()
    monkeypatch.undo()
    Store.open(path).close()
    assert rows(path, "SELECT length(state) > 20000 FROM events") == [(1,)]
