"""Docs follow the code: every command documented, CI runs the README's test command."""

from __future__ import annotations

import re
import shlex
import textwrap
from pathlib import Path

import click

from branching.cli import cli
from branching.simulate.personas import load_personas
from branching.story.loader import load_story
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
CONTINUED = "\\"  # a shell line that goes on on the next line


def _shell_blocks() -> list[str]:
    return re.findall(r"^\s*```sh\n(.*?)^\s*```$", README, flags=re.S | re.M)


def _readme_commands() -> list[tuple[int, str]]:
    """Every `branching ...` line of the README's code blocks (continued lines joined), by line."""
    found: list[tuple[int, str]] = []
    fenced = False
    pending = ""
    start = 0
    for number, line in enumerate(README.splitlines(), 1):
        text = line.strip()
        if text.startswith("```"):
            fenced = not fenced
            continue
        if not fenced or not (pending or text.startswith("branching ")):
            continue
        if not pending:
            start = number
        pending = f"{pending} {text.removesuffix(CONTINUED)}".strip()
        if not text.endswith(CONTINUED):
            found.append((start, pending))
            pending = ""
    return found


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


def test_every_readme_example_parses_with_the_commands_options() -> None:
    """A reader who copies an example gets no "No such option" or "Invalid value" from it."""
    commands = _readme_commands()
    assert len(commands) >= 40  # the README shows every command at work
    wrong = []
    for number, line in commands:
        shown = re.split(r" (?:\||>|&&|#) ", line)[0]  # what is piped or redirected is the shell's
        name, *args = shlex.split(shown)[1:]
        parent = click.Context(cli)
        command = cli.get_command(parent, name)
        if command is None:
            wrong.append(f"README.md:{number}: no command {name!r}: {line}")
            continue
        try:
            command.make_context(name, args, parent=parent).close()  # parses; runs nothing
        except click.exceptions.Exit:
            pass
        except click.UsageError as exc:
            wrong.append(f"README.md:{number}: {exc.format_message()}: {line}")
    assert not wrong, "\n".join(wrong)


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
