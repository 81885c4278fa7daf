"""Every choice kept, and nothing gets in (issue #10): the store's side, in one process.

- A database locked by another connection (`BEGIN IMMEDIATE`, as `prune` or
  `forget` or the sqlite3 shell holds it): the writer waits about its retry
  window (1 s), then appends and fsyncs the event to the spool before the
  event's future resolves; later events go straight to the spool; once the lock
  is gone the spool is loaded back, in order.
- One bad spool record is rejected alone, into `.rejected` with its reason;
  every other record loads, and nothing is blocked on the next open.
- Links, hard links, pipes and other users' files beside the database are
  refused, never followed; files are created 0600 and never re-moded.
- The spool is streamed: loading or rewriting a large one takes little memory.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import stat
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from branching.store import InvalidInput, Store, StoreError, spool
from branching.store import store as store_module
from tests.test_store_api import begin, rows, totals_consistent

LOCKED = {"busy_timeout_ms": 100, "retry_window": 0.2}  # for tests that only need it kept


@contextmanager
def write_lock(path: Path) -> Iterator[None]:
    """Another program holding the write lock, as `sqlite3 DB 'BEGIN IMMEDIATE; ...'` does."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def wait_until(predicate: Callable[[], bool], limit: float = 15.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def spool_of(path: Path) -> Path:
    return path.with_name(path.name + ".spool")


def spooled(path: Path) -> list[dict[str, Any]]:
    """Every record waiting beside `path`: the spool and any claims, in order."""
    found: list[dict[str, Any]] = []
    for f in spool.files(spool_of(path))[:-1]:
        if f.is_file():
            found += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    return found


def rejected(path: Path) -> list[dict[str, Any]]:
    """The records moved to `.rejected` (lines that are not records are skipped)."""
    f = spool.rejected_path(spool_of(path))
    found: list[dict[str, Any]] = []
    for line in f.read_bytes().splitlines() if f.exists() else []:
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def leftovers(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name + ".spool"))


# -- a locked database ------------------------------------------------------------------------


def test_a_locked_database_is_waited_for_about_a_second_then_the_event_is_on_disk(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    store = Store.open(path)  # the default window: what players use
    told: list[tuple[str, str]] = []
    store.notify = lambda message, severity: told.append((severity, message))
    session = begin(store)
    assert session.record("scene_shown", scene="kitchen").result(timeout=10) is True
    with write_lock(path):
        start = time.monotonic()
        choice = session.record(
            "choice_made", scene="kitchen", choice="puffs", target="bus", decide_ms=5, input="key"
        )
        assert choice.result(timeout=30) is False  # kept, not committed, no exception
        waited = time.monotonic() - start
        # on disk by the time the future says so: the player may move on now
        assert [r.get("type") for r in spooled(path)] == ["choice_made"]
        assert 0.7 < waited < 3.0, waited  # about the retry window, not the 10 s busy timeout
        start = time.monotonic()
        assert session.record("scene_shown", scene="bus").result(timeout=10) is False
        assert time.monotonic() - start < 0.5  # later events do not wait on the lock again
        assert store.keeping and store.pending == 2
        assert [severity for severity, _ in told] == ["warning"]  # told once
        assert "kept beside it" in told[0][1] and "locked" in told[0][1]
    assert wait_until(lambda: store.pending == 0)  # loaded back once the lock is gone
    assert not store.keeping
    assert told[-1][0] == "information" and "written again" in told[-1][1]
    assert session.record("pause").result(timeout=10) is True  # and straight in again
    session.close()
    store.close()
    assert rows(path, "SELECT seq, type FROM events ORDER BY seq") == [
        (1, "scene_shown"),
        (2, "choice_made"),
        (3, "scene_shown"),
        (4, "pause"),
    ]
    assert leftovers(path) == [] and totals_consistent(path)
    assert store.warnings == []  # all loaded back: nothing left to warn about at the end


def test_contention_is_waited_out_not_spooled_however_long_it_lasts(tmp_path: Path) -> None:
    """Another writer committing all the time is contention, not a stall: the event waits."""
    path = tmp_path / "t.db"
    store = Store.open(path)
    session = begin(store)
    assert session.record("scene_shown", scene="kitchen").result(timeout=10) is True
    until = time.monotonic() + 2.5
    holding = threading.Event()

    def busy_writer() -> None:  # holds the lock 0.2 s at a time, committing each time
        other = sqlite3.connect(path, isolation_level=None)
        n = 0
        while time.monotonic() < until:
            other.execute("BEGIN IMMEDIATE")
            holding.set()
            n += 1
            other.execute(f"PRAGMA user_version = {n}")
            time.sleep(0.2)
            other.execute("COMMIT")
        other.execute("PRAGMA user_version = 0")
        other.close()

    competitor = threading.Thread(target=busy_writer)
    competitor.start()
    holding.wait()
    try:
        assert session.record("pause").result(timeout=30) is True  # committed, not kept
    finally:
        competitor.join()
    assert not store.keeping and spooled(path) == []
    session.close()
    store.close()
    assert store.warnings == []


def test_a_writable_database_never_touches_the_spool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-key-press path: one transaction per event, no spool, no extra fsync."""

    def no_spool(path: Path, records: list[dict[str, Any]]) -> None:
        raise AssertionError("the spool was written while the database was writable")

    monkeypatch.setattr(spool, "append", no_spool)
    path = tmp_path / "t.db"
    with Store.open(path) as store:
        session = begin(store)
        assert all(session.record("scene_shown", scene="kitchen").result() for _ in range(20))
        session.close()
    assert leftovers(path) == [] and store.warnings == []


def test_events_kept_at_close_stay_in_the_spool_and_load_at_the_next_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    store = Store.open(path, **LOCKED)
    with write_lock(path):
        session = begin(store)
        assert session.record("scene_shown", scene="kitchen").result(timeout=10) is False
        session.close()
        store.close()
        assert [r["op"] for r in spooled(path)] == ["story", "session", "event"]
        assert stat.S_IMODE(spool_of(path).stat().st_mode) == 0o600
    assert any("are kept in" in w and "locked" in w for w in store.warnings)
    with Store.open(path) as reopened:
        assert reopened.spooled_in == 3
    assert rows(path, "SELECT type FROM events") == [("scene_shown",)]
    assert leftovers(path) == []


def test_a_spool_left_while_locked_is_loaded_before_anything_newer(tmp_path: Path) -> None:
    """Opened while the lock still holds, a store spools its own events after the old ones."""
    path = tmp_path / "t.db"
    Store.open(path).close()
    first = Store.open(path, **LOCKED)
    with write_lock(path):
        session = begin(first)
        session.record("scene_shown", scene="kitchen").result(timeout=10)
        first.close()
        second = Store.open(path, **LOCKED)  # the spool cannot load now
        assert second.keeping
        other = second.start_session("breakfast", "hash-1", "bo")
        assert other.record("scene_shown", scene="kitchen").result(timeout=10) is False
        assert [r["op"] for r in spooled(path)] == [
            "story",
            "session",
            "event",
            "session",
            "event",
        ]
    assert wait_until(lambda: not second.keeping)
    second.close()
    assert rows(path, "SELECT COUNT(*) FROM sessions") == [(2,)]
    assert rows(path, "SELECT COUNT(*) FROM events") == [(2,)]
    assert leftovers(path) == []


# -- bad records --------------------------------------------------------------------------------


def _spool_two_sessions(path: Path) -> None:
    """alice's and bo's sessions, with an event each, kept in the spool (the database locked)."""
    Store.open(path).close()
    store = Store.open(path, **LOCKED)
    with write_lock(path):
        alice = begin(store, "alice")
        alice.record("scene_shown", scene="kitchen").result(timeout=10)
        bo = store.start_session("breakfast", "hash-1", "bo")
        bo.record("scene_shown", scene="kitchen").result(timeout=10)
        store.close()


def _edit_spool(path: Path, edit: Callable[[list[dict[str, Any]]], None]) -> None:
    records = spooled(path)
    for f in spool.files(spool_of(path))[:-1]:
        f.unlink(missing_ok=True)
    edit(records)
    spool.append(spool_of(path), records)


@pytest.mark.parametrize("seed", [99999999999999999999999, -9223372036854775809])
def test_a_seed_sqlite_cannot_hold_is_rejected_alone_and_blocks_nothing(
    tmp_path: Path, seed: int
) -> None:
    path = tmp_path / "t.db"
    _spool_two_sessions(path)

    def poison(records: list[dict[str, Any]]) -> None:
        records[1]["seed"] = seed  # alice's session: an integer beyond SQLite's 64 bits

    _edit_spool(path, poison)
    store = Store.open(path)
    store.close()
    # bo's session and event loaded; alice's session could not, nor (without it) her event
    assert rows(path, "SELECT COUNT(*) FROM sessions") == [(1,)]
    assert rows(path, "SELECT COUNT(*) FROM events") == [(1,)]
    bad = rejected(path)
    assert [r["op"] for r in bad] == ["session", "event"]
    assert bad[0]["rejected"].startswith("OverflowError")
    assert "FOREIGN KEY" in bad[1]["rejected"]
    assert bad[0]["seed"] == seed  # the record as it was, for a person to look at
    assert spooled(path) == []
    assert any("2 spooled telemetry record(s) could not be loaded" in w for w in store.warnings)
    assert any("OverflowError" in w for w in store.warnings)
    again = Store.open(path)  # nothing is retried, nothing blocks
    again.close()
    assert again.warnings == [] and rows(path, "SELECT COUNT(*) FROM events") == [(1,)]


def test_a_malformed_record_is_a_record_problem_during_replay(tmp_path: Path) -> None:
    """KeyError, TypeError, an unknown op, a torn line: each rejected with its reason."""
    path = tmp_path / "t.db"
    _spool_two_sessions(path)

    def damage(records: list[dict[str, Any]]) -> None:
        event = records[2]
        missing = {k: v for k, v in event.items() if k != "ts"}  # KeyError: 'ts'
        wrong = {**event, "event_id": "x-2", "seq": 9, "state": {"not": "text"}}  # cannot bind
        unknown = {"v": 1, "op": "teleport", "session_id": event["session_id"]}
        records[2:3] = [missing, wrong, unknown]

    _edit_spool(path, damage)
    with spool_of(path).open("ab") as handle:
        handle.write(b'{"v":1,"op":"event","torn')
    store = Store.open(path)
    store.close()
    reasons = [r.get("rejected", "") for r in rejected(path)]
    assert reasons[0].startswith("KeyError: 'ts'")
    assert "unsupported type" in reasons[1] or "Error binding" in reasons[1]
    assert "teleport" in reasons[2]
    raw = spool.rejected_path(spool_of(path)).read_bytes().splitlines()
    assert raw[-1] == b'{"v":1,"op":"event","torn'  # a torn line is kept as it was
    assert rows(path, "SELECT COUNT(*) FROM sessions") == [(2,)]
    assert rows(path, "SELECT COUNT(*) FROM events") == [(1,)]  # bo's
    assert spooled(path) == [] and totals_consistent(path)


def test_a_bad_record_among_many_batches_is_the_only_one_left_out(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    store = Store.open(path, **LOCKED)
    with write_lock(path):
        session = begin(store)
        for n in range(300):
            session.record("scene_shown", scene=f"s{n}").result(timeout=10)
        store.close()

    def poison(records: list[dict[str, Any]]) -> None:
        records[280]["seq"] = 2**64  # one event in the second batch

    _edit_spool(path, poison)
    Store.open(path).close()
    assert rows(path, "SELECT COUNT(*) FROM events") == [(299,)]
    assert [r["seq"] for r in rejected(path)] == [2**64]
    assert totals_consistent(path)


def test_a_seed_is_checked_when_the_session_starts(tmp_path: Path) -> None:
    with Store.open(tmp_path / "t.db") as store:
        begin(store).close()
        for bad in (2**63, -(2**63) - 1):
            with pytest.raises(InvalidInput, match="seed"):
                store.start_session("breakfast", "hash-1", "alice", seed=bad)
        store.start_session("breakfast", "hash-1", "alice", seed=2**63 - 1).close()


# -- loading in order, streaming ------------------------------------------------------------------


def test_a_load_stopped_by_the_database_goes_on_where_it_stopped_before_newer_records(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.spool"
    spool.append(path, [{"op": "e", "n": n} for n in range(600)])
    calls: list[int] = []

    def blocked_second_batch(batch: list[dict[str, Any]]) -> spool.Applied:
        calls.append(len(batch))
        if len(calls) == 2:
            raise spool.Blocked("database is locked")
        return spool.Applied()

    first = spool.load(path, blocked_second_batch)
    assert first.blocked == "database is locked" and first.written == spool.BATCH_RECORDS
    spool.append(path, [{"op": "e", "n": 1000}])  # a newer record, appended meanwhile
    seen: list[int] = []

    def note(batch: list[dict[str, Any]]) -> spool.Applied:
        seen.extend(r["n"] for r in batch)
        return spool.Applied()

    second = spool.load(path, note)
    assert seen == [*range(spool.BATCH_RECORDS, 600), 1000]
    assert second.complete and not spool.exists(path)


def test_a_claim_another_loader_holds_stops_loading(tmp_path: Path) -> None:
    """What follows a claim may need it (a session before its events): never load past it."""
    path = tmp_path / "x.spool"
    spool.append(path, [{"op": "e", "n": 1}])
    claim = path.with_name(f"{path.name}.loading.{time.time_ns():020d}.1.abc")
    os.rename(path, claim)
    spool.append(path, [{"op": "e", "n": 2}])
    fd = os.open(claim, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a live loader
    seen: list[int] = []

    def note(batch: list[dict[str, Any]]) -> spool.Applied:
        seen.extend(r["n"] for r in batch)
        return spool.Applied()

    try:
        result = spool.load(path, note)
        assert result.blocked is not None and seen == []
    finally:
        os.close(fd)
    assert spool.load(path, note).complete
    assert seen == [1, 2]


def _big_spool(path: Path, count: int, size: int) -> None:
    """A spool of `count` events of about `size` bytes each, written one at a time."""
    _spool_two_sessions(path)
    records = spooled(path)
    for f in spool.files(spool_of(path))[:-1]:
        f.unlink(missing_ok=True)
    template = next(r for r in records if r["op"] == "event")
    spool.append(spool_of(path), [r for r in records if r["op"] != "event"])
    blob = json.dumps({"notes": "x" * size})
    for n in range(count):
        spool.append(
            spool_of(path), [{**template, "event_id": f"big-{n}", "seq": n + 1, "state": blob}]
        )


def _peak(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_loading_a_large_spool_streams_it(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    _big_spool(path, count=40, size=1_000_000)  # 40 MB
    assert spool_of(path).stat().st_size > 40_000_000
    peak = _peak(lambda: Store.open(path).close())
    assert peak < 20_000_000, f"loading a 40 MB spool took {peak / 1e6:.0f} MB"
    assert rows(path, "SELECT COUNT(*), MIN(length(state)) > 1000000 FROM events") == [(40, 1)]
    assert leftovers(path) == []


def test_rewriting_a_large_spool_streams_it(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    _big_spool(path, count=40, size=1_000_000)
    target = spool_of(path)
    before = target.stat().st_size
    dropped = 0

    def rewrite() -> None:
        nonlocal dropped
        dropped = spool.rewrite(target, lambda r: r.get("seq", 0) % 2 == 0)

    peak = _peak(rewrite)
    assert peak < 20_000_000, f"rewriting a 40 MB spool took {peak / 1e6:.0f} MB"
    assert dropped == 20
    kept = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r.get("seq") for r in kept if r["op"] == "event"] == list(range(2, 41, 2))
    assert before / 2 - 1_000_000 < target.stat().st_size < before / 2 + 1_000_000


# -- files beside the database ------------------------------------------------------------------


def test_a_planted_spool_link_is_never_read_and_its_target_never_copied(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    secret = tmp_path / "secret"
    secret.write_text("password=hunter2\n")
    secret.chmod(0o600)
    loot = tmp_path / "loot"
    loot.write_text("")
    loot.chmod(0o644)
    spool_of(path).symlink_to(secret)
    spool.rejected_path(spool_of(path)).symlink_to(loot)
    store = Store.open(path)
    store.close()
    assert loot.read_text() == "" and secret.read_text() == "password=hunter2\n"
    assert spool_of(path).is_symlink()  # left where it is, for a person to remove
    assert any("symbolic link" in w and str(spool_of(path)) in w for w in store.warnings)


def test_a_planted_spool_link_is_never_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    target = tmp_path / "target"
    target.write_text("someone else's file\n")
    spool_of(path).symlink_to(target)
    store = Store.open(path, **LOCKED)
    told: list[tuple[str, str]] = []
    store.notify = lambda message, severity: told.append((severity, message))
    with write_lock(path):
        session = begin(store)
        assert session.record("pause").result(timeout=10) is False  # held in memory
        assert told and told[0][0] == "error" and "symbolic link" in told[0][1]
        with pytest.raises(StoreError, match="symbolic link"):
            store.close()  # neither the database nor the spool: said, never written through
    assert target.read_text() == "someone else's file\n"


def test_events_held_in_memory_are_written_once_the_lock_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    spool_of(path).symlink_to(tmp_path / "elsewhere")
    store = Store.open(path, **LOCKED)
    with write_lock(path):
        session = begin(store)
        assert session.record("pause").result(timeout=10) is False
        assert store.pending == 3  # story, session, event: in memory
    assert wait_until(lambda: store.pending == 0)
    store.close()
    assert rows(path, "SELECT type FROM events") == [("pause",)]
    assert not (tmp_path / "elsewhere").exists()


def test_the_rejected_file_is_never_followed(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    loot = tmp_path / "loot"
    loot.write_text("")
    spool.rejected_path(spool_of(path)).symlink_to(loot)
    spool_of(path).write_bytes(b'{"v":1,"op":"event","torn\n')
    spool_of(path).chmod(0o600)
    store = Store.open(path)
    store.close()
    assert loot.read_text() == ""
    assert any("symbolic link" in w for w in store.warnings)
    assert spool.claims(spool_of(path)) != []  # the line stays beside the database, for later
    spool.rejected_path(spool_of(path)).unlink()
    Store.open(path).close()  # the link removed: now it is moved
    assert spool.rejected_path(spool_of(path)).read_bytes() == b'{"v":1,"op":"event","torn\n'
    assert leftovers(path) == ["t.db.spool.rejected"]


@pytest.mark.parametrize("kind", ["hard link", "fifo", "another user"])
def test_other_files_at_the_spool_path_are_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    target = spool_of(path)
    if kind == "hard link":
        other = tmp_path / "other"
        other.write_text("")
        os.link(other, target)
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        if os.geteuid() != 0:
            pytest.skip("needs root to give a file to another user")
        target.write_text("")
        os.chown(target, 4242, 4242)
    with pytest.raises(StoreError, match="refusing to use"):
        spool.append(target, [{"op": "event"}])
    store = Store.open(path)  # and never loaded (nor does the pipe hang the open)
    store.close()
    assert any("refusing to use" in w for w in store.warnings)


def test_the_spool_is_created_0600_and_an_existing_one_keeps_its_mode(tmp_path: Path) -> None:
    fresh = tmp_path / "a.spool"
    spool.append(fresh, [{"op": "event"}])
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    existing = tmp_path / "b.spool"
    existing.write_text("")
    existing.chmod(0o640)
    spool.append(existing, [{"op": "event"}])
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640  # never widened, never changed


def test_store_warnings_reach_the_notices_the_cli_prints(tmp_path: Path) -> None:
    from branching.store import notices

    notices.take()
    path = tmp_path / "t.db"
    Store.open(path).close()
    spool_of(path).write_bytes(b"not json\n")
    store = Store.open(path)
    store.close()
    assert notices.take() == store.warnings != []
    assert notices.take() == []


def test_the_writer_thread_is_never_stopped_by_a_notice_callback(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    store = Store.open(path, **LOCKED)

    def broken(message: str, severity: str) -> None:
        raise RuntimeError("the player is gone")

    store.notify = broken
    with write_lock(path):
        session = begin(store)
        assert session.record("pause").result(timeout=10) is False
    assert wait_until(lambda: store.pending == 0)
    store.close()
    assert threading.active_count() >= 1 and rows(path, "SELECT COUNT(*) FROM events") == [(1,)]
    assert store_module.RETRY_WINDOW <= 1.0
