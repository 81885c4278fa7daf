"""Docs follow the code: every command documented, CI runs the README's test command."""

from __future__ import annotations

import re

import click

from branching.cli import cli
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
