"""A story full of console markup and escape sequences stays literal in every output."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from branching.cli import cli
from tests.conftest import FIXTURES

HOSTILE = FIXTURES / "hostile"


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    db = tmp_path / "h.db"
    result = CliRunner().invoke(
        cli,
        ["play", str(HOSTILE), "--db", str(db), "--seed", "1", "--choices", "1"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return db


def test_line_player_shows_markup_literally_and_no_escape_reaches_output(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["play", str(HOSTILE), "--no-telemetry", "--choices", "1"])
    assert "[bold red]Hostile[/]" in result.stdout
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\u241b" in result.stdout  # ESC drawn as a visible symbol


@pytest.mark.parametrize(
    "command",
    [
        ["stats"],
        ["flowchart"],
        ["flowchart", "--format", "json"],
        ["flowchart", "--format", "mermaid"],
    ],
)
def test_producer_outputs_keep_story_text_literal(recorded: Path, command: list[str]) -> None:
    result = CliRunner().invoke(
        cli,
        [*command, "hostile", "--db", str(recorded)],
        catch_exceptions=False,
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "[@click=app.quit]" in result.stdout or "[@click=app.qu" in result.stdout
