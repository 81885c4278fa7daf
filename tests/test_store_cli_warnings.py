"""What the store has to say reaches the user, and a seed it cannot record never gets in.

Every command that opens the database prints the store's warnings to stderr
when it ends (`branching.store.notices`, printed by the CLI group): records
moved to `.rejected`, records kept in the spool, refused links. Commands that
only read (`stats`, `flowchart`, the dashboard) say what waits in the spool,
missing from their figures. `--seed` is checked at the command line.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import branching.cli.data  # noqa: F401  (registers the commands)
from branching.cli.main import cli
from branching.store import Store, spool
from tests.conftest import STORIES
from tests.test_store_api import begin, play_through, rows

TUTORIAL = str(STORIES / "tutorial")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@contextmanager
def write_lock(path: Path) -> Iterator[None]:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def _poisoned(tmp_path: Path) -> Path:
    """A database with alice's playthrough, and a spool whose session has a seed too big."""
    path = tmp_path / "t.db"
    with Store.open(path) as store:
        play_through(store, "alice")
    store = Store.open(path, busy_timeout_ms=100, retry_window=0.2)
    with write_lock(path):
        session = begin(store, "bo")
        session.record("scene_shown", scene="kitchen").result(timeout=10)
        store.close()
    target = path.with_name("t.db.spool")
    records = [json.loads(line) for line in target.read_text().splitlines()]
    records[1]["seed"] = 99999999999999999999999
    target.unlink()
    spool.append(target, records)
    return path


@pytest.mark.parametrize("seed", ["99999999999999999999999", "-9223372036854775809"])
def test_a_seed_the_database_cannot_hold_is_a_usage_error(tmp_path: Path, seed: str) -> None:
    db = tmp_path / "t.db"
    result = run("play", TUTORIAL, "--plain", "--choices", "1", "--db", str(db), "--seed", seed)
    assert result.exit_code == 2
    assert "Invalid value for '--seed'" in result.stderr
    assert "9223372036854775807" in result.stderr  # the range, said
    assert not db.exists()  # refused before anything was opened


def test_the_biggest_seed_the_database_holds_is_played_and_recorded(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    seed = str(2**63 - 1)
    result = run("play", TUTORIAL, "--plain", "--choices", "1", "--db", str(db), "--seed", seed)
    assert result.exit_code == 0, result.output
    assert rows(db, "SELECT seed FROM sessions") == [(2**63 - 1,)]
    assert "warning:" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [["prune", "--before", "2000-01-01"], ["forget", "nobody-at-all"]],
    ids=["prune", "forget"],
)
def test_commands_that_open_the_store_print_its_warnings(
    tmp_path: Path, command: list[str]
) -> None:
    path = _poisoned(tmp_path)
    result = run(*command, "--db", str(path))
    assert "warning: 2 spooled telemetry record(s) could not be loaded" in result.stderr
    assert "t.db.spool.rejected" in result.stderr and "OverflowError" in result.stderr
    assert rows(path, "SELECT COUNT(*) FROM sessions") == [(1,)]  # alice's; bo's rejected


def test_a_reading_command_says_what_waits_in_the_spool(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    assert run("play", TUTORIAL, "--plain", "--choices", "1", "--db", str(db)).exit_code == 0
    spool.append(db.with_name("t.db.spool"), [{"v": 1, "op": "story"}])
    result = run("stats", "tutorial", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert "warning: telemetry kept in" in result.stderr
    assert "is not in these figures yet" in result.stderr


def test_line_play_on_a_locked_database_tells_the_viewer_and_prints_where_it_kept_them(
    tmp_path: Path,
) -> None:
    db = tmp_path / "t.db"
    with Store.open(db) as store:
        store.load_viewer_key()
    with write_lock(db):
        result = run("play", TUTORIAL, "--plain", "--choices", "1", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert "(The telemetry database cannot be written now" in result.stderr
    assert "warning: the telemetry database could not be written" in result.stderr
    assert "t.db.spool" in result.stderr
    Store.open(db).close()
    assert [t for (t,) in rows(db, "SELECT type FROM events ORDER BY seq")][:3] == [
        "session_started",
        "scene_shown",
        "choice_made",
    ]
