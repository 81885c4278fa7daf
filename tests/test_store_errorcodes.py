"""SQLite errors are told apart by their result code, and bugs are never bad data.

The message text of an SQLite error quotes the query ("no such column:
locked", "malformed JSON"), so only `sqlite_errorcode` says what happened. A
`KeyError` or `TypeError` met while writing is a bug in the program: the
caller sees it, and the record is not set aside in the spool as if SQLite had
refused it.

The writer tests replace the `apply_op` the writer thread calls with one that
fails for one event type, as the database or a bug would.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from branching.store import CorruptDatabase, InvalidInput, NotADatabase, Store, StoreError
from branching.store import writer as writer_module
from branching.store.db import Fault, classify, translate, uri
from branching.store.ops import apply_op
from tests.test_store_api import begin, rows, totals_consistent
from tests.test_store_faults import exclusive_lock

BUSY_MS = 100
PATIENT = 5.0  # a retry window long enough that a test never races it


def sqlite_error(
    cls: type[sqlite3.Error], message: str, code: int, name: str = "SQLITE_TEST"
) -> sqlite3.Error:
    """An sqlite3 exception as the module raises it: its message and SQLite's result code."""
    exc = cls(message)
    exc.sqlite_errorcode = code
    exc.sqlite_errorname = name
    return exc


def real_error(sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Error:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a TEXT PRIMARY KEY, b TEXT)")
    conn.execute("INSERT INTO t VALUES ('x', 'y')")
    try:
        conn.execute(sql, params)
    except sqlite3.Error as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError(f"{sql} did not fail")


def fail_on(
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    error: Callable[[], BaseException],
    times: int | None = None,
) -> list[dict[str, Any]]:
    """Make the writer's apply fail for events of type `kind` (`times` times, or always)."""
    tries: list[dict[str, Any]] = []

    def apply(conn: sqlite3.Connection, op: dict[str, Any]) -> bool:
        if op.get("type") == kind and (times is None or len(tries) < times):
            tries.append(op)
            raise error()
        return apply_op(conn, op)

    # the name the writer calls, for one op and for a group
    monkeypatch.setattr(writer_module, "apply_ops", lambda c, ops, *_: [apply(c, o) for o in ops])
    return tries


def count_connections(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    opened: list[int] = []
    real = Store._connect_writer

    def connect(self: Store, busy_ms: int) -> sqlite3.Connection:
        opened.append(busy_ms)
        return real(self, busy_ms)

    monkeypatch.setattr(Store, "_connect_writer", connect)
    return opened


def spooled(path: Path) -> list[dict[str, Any]]:
    spool = path.with_name(path.name + ".spool")
    return [json.loads(line) for line in spool.read_text().splitlines()] if spool.exists() else []


def event_types(path: Path) -> list[str]:
    return [row[0] for row in rows(path, "SELECT type FROM events ORDER BY seq")]


# -- opening: the human message follows the code ---------------------------------------------


@pytest.mark.parametrize(
    "sql",
    ["SELECT locked FROM t", "SELECT busy, readonly FROM t", "SELECT json('{malformed')"],
    ids=["no-such-column-locked", "no-such-column-busy", "malformed-json"],
)
def test_a_real_error_that_quotes_a_keyword_is_not_misread(sql: str, tmp_path: Path) -> None:
    exc = real_error(sql)
    assert exc.sqlite_errorcode == sqlite3.SQLITE_ERROR
    found = translate(exc, tmp_path / "t.db")
    assert type(found) is StoreError
    assert "is busy" not in str(found) and "cannot be written" not in str(found)
    assert str(exc) in str(found)


@pytest.mark.parametrize(
    "message",
    ["database is locked", "database disk image is malformed", "file is not a database"],
)
def test_the_message_alone_never_decides(message: str, tmp_path: Path) -> None:
    exc = sqlite_error(sqlite3.OperationalError, message, sqlite3.SQLITE_IOERR_WRITE)
    found = translate(exc, tmp_path / "t.db")
    assert type(found) is StoreError
    assert "is busy" not in str(found)
    assert classify(exc) is Fault.IO


@pytest.mark.parametrize(
    ("code", "expected", "says"),
    [
        (sqlite3.SQLITE_BUSY, StoreError, "is busy"),
        (sqlite3.SQLITE_BUSY_SNAPSHOT, StoreError, "is busy"),
        (sqlite3.SQLITE_LOCKED, StoreError, "is busy"),
        (sqlite3.SQLITE_READONLY_DBMOVED, StoreError, "cannot be written"),
        (sqlite3.SQLITE_CORRUPT_INDEX, CorruptDatabase, "is damaged"),
        (sqlite3.SQLITE_NOTADB, NotADatabase, "not a telemetry database"),
    ],
)
def test_the_code_decides_whatever_the_message(
    code: int, expected: type[StoreError], says: str, tmp_path: Path
) -> None:
    exc = sqlite_error(sqlite3.OperationalError, "something odd happened", code)
    found = translate(exc, tmp_path / "t.db")
    assert type(found) is expected
    assert says in str(found)


def test_real_sqlite_errors_keep_their_meaning(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    with exclusive_lock(path):
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        with pytest.raises(sqlite3.OperationalError) as busy:
            other.execute("BEGIN IMMEDIATE")
        other.close()
    assert classify(busy.value) is Fault.BUSY
    assert "is busy" in str(translate(busy.value, path))

    read_only = sqlite3.connect(uri(path, "ro"), uri=True, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as refused:
        read_only.execute("DELETE FROM events")
    read_only.close()
    assert classify(refused.value) is Fault.READONLY

    assert classify(real_error("INSERT INTO t VALUES ('x', 'z')")) is Fault.BAD_RECORD
    assert classify(InvalidInput("unknown event type")) is Fault.BAD_RECORD


@pytest.mark.parametrize(
    "exc",
    [
        KeyError("story_id"),
        TypeError("unsupported operand"),
        AttributeError("'NoneType' object has no attribute 'get'"),
        OverflowError("Python int too large to convert to SQLite INTEGER"),
        real_error("SELECT ?", ({"a": 1},)),  # ProgrammingError from the sqlite3 module
        real_error("SELECT ?", (1, 2)),
        sqlite_error(sqlite3.InterfaceError, "bad parameter or other API misuse", 21),
    ],
    ids=[
        "KeyError",
        "TypeError",
        "AttributeError",
        "OverflowError",
        "bind-type",
        "bind-count",
        "misuse",
    ],
)
def test_program_errors_are_bugs_never_bad_records(exc: BaseException) -> None:
    assert classify(exc) is Fault.BUG
    assert not writer_module.is_permanent(exc)


# -- writing: the writer thread acts on the code ---------------------------------------------


def test_a_refusal_whose_message_says_locked_is_set_aside_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.db"
    store = Store.open(path, busy_timeout_ms=BUSY_MS, retry_window=PATIENT)
    session = begin(store)
    assert session.record("scene_shown", scene="kitchen").result(timeout=10)
    refusal = sqlite_error(
        sqlite3.OperationalError, "database is locked", sqlite3.SQLITE_CONSTRAINT_CHECK
    )
    tries = fail_on(monkeypatch, "pause", lambda: refusal)
    assert session.record("pause").result(timeout=10) is False  # refused, kept for a person
    assert session.record("resume").result(timeout=10) is True  # not stuck behind it
    assert len(tries) == 1  # a record SQLite refuses is not retried
    session.close()
    store.close()
    assert [r.get("type") for r in spooled(path)] == ["pause"]
    assert event_types(path) == ["scene_shown", "resume"]


@pytest.mark.parametrize(
    ("message", "code", "reopened"),
    [
        ("something odd", sqlite3.SQLITE_BUSY, 0),
        ("something odd", sqlite3.SQLITE_LOCKED_SHAREDCACHE, 0),
        ("database is locked", sqlite3.SQLITE_IOERR_WRITE, 2),
    ],
    ids=["busy-odd-message", "locked-odd-message", "io-error-saying-locked"],
)
def test_only_a_busy_code_keeps_the_connection_while_retrying(
    message: str,
    code: int,
    reopened: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "t.db"
    opened = count_connections(monkeypatch)
    store = Store.open(path, busy_timeout_ms=BUSY_MS, retry_window=PATIENT)
    session = begin(store)
    assert session.record("scene_shown", scene="kitchen").result(timeout=10)
    before = len(opened)
    tries = fail_on(
        monkeypatch, "pause", lambda: sqlite_error(sqlite3.OperationalError, message, code), 2
    )
    assert session.record("pause").result(timeout=10) is True  # retried, then committed
    assert len(tries) == 2
    assert len(opened) - before == reopened  # busy: wait on it; I/O error: open afresh
    session.close()
    store.close()
    assert event_types(path) == ["scene_shown", "pause"]
    assert spooled(path) == []


@pytest.mark.parametrize(
    "error",
    [
        lambda: KeyError("story_id"),
        lambda: TypeError("unsupported operand type(s)"),
        lambda: AttributeError("'NoneType' object has no attribute 'get'"),
        lambda: sqlite3.ProgrammingError("Cannot operate on a closed database."),
    ],
    ids=["KeyError", "TypeError", "AttributeError", "ProgrammingError"],
)
def test_a_bug_while_writing_reaches_the_caller_and_is_not_spooled(
    error: Callable[[], BaseException], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.db"
    store = Store.open(path, busy_timeout_ms=BUSY_MS, retry_window=PATIENT)
    session = begin(store)
    assert session.record("scene_shown", scene="kitchen").result(timeout=10)
    expected = type(error())
    fail_on(monkeypatch, "pause", error)
    with pytest.raises(expected):
        session.record("pause").result(timeout=10)
    assert session.record("resume").result(timeout=10) is True  # the writer carries on
    assert store.flush(timeout=10) is False  # the store does not claim all was committed
    session.close()
    store.close()
    assert spooled(path) == []
    assert not path.with_name(path.name + ".spool.rejected").exists()
    assert not any("spool" in warning for warning in store.warnings)
    assert event_types(path) == ["scene_shown", "resume"]  # what was recorded is intact
    assert totals_consistent(path)


def test_a_bug_in_the_writer_cannot_touch_an_event_already_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.db"
    store = Store.open(path, busy_timeout_ms=100, retry_window=0.3)
    session = begin(store)
    assert session.record("scene_shown", scene="kitchen").result(timeout=10)
    with exclusive_lock(path):
        assert session.record("pause").result(timeout=10) is False  # kept: spooled, fsynced
        assert [r.get("type") for r in spooled(path)] == ["pause"]
        fail_on(monkeypatch, "pause", lambda: TypeError("a bug"))  # in the writer's own apply
    session.close()
    store.close()  # the spool is loaded back once the lock is gone, never by the writer's apply
    assert event_types(path) == ["scene_shown", "pause"]
    assert spooled(path) == []


def test_a_record_too_big_for_sqlite_is_set_aside_and_later_events_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.db"
    real = Store._connect_writer

    def small_rows(self: Store, busy_ms: int) -> sqlite3.Connection:
        conn = real(self, busy_ms)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 20_000)
        return conn

    monkeypatch.setattr(Store, "_connect_writer", small_rows)
    store = Store.open(path, busy_timeout_ms=BUSY_MS, retry_window=PATIENT)
    session = begin(store)
    big = {"notes": "x" * 50_000}
    assert session.record("scene_shown", scene="kitchen", state=big).result(timeout=10) is False
    assert "too big" in (store._writer.last_error or "")
    assert session.record("pause").result(timeout=10) is True  # not stuck behind it
    session.close()
    store.close()
    assert [r.get("type") for r in spooled(path)] == ["scene_shown"]
    assert event_types(path) == ["pause"]
