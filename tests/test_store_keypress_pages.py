"""A key press writes fewer pages and runs less code, with the same rows (issue 14).

Two changes make a key press's transaction lighter, none changing a figure:
the index of sessions by last scene is gone (m017: every scene shown moved
its entry, and no query needs it), and a press adds a time to decide to its
bucket in the packed text in place. What a user would notice: the same
figures (the group-apply tests and the consistency suite compare every row),
an older file upgraded without that index, recording going on.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from branching.play.engine import Playthrough
from branching.recording import StoreRecorder
from branching.store import Store, StoryInfo, decide_acts
from branching.store.db import connect, create_file
from branching.store.migrations import migrate, migration_names
from branching.story.loader import load_story

ROOT = Path(__file__).resolve().parent.parent


def _indexes(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()


def test_a_new_database_has_no_index_of_sessions_by_last_scene(tmp_path: Path) -> None:
    with Store.open(tmp_path / "t.db", viewer_key=tmp_path / "key"):
        pass
    found = _indexes(tmp_path / "t.db")
    assert "sessions_by_last_scene" not in found
    assert "sessions_by_outcome" in found  # what searches by story and version use now


def test_an_older_database_loses_the_index_and_keeps_recording(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    create_file(path)
    conn = connect(path)
    migrate(conn, path, stop_before="m017_no_last_scene_index")
    conn.close()
    assert "sessions_by_last_scene" in _indexes(path)
    story = load_story(ROOT / "stories" / "signal")
    with Store.open(path, viewer_key=tmp_path / "key") as store:
        store.register_story(
            StoryInfo(
                story.id, story.title, story.author, story.version, story.content_hash,
                story.structure(),
            )
        )  # fmt: skip
        rec = StoreRecorder(store.start_session(story.id, story.content_hash, "ana", seed=2))
        run = Playthrough.start(story, 2)
        rec.started(run)
        for _ in range(3):
            view = run.view
            choice = next(c for c in view.choices if not c.locked)
            run.choose(choice.id)
            rec.chose(run, view.scene, choice.id, choice.target, decide_ms=900, input="key")
            rec.shown(run)
        rec.close()
    assert "sessions_by_last_scene" not in _indexes(path)
    applied = sqlite3.connect(path).execute("SELECT name FROM _sqlite_migrations ORDER BY id")
    assert [row[0] for row in applied] == migration_names()
    last = sqlite3.connect(path).execute("SELECT last_scene FROM sessions").fetchone()[0]
    assert last == run.view.scene


def _general(old: str, delta: str) -> str:
    """Bucket texts added the long way: parsed, summed, written back."""
    total = decide_acts.decode(old)
    for low, n in decide_acts.decode(delta).items():
        total[low] = total.get(low, 0) + n
    return decide_acts.encode(total)


def test_adding_one_time_to_decide_in_place_gives_the_canonical_text() -> None:
    rng = random.Random(14)
    lows = [0, 100, 1_000, 1_200, 9_900, 10_000, 20_000, 100_000]
    for _ in range(20_000):
        held = {rng.choice(lows): rng.randint(1, 9) for _ in range(rng.randint(1, 6))}
        old = decide_acts.encode(held)
        delta = decide_acts.encode({rng.choice(lows): rng.choice([1, 1, 2, -1, -3])})
        assert decide_acts.add(old, delta) == _general(old, delta), (old, delta)
    assert decide_acts.add("100:2 1200:5 20000:1", "1200:1") == "100:2 1200:6 20000:1"
    assert decide_acts.add("100:2 1200:5", "200:1") == "100:2 200:1 1200:5"  # a new bucket
    assert decide_acts.add("100:2 1200:1", "1200:-1") == "100:2"  # a count falls to 0
    assert decide_acts.add("1100:4", "100:1") == "100:1 1100:4"  # no mistaking 100 for 1100
