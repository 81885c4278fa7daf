"""The running totals as views of the aggregates (m020): the same figures, kept by no writer.

`traversals`, `scene_views` and `session_ends` are read by the unfiltered
flowchart, the story list and the SQL views; since m020 they are the
aggregates' base slice plus the pruned part, so a key press no longer
writes them (issue 14). Here: after real key presses, a prune and a forget
they still equal the pruned part plus a recount of what is stored; an older
file's totals read the same after the upgrade; and a standing its last
session left is no row (m020's trigger, where each press ran a DELETE).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from branching.play.engine import Playthrough
from branching.recording import StoreRecorder
from branching.store import Store, StoryInfo, db
from branching.store.erase import forget, prune
from branching.story.loader import load_story
from tests.test_store_api import totals_consistent

ROOT = Path(__file__).resolve().parent.parent
SIGNAL = load_story(ROOT / "stories" / "signal")
TOTALS = ("traversals", "scene_views", "session_ends")


def play(path: Path, viewer: str, seeds: range, presses: int | None = None) -> None:
    """Sessions of Signal through the player's recorder, key press by key press (each
    `presses` long at most, else up to an ending or 200: the rest stay in progress)."""
    s = SIGNAL
    with Store.open(path, viewer_key=path.with_name("key")) as store:
        info = StoryInfo(s.id, s.title, s.author, s.version, s.content_hash, s.structure())
        store.register_story(info)
        for seed in seeds:
            rec = StoreRecorder(store.start_session(s.id, s.content_hash, viewer, seed=seed))
            run = Playthrough.start(s, seed)
            rec.started(run)
            done = 0
            while not run.view.finished and done < (presses or 200):
                view = run.view
                open_ = [c for c in view.choices if not c.locked]
                choice = open_[(seed + done) % len(open_)]
                run.choose(choice.id)
                rec.chose(run, view.scene, choice.id, choice.target, decide_ms=900, input="key")
                rec.shown(run)
                done += 1
            rec.close()


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return sorted(conn.execute(sql).fetchall(), key=repr)
    finally:
        conn.close()


def totals(path: Path) -> dict[str, list[tuple[object, ...]]]:
    return {t: rows(path, f"SELECT * FROM {t} WHERE count <> 0") for t in TOTALS}


def test_the_totals_follow_key_presses_a_prune_and_a_forget(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    play(path, "ana", range(1, 7))
    play(path, "ben", range(7, 10), presses=4)  # left in progress
    assert {t: kind for t, kind in rows(path, "SELECT name, type FROM sqlite_master")
            if t in TOTALS} == dict.fromkeys(TOTALS, "view")  # fmt: skip
    walked = totals(path)
    assert walked["traversals"] and walked["scene_views"] and walked["session_ends"]
    assert totals_consistent(path)
    ((sessions,),) = rows(path, "SELECT SUM(count) FROM session_ends")
    assert sessions == 9
    assert rows(path, "SELECT * FROM agg_sessions WHERE sessions = 0") == []

    prune(path, "2999-01-01")  # every raw event goes; the totals keep what they counted
    assert rows(path, "SELECT COUNT(*) FROM events") == [(0,)]
    assert totals(path) == walked
    assert totals_consistent(path)

    play(path, "ben", range(10, 12))  # new events beside the pruned part
    assert totals_consistent(path)
    grown = totals(path)
    assert grown != walked

    forget(path, "ben", viewer_key=path.with_name("key"))
    assert totals_consistent(path)
    ((left,),) = rows(path, "SELECT SUM(count) FROM session_ends")
    assert left == 6  # ana's sessions; ben's are gone, the pruned counts stay
    assert totals(path)["traversals"] == walked["traversals"]


def test_an_older_file_reads_the_same_totals_after_its_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    play(path, "ana", range(1, 5))
    expected = totals(path)
    conn = db.connect(path)
    try:
        with db.immediate(conn):  # the file before m020: tables holding the same rows
            for name in TOTALS:
                conn.execute(f"CREATE TEMP TABLE kept_{name} AS SELECT * FROM {name}")
                conn.execute(f"DROP VIEW {name}")
                conn.execute(f"CREATE TABLE {name} AS SELECT * FROM temp.kept_{name}")
            conn.execute("DROP TRIGGER agg_sessions_drop_spent")
            conn.execute(
                "DELETE FROM _sqlite_migrations "
                "WHERE name = 'm020_running_totals_from_the_aggregates'"
            )
    finally:
        conn.close()
    assert rows(path, "SELECT type FROM sqlite_master WHERE name = 'traversals'") == [("table",)]

    Store.open(path, viewer_key=path.with_name("key")).close()  # upgrades it

    assert rows(path, "SELECT type FROM sqlite_master WHERE name = 'traversals'") == [("view",)]
    assert totals(path) == expected
    play(path, "ana", range(5, 7))  # and they follow what is recorded afterwards
    assert totals_consistent(path)
