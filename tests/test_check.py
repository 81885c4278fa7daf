"""The checker: one fixture per kind of mistake, each with exactly the expected problems.

Every `tests/fixtures/bad/<name>` (a file or a story folder) has a sidecar
`<name>.expected` holding the exact `file:line:col: severity: message` lines,
with paths relative to the fixtures folder. The remaining tests pin the
checker's reasoning on small stories written inline.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from branching.errors import Problem
from branching.story.loader import load, load_story
from branching.verify.check import check, check_path
from tests.conftest import FIXTURES, STORIES

BAD = FIXTURES / "bad"
CASES = sorted(p.stem for p in BAD.glob("*.expected"))


def run_fixture(name: str, monkeypatch: pytest.MonkeyPatch) -> list[Problem]:
    monkeypatch.chdir(BAD)
    target = name if (BAD / name).is_dir() else f"{name}.yaml"
    return check_path(target)


def test_every_fixture_has_an_expected_file() -> None:
    stories = {p.stem for p in BAD.glob("*.yaml")} | {p.name for p in BAD.iterdir() if p.is_dir()}
    assert stories == set(CASES)
    assert len(CASES) >= 33


@pytest.mark.parametrize("name", CASES)
def test_fixture_yields_exactly_the_expected_problems(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = (BAD / f"{name}.expected").read_text(encoding="utf-8").splitlines()
    got = [str(p) for p in run_fixture(name, monkeypatch)]
    assert got == expected


@pytest.mark.parametrize("name", CASES)
def test_fixture_problems_are_in_source_order(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    problems = run_fixture(name, monkeypatch)
    assert problems, "every bad fixture shows at least one problem"
    keys = [p.sort_key() for p in problems]
    assert keys == sorted(keys)
    assert len(set(problems)) == len(problems)


def test_problems_across_files_follow_load_order(monkeypatch: pytest.MonkeyPatch) -> None:
    problems = run_fixture("include_cycle", monkeypatch)
    assert {p.order for p in problems} == {2}  # story.yaml 0, one.yaml 1, two.yaml 2


def test_clean_story_has_no_problems(breakfast: Path) -> None:
    assert check_path(breakfast) == []


@pytest.mark.parametrize("story", ["tutorial", "signal"])
def test_bundled_stories_have_no_errors(story: str) -> None:
    if not (STORIES / story).is_dir():
        pytest.skip(f"stories/{story} is not written yet")
    assert [str(p) for p in check_path(STORIES / story) if p.severity == "error"] == []


def test_too_big_file_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "too_big.yaml"
    filler = "# " + "x" * 1022 + "\n"
    big.write_text("branching: 1\n" + filler * (10 * 1024 + 1), encoding="utf-8")
    problems = check_path(big)
    assert [str(p) for p in problems] == [
        f"{big}:1:1: error: file is {big.stat().st_size:,} bytes; the limit is 10,485,760"
    ]


# ---------------------------------------------------------------- the checker's reasoning


def story_at(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text("branching: 1\nstart: a\n" + body, encoding="utf-8")
    return path


def messages(path: Path) -> list[str]:
    return [f"{p.line}:{p.col}: {p.message}" for p in check_path(path)]


def test_unreachable_ending_means_no_reachable_ending(tmp_path: Path) -> None:
    path = story_at(
        tmp_path,
        """scenes:
  a:
    choices:
      - {label: Loop, goto: a}
  z:
    ending: true
""",
    )
    assert messages(path) == [
        "2:8: no ending can be reached from start 'a'",
        "7:3: scene 'z' is unreachable from start 'a'",
    ]


def test_a_scene_only_a_rewind_names_is_unreachable(tmp_path: Path) -> None:
    # `rewind` only offers scenes already visited, so it never leads anywhere new.
    path = story_at(
        tmp_path,
        """scenes:
  a:
    choices:
      - {label: Go, goto: z}
  x:
    choices:
      - {label: Go, goto: z}
  z:
    ending: true
    rewind: [a, x]
""",
    )
    assert messages(path) == ["7:3: scene 'x' is unreachable from start 'a'"]


def test_rewind_is_not_a_way_to_visit_again_but_a_loop_is(tmp_path: Path) -> None:
    path = story_at(
        tmp_path,
        """scenes:
  a:
    choices:
      - {label: Once, goto: b, once: true}
      - {label: Other, goto: b}
  b:
    choices:
      - {label: Again, goto: c, once: true}
  c:
    choices:
      - {label: Back, goto: b}
      - {label: End, goto: z}
  z:
    ending: true
    rewind: [a]
""",
    )
    assert messages(path) == [
        "6:38: 'once' has no effect on choice 'once': scene 'a' can never be visited again",
    ]


def test_condition_values_come_from_sets_adds_and_functions(tmp_path: Path) -> None:
    path = story_at(
        tmp_path,
        """state: {gold: 0, mood: calm, brave: false, level: 1}
scenes:
  a:
    text: "{mood} {brave}"
    choices:
      - {label: Earn, goto: a, add: {gold: 1}}
      - {label: Anger, goto: a, set: {mood: angry, brave: true}}
      - {label: Rich, goto: z, if: gold >= 1000}
      - {label: Exact, goto: z, if: gold == 100}
      - {label: Both, goto: z, if: "gold > 5 and gold < 7"}
      - {label: Angry, goto: z, if: 'mood == "angry" and brave'}
      - {label: Calm later, goto: z, if: 'visits("a") > 2 and not chosen("a", "earn")'}
      - {label: Never, goto: z, if: gold < 0}
      - {label: Zero, goto: z, if: level / 0 > 1, set: {level: 2}}
  z:
    ending: true
""",
    )
    assert messages(path) == [
        "15:37: condition 'gold < 0' can never hold: gold starts at 0 and changes only by +1 "
        "(choice 'never' is always hidden)",
        "16:36: condition 'level / 0 > 1' can never hold: level is only ever 1 or 2 "
        "(choice 'zero' is always hidden)",
    ]


def test_conditions_on_function_results_alone(tmp_path: Path) -> None:
    path = story_at(
        tmp_path,
        """scenes:
  a:
    choices:
      - {label: Count, goto: a, if: visits("a") >= 0}
      - {label: Less, goto: z, requires: turns() < 0 or visits("a") < 0}
      - {label: Seen, goto: z, if: not visited("a") and visited("a")}
  z:
    ending: true
""",
    )
    assert messages(path) == [
        "7:42: condition 'turns() < 0 or visits(\"a\") < 0' can never hold "
        "(choice 'less' is always locked)",
        '8:36: condition \'not visited("a") and visited("a")\' can never hold '
        "(choice 'seen' is always hidden)",
    ]


def test_text_variant_and_route_conditions_are_checked(tmp_path: Path) -> None:
    path = story_at(
        tmp_path,
        """state: {n: 1}
scenes:
  a:
    text:
      - {if: n > 1, text: Many}
      - One
    on_enter: {set: {n: 1}}
    random:
      - {goto: z, if: n == 2}
      - {goto: z}
  z:
    ending: true
""",
    )
    assert messages(path) == [
        "7:14: condition 'n > 1' can never hold: n is only ever 1 "
        "(the text variant is never shown)",
        "11:23: condition 'n == 2' can never hold: n is only ever 1 (the route to 'z' is never "
        "taken)",
    ]


def test_too_many_combinations_are_not_judged(tmp_path: Path) -> None:
    names = [f"v{i}" for i in range(6)]
    state = ", ".join(f"{n}: 0" for n in names)
    sets = "\n".join(
        f"      - {{label: S{n}{k}, goto: a, set: {{{n}: {k}}}}}"
        for n in names
        for k in range(1, 8)
    )
    never = " + ".join(names) + " < 0"
    path = story_at(
        tmp_path,
        f"""state: {{{state}}}
scenes:
  a:
    choices:
{sets}
      - {{label: Never, goto: z, if: {never}}}
  z:
    ending: true
""",
    )
    assert messages(path) == []  # 8**6 combinations: too many to judge, so no claim


def test_variable_warnings_are_skipped_when_the_story_has_errors(tmp_path: Path) -> None:
    path = story_at(
        tmp_path,
        """state: {gold: 0}
scenes:
  a:
    choices:
      - {label: Go, goto: z, if: gold.real > 0}
  z:
    ending: true
""",
    )
    result = load(path)
    assert result.story is None and result.partial is not None
    assert messages(path) == ["7:38: attribute access ('.') is not allowed in conditions"]
    assert [p.message for p in check(result.partial)] == [
        "variable 'gold' is never read or changed"
    ]


def test_warnings_name_files_in_load_order(tmp_path: Path) -> None:
    (tmp_path / "story.yaml").write_text(
        "branching: 1\nstart: a\ninclude: [two.yaml]\nscenes:\n  a: {next: z}\n", "utf-8"
    )
    (tmp_path / "two.yaml").write_text(
        "scenes:\n  z: {ending: true}\n  lost: {ending: true}\n", "utf-8"
    )
    story = load_story(tmp_path)
    problems = check(story)
    assert [(p.file, p.line, p.order) for p in problems] == [(str(tmp_path / "two.yaml"), 3, 1)]


def test_conditions_on_unreachable_scenes_never_hold(tmp_path: Path) -> None:
    path = story_at(
        tmp_path,
        """scenes:
  a:
    choices:
      - {label: Vault, goto: z, if: 'visited("vault") or chosen("vault", "open")'}
      - {label: Leave, goto: z}
  vault:
    choices:
      - {label: Open, goto: z}
  z:
    ending: true
""",
    )
    assert messages(path) == [
        '6:37: condition \'visited("vault") or chosen("vault", "open")\' can never hold: '
        "scene 'vault' is unreachable (choice 'vault' is always hidden)",
        "8:3: scene 'vault' is unreachable from start 'a'",
    ]


def test_random_routes_all_conditional_may_get_stuck(tmp_path: Path) -> None:
    path = story_at(
        tmp_path,
        """state: {n: 0}
scenes:
  a:
    on_enter: {add: {n: 1}}
    random:
      - {goto: z, if: n > 1}
      - {goto: a, if: n < 3}
  z:
    ending: true
""",
    )
    assert messages(path) == [
        "9:9: every 'random' route has an 'if': when none holds the playthrough is stuck "
        "(add a route without 'if')",
    ]


def test_numbers_far_beyond_small_sums_are_judged_exactly(tmp_path: Path) -> None:
    path = story_at(
        tmp_path,
        """state: {gold: 0, debt: 1}
scenes:
  a:
    text: "{gold}"
    choices:
      - {label: Earn, goto: a, add: {gold: 7}}
      - {label: Borrow, goto: a, add: {debt: 5}}
      - {label: Band, goto: z, if: gold > 500 and gold < 510}
      - {label: Gap, goto: z, if: gold > 497 and gold < 504}
      - {label: Far, goto: z, if: gold == 7000}
      - {label: Odd, goto: z, if: gold == 7001}
      - {label: Sum, goto: z, if: gold * 2 == 1008}
      - {label: Both, goto: z, if: gold == debt}
  z:
    ending: true
""",
    )
    assert messages(path) == [
        "11:35: condition 'gold > 497 and gold < 504' can never hold: gold starts at 0 and "
        "changes only by +7 (choice 'gap' is always hidden)",
        "13:35: condition 'gold == 7001' can never hold: gold starts at 0 and changes only by +7 "
        "(choice 'odd' is always hidden)",
    ]


def test_numbers_too_large_for_a_float_are_judged_or_left_alone(tmp_path: Path) -> None:
    huge = "9" * 400
    path = story_at(
        tmp_path,
        f"""state: {{gold: 0, debt: 0.5}}
scenes:
  a:
    choices:
      - {{label: Earn, goto: a, add: {{gold: 7, debt: 0.5}}}}
      - {{label: Rich, goto: z, if: gold > {huge}}}
      - {{label: Poor, goto: z, if: gold < -{huge}}}
      - {{label: Owe, goto: z, if: debt > {huge}}}
  z:
    ending: true
""",
    )
    assert messages(path) == [  # an int grows without bound; a float never gets that far
        f"9:36: condition 'gold < -{huge}' can never hold: gold starts at 0 and changes only "
        "by +7 (choice 'poor' is always hidden)",
        f"10:35: condition 'debt > {huge}' can never hold: debt starts at 0.5 and changes only "
        "by +0.5 (choice 'owe' is always hidden)",
    ]
