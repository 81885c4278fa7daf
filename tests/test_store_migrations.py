"""Schema upgrades: an older database is upgraded in place with nothing lost."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from branching.store import Store, decide_acts
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


def test_an_older_database_with_times_to_decide_gets_them_packed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _old_database(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE events SET decide_ms = 1234 WHERE seq = 2")
    conn.commit()
    conn.close()
    Store.open(path, create_key=False).close()
    assert rows(path, "SELECT attr_key, scene, buckets FROM agg_decide") == [
        ("", "kitchen", "1200:1")
    ]


def test_m014_packs_the_rows_m013_kept_per_bucket_into_the_same_counts(tmp_path: Path) -> None:
    from branching.store.ops import apply_op
    from tests.test_store_decide_acts import open_db, played

    path = tmp_path / "t.db"
    conn = open_db(path)
    story, sessions = played(21)
    for op in [story, *(op for ops in sessions for op in ops)]:
        conn.execute("BEGIN IMMEDIATE")
        apply_op(conn, op)
        conn.execute("COMMIT")
    packed = sorted(conn.execute("SELECT * FROM agg_decide").fetchall())
    key = "story_id, attr_key, attr_value, content_hash, day, first_play, simulated"
    per_bucket = [  # m013's layout: a row per bucket
        (*row[:-1], low, n) for row in packed for low, n in decide_acts.decode(row[-1]).items()
    ]
    assert len(per_bucket) > 2 * len(packed)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DROP TABLE agg_decide")
    conn.execute(
        f"""CREATE TABLE agg_decide (story_id TEXT NOT NULL, attr_key TEXT NOT NULL,
        attr_value TEXT NOT NULL, content_hash TEXT NOT NULL, day TEXT NOT NULL,
        first_play INTEGER NOT NULL, simulated INTEGER NOT NULL, scene TEXT NOT NULL,
        bucket INTEGER NOT NULL, count INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY ({key}, scene, bucket)) WITHOUT ROWID"""
    )
    conn.executemany(f"INSERT INTO agg_decide VALUES ({', '.join('?' * 10)})", per_bucket)
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm014_packed_decide'")
    conn.execute("COMMIT")
    conn.close()
    Store.open(path, create_key=False).close()  # m014 runs again, on m013's rows
    assert sorted(rows(path, "SELECT * FROM agg_decide")) == packed


def test_the_checked_in_schema_steps_are_what_replaying_the_steps_makes() -> None:
    from branching.store.migrations import replayed_steps
    from branching.store.schema_steps import STEPS

    # after adding a step: python -m branching.store.migrations
    assert STEPS == replayed_steps()
    assert [list(made) for made, _ in STEPS.values()] == [
        list(made) for made, _ in replayed_steps().values()
    ]
    assert list(STEPS) == migration_names()


def test_the_open_check_expects_the_tables_the_replayed_steps_leave() -> None:
    from branching.store.migrations import expected_kinds, expected_schema

    names = migration_names()
    applied_sets = [names, *(names[:n] for n in range(1, len(names)))]
    applied_sets += [[name for name in names if name != gap] for gap in names]  # a step missing
    for applied in applied_sets:
        replayed = {name: kind for name, (kind, _sql) in expected_schema(applied).items()}
        # in the same order too: the first missing table is the one an error names
        assert list(expected_kinds(applied).items()) == list(replayed.items()), applied
    assert expected_kinds()["session_digests"] == "table"
    assert expected_kinds()["choice_shares"] == "view"


def test_a_current_file_is_checked_without_replaying_the_steps(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "t.db"
    Store.open(path).close()
    probe = (
        "import sys; from pathlib import Path; from branching.store.db import reader; "
        f"reader(Path({str(path)!r})).close(); "
        "from branching.store import migrations as m; "
        "print('sqlite_utils' in sys.modules, m._schema_after_each_step.cache_info().misses)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "0"]
