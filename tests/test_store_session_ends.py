"""`session_ends`: where sessions stand, kept exact by every path that changes a session.

The table counts sessions per (story, version, last scene, outcome, ending).
After every step of a mixed history (endings, quits, a rewind from an ending,
a resumed session, forget, merges, a replayed spool, a schema upgrade) it must
equal a fresh GROUP BY over the sessions.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from branching.store import Store
from branching.store.db import connect, copy_database, create_file
from branching.store.erase import forget, prune
from branching.store.merge import merge
from branching.store.migrations import migrate, migration_names
from tests.test_store_api import begin, play_through, rows, story, totals_consistent
from tests.test_store_faults import exclusive_lock

Ends = dict[tuple[str, str, str, str], int]


def ends(path: Path) -> Ends:
    """session_ends as {(version, last scene, outcome, ending): sessions}, zero rows left out."""
    return {
        (h, s, o, e): n
        for h, s, o, e, n in rows(
            path,
            "SELECT content_hash, last_scene, outcome, ending_id, count FROM session_ends "
            "WHERE count <> 0",
        )
    }


def recount(path: Path) -> Ends:
    """The same figures counted afresh from the sessions."""
    return {
        (h, s, o, e): n
        for h, s, o, e, n in rows(
            path,
            "SELECT content_hash, COALESCE(last_scene, ''), outcome, COALESCE(ending_id, ''), "
            "COUNT(*) FROM sessions GROUP BY 1, 2, 3, 4",
        )
    }


def exact(path: Path) -> Ends:
    """Assert the table equals the recount (and the other totals theirs); return it."""
    counted = ends(path)
    assert counted == recount(path)
    assert totals_consistent(path)
    return counted


def rewind_after_ending(store: Store, viewer: str) -> str:
    """Reach the crunch ending, rewind to the office, then end at home instead."""
    session = begin(store, viewer)
    for scene in ("kitchen", "bus", "office", "crunch"):
        assert session.record("scene_shown", scene=scene).result()
    assert session.finish("ending", ending="crunch", ending_kind="bad").result()
    assert session.record("rewind", scene="crunch", target="office").result()
    assert session.record("scene_shown", scene="office").result()
    assert session.record("scene_shown", scene="home").result()
    assert session.finish("ending", ending="home", ending_kind="good").result()
    session.close()
    return session.session_id


def test_a_mixed_history_keeps_session_ends_equal_to_a_recount(tmp_path: Path) -> None:
    a = tmp_path / "a.db"
    with Store.open(a) as store:
        play_through(store, "alice")
        play_through(store, "alice", first="puffs", second="accept")
        rewind_after_ending(store, "bob")
        quitter = begin(store, "carol")
        quitter.record("scene_shown", scene="kitchen").result()
        quitter.record("scene_shown", scene="bus").result()
        quitter.finish("quit").result()
        quitter.close()
        waiting = begin(store, "dave")  # nothing shown yet: no last scene
        waiting.close()
        store.register_story(story("hash-2"))
        other = store.start_session("breakfast", "hash-2", "erin")
        other.record("scene_shown", scene="kitchen").result()
        other.close()
    assert exact(a) == {
        ("hash-1", "home", "ending", "home"): 2,
        ("hash-1", "crunch", "ending", "crunch"): 1,
        ("hash-1", "bus", "quit", ""): 1,
        ("hash-1", "", "in_progress", ""): 1,
        ("hash-2", "kitchen", "in_progress", ""): 1,
    }

    with Store.open(a) as store:  # resume the session that showed nothing yet
        resumed = store.resume_session(waiting.session_id)
        resumed.record("resume").result()
        resumed.record("scene_shown", scene="kitchen").result()
        resumed.close()
    assert exact(a)[("hash-1", "kitchen", "in_progress", "")] == 1

    forget(a, "alice")
    assert exact(a) == {
        ("hash-1", "home", "ending", "home"): 1,
        ("hash-1", "bus", "quit", ""): 1,
        ("hash-1", "kitchen", "in_progress", ""): 1,
        ("hash-2", "kitchen", "in_progress", ""): 1,
    }

    b = tmp_path / "b.db"
    copy_database(a, b)
    with Store.open(b) as store:  # the same kiosk's copy moves dave on, and a new viewer plays
        resumed = store.resume_session(waiting.session_id)
        resumed.record("scene_shown", scene="bus").result()
        resumed.finish("abandoned").result()
        resumed.close()
        play_through(store, "frank", first="puffs", second="accept")
    for _ in range(2):
        merge(a, [b])
        assert exact(a) == {
            ("hash-1", "home", "ending", "home"): 1,
            ("hash-1", "bus", "quit", ""): 1,
            ("hash-1", "bus", "abandoned", ""): 1,
            ("hash-1", "crunch", "ending", "crunch"): 1,
            ("hash-2", "kitchen", "in_progress", ""): 1,
        }

    prune(a, "2999-01-01")  # events go; where sessions stand does not change
    assert rows(a, "SELECT COUNT(*) FROM events") == [(0,)]
    assert ends(a) == recount(a) and sum(ends(a).values()) == 5


def test_a_session_finished_elsewhere_without_new_events_moves_on_merge(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    with Store.open(a) as store:
        session = begin(store, "gina")
        session.record("scene_shown", scene="office").result()
        session.close()
    copy_database(a, b)
    with Store.open(b) as store:
        store.resume_session(session.session_id).finish("stuck").result()
    assert exact(a) == {("hash-1", "office", "in_progress", ""): 1}

    [result] = merge(a, [b])

    assert (result.events, result.sessions) == (0, 0)
    assert exact(a) == {("hash-1", "office", "stuck", ""): 1}


def test_a_spool_replayed_twice_counts_each_session_once(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    store = Store.open(path, busy_timeout_ms=100, retry_window=0.2)
    with exclusive_lock(path):
        session = begin(store, "hana")
        session.record("scene_shown", scene="kitchen")
        session.record("scene_shown", scene="bus")
        session.finish("quit")
        store.close()
    spool = path.with_name(path.name + ".spool")
    saved = tmp_path / "saved.spool"
    shutil.copyfile(spool, saved)
    Store.open(path).close()
    assert exact(path) == {("hash-1", "bus", "quit", ""): 1}
    shutil.copyfile(saved, spool)

    Store.open(path).close()

    assert not spool.exists() or not spool.read_text().strip()
    assert exact(path) == {("hash-1", "bus", "quit", ""): 1}


def test_upgrading_an_older_database_backfills_session_ends(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    create_file(path)
    conn = connect(path)
    migrate(conn, path, stop_before="m004_session_end_totals")
    conn.execute("INSERT INTO stories VALUES ('breakfast', 'h0', 'B', NULL, NULL, '{}', 'x')")
    conn.executemany(
        "INSERT INTO sessions (session_id, story_id, content_hash, viewer_id, started_at, "
        "outcome, ending_id, last_scene) VALUES (?, 'breakfast', 'h0', 'v', 'then', ?, ?, ?)",
        [
            ("s1", "ending", "home", "home"),
            ("s2", "ending", "home", "home"),
            ("s3", "quit", None, "bus"),
            ("s4", "in_progress", None, None),
        ],
    )
    conn.close()
    assert "session_ends" not in {n for (n,) in rows(path, "SELECT name FROM sqlite_master")}

    Store.open(path).close()

    assert "m004_session_end_totals" in migration_names()
    assert exact(path) == {
        ("h0", "home", "ending", "home"): 2,
        ("h0", "bus", "quit", ""): 1,
        ("h0", "", "in_progress", ""): 1,
    }
