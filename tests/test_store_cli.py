"""The data commands through click: export, merge, forget, prune."""

from __future__ import annotations

import csv
import io
import json
import stat
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import branching.cli.data  # noqa: F401  (registers the commands)
from branching.cli.main import cli
from branching.store import Store
from branching.store.viewers import load_key, viewer_id
from tests.test_store_api import play_through, rows

COMMANDS = ("export", "merge", "forget", "prune")


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    path = tmp_path / "t.db"
    with Store.open(path) as store:
        play_through(store, "alice")
        play_through(store, "bob", first="puffs", second="accept")
    return path


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args))


def test_export_jsonl_gives_one_object_per_event_with_its_session(recorded: Path) -> None:
    result = run("export", "--db", str(recorded), "--format", "jsonl")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert len(lines) == 18
    first = lines[0]
    assert first["type"] == "session_started" and first["story_id"] == "breakfast"
    assert first["state"] == {"cereal": "none", "trust": 0}
    assert first["version_label"] == "1.2" and first["attrs"] == {}
    choices = [
        (r["scene"], r["choice"], r["decide_ms"]) for r in lines if r["type"] == "choice_made"
    ]
    assert ("kitchen", "frosties", 1500) in choices and ("office", "accept", 900) in choices


def test_export_csv_has_a_header_and_json_text_columns(recorded: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = run("export", "--db", str(recorded), "--format", "csv", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    table = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(table) == 18
    assert json.loads(table[0]["state"]) == {"cereal": "none", "trust": 0}
    assert {row["viewer_id"] for row in table} == {
        viewer_id(load_key(), "alice"),
        viewer_id(load_key(), "bob"),
    }


def test_export_filters_by_viewer_story_and_time(recorded: Path) -> None:
    alice = run("export", "--db", str(recorded), "--viewer", "alice")
    assert {json.loads(line)["viewer_id"] for line in alice.output.splitlines()} == {
        viewer_id(load_key(), "alice")
    }
    assert len(alice.output.splitlines()) == 9
    assert run("export", "--db", str(recorded), "--story", "other").output == ""
    assert run("export", "--db", str(recorded), "--since", "2999-01-01").output == ""
    assert run("export", "--db", str(recorded), "--until", "2000-01-01").output == ""
    everything = run("export", "--db", str(recorded), "--since", "2000-01-01T00:00Z")
    assert len(everything.output.splitlines()) == 18


def test_export_uses_branching_db_when_no_db_is_given(
    recorded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRANCHING_DB", str(recorded))
    assert len(run("export").output.splitlines()) == 18


def test_errors_are_messages_not_tracebacks(tmp_path: Path, recorded: Path) -> None:
    missing = run("export", "--db", str(tmp_path / "absent.db"))
    assert missing.exit_code == 1 and "no telemetry database" in missing.output
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    foreign = run("export", "--db", str(text))
    assert foreign.exit_code == 1 and "not an SQLite file" in foreign.output
    bad_date = run("export", "--db", str(recorded), "--since", "yesterday")
    assert bad_date.exit_code == 2 and "not a date" in bad_date.output
    bad_format = run("export", "--db", str(recorded), "--format", "xml")
    assert bad_format.exit_code == 2
    no_key = run(
        "export",
        "--db",
        str(recorded),
        "--viewer",
        "alice",
        "--viewer-key",
        str(tmp_path / "absent.key"),
    )
    assert no_key.exit_code == 1 and "no viewer key" in no_key.output
    for result in (missing, foreign, bad_date, no_key):
        assert "Traceback" not in result.output and not isinstance(
            result.exception, KeyError | TypeError
        )


def test_forget_command_deletes_the_viewer(recorded: Path) -> None:
    result = run("forget", "alice", "--db", str(recorded))
    assert result.exit_code == 0, result.output
    assert "Forgot alice: 1 playthrough, 9 events deleted from" in result.output
    assert "totals rebuilt and the file compacted" in result.output
    assert rows(recorded, "SELECT COUNT(*) FROM events") == [(9,)]


def test_prune_command_drops_events_before_the_date(recorded: Path) -> None:
    from branching.store.clock import now_ts

    kept = run("prune", "--before", "2000-01-01", "--db", str(recorded))
    assert kept.exit_code == 0 and "Nothing to drop" in kept.output
    now = now_ts()
    looked = run("prune", "--before", now, "--dry-run", "--db", str(recorded))
    assert looked.exit_code == 0 and "Would drop 18 events of 2 playthroughs" in looked.output
    assert rows(recorded, "SELECT COUNT(*) FROM events") == [(18,)]  # nothing changed
    unasked = run("prune", "--before", now, "--db", str(recorded))  # not a terminal
    assert unasked.exit_code == 1 and "--yes" in unasked.output
    assert rows(recorded, "SELECT COUNT(*) FROM events") == [(18,)]
    dropped = run("prune", "--before", now, "--yes", "--db", str(recorded))
    assert dropped.exit_code == 0 and "Dropped 18 events" in dropped.output
    assert rows(recorded, "SELECT SUM(count) FROM traversals") == [(6,)]
    assert run("prune", "--db", str(recorded)).exit_code == 2  # --before is required


def test_prune_refuses_a_date_in_the_future(recorded: Path) -> None:
    result = run("prune", "--before", "2999-01-01", "--yes", "--db", str(recorded))
    assert result.exit_code == 2 and "in the future" in result.output
    assert rows(recorded, "SELECT COUNT(*) FROM events") == [(18,)]


def test_merge_command_reports_what_each_source_added(recorded: Path, tmp_path: Path) -> None:
    target = tmp_path / "all.db"
    first = run("merge", str(target), str(recorded))
    assert first.exit_code == 0 and "+18 events, +2 sessions" in first.output
    again = run("merge", str(target), str(recorded))
    assert "+0 events, +0 sessions" in again.output
    assert run("merge", str(target)).exit_code == 2  # a source is required


@pytest.mark.parametrize("name", COMMANDS)
def test_every_data_command_and_option_has_help(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None and command.help
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name} {param.opts} has no help"
    assert run(name, "--help").exit_code == 0
