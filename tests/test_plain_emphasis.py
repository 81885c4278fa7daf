"""Line mode: emphasis shown on a terminal, dropped on a pipe; what a quit leaves behind."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from branching.cli import cli
from branching.play.engine import Playthrough
from branching.play.plain import WIDTH, paragraph, play_plain, wants_emphasis
from branching.story.loader import load_story
from branching.story.markup import strip_markers, unmark

ESC = "\x1b"
STORY = """\
branching: 1
title: The *Night* Ferry
author: Tests
start: dock
scenes:
  dock:
    text: |
      The clerk slides a **single ticket** under the glass.

      "Last call," she says. *You have ten seconds.*

      The fare is 2 * 3 = 6 pence.

      A paragraph with **strong and *emphasis* inside** it.
    choices:
      - {label: Buy the *ticket*, goto: deck}
      - {label: Walk away, goto: home}
  deck:
    text: The ferry pulls away.
    choices:
      - {label: Go below, goto: cabin}
  cabin:
    text: A *good* ending.
    ending: {kind: good, title: Safe}
    rewind: [deck]
  home:
    text: You go home.
    ending: true
"""


class Terminal(io.StringIO):
    """Output that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def ferry(tmp_path: Path) -> Path:
    path = tmp_path / "ferry.yaml"
    path.write_text(STORY, encoding="utf-8")
    return path


def play(path: Path, out: io.StringIO, script: list[str], **kwargs: object) -> str:
    run = Playthrough.start(load_story(path), 1)
    play_plain(run, out, script=script, **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


# -- what counts as emphasis (one definition for both players) ----------------------


def test_markers_pair_up_around_words_and_stray_asterisks_stay() -> None:
    text, spans = unmark("One *two* **three** 2 * 3 = 6 and **a *b* c**.")
    assert text == "One two three 2 * 3 = 6 and a b c."
    assert [(text[s.start : s.end], s.style) for s in spans] == [
        ("two", "italic"),
        ("three", "bold"),
        ("b", "italic"),
        ("a b c", "bold"),
    ]
    assert strip_markers("a *lone star, and * x *") == "a *lone star, and * x *"


# -- on a pipe ------------------------------------------------------------------------


def test_on_a_pipe_the_markers_are_dropped(ferry: Path) -> None:
    result = CliRunner().invoke(
        cli, ["play", str(ferry), "--no-telemetry", "--choices", "1,1"], catch_exceptions=False
    )
    out = result.stdout
    assert result.exit_code == 0, out
    assert "a single ticket under the glass" in out
    assert "You have ten seconds." in out
    assert "The fare is 2 * 3 = 6 pence." in out  # not emphasis: left as written
    assert "strong and emphasis inside it" in out
    assert "A good ending." in out
    assert ESC not in out
    assert "*** THE END: Safe (good ending) ***" in out  # the player's own line
    assert "1. Buy the *ticket*" in out  # labels are not prose, as in the full-screen player


def test_bundled_transcripts_have_no_emphasis_markers() -> None:
    golden = Path(__file__).parent / "golden" / "transcripts"
    for path in golden.glob("*.txt"):
        text = path.read_text(encoding="utf-8")
        prose = "\n".join(
            line for line in text.splitlines() if not line.startswith(("***", "  ", "==="))
        )
        assert "*" not in prose, path.name


def test_lines_are_wrapped_on_the_text_the_viewer_reads() -> None:
    words = " ".join(["**strong**"] * 20)
    for styled in (False, True):
        lines = paragraph(words, styled).splitlines()
        visible = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]
        assert all(len(line) <= WIDTH for line in visible)
        assert len(visible[0]) > WIDTH - len("strong ")  # as full as the visible words allow


# -- on a terminal --------------------------------------------------------------------


def test_on_a_terminal_emphasis_is_italic_and_strong_is_bold(ferry: Path, monkeypatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    out = play(ferry, Terminal(), ["1", "1"])
    assert f"{ESC}[1msingle ticket{ESC}[0m" in out
    assert f"{ESC}[3mYou have ten seconds.{ESC}[0m" in out
    assert f"{ESC}[1mstrong and {ESC}[0m{ESC}[1;3memphasis{ESC}[0m{ESC}[1m inside{ESC}[0m" in out
    assert "2 * 3 = 6" in out
    assert "*You" not in out and "**single" not in out
    for line in out.splitlines():  # no line leaves the terminal styled
        assert line.count(f"{ESC}[0m") == len(re.findall(r"\x1b\[[13;]+m", line))


def test_a_span_broken_across_lines_is_closed_and_reopened() -> None:
    text = "*" + " ".join(["word"] * 30) + "*"
    lines = paragraph(text, styled=True).splitlines()
    assert len(lines) > 1
    for line in lines:
        assert line.startswith(f"{ESC}[3m") and line.endswith(f"{ESC}[0m")


@pytest.mark.parametrize("env", [{"NO_COLOR": "1"}, {"TERM": "dumb"}])
def test_no_color_or_a_dumb_terminal_gets_no_escapes(ferry: Path, monkeypatch, env) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = play(ferry, Terminal(), ["1", "1"])
    assert ESC not in out
    assert "a single ticket under the glass" in out


def test_emphasis_is_decided_by_the_output() -> None:
    assert wants_emphasis(Terminal(), {})
    assert not wants_emphasis(io.StringIO(), {})
    assert not wants_emphasis(Terminal(), {"NO_COLOR": "yes"})
    assert wants_emphasis(Terminal(), {"NO_COLOR": ""})  # set but empty: no-color.org says ignore


# -- quitting -------------------------------------------------------------------------


def test_a_quit_mid_story_says_how_to_resume(ferry: Path, tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    runner = CliRunner()
    args = ["play", str(ferry), "--db", str(db), "--viewer", "ana", "--choices", "1,q"]
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    line = result.stdout.splitlines()[-1]
    command = f"branching play {ferry} --db {db} --viewer ana --resume"
    assert line == f"(quit) Your place is kept: resume with `{command}`"
    # and that command does resume, at the same place
    again = runner.invoke(cli, command.split()[1:] + ["--choices", "1"], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert "(resuming The *Night* Ferry where you left it)" in again.stdout
    assert "THE END: Safe" in again.stdout


def test_a_quit_without_telemetry_says_nothing_was_kept(ferry: Path) -> None:
    result = CliRunner().invoke(
        cli, ["play", str(ferry), "--no-telemetry", "--choices", "q"], catch_exceptions=False
    )
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == (
        "(quit) Nothing was kept: telemetry is off, so next time the story starts "
        "from the beginning."
    )
    assert "--resume" not in result.stdout


def test_a_quit_at_an_ending_has_nothing_to_resume(ferry: Path, tmp_path: Path) -> None:
    args = ["play", str(ferry), "--db", str(tmp_path / "t.db"), "--choices", "1,1,q"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        "(quit) This playthrough reached an ending: there is nothing to resume."
    )


def test_the_resume_command_quotes_the_path_as_typed(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "my stories"
    folder.mkdir()
    (folder / "ferry.yaml").write_text(STORY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRANCHING_DB", str(tmp_path / "t.db"))
    result = CliRunner().invoke(
        cli, ["play", "my stories/ferry.yaml", "--plain"], input="q\n", catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "resume with `branching play 'my stories/ferry.yaml' --plain --db " in result.stdout
