"""Schema upgrades: an older database is upgraded in place with nothing lost."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from branching.store import Store
from branching.store.db import connect, create_file
from branching.store.migrations import migrate, migration_names, migrations
from tests.test_store_api import STRUCTURE, rows, totals_consistent


def _old_database(path: Path) -> None:
    """A database with only the first migration applied, and rows written by it."""
    create_file(path)
    conn = connect(path)
    migrate(conn, path, stop_before=migration_names()[1])
    conn.execute(
        "INSERT INTO stories VALUES ('breakfast', 'h0', 'Breakfast', NULL, '1.0', ?, 'then')",
        [json.dumps(STRUCTURE)],
    )
    conn.execute(
        "INSERT INTO sessions (session_id, story_id, content_hash, viewer_id, started_at) "
        "VALUES ('s1', 'breakfast', 'h0', 'v1', '2024-05-01T10:00:00.000Z')"
    )
    events = [
        ("e1", 1, "scene_shown", "kitchen", None, None),
        ("e2", 2, "choice_made", "kitchen", "puffs", "bus"),
        ("e3", 3, "scene_shown", "bus", None, None),
        ("e4", 4, "timeout_default", "office", "accept", "crunch"),
    ]
    conn.executemany(
        "INSERT INTO events (event_id, session_id, seq, ts, type, scene, choice, target) "
        "VALUES (?, 's1', ?, '2024-05-01T10:00:01.000Z', ?, ?, ?, ?)",
        events,
    )
    conn.close()


def test_the_old_database_really_lacks_the_later_schema(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _old_database(path)
    tables = {name for (name,) in rows(path, "SELECT name FROM sqlite_master")}
    assert "events" in tables and "traversals" not in tables and "choice_shares" not in tables
    assert len(migrations.pending(Database(sqlite3.connect(path)))) == len(migration_names()) - 1


def test_opening_an_older_database_upgrades_it_in_place_with_nothing_lost(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _old_database(path)
    with Store.open(path):
        pass
    applied = [name for (name,) in rows(path, "SELECT name FROM _sqlite_migrations ORDER BY id")]
    assert applied == migration_names()
    assert rows(path, "SELECT seq, type, scene FROM events ORDER BY seq") == [
        (1, "scene_shown", "kitchen"),
        (2, "choice_made", "kitchen"),
        (3, "scene_shown", "bus"),
        (4, "timeout_default", "office"),
    ]
    assert rows(
        path, "SELECT scene, choice, target, count, timeouts FROM traversals ORDER BY scene"
    ) == [("kitchen", "puffs", "bus", 1, 0), ("office", "accept", "crunch", 1, 1)]
    assert rows(path, "SELECT scene, views FROM scene_dropoff ORDER BY scene") == [
        ("bus", 1),
        ("kitchen", 1),
    ]
    assert totals_consistent(path)


def test_the_upgraded_database_keeps_recording(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _old_database(path)
    with Store.open(path) as store:
        session = store.resume_session("s1")
        assert session.record(
            "choice_made", scene="office", choice="refuse", target="home"
        ).result()
        session.close()
    assert rows(path, "SELECT seq, choice FROM events WHERE seq > 4") == [(5, "refuse")]
    assert totals_consistent(path)


def test_opening_twice_applies_nothing_more(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    first = rows(path, "SELECT name, applied_at FROM _sqlite_migrations")
    Store.open(path).close()
    assert rows(path, "SELECT name, applied_at FROM _sqlite_migrations") == first
