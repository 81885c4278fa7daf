"""merge: kiosks' databases combine idempotently by event id, totals rebuilt."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from branching.store import DatabaseMissing, ForeignDatabase, Store, StoreError
from branching.store.db import connect, create_file
from branching.store.merge import merge
from branching.store.migrations import migrate, migration_names
from tests.test_store_api import STRUCTURE, begin, play_through, rows, totals_consistent

TABLES = (
    "stories",
    "sessions",
    "session_attrs",
    "events",
    "traversals",
    "scene_views",
    "session_ends",
)


def _snapshot(path: Path) -> dict[str, list[tuple[object, ...]]]:
    return {t: sorted(rows(path, f"SELECT * FROM {t}"), key=repr) for t in TABLES}


@pytest.fixture
def kiosks(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    with Store.open(a) as store:
        play_through(store, "alice")
        play_through(store, "bob", first="puffs", second="accept")
    with Store.open(b) as store:
        play_through(store, "carol", first="puffs")
        session = begin(store, "dave", attrs={"region": "NL"})
        session.record("scene_shown", scene="kitchen").result()
        session.close()
    return a, b


def test_merging_the_same_sources_twice_changes_nothing_the_second_time(
    tmp_path: Path, kiosks: tuple[Path, Path]
) -> None:
    target = tmp_path / "all.db"
    first = merge(target, list(kiosks))
    assert [(r.events, r.sessions, r.stories) for r in first] == [(18, 2, 1), (10, 2, 0)]
    after_first = _snapshot(target)
    second = merge(target, list(kiosks))
    assert [(r.events, r.sessions, r.stories, r.conflicts) for r in second] == [
        (0, 0, 0, 0),
        (0, 0, 0, 0),
    ]
    assert _snapshot(target) == after_first
    assert rows(
        target, "SELECT choice, count FROM traversals WHERE scene = 'kitchen' ORDER BY choice"
    ) == [("frosties", 1), ("puffs", 2)]
    assert totals_consistent(target)
    assert rows(target, "PRAGMA integrity_check") == [("ok",)]


def test_a_session_finished_elsewhere_finishes_the_merged_copy(
    tmp_path: Path, kiosks: tuple[Path, Path]
) -> None:
    target = tmp_path / "all.db"
    _, b = kiosks
    merge(target, [b])
    assert rows(target, "SELECT COUNT(*) FROM sessions WHERE outcome = 'in_progress'") == [(1,)]
    with Store.open(b) as store:
        (session_id,) = rows(b, "SELECT session_id FROM sessions WHERE outcome = 'in_progress'")[0]
        resumed = store.resume_session(session_id)
        resumed.record("quit", scene="kitchen").result()
        resumed.finish("quit").result()
        resumed.close()
    result = merge(target, [b])[0]
    assert (result.events, result.sessions) == (1, 0)
    assert rows(target, "SELECT outcome FROM sessions WHERE session_id = ?", (session_id,)) == [
        ("quit",)
    ]


def test_a_source_with_an_older_schema_is_upgraded_in_a_copy(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    create_file(old)
    conn = connect(old)
    migrate(conn, old, stop_before=migration_names()[1])
    then = "2025-01-31T18:04:05.123Z"  # timestamps as the store writes them (merge checks)
    conn.execute(
        "INSERT INTO stories VALUES ('breakfast', 'h0', 'B', NULL, NULL, ?, ?)",
        [json.dumps(STRUCTURE), then],
    )
    conn.execute(
        "INSERT INTO sessions (session_id, story_id, content_hash, viewer_id, "
        "started_at) VALUES ('s1', 'breakfast', 'h0', 'v', ?)",
        [then],
    )
    conn.execute(
        "INSERT INTO events (event_id, session_id, seq, ts, type, scene, choice, "
        "target) VALUES ('e1', 's1', 1, ?, 'choice_made', 'kitchen', 'puffs', "
        "'bus')",
        [then],
    )
    conn.close()
    before = old.read_bytes()
    merge(tmp_path / "all.db", [old])
    assert old.read_bytes() == before  # the source is never changed
    assert rows(tmp_path / "all.db", "SELECT scene, choice, count FROM traversals") == [
        ("kitchen", "puffs", 1)
    ]


def test_merge_refuses_bad_sources_with_clear_errors(
    tmp_path: Path, kiosks: tuple[Path, Path]
) -> None:
    a, _ = kiosks
    with pytest.raises(DatabaseMissing):
        merge(tmp_path / "all.db", [tmp_path / "absent.db"])
    with pytest.raises(StoreError, match="target itself"):
        merge(a, [a])
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(ForeignDatabase):
        merge(tmp_path / "all.db", [foreign])
