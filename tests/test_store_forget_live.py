"""`forget` while the viewer is still playing (issue #10, finding 8).

The player carries on after `forget` deleted its playthrough. Its later
events used to fail the foreign-key check, be set aside and sit in the spool
for ever, retried at every open. `forget` now lists the playthroughs it
deleted in `forgotten_sessions` and every later op for them is dropped, and
the command says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import branching.cli.data  # noqa: F401  (registers the commands)
from branching.cli import cli
from branching.store import Store
from branching.store.erase import forget
from branching.store.merge import merge
from branching.store.viewers import load_key, viewer_id
from tests.test_store_api import begin, play_through, rows, totals_consistent


def _spool_files(db: Path) -> list[Path]:
    return [p for p in db.parent.glob(db.name + ".spool*") if p.stat().st_size]


def _all_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


def test_events_a_live_player_sends_after_forget_are_dropped_not_spooled(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with Store.open(db) as other:
        play_through(other, "bob", first="puffs")
    store = Store.open(db)
    session = begin(store, "alice")
    assert session.record("session_started").result()
    assert session.record("scene_shown", scene="kitchen").result()

    result = forget(db, "alice")

    assert (result.sessions, result.events, result.unfinished) == (1, 2, 1)
    # the player goes on: nothing fails, nothing is kept
    assert session.record(
        "choice_made", scene="kitchen", choice="frosties", target="bus", input="key"
    ).result()
    assert session.record("scene_shown", scene="bus").result()
    session.finish("quit")
    session.close()
    assert store.pending == 0
    store.close()

    assert _spool_files(db) == []
    assert rows(db, "SELECT COUNT(*) FROM sessions") == [(1,)]  # bob's
    assert rows(db, "SELECT COUNT(*) FROM events") == [(9,)]
    assert rows(db, "SELECT scene, count FROM scene_views WHERE scene = 'bus'") == [("bus", 1)]
    assert totals_consistent(db)
    assert viewer_id(load_key(), "alice").encode() not in _all_bytes(db)
    Store.open(db).close()  # and the next open has nothing to retry
    assert _spool_files(db) == []


def test_spooled_records_of_a_forgotten_playthrough_are_dropped_when_loaded(
    tmp_path: Path,
) -> None:
    db = tmp_path / "t.db"
    with Store.open(db) as store:
        play_through(store, "alice")
    session_id = rows(db, "SELECT session_id FROM sessions")[0][0]
    forget(db, "alice")
    late = {
        "v": 1,
        "op": "event",
        "event_id": "late-1",
        "session_id": session_id,
        "story_id": "breakfast",
        "content_hash": "hash-1",
        "seq": 99,
        "ts": "2030-01-01T00:00:00.000Z",
        "type": "pause",
        "scene": None,
        "choice": None,
        "target": None,
        "decide_ms": None,
        "input": None,
        "state": None,
    }
    db.with_name(db.name + ".spool").write_text(json.dumps(late) + "\n")

    Store.open(db).close()

    assert _spool_files(db) == []
    assert rows(db, "SELECT COUNT(*) FROM events") == [(0,)]


def test_the_command_says_what_it_did_for_a_playthrough_in_progress(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    store = Store.open(db)
    session = begin(store, "alice")
    assert session.record("session_started").result()

    result = CliRunner().invoke(cli, ["forget", "alice", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "Forgot alice: 1 playthrough, 1 event deleted from" in result.output
    assert "1 playthrough of alice was still in progress" in result.output
    assert "dropped" in result.output
    session.close()
    store.close()

    nothing = CliRunner().invoke(cli, ["forget", "alice", "--db", str(db)])
    assert nothing.exit_code == 0
    assert "Nothing of alice is recorded" in nothing.output


def test_merging_a_copy_that_still_holds_a_forgotten_playthrough_does_not_bring_it_back(
    tmp_path: Path,
) -> None:
    kiosk = tmp_path / "kiosk.db"
    with Store.open(kiosk) as store:
        play_through(store, "alice")
        play_through(store, "bob", first="puffs")
    target = tmp_path / "all.db"
    merge(target, [kiosk])
    forget(target, "alice")

    (again,) = merge(target, [kiosk])

    assert (again.sessions, again.events) == (0, 0)
    assert rows(target, "SELECT COUNT(*) FROM sessions") == [(1,)]
    assert viewer_id(load_key(), "alice").encode() not in target.read_bytes()
    assert totals_consistent(target)
