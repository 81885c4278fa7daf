"""A lost or different viewer key is an error, never a new identity (issue #10, finding 7).

A player that found no key used to make a new one, so the same people were
recorded under new ids and `forget alice` / `export --viewer alice` missed
everything recorded before. The database now keeps fingerprints of the keys
that recorded its viewers (`viewer_keys`); these tests play through the real
command and the store on real files.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import click
from click.testing import CliRunner

import branching.cli.data  # noqa: F401  (registers the commands)
from branching.cli import cli
from branching.store import Store, ViewerKeyProblem
from branching.store.erase import forget
from branching.store.merge import merge
from branching.store.viewers import default_key_path, fingerprint, load_key
from tests.test_store_api import play_through, rows

BREAKFAST = Path(__file__).resolve().parent / "fixtures" / "good" / "breakfast.yaml"


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args))


def play(db: Path, viewer: str = "alice", *extra: str) -> click.testing.Result:
    """`branching play` in line mode, recording one short playthrough of breakfast."""
    return run(
        "play", str(BREAKFAST), "--db", str(db), "--viewer", viewer, "--choices", "1", *extra
    )


def test_the_first_run_creates_a_key_and_the_database_remembers_its_fingerprint(
    tmp_path: Path,
) -> None:
    db = tmp_path / "t.db"
    assert not default_key_path().exists()
    result = play(db)
    assert result.exit_code == 0, result.output
    key = load_key(create=False)
    assert rows(db, "SELECT fingerprint FROM viewer_keys") == [(fingerprint(key),)]
    assert key.hex().encode() not in db.read_bytes()  # a fingerprint, never the key
    assert play(db, "bob").exit_code == 0  # the same key again: fine


def test_a_missing_key_for_a_database_with_viewers_stops_the_player_in_one_line(
    tmp_path: Path,
) -> None:
    db = tmp_path / "t.db"
    assert play(db).exit_code == 0
    key = default_key_path()
    kept = tmp_path / "backup.key"
    shutil.move(key, kept)

    result = play(db)

    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    message = result.output.strip()
    assert "\n" not in message and "Traceback" not in message
    assert "no viewer key" in message and "--viewer-key" in message
    assert not key.exists()  # no new identity was made
    assert rows(db, "SELECT COUNT(*) FROM sessions") == [(1,)]

    # the way out: the key that recorded them
    assert play(db, "alice", "--viewer-key", str(kept)).exit_code == 0
    assert forget(db, "alice", viewer_key=kept).sessions == 2


def test_a_different_key_is_refused_too(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    assert play(db).exit_code == 0
    other = tmp_path / "other.key"
    load_key(other)  # a key that recorded nobody here

    result = play(db, "alice", "--viewer-key", str(other))

    assert result.exit_code == 1 and "is not the one" in result.output
    assert rows(db, "SELECT COUNT(*) FROM sessions") == [(1,)]
    with Store.open(db, viewer_key=other) as store:
        try:
            store.load_viewer_key()
        except ViewerKeyProblem as exc:
            assert "--viewer-key" in str(exc)
        else:
            raise AssertionError("a different key was accepted")


def test_a_fresh_database_may_get_a_new_key_even_where_another_database_exists(
    tmp_path: Path,
) -> None:
    assert play(tmp_path / "one.db").exit_code == 0
    default_key_path().unlink()
    assert play(tmp_path / "two.db").exit_code == 0  # no viewers there yet: a key is made
    assert default_key_path().exists()


def test_a_database_recorded_before_fingerprints_adopts_the_key_that_records_to_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "t.db"
    with Store.open(db) as store:
        play_through(store, "alice")
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM viewer_keys")  # as an older version left it
    conn.commit()
    conn.close()
    assert play(db, "bob").exit_code == 0
    assert rows(db, "SELECT fingerprint FROM viewer_keys") == [(fingerprint(load_key()),)]


def test_export_and_forget_with_a_key_that_recorded_nobody_say_so(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with Store.open(db) as store:
        play_through(store, "alice")
    other = tmp_path / "other.key"
    load_key(other)

    export = run("export", "--db", str(db), "--viewer", "alice", "--viewer-key", str(other))
    assert export.exit_code == 1 and "recorded none of its viewers" in export.output
    forgot = run("forget", "alice", "--db", str(db), "--viewer-key", str(other))
    assert forgot.exit_code == 1 and "--viewer-key" in forgot.output
    assert rows(db, "SELECT COUNT(*) FROM sessions") == [(1,)]

    # the right key and a name nobody used: simply nothing
    nobody = run("export", "--db", str(db), "--viewer", "nobody")
    assert nobody.exit_code == 0 and nobody.output == ""
    alice = run("export", "--db", str(db), "--viewer", "alice")
    assert len(alice.output.splitlines()) == 9


def test_merge_carries_the_fingerprints_so_a_kiosk_key_still_finds_its_viewers(
    tmp_path: Path,
) -> None:
    kiosk = tmp_path / "kiosk.db"
    kiosk_key = tmp_path / "kiosk.key"
    with Store.open(kiosk, viewer_key=kiosk_key) as store:
        play_through(store, "alice")
    target = tmp_path / "all.db"
    with Store.open(target) as store:  # the office records with its own key
        play_through(store, "bob")
    merge(target, [kiosk])

    assert len(rows(target, "SELECT fingerprint FROM viewer_keys")) == 2
    found = run("export", "--db", str(target), "--viewer", "alice", "--viewer-key", str(kiosk_key))
    assert found.exit_code == 0, found.output
    assert {json.loads(line)["story_id"] for line in found.output.splitlines()} == {"breakfast"}


def test_the_full_screen_player_gets_the_same_one_line_refusal(tmp_path: Path) -> None:
    from branching.play.services import TelemetryUnavailable
    from branching.recording import PlayOptions, store_services

    db = tmp_path / "t.db"
    assert play(db).exit_code == 0
    default_key_path().unlink()
    services = store_services(PlayOptions(story=str(BREAKFAST), db=str(db), viewer="alice"))
    try:
        services.open()
    except TelemetryUnavailable as exc:
        assert "no viewer key" in str(exc) and "\n" not in str(exc)
    else:
        raise AssertionError("the player opened a database whose key is lost")
    finally:
        services.close()
    assert not default_key_path().exists()
