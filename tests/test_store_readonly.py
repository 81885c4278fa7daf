"""Reading never writes, and a file SQLite cannot write is named (issue #10, finding 11).

- `export` on a 0-byte file used to give it a schema: reading commands must
  never create or change a database.
- `stats` and `export` refused a database in a folder the user cannot write
  (SQLite must create the `-shm` beside a WAL database): reading needs no write.
- A stale `-shm` another user left, read-only for this one, was reported as
  "the database cannot be written".

The tests run as root, where permission bits stop nothing, so the part that
must meet them runs in a forked child that has become the unprivileged user
`nobody` (`as_nobody`); files are made the child's where it must own them.
The child uses only modules the parent has already imported (the
interpreter's own files may be out of nobody's reach), so each test first
does the same thing once as itself.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sqlite3
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import branching.cli.analytics  # noqa: F401  (registers the commands)
import branching.cli.data  # noqa: F401
from branching.cli import cli
from branching.store import Store, StoreError
from branching.store.clock import now_ts
from branching.store.migrations import migration_names
from branching.store.viewers import default_key_path
from tests.test_store_api import play_through, rows
from tests.test_store_migrations import _old_database

NOBODY = 65534


def as_nobody(action: Callable[[], Any]) -> Any:
    """`action()` run as the user nobody (in a forked child when we are root); its result."""
    if os.geteuid() != 0:
        return action()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            payload = pickle.dumps(("ok", action()))
        except BaseException as exc:  # noqa: BLE001  (reported to the parent)
            payload = pickle.dumps(("error", f"{exc!r}\n{traceback.format_exc()}"))
        try:
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    status, value = pickle.loads(data)
    if status != "ok":
        raise AssertionError(f"the child failed: {value}")
    return value


def give_to_nobody(*paths: Path) -> None:
    if os.geteuid() == 0:
        for path in paths:
            os.chown(path, NOBODY, NOBODY)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder outside pytest's private temporary tree, which nobody can reach."""
    folder = Path(tempfile.mkdtemp(prefix="branching-ro-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in folder.rglob("*"):
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(folder)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def recorded(folder: Path) -> Path:
    db = folder / "t.db"
    with Store.open(db) as store:
        play_through(store, "alice")
        play_through(store, "bob", first="puffs", second="accept")
    return db


def test_export_of_an_empty_file_is_refused_and_the_file_stays_empty(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    code, output = run("export", "--db", str(empty))
    assert code == 1 and "empty file" in output and "Traceback" not in output
    assert empty.stat().st_size == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]  # no -wal, -shm


def test_export_changes_nothing_not_even_an_older_schema_or_the_spool(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    _old_database(db)  # only the first schema step: `Store.open` would upgrade it
    before = rows(db, "SELECT name FROM _sqlite_migrations ORDER BY rowid")
    assert len(before) == 1 < len(migration_names())
    spool = db.with_name(db.name + ".spool")
    spool.write_text('{"op": "story"}\n')  # waiting records: a reader does not load them

    result = CliRunner().invoke(cli, ["export", "--db", str(db)])

    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 4, result.output
    assert "not in this export" in result.stderr
    assert rows(db, "SELECT name FROM _sqlite_migrations ORDER BY rowid") == before
    assert spool.read_text() == '{"op": "story"}\n'
    assert not default_key_path().exists()  # nor is a viewer key made


def test_export_and_stats_read_a_database_in_a_folder_nobody_may_write(shared: Path) -> None:
    folder = shared / "kiosk"
    folder.mkdir()
    db = recorded(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["t.db"]
    warm = shared / "warm.db"
    shutil.copy(db, warm)
    assert run("export", "--db", str(warm))[0] == 0  # load every module the child needs
    assert run("stats", "breakfast", "--db", str(warm))[0] == 0
    give_to_nobody(db)
    folder.chmod(0o555)  # root's: nobody cannot write it

    exported = as_nobody(lambda: run("export", "--db", str(db)))
    stats = as_nobody(lambda: run("stats", "breakfast", "--db", str(db)))

    assert exported[0] == 0, exported[1]
    assert len(exported[1].splitlines()) == 18
    assert stats[0] == 0, stats[1]
    assert "breakfast" in stats[1].lower()
    assert sorted(p.name for p in folder.iterdir()) == ["t.db"]


def test_a_stale_read_only_shm_is_named_not_the_database(shared: Path) -> None:
    db = recorded(shared)
    holder = sqlite3.connect(db)  # another program has it open: -wal and -shm exist
    holder.execute("SELECT COUNT(*) FROM events").fetchone()
    shm = db.with_name(db.name + "-shm")
    stale = shm.read_bytes()
    holder.close()  # the last one out removes them...
    shm.write_bytes(stale)  # ...but a crash leaves the -shm behind, root's and read-only
    shm.chmod(0o444)
    give_to_nobody(shared, db)
    run("prune", "--before", "2000-01-01", "--db", str(shared / "absent.db"))  # imports it needs

    code, message = as_nobody(lambda: run("prune", "--before", now_ts(), "--yes", "--db", str(db)))

    assert code == 1 and str(shm) in message, message
    assert "shared-memory" in message and "delete it" in message
    assert "\n" not in message.strip() and "Traceback" not in message


def test_a_folder_nobody_may_write_is_named_when_recording(shared: Path) -> None:
    folder = shared / "kiosk"
    folder.mkdir()
    db = recorded(folder)
    give_to_nobody(db)
    folder.chmod(0o555)

    def open_for_recording() -> str:
        try:
            Store.open(db).close()
        except StoreError as exc:
            return str(exc)
        return "opened"

    message = as_nobody(open_for_recording)

    assert f"the folder {folder} cannot be written" in message, message
    assert "t.db-wal" in message


def test_a_read_only_database_file_is_named(shared: Path) -> None:
    db = recorded(shared)
    give_to_nobody(shared, db)
    db.chmod(0o444)
    run("prune", "--before", "2000-01-01", "--db", str(shared / "absent.db"))  # imports it needs

    code, output = as_nobody(lambda: run("prune", "--before", now_ts(), "--yes", "--db", str(db)))

    assert code == 1 and f"{db} (the database" in output and "cannot be written" in output, output
    assert "\n" not in output.strip() and "Traceback" not in output


def test_forget_and_prune_refuse_an_empty_file_rather_than_give_it_a_schema(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    for args in (("forget", "alice"), ("prune", "--before", "2020-01-01")):
        code, output = run(*args, "--db", str(empty))
        assert code == 1 and "empty file" in output
    assert empty.stat().st_size == 0


def test_readers_open_a_frozen_folder_immutable_and_others_normally(shared: Path) -> None:
    from branching.store.db import uri

    db = recorded(shared)
    assert uri(db, "ro").endswith("?mode=ro")
    assert as_nobody(lambda: uri(db, "ro")).endswith("?mode=ro&immutable=1")
    assert uri(db, "rw").endswith("?mode=rw")
    holder = sqlite3.connect(db)
    holder.execute("PRAGMA wal_autocheckpoint = 0")
    holder.execute("DELETE FROM events WHERE seq = 1")
    holder.commit()  # a log that only SQLite's -shm can read: no immutable shortcut
    try:
        assert as_nobody(lambda: uri(db, "ro")).endswith("?mode=ro")
    finally:
        holder.close()
