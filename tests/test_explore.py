"""The explorer: every ending proven by a path the engine really plays, stuck states found.

Given a small story, when it is explored, then each reachable ending comes with
the shortest list of choice numbers that reaches it (replayed here through the
engine to prove it), and the states where a playthrough gets stuck are found.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from branching.play.engine import Playthrough
from branching.story.loader import load_story
from branching.story.model import Story
from branching.verify.explore import Exploration, Proof, explore


def story_of(tmp_path: Path, body: str, head: str = "") -> Story:
    path = tmp_path / "s.yaml"
    path.write_text(f"branching: 1\nstart: a\n{head}scenes:\n{body}", encoding="utf-8")
    return load_story(path)


def replay(story: Story, proof: Proof, seeds: range = range(1)) -> Playthrough:
    """Play the proof's choice numbers; with random draws, find a seed that draws them."""
    for seed in seeds:
        run = Playthrough.start(story, seed=seed)
        for step in proof.steps:
            shown = run.view.by_number(step.number)
            assert shown is not None and shown.id == step.choice and not shown.locked
            run.choose_number(step.number)
        drawn = [
            (p.scene, q.scene)
            for p, q in zip(
                [p for f in run.frames for p in f.passages],
                [p for f in run.frames for p in f.passages][1:],
                strict=False,
            )
        ]
        if all(d in drawn for d in proof.draws):
            return run
    raise AssertionError(f"no seed plays {proof}")


def assert_every_ending_replays(story: Story, result: Exploration, seeds: range = range(1)) -> None:
    for found in result.endings:
        run = replay(story, found.path, seeds)
        assert run.view.ending is not None and run.view.scene == found.scene


BRANCHY = """  a:
    choices:
      - {label: Left, goto: left, add: {coins: 1}}
      - {label: Right, goto: right}
      - {label: Secret, goto: vault, if: visits("left") >= 2 and coins >= 2}
  left:
    choices:
      - {label: Back, goto: a}
      - {label: On, goto: good}
  right:
    choices:
      - {label: Pay, goto: bad, requires: coins >= 1}
      - {label: Wait, goto: right2, once: true}
      - {label: Return, goto: a}
  right2:
    next: right
  good:
    ending: {kind: good, title: Good}
  bad:
    ending: {kind: bad, title: Bad}
  vault:
    ending: {kind: secret, title: Vault}
  nowhere:
    ending: true
"""


def test_every_reachable_ending_has_a_shortest_replayable_proof(tmp_path: Path) -> None:
    story = story_of(tmp_path, BRANCHY, head="state: {coins: 0}\n")
    result = explore(story)
    assert result.complete and result.ok is False  # 'nowhere' is never reached
    assert {e.scene: e.path.numbers for e in result.endings} == {
        "good": [1, 2],
        "bad": [1, 1, 2, 1],
        "vault": [1, 1, 1, 1, 3],
    }
    assert result.unreached == ("nowhere",)
    assert result.stuck == ()
    assert_every_ending_replays(story, result)
    vault = next(e for e in result.endings if e.scene == "vault")
    assert vault.path.choices == ["left", "back", "left", "back", "secret"]
    assert (vault.kind, vault.title) == ("secret", "Vault")


def test_locked_and_hidden_choices_keep_the_players_numbering(tmp_path: Path) -> None:
    story = story_of(
        tmp_path,
        """  a:
    choices:
      - {label: Hidden, goto: z, if: "false"}
      - {label: Locked, goto: z, requires: "false"}
      - {label: Open, goto: y}
  y:
    ending: true
  z:
    ending: true
""",
    )
    result = explore(story)
    assert [(e.scene, e.path.numbers, e.path.choices) for e in result.endings] == [
        ("y", [2], ["open"])
    ]
    assert result.unreached == ("z",)
    assert_every_ending_replays(story, result)


def test_stuck_states_are_found_with_the_path_to_them(tmp_path: Path) -> None:
    story = story_of(
        tmp_path,
        """  a:
    choices:
      - {label: Spend, goto: shop, add: {coins: -1}}
      - {label: Walk, goto: road}
      - {label: Spin, goto: spin}
  shop:
    choices:
      - {label: Buy, goto: z, requires: coins > 0}
  road:
    next:
      - {if: coins > 5, goto: z}
  spin:
    next: spin2
  spin2:
    next: spin
  z:
    ending: true
""",
        head="state: {coins: 0}\n",
    )
    result = explore(story)
    assert result.complete and not result.ok
    assert {(s.scene, s.reason, tuple(s.path.numbers)) for s in result.stuck} == {
        ("shop", "no choice of 'shop' can be taken", (1,)),
        ("road", "no route of 'road' holds", (2,)),
        ("spin", "a loop of scenes with no choice", (3,)),
    }
    for stuck in result.stuck:
        run = replay(story, stuck.path)
        assert run.view.stuck is not None


def test_a_route_loop_inside_a_loop_through_choices_is_found_stuck(tmp_path: Path) -> None:
    """`next` back to itself until a flag that nothing sets: the engine goes round
    without a choice (and reports it stuck), though the scene is also part of a
    larger loop through a choice. Found by the property test of random stories."""
    story = story_of(
        tmp_path,
        """  a:
    next:
      - {if: flag, goto: b}
      - {goto: a}
  b:
    choices:
      - {label: Again, goto: a}
  z:
    ending: true
""",
        head="state: {flag: false}\n",
    )
    result = explore(story)
    assert result.complete and not result.ok
    assert [(s.scene, s.reason) for s in result.stuck] == [("a", "a loop of scenes with no choice")]
    run = replay(story, result.stuck[0].path)
    assert run.view.stuck is not None


def test_random_routes_explore_every_branch(tmp_path: Path) -> None:
    story = story_of(
        tmp_path,
        """  a:
    choices:
      - {label: Toss, goto: coin}
  coin:
    random:
      - {goto: heads, weight: 9}
      - {goto: tails}
      - {goto: edge, if: "false"}
  heads:
    ending: true
  tails:
    ending: true
  edge:
    ending: true
""",
    )
    result = explore(story)
    found = {e.scene: e.path for e in result.endings}
    assert set(found) == {"heads", "tails"} and result.unreached == ("edge",)
    assert found["tails"].draws == (("coin", "tails"),)
    assert "random draws coin -> tails" in str(found["tails"])
    assert_every_ending_replays(story, result, seeds=range(200))


def test_division_by_zero_is_reported(tmp_path: Path) -> None:
    story = story_of(
        tmp_path,
        """  a:
    choices:
      - {label: Split, goto: z, if: 10 / coins > 1}
      - {label: Leave, goto: z}
  z:
    ending: true
""",
        head="state: {coins: 0}\n",
    )
    result = explore(story)
    assert [(z.scene, z.where, z.condition, z.path.numbers) for z in result.zero_divisions] == [
        ("a", "the 'if' of choice 'split'", "10 / coins > 1", [])
    ]
    assert [e.path.choices for e in result.endings] == [["leave"]]


def test_loops_on_counters_compared_to_numbers_stay_finite(tmp_path: Path) -> None:
    story = story_of(
        tmp_path,
        """  a:
    choices:
      - {label: Again, goto: a, add: {laps: 1}}
      - {label: Finish, goto: z, if: visits("a") >= 4 and laps > 2 and turns() > 1}
  z:
    ending: true
""",
        head="state: {laps: 0}\n",
    )
    result = explore(story)
    assert result.complete and result.ok
    assert result.states < 20
    assert [e.path.numbers for e in result.endings] == [[1, 1, 1, 2]]
    assert_every_ending_replays(story, result)


def test_numbers_too_large_for_a_float_are_counted_up_to(tmp_path: Path) -> None:
    huge = "9" * 400
    story = story_of(
        tmp_path,
        f"""  a:
    choices:
      - {{label: Again, goto: a, add: {{laps: 1}}}}
      - {{label: Never, goto: z, if: laps > {huge}}}
      - {{label: Now, goto: z, if: laps < {huge} and laps > 1}}
  z:
    ending: true
""",
        head="state: {laps: 0}\n",
    )
    result = explore(story, max_states=500)  # reaching the huge count takes too many states
    assert not result.complete and not result.ok
    assert [e.path.numbers for e in result.endings] == [[1, 1, 2]]  # 'Never' is hidden


def test_the_search_stops_at_its_bound_and_says_so(tmp_path: Path) -> None:
    story = story_of(
        tmp_path,
        """  a:
    choices:
      - {label: Again, goto: a, add: {laps: 1}}
      - {label: Finish, goto: z, if: laps % 7 == 3}
  z:
    ending: true
  never:
    ending: true
""",
        head="state: {laps: 0}\n",
    )
    result = explore(story, max_states=50)
    assert not result.complete and not result.ok
    assert result.states == 50
    assert [e.path.numbers for e in result.endings] == [[1, 1, 1, 2]]
    assert "not complete" in result.report()
    assert explore(story, max_states=5).endings == ()


def test_results_serialise_to_json_and_words(tmp_path: Path) -> None:
    story = story_of(tmp_path, BRANCHY, head="state: {coins: 0}\n")
    result = explore(story)
    data = json.loads(json.dumps(result.as_dict()))
    assert data["complete"] is True and data["unreached"] == ["nowhere"]
    assert data["endings"][0]["path"]["numbers"] == [1, 2]
    report = result.report()
    assert "Endings reached: 3 of 4" in report
    assert "good (good: Good): choices 1,2 (left, on)" in report


def test_bundled_tutorial_endings_replay() -> None:
    from tests.conftest import STORIES

    if not (STORIES / "tutorial").is_dir():
        pytest.skip("stories/tutorial is not written yet")
    story = load_story(STORIES / "tutorial")
    result = explore(story)
    assert result.complete and result.endings
    assert_every_ending_replays(story, result, seeds=range(300))


def test_values_never_read_again_do_not_multiply_states(tmp_path: Path) -> None:
    story = story_of(
        tmp_path,
        """  a:
    choices:
      - {label: One, goto: b, set: {x: 1}}
      - {label: Two, goto: b, set: {x: 2}}
      - {label: Three, goto: b, set: {x: 3}}
  b:
    choices:
      - {label: Pair, goto: c, if: x == 2}
      - {label: Any, goto: c}
  c:
    choices:
      - {label: Light, goto: d, set: {lit: true}}
      - {label: Dark, goto: d}
  d:
    choices:
      - {label: See, goto: z, if: lit}
      - {label: Grope, goto: z}
  z:
    ending: true
""",
        head="state: {x: 0, lit: false}\n",
    )
    result = explore(story)
    # a 1, b 3 (x is 1, 2 or 3), c 1 (x is never read again), d 2 (lit or not), z 1
    assert result.complete and result.states == 8
    assert [e.path.numbers for e in result.endings] == [[1, 1, 1, 1]]
