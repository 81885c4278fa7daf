"""Docs follow the code: every command documented, CI runs the README's test command."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import click

from branching.cli import cli
from branching.simulate.personas import load_personas
from branching.story.loader import load_story
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README, flags=re.S)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = next(
        line
        for block in _shell_blocks()
        for line in block.splitlines()
        if line.rstrip().endswith("pytest")
    )
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command.strip() in [line.strip() for line in ci]


def test_readme_first_command_installs_and_plays_a_bundled_story() -> None:
    first = _shell_blocks()[0].strip()
    assert "pip install" in first and "branching play stories/" in first
    story = first.rsplit("branching play ", 1)[1].split()[0]
    assert (ROOT / story).exists()


def test_every_command_has_a_readme_section_and_help() -> None:
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None
        assert f"### `branching {name}`" in README, f"README lacks a section for {name}"
        assert command.help, f"{name} has no help text"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts} has no help text"


def test_every_registered_command_is_in_the_lazy_table() -> None:
    import importlib

    from branching.cli import COMMANDS

    for module in set(COMMANDS.values()):
        try:
            importlib.import_module(f"branching.cli.{module}")
        except ModuleNotFoundError:
            continue
    assert set(cli.commands) <= set(COMMANDS)
    for name, module in COMMANDS.items():
        if name in cli.commands:
            assert cli.commands[name].callback.__module__ == f"branching.cli.{module}"


def test_the_readme_persona_example_is_accepted_for_signal(tmp_path: Path) -> None:
    """The README's `--persona` example, saved as a reader would, for the story it is shown with."""
    block = re.search(r"```yaml\n(\s*personas:.*?)```", README, flags=re.S)
    assert block is not None
    path = tmp_path / "personas.yaml"
    path.write_text(textwrap.dedent(block.group(1)), encoding="utf-8")
    personas = load_personas(path, load_story(ROOT / "stories" / "signal"))
    assert [p.name for p in personas] == ["believes-adverts", "completionist"]
    assert all(p.exact or p.by_id or p.by_tag or p.strategy != "random" for p in personas)
