"""Files that hold viewer data stay private (issue #10, finding 12).

`stats -o`, `flowchart -o` and the dashboard's HTML export were created with
the umask (0644), the config folder that holds the viewer key was 0755, and a
database found 0644 stayed 0644 with its -wal and -shm. Modes are checked
with os.stat on real files, with the common umask 022 set explicitly.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import platformdirs
import pytest
from click.testing import CliRunner

import branching.cli.analytics  # noqa: F401  (registers the commands)
import branching.cli.data  # noqa: F401
from branching.cli import cli
from branching.recording import notice_once
from branching.store import Store
from branching.store.paths import private_output
from branching.tui.dashboard.data import Selection, export_html, load_story
from tests.test_analytics_data import known_db
from tests.test_store_api import play_through


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return known_db(tmp_path_factory.mktemp("private"))


def test_private_output_creates_0600_and_never_widens(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.txt"
    with private_output(fresh) as out:
        out.write(b"viewer data")
    assert mode(fresh) == 0o600 and fresh.read_bytes() == b"viewer data"

    loose = tmp_path / "loose.txt"
    loose.write_text("old and longer than the new text")
    loose.chmod(0o644)
    with private_output(loose) as out:
        out.write(b"new")
    assert mode(loose) == 0o600 and loose.read_bytes() == b"new"

    tight = tmp_path / "tight.txt"
    tight.write_text("x")
    tight.chmod(0o400)
    if os.geteuid() == 0:  # only root may open a 0400 file for writing
        with private_output(tight) as out:
            out.write(b"y")
    assert mode(tight) == 0o400  # never widened


def test_private_output_refuses_a_symlink_and_leaves_its_target_alone(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me")
    target.chmod(0o644)
    link = tmp_path / "out.txt"
    link.symlink_to(target)
    with pytest.raises(OSError) as caught:
        private_output(link)
    assert caught.value.errno == errno.ELOOP and "symbolic link" in str(caught.value.strerror)
    assert target.read_text() == "keep me" and mode(target) == 0o644


def test_private_output_writes_to_a_device_without_touching_its_mode() -> None:
    before = os.stat("/dev/null")
    with private_output("/dev/null") as out:
        out.write(b"gone")
    assert os.stat("/dev/null").st_mode == before.st_mode


def test_private_output_exclusive_never_overwrites(tmp_path: Path) -> None:
    there = tmp_path / "there.html"
    there.write_text("mine")
    with pytest.raises(FileExistsError):
        private_output(there, exclusive=True)
    assert there.read_text() == "mine"


def test_stats_and_flowchart_outputs_are_0600(known: tuple[Path, Path], tmp_path: Path) -> None:
    stats = tmp_path / "stats.txt"
    loose = tmp_path / "flow.mmd"
    loose.write_text("old")
    loose.chmod(0o644)
    for args in (
        ("stats", "heist", "--db", str(known[0]), "-o", str(stats)),
        ("stats", "heist", "--db", str(known[0]), "--format", "json", "-o", str(stats)),
        ("flowchart", "heist", "--db", str(known[0]), "--format", "mermaid", "-o", str(loose)),
    ):
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
    assert mode(stats) == 0o600 and stats.read_text().startswith("{")
    assert mode(loose) == 0o600 and loose.read_text().startswith("flowchart")


def test_an_output_that_is_a_symlink_is_a_clear_error(
    known: tuple[Path, Path], tmp_path: Path
) -> None:
    link = tmp_path / "stats.txt"
    link.symlink_to(tmp_path / "elsewhere.txt")
    result = CliRunner().invoke(cli, ["stats", "heist", "--db", str(known[0]), "-o", str(link)])
    assert result.exit_code == 1 and "symbolic link" in result.output
    assert not (tmp_path / "elsewhere.txt").exists()


def test_export_to_an_existing_0644_file_makes_it_0600(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with Store.open(db) as store:
        play_through(store, "alice")
    out = tmp_path / "events.jsonl"
    out.write_text("")
    out.chmod(0o644)
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert mode(out) == 0o600 and len(out.read_text().splitlines()) == 9


def test_the_dashboards_html_export_is_0600(known: tuple[Path, Path], tmp_path: Path) -> None:
    view = load_story(str(known[0]), "heist", Selection())
    page = export_html(view, tmp_path / "exports", datetime(2025, 3, 9, tzinfo=UTC))
    assert mode(page) == 0o600


def test_the_config_folder_is_0700_even_when_it_was_made_wider(tmp_path: Path) -> None:
    config = platformdirs.user_config_path("branching")
    config.mkdir(parents=True)
    config.chmod(0o755)  # as the first-run notice used to leave it
    assert notice_once(str(tmp_path / "t.db")) is not None
    assert mode(config) == 0o700
    config.chmod(0o755)
    with Store.open(tmp_path / "t.db") as store:
        store.load_viewer_key()  # a first key is made in it
    assert mode(config) == 0o700 and mode(config / "viewer.key") == 0o600


def test_an_existing_0644_database_is_made_private_with_its_wal_and_shm(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with Store.open(db) as store:
        play_through(store, "alice")
    holder = sqlite3.connect(db)  # another program keeps the -wal and -shm there
    holder.execute("SELECT COUNT(*) FROM events").fetchone()
    files = [db, db.with_name("t.db-wal"), db.with_name("t.db-shm")]
    for file in files:
        file.chmod(0o644)  # as an older version, or a `cp`, left them
    try:
        with Store.open(db) as store:
            play_through(store, "bob")
        assert [mode(f) for f in files] == [0o600, 0o600, 0o600]
    finally:
        holder.close()


def test_reading_commands_leave_modes_alone(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with Store.open(db) as store:
        play_through(store, "alice")
    db.chmod(0o640)
    assert CliRunner().invoke(cli, ["export", "--db", str(db)]).exit_code == 0
    assert mode(db) == 0o640  # reading changes nothing, not even modes
