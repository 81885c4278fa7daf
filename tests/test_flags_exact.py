"""The "no difference" flag is exact, or worded for what it is.

Given stories built so that the telemetry heuristic (sessions that met again
with the same variables) would be wrong both ways, when `stats --table flags`
runs on a simulated audience, then a flag says "no difference" only where the
explorer proved it on the story file, pairs it proved different are dropped,
and what it could not decide (or a story named by id) is worded as observed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from branching.cli.main import cli
from branching.story.loader import load_story
from branching.verify import choices as verify_choices
from branching.verify.choices import compare_choices
from branching.verify.limits import Limits

# (a) Signal's desk, small: 'Ring Mara' raises trust, 'Search the desk' sets
# has_key, both lead to the same corridor and each gates an ending at the
# landing; the audience never takes those endings, and the hall resets both
# variables, so every session meets again at the hall with the same variables.
DESK = """\
branching: 1
id: desk
title: The Desk
start: booth
state: {trust: 0, has_key: false}
scenes:
  booth:
    title: The booth
    text: Eight minutes of jazz.
    choices:
      - {id: call_mara, label: Ring Mara, goto: corridor, add: {trust: 1}}
      - {id: search_desk, label: Search the desk, goto: corridor, set: {has_key: true}}
  corridor:
    title: The corridor
    text: A long corridor.
    next: landing
  landing:
    title: The landing
    text: Stairs up, stairs down.
    choices:
      - {id: walk_on, label: Walk on, goto: hall}
      - {id: open_vault, label: Open the vault, if: has_key, goto: vault}
      - {id: wait_mara, label: Wait for Mara, if: trust >= 1, goto: together}
  hall:
    title: The hall
    text: The hall.
    on_enter: {set: {trust: 0, has_key: false}}
    next: dawn
  vault: {title: The Vault, text: Open., ending: {kind: secret, title: The Vault}}
  together: {title: Together, text: Mara., ending: {kind: good, title: Together}}
  dawn: {title: Dawn, text: Dawn., ending: {kind: neutral, title: Dawn}}
"""
NEVER_THE_ENDINGS = (
    "personas:\n  - {name: walker, share: 1, weights: {open_vault: 0, wait_mara: 0}}\n"
)

# (b) a variable that is never read again; (c) a difference only `visited()`
# or `chosen()` can see (the heuristic ignores both).
TEA = """\
branching: 1
id: tea
title: Tea
start: kitchen
state: {drink: none}
scenes:
  kitchen:
    title: The kitchen
    text: The kettle is on.
    choices:
      - {id: tea, label: Tea, goto: teapot, set: {drink: tea}}
      - {id: coffee, label: Coffee, goto: grinder, set: {drink: coffee}}
  teapot: {title: The teapot, text: Steeping., next: table}
  grinder: {title: The grinder, text: Grinding., next: table}
  table:
    title: The table
    text: You sit down.
    choices:
      - {id: left, label: Left door, goto: left_room}
      - {id: right, label: Right door, goto: right_room}
  left_room: {title: The left room, text: Dusty., next: hall}
  right_room: {title: The right room, text: Bright., next: hall}
  hall:
    title: The hall
    text: Everything meets here.
    choices:
      - {id: whistle, label: Whistle, goto: stage}
      - {id: hum, label: Hum, goto: stage}
  stage:
    title: The stage
    text: Applause.
    choices:
      - {id: bow, label: Bow, goto: home}
      - {id: back, label: Look back, if: 'visited("left_room")', goto: secret}
      - {id: encore, label: Encore, if: 'chosen("hall", "whistle")', goto: encore}
  home: {title: Home, text: Home., ending: {kind: neutral, title: Home}}
  secret: {title: Secret, text: Secret., ending: {kind: secret, title: Secret}}
  encore: {title: Encore, text: Encore., ending: {kind: good, title: Encore}}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def simulate(story: Path, db: Path, *extra: str) -> None:
    args = ["simulate", str(story), "--sessions", "40", "--seed", "7", "--db", str(db)]
    args += ["--abandon", "0", "--back", "0", "--pause", "0", *extra]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output


def flags(story: str, db: Path) -> list[dict[str, Any]]:
    args = ["stats", story, "--db", str(db), "--table", "flags", "--format", "json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.output)["tables"]["flags"]["rows"]
    return [r for r in rows if r["flag"] == "no-difference"]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("desk")
    story, db = write(tmp, "desk.yaml", DESK), tmp / "t.db"
    simulate(story, db, "--persona", str(write(tmp, "walker.yaml", NEVER_THE_ENDINGS)))
    return story, db


@pytest.fixture(scope="module")
def tea(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("tea")
    story, db = write(tmp, "tea.yaml", TEA), tmp / "t.db"
    simulate(story, db)
    return story, db


def test_sessions_that_met_again_do_not_make_an_always_flag(desk: tuple[Path, Path]) -> None:
    story, db = desk
    # by id, only telemetry is known: the heuristic's candidate is there, worded as seen
    seen = flags("desk", db)
    assert [(r["scene id"], r["proof"]) for r in seen] == [("booth", "observed")]
    assert "not proven" in seen[0]["why"] and "always" not in seen[0]["why"]
    # with the story file the explorer proves the two choices differ: no flag at all
    assert flags(str(story), db) == []
    [verdict] = compare_choices(load_story(str(story)), [("booth", "call_mara", "search_desk")])
    assert verdict.verdict == "differs"
    assert "has_key" in verdict.why or "trust" in verdict.why
    assert "The corridor" in verdict.why


def test_a_variable_never_read_again_is_proven_to_make_no_difference(
    tea: tuple[Path, Path],
) -> None:
    story, db = tea
    proven = {(r["scene id"], r["proof"]) for r in flags(str(story), db)}
    assert ("kitchen", "explorer") in proven
    row = next(r for r in flags(str(story), db) if r["scene id"] == "kitchen")
    assert "'Tea' and 'Coffee'" in row["why"] and "no difference" in row["why"]


def test_a_difference_only_visited_or_chosen_can_see_is_found(tea: tuple[Path, Path]) -> None:
    story, db = tea
    by_id = {r["scene id"] for r in flags("tea", db)}
    assert {"table", "hall"} <= by_id  # the heuristic: the sessions met again, same variables
    assert {r["scene id"] for r in flags(str(story), db)} == {"kitchen"}
    verdicts = {
        v.scene: v
        for v in compare_choices(
            load_story(str(story)), [("table", "left", "right"), ("hall", "whistle", "hum")]
        )
    }
    assert verdicts["table"].verdict == "differs" and "The left room" in verdicts["table"].why
    assert verdicts["hall"].verdict == "differs" and "whistle" in verdicts["hall"].why


def test_every_pair_of_a_story_gets_a_verdict_over_its_states(tmp_path: Path) -> None:
    verdicts = compare_choices(load_story(str(write(tmp_path, "tea.yaml", TEA))))
    by_pair = {(v.scene, v.a, v.b): v.verdict for v in verdicts}
    assert by_pair[("kitchen", "tea", "coffee")] == "same"
    assert by_pair[("stage", "bow", "back")] == "differs"  # one ends the story elsewhere
    assert all(v.states >= 1 for v in verdicts if v.verdict == "same")


def test_a_check_out_of_budget_is_worded_as_observed(
    desk: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    story, db = desk
    [verdict] = compare_choices(
        load_story(str(story)), [("booth", "call_mara", "search_desk")], Limits(max_states=2)
    )
    assert verdict.verdict == "unknown" and "2 states" in verdict.why
    monkeypatch.setattr(verify_choices, "CHECK_LIMITS", Limits(max_states=2))
    [row] = flags(str(story), db)
    assert row["proof"] == "observed" and "not proven" in row["why"]
    assert "no difference" not in row["why"]


def test_a_variable_shown_in_text_is_not_called_no_difference(tmp_path: Path) -> None:
    shown = TEA.replace("text: You sit down.", "text: You sit down with your {drink}.")
    [verdict] = compare_choices(
        load_story(str(write(tmp_path, "tea.yaml", shown))), [("kitchen", "tea", "coffee")]
    )
    assert verdict.verdict == "unknown" and "drink" in verdict.why


def test_a_bundled_story_named_by_id_is_proven_on_its_file(
    tea: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`stats tea` where `tea` is a bundled story whose content the sessions played
    flags exactly as `stats path/to/tea.yaml`; once the bundled file differs from
    what was recorded, it is not taken for it and the flags are worded as seen."""
    from branching.analytics import report

    story, db = tea
    monkeypatch.setattr(report, "bundled_story", lambda name: story if name == "tea" else None)
    assert flags("tea", db) == flags(str(story), db)
    edited = write(tmp_path, "tea.yaml", TEA.replace("title: Tea", "title: Tea, edited", 1))
    monkeypatch.setattr(report, "bundled_story", lambda name: edited if name == "tea" else None)
    assert {r["proof"] for r in flags("tea", db)} == {"observed"}
