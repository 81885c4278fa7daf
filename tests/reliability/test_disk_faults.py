"""A full disk and read-only files: a clear message, rows intact, writing resumes afterwards.

Real faults, not simulated ones: a 2 MB tmpfs filled to its last byte, and
files or folders made immutable (`chattr +i`: the tests run as root, and root
ignores file modes). Issue #10, findings 1 and 11.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

from branching.store import Store, StoryInfo
from branching.story.loader import load_story

from ._support import (
    BREAKFAST,
    assert_handled,
    fill,
    read_only,
    run_cli,
    said,
    small_disk,
    sqlite_rows,
)

SAYS_FULL = re.compile(r"(?i)no space|disk is full|disk full|\bfull\b")
SAYS_READ_ONLY = re.compile(r"(?i)read-?only|cannot be written|not writable|permission|immutable")


def _play(db: Path, viewer: str = "ana", *extra: str):
    return run_cli("play", BREAKFAST, "--choices", "1", "--db", db, "--viewer", viewer, *extra)


def _events(db: Path, *, immutable: bool = False) -> list[tuple[object, ...]]:
    return sqlite_rows(
        db, "SELECT session_id, seq, type FROM events ORDER BY session_id, seq", immutable=immutable
    )


def _sessions(db: Path) -> int:
    return int(sqlite_rows(db, "SELECT COUNT(*) FROM sessions")[0][0])  # type: ignore[call-overload]


def test_full_disk_says_so_keeps_rows_and_writing_resumes(tmp_path: Path, figure: object) -> None:
    """Disk full (a 2 MB tmpfs): clear message, rows intact, writing resumes once space is back."""
    with small_disk(tmp_path / "small") as disk:
        db = disk / "t.db"
        first = _play(db)
        assert_handled(first, statuses=(0,))
        before = _events(db)
        per_run = len(before)

        filler = fill(disk)
        full = _play(db)
        figure("message when the disk is full", said(full.err, SAYS_FULL))
        assert_handled(full)
        assert SAYS_FULL.search(full.err), f"no word of a full disk: {full.describe()}"
        assert "t.db" in full.err, f"the message does not name the database: {full.describe()}"
        # Reading the log needs room for the -shm file; the main file can be read as it is.
        main_file = sqlite_rows(db, "PRAGMA integrity_check", immutable=True)
        assert main_file == [("ok",)], "the database file was damaged by the full disk"
        assert set(before) <= set(_events(db, immutable=True)), "rows changed when the disk filled"

        filler.unlink()  # space is back
        assert sqlite_rows(db, "PRAGMA integrity_check") == [("ok",)]
        assert set(before) <= set(_events(db)), "rows written before the disk filled changed"
        figure("rows intact after the disk filled", "yes")
        again = _play(db)
        assert_handled(again, statuses=(0,))
        after = _events(db)
        assert set(before) <= set(
            after
        )  # every earlier row is still there (new ones sort anywhere)
        resumed = len(after) - per_run
        figure("events written once space was back", resumed)
        assert resumed >= per_run, f"only {resumed} new events after space came back"
        assert not list(disk.glob("t.db.spool*")), "events were left in the spool"


def test_a_running_store_writes_again_once_space_is_back(tmp_path: Path, figure: object) -> None:
    """A store open while the disk fills keeps its events and commits them once space is back."""
    story = load_story(BREAKFAST)
    with small_disk(tmp_path / "small") as disk:
        db = disk / "t.db"
        store = Store.open(db, busy_timeout_ms=200, retry_window=0.3)
        try:
            store.register_story(
                StoryInfo(
                    story.id,
                    story.title,
                    story.author,
                    story.version,
                    story.content_hash,
                    story.structure(),
                )
            ).result()
            session = store.start_session(story.id, story.content_hash, "ana")
            assert session.record("scene_shown", scene="kitchen").result()
            filler = fill(disk)
            outcomes = [
                session.record(
                    "choice_made",
                    scene="kitchen",
                    choice="puffs",
                    target="bus",
                    decide_ms=n,
                    input="scripted",
                    state={
                        "n": n,
                        "pad": f"{n:04d}" * 500,
                    },  # a new 2 KB each time: patches stay big
                ).result(timeout=60)
                for n in range(20)
            ]
            figure("writes refused while full", outcomes.count(False))
            assert False in outcomes, "the full disk never refused a write: the test proved nothing"
            filler.unlink()
            deadline = time.monotonic() + 30
            while store.pending and time.monotonic() < deadline:
                time.sleep(0.05)
            waited = 30 - max(0.0, deadline - time.monotonic())
            figure("seconds until the kept events were committed", round(waited, 1))
            assert store.pending == 0, "kept events were never written after space came back"
            assert store.flush(timeout=30)
            session.close()
        finally:
            store.close()
        assert sqlite_rows(db, "SELECT COUNT(*) FROM events WHERE type = 'choice_made'") == [(20,)]
        assert not list(disk.glob("t.db.spool*"))


def test_read_only_database_file_says_so_keeps_rows_and_resumes(
    tmp_path: Path, figure: object
) -> None:
    """A read-only database file: clear message, rows intact, events kept and loaded later."""
    db = tmp_path / "t.db"
    assert_handled(_play(db), statuses=(0,))
    before = _events(db)
    per_run = len(before)
    with read_only(db):
        blocked = _play(db)
        figure("message for a read-only database", said(blocked.err, SAYS_READ_ONLY))
        assert_handled(blocked)
        assert SAYS_READ_ONLY.search(blocked.err), f"no clear message: {blocked.describe()}"
        assert "t.db" in blocked.err, f"the message does not name the file: {blocked.describe()}"
        assert _events(db) == before, "rows changed while the file was read-only"
    again = _play(db)
    assert_handled(again, statuses=(0,))
    after = _events(db)
    assert set(before) <= set(after)  # every earlier row is still there (new ones sort anywhere)
    figure("events of the read-only run loaded later", len(after) - 2 * per_run)
    assert len(after) == 3 * per_run, (
        f"{len(after)} events, expected {3 * per_run}: the read-only run's events were lost"
    )
    assert _sessions(db) == 3
    assert not (tmp_path / "t.db.spool").exists()


def test_reading_commands_work_in_a_read_only_folder(tmp_path: Path, figure: object) -> None:
    """stats and export read a database in a read-only folder; play there says why it cannot."""
    folder = tmp_path / "shared"
    folder.mkdir()
    db = folder / "t.db"
    assert_handled(_play(db), statuses=(0,))
    assert not (folder / "t.db-wal").exists()  # closed cleanly: no -wal or -shm beside it
    with read_only(folder):
        stats = run_cli("stats", "breakfast", "--db", db, "--format", "json")
        export = run_cli("export", "--db", db, "--format", "jsonl")
        play = _play(db)
    figure(
        "stats / export / play in a read-only folder",
        f"exit {stats.returncode} / {export.returncode} / {play.returncode}",
    )
    assert_handled(stats, statuses=(0,))
    assert_handled(export, statuses=(0,))
    assert export.out.count("\n") == len(_events(db))
    assert_handled(play)
    if play.returncode != 0 or play.err.strip():
        assert SAYS_READ_ONLY.search(play.err) or "shared" in play.err, play.describe()


def test_a_stale_read_only_shm_is_named(tmp_path: Path, figure: object) -> None:
    """A stale read-only -shm file is named as such, not as 'the database cannot be written'."""
    db = tmp_path / "t.db"
    assert_handled(_play(db), statuses=(0,))
    conn = sqlite3.connect(db)
    conn.execute("SELECT COUNT(*) FROM events").fetchone()
    shm = tmp_path / "t.db-shm"
    assert shm.exists()
    with read_only(shm):
        conn.close()  # SQLite cannot remove it: a stale, read-only -shm stays behind
        play = _play(db)
        figure("message for a stale read-only -shm", said(play.err))
        assert_handled(play)
        assert "t.db-shm" in play.err, f"the message does not name the -shm file: {play.describe()}"


def test_reading_commands_never_create_or_change_a_database(tmp_path: Path, figure: object) -> None:
    """export and stats on an empty file refuse it and leave it as it was (0 bytes, no sidecars)."""
    empty = tmp_path / "empty.db"
    empty.touch()
    runs = [
        run_cli("export", "--db", empty, "--format", "jsonl"),
        run_cli("stats", "breakfast", "--db", empty),
        run_cli("flowchart", "breakfast", "--db", empty),
    ]
    changed = empty.stat().st_size != 0 or any(tmp_path.glob("empty.db-*"))
    figure("reading commands that changed an empty file", int(changed))
    for run in runs:
        assert_handled(run, statuses=(1, 2))
    assert not changed, f"a reading command wrote to {empty}: {sorted(tmp_path.iterdir())}"
    missing = tmp_path / "missing.db"
    assert_handled(run_cli("export", "--db", missing), statuses=(1, 2))
    assert not missing.exists(), "export created a database"
