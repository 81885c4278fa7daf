"""Opening the database: pragmas, 0600 files, foreign and damaged files, schema checks."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from branching.store import (
    CorruptDatabase,
    DatabaseMissing,
    ForeignDatabase,
    NewerSchema,
    NotADatabase,
    Store,
)
from branching.store.db import connect, read_pragmas
from tests.test_store_api import play_through, rows


@pytest.fixture
def wide_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_pragmas_are_set_explicitly_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    conn = connect(path)
    try:
        assert read_pragmas(conn) == {
            "journal_mode": "wal",
            "synchronous": 2,  # FULL
            "busy_timeout": 10_000,
            "secure_delete": 1,
            "trusted_schema": 0,
            "foreign_keys": 1,
        }
    finally:
        conn.close()
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]  # persisted in the file


def test_database_wal_and_shm_are_0600_whatever_the_umask(tmp_path: Path, wide_umask: None) -> None:
    path = tmp_path / "t.db"
    store = Store.open(path)
    session = play_through(store, "alice")
    assert session.session_id
    wal, shm = path.with_name("t.db-wal"), path.with_name("t.db-shm")
    assert wal.exists() and shm.exists()
    assert [_mode(p) for p in (path, wal, shm)] == [0o600, 0o600, 0o600]
    store.close()


def test_a_new_database_folder_is_created_private(tmp_path: Path, wide_umask: None) -> None:
    path = tmp_path / "nested" / "deeper" / "t.db"
    Store.open(path).close()
    assert _mode(path.parent) == 0o700 and _mode(path) == 0o600


@pytest.mark.parametrize(
    "content",
    [b"player,choice\nalice,frosties\n", b"\x89PNG\r\n\x1a\n" + bytes(200), b"SQLite"],
    ids=["text", "png", "short"],
)
def test_a_file_that_is_not_sqlite_gives_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(content)
    with pytest.raises(NotADatabase, match="not an SQLite file"):
        Store.open(path)
    assert path.read_bytes() == content  # untouched


def test_a_folder_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotADatabase, match="folder"):
        Store.open(tmp_path)


def test_someone_elses_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.commit()
    conn.close()
    with pytest.raises(ForeignDatabase, match="did not create.*invoices"):
        Store.open(path)
    assert rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'") == [("invoices",)]


def test_a_damaged_database_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with Store.open(path) as store:
        play_through(store, "alice")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xa5" * (4096 - 100)  # the schema page, after the file header
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptDatabase, match="is damaged") as info:
        Store.open(path)
    assert str(path) in str(info.value)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
        "VALUES ('branching.store', 'm999_from_the_future', 'now')"
    )
    conn.commit()
    conn.close()
    with pytest.raises(NewerSchema, match="newer version"):
        Store.open(path)


def test_commands_do_not_create_a_missing_database(tmp_path: Path) -> None:
    with pytest.raises(DatabaseMissing, match="no telemetry database"):
        Store.open(tmp_path / "absent.db", create=False)
    assert not (tmp_path / "absent.db").exists()


def test_integrity_check_reports_ok_for_a_sound_file(tmp_path: Path) -> None:
    with Store.open(tmp_path / "t.db") as store:
        play_through(store, "alice")
        assert store.integrity_check() == ["ok"]
