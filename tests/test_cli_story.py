"""The author and viewer commands through click's CliRunner: check, schema, play."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from branching.cli import cli
from tests.conftest import ROOT


def run(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def test_check_clean_story_exits_zero(breakfast: Path) -> None:
    result = run("check", str(breakfast))
    assert result.exit_code == 0, result.output
    assert "error" not in result.stdout


def test_check_reports_problems_with_position_and_exit_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "branching: 1\nstart: a\nscenes:\n  a:\n    txt: hi\n    next: b\n", encoding="utf-8"
    )
    result = run("check", str(bad))
    assert result.exit_code == 1
    assert (
        f"{bad}:5:5: error: unknown key 'txt' in scene 'a' (did you mean 'text'?)" in result.stdout
    )
    assert f"{bad}:6:11: error: next: unknown scene 'b'" in result.stdout


def test_check_json_format(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("branching: 1\nstart: a\nscenes:\n  a: {next: a}\n", encoding="utf-8")
    result = run("check", "--format", "json", str(bad))
    data = json.loads(result.stdout)
    assert data["stories"][0]["path"] == str(bad)
    assert data["warnings"] >= 1  # no reachable ending
    assert all(
        {"file", "line", "column", "severity", "message"} <= p.keys()
        for p in data["stories"][0]["problems"]
    )


def test_check_strict_fails_on_warnings(tmp_path: Path) -> None:
    story = tmp_path / "w.yaml"
    story.write_text(
        "branching: 1\nstart: a\nscenes:\n  a: {ending: true}\n  b: {ending: true}\n",
        encoding="utf-8",
    )
    assert run("check", str(story)).exit_code == 0
    result = run("check", "--strict", str(story))
    assert result.exit_code == 1
    assert "unreachable" in result.stdout


def test_check_missing_file_exits_two(tmp_path: Path) -> None:
    result = run("check", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_check_folder_without_story_yaml_exits_two(tmp_path: Path) -> None:
    result = run("check", str(tmp_path))
    assert result.exit_code == 2
    assert "story.yaml" in result.stderr


def test_schema_matches_committed_file() -> None:
    result = run("schema")
    assert result.exit_code == 0
    committed = (ROOT / "schema" / "story.schema.json").read_text(encoding="utf-8")
    assert result.stdout == committed, "run `branching schema -o schema/story.schema.json`"
    schema = json.loads(result.stdout)
    choice = schema["$defs"]["choice"]
    assert set(choice["required"]) == {"label", "goto"}
    assert "requires" in choice["properties"]


def test_play_scripted_prints_transcript_and_ending(breakfast: Path) -> None:
    result = run("play", str(breakfast), "--no-telemetry", "--choices", "2,2")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "An advert for Frosties" in out
    assert "*** THE END: Independent (good ending) ***" in out


def test_play_scripted_back_goes_to_previous_choice(breakfast: Path) -> None:
    result = run("play", str(breakfast), "--no-telemetry", "--choices", "1,b,2,2")
    assert result.exit_code == 0, result.output
    assert "(back)" in result.stdout
    assert "An advert for Frosties" in result.stdout  # the second pass chose Frosties


def test_play_scripted_out_of_range_is_an_error(breakfast: Path) -> None:
    result = run("play", str(breakfast), "--no-telemetry", "--choices", "7")
    assert result.exit_code == 1
    assert "there is no choice 7" in result.stdout


def test_play_scripted_leftover_after_ending_is_an_error(breakfast: Path) -> None:
    result = run("play", str(breakfast), "--no-telemetry", "--choices", "2,2,1")
    assert result.exit_code == 1
    assert "choices are left over" in result.stdout


def test_play_scripted_runs_out_before_ending_exits_zero(breakfast: Path) -> None:
    result = run("play", str(breakfast), "--no-telemetry", "--choices", "1")
    assert result.exit_code == 0
    assert "THE END" not in result.stdout


def test_play_from_stdin_asks_again_after_a_bad_answer(breakfast: Path) -> None:
    result = run("play", str(breakfast), "--plain", "--no-telemetry", stdin="9\nx\n2\n2\n")
    assert result.exit_code == 0
    assert "there is no choice 9" in result.stdout
    assert "'x' is not a choice" in result.stdout
    assert "THE END: Independent" in result.stdout


def test_play_rewind_offer_from_ending(breakfast: Path) -> None:
    result = run("play", str(breakfast), "--no-telemetry", "--choices", "2,1,1,2")
    assert result.exit_code == 0, result.output
    assert "THE END: Crunch" in result.stdout
    assert "(back to office)" in result.stdout
    assert "THE END: Independent" in result.stdout


def test_play_quit(breakfast: Path) -> None:
    result = run("play", str(breakfast), "--no-telemetry", "--choices", "1,q")
    assert result.exit_code == 0
    assert "quit" in result.stdout


def test_play_story_with_errors_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("branching: 1\nstart: nowhere\nscenes:\n  a: {ending: true}\n", encoding="utf-8")
    result = run("play", str(bad), "--no-telemetry", "--choices", "1")
    assert result.exit_code == 1
    assert "unknown scene 'nowhere'" in result.output


def test_play_same_seed_same_transcript(tmp_path: Path) -> None:
    story = tmp_path / "coin.yaml"
    story.write_text(
        "branching: 1\nstart: flip\nscenes:\n  flip:\n    random:\n      - {goto: h}\n"
        "      - {goto: t}\n  h: {text: Heads., ending: true}\n  t: {text: Tails., ending: true}\n",
        encoding="utf-8",
    )
    outs = {
        run("play", str(story), "--no-telemetry", "--seed", "5", "--choices", "").stdout
        for _ in range(3)
    }
    assert len(outs) == 1


def test_play_scene_without_text_adds_no_blank_lines(tmp_path: Path) -> None:
    story = tmp_path / "quiet.yaml"
    story.write_text(
        "branching: 1\nstart: a\nscenes:\n  a: {text: Hello., next: b}\n  b: {next: z}\n"
        "  z: {ending: {kind: good, title: Done}}\n",
        encoding="utf-8",
    )
    result = run("play", str(story), "--no-telemetry", "--choices", "")
    assert result.exit_code == 0
    assert result.stdout == "=== quiet ===\n\nHello.\n\n*** THE END: Done (good ending) ***\n"


def test_play_a_digit_that_is_not_a_decimal_number_is_not_a_choice(breakfast: Path) -> None:
    result = run("play", str(breakfast), "--no-telemetry", "--choices", "²")
    assert result.exit_code == 1
    assert result.stdout.endswith("error: '²' is not a choice\n")


def test_a_command_that_cannot_import_says_so_never_no_such_command() -> None:
    """A broken install (a module or library missing) is named, with exit status 1."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'branching.cli.analytics':\n"
        "            raise ModuleNotFoundError(\"No module named 'rich'\", name='rich')\n"
        "sys.meta_path.insert(0, Block())\n"
        "sys.argv = ['branching', 'stats', 'anything']\n"
        "from branching.cli import run\n"
        "run()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1
    assert "No such command" not in done.stderr
    assert "'stats' command cannot start" in done.stderr and "rich" in done.stderr
    assert "Traceback" not in done.stderr
