"""The packed explorer agrees with the plain one, and reports what authors need.

Given small stories (hand-built ones where a shortcut would be wrong, and
seeded random ones with loops, counters, enums and `once`), when they are
explored, then the merged and the full state counts, the fewest choices to
each scene, the choices that can be taken and the stuck scenes are exactly
what a plain breadth-first search over `space.Key` tuples finds. Doomed
states, unreachable scenes and choices, and the deepest state are reported
with paths the engine really plays.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from branching.play.engine import Playthrough
from branching.story.loader import load_story
from branching.story.model import Story
from branching.verify.explore import Exploration, Proof, explore
from branching.verify.plain import plain_search
from tests.conftest import STORIES
from tests.test_explore import replay, story_of


def replay_any(story: Story, proof: Proof, scene: str, seeds: range = range(400)) -> Playthrough:
    """Play the proof's choice numbers with the first seed whose random draws follow it
    all the way to `scene`."""
    for seed in seeds:
        run = Playthrough.start(story, seed=seed)
        for step in proof.steps:
            shown = run.view.by_number(step.number)
            if shown is None or shown.id != step.choice or shown.locked:
                break  # this seed drew another way at a random scene
            if run.view.scene != step.scene:
                break
            run.choose_number(step.number)
        else:
            if run.view.scene == scene:
                return run
    raise AssertionError(f"no seed plays {proof}")


def assert_agrees_with_plain(story: Story) -> Exploration:
    result = explore(story, max_states=100_000, raw=True, max_seconds=60)
    merged = plain_search(story, max_states=100_000)
    full = plain_search(story, raw=True, max_states=10_000_000)
    assert result.complete and result.raw_complete and merged.complete and full.complete
    assert result.states == merged.states
    assert result.raw_states == full.states
    assert set(result.reached_scenes) == set(merged.depth)
    assert set(result.reached_choices) == merged.taken
    assert {s.scene for s in result.stuck if "loop" not in s.reason} == merged.stuck
    for e in result.endings:
        assert len(e.path.steps) == merged.depth[e.scene]
    return result


def test_variables_that_are_never_read_count_only_in_the_full_states(tmp_path: Path) -> None:
    story = story_of(
        tmp_path,
        """  a:
    choices:
      - {label: Red, goto: b, set: {colour: red, mood: 1}}
      - {label: Blue, goto: b, set: {colour: blue, mood: 2}}
      - {label: Green, goto: b, set: {colour: green}}
  b:
    text:
      - {if: colour == "red", text: Red again.}
      - text: Not red.
    choices:
      - {label: Calm, goto: c, add: {mood: 1}}
      - {label: Wild, goto: c, set: {wild: true}}
  c:
    choices:
      - {label: Go, goto: z, if: wild}
      - {label: Stay, goto: z}
  z:
    ending: true
""",
        head="state: {colour: none, mood: 0, wild: false}\n",
    )
    result = assert_agrees_with_plain(story)
    # merged: a 1, b 3 (colour; mood is never read), c 2 (wild or not; colour is dead), z 1
    assert result.states == 7
    # full: a 1, b 3 (colour and mood), c 6 (calm or wild after each), z 6
    assert result.raw_states == 16


def test_a_loop_of_choices_with_no_way_out_is_doomed(tmp_path: Path) -> None:
    story = story_of(
        tmp_path,
        """  a:
    choices:
      - {label: Home, goto: z}
      - {label: Maze, goto: m1, set: {lost: true}}
  m1:
    choices:
      - {label: Left, goto: m2}
      - {label: Out, goto: z, if: not lost}
  m2:
    choices:
      - {label: Right, goto: m1}
  z:
    ending: true
""",
        head="state: {lost: false}\n",
    )
    result = assert_agrees_with_plain(story)
    assert result.stuck == ()  # every state has a choice, yet no ending is reachable
    assert not result.ok and result.problems
    assert {(d.scene, d.states) for d in result.doomed} == {("m1", 1), ("m2", 1)}
    m1 = next(d for d in result.doomed if d.scene == "m1")
    run = replay(story, m1.path)
    assert run.view.scene == "m1"
    assert "No ending can be reached any more from 1 state(s) at m1" in result.report()
    assert result.unreached_choices == (("m1", "out"),)


def test_unreachable_scenes_and_the_deepest_state_are_reported(tmp_path: Path) -> None:
    story = story_of(
        tmp_path,
        """  a:
    choices:
      - {label: Walk, goto: b}
      - {label: Fly, goto: sky, if: wings}
  b:
    choices:
      - {label: On, goto: c}
  c:
    choices:
      - {label: On, goto: d}
      - {label: Back, goto: a}
  d:
    ending: true
  sky:
    ending: true
""",
        head="state: {wings: false}\n",
    )
    result = assert_agrees_with_plain(story)
    assert result.unreached_scenes == ("sky",)
    assert ("a", "fly") in result.unreached_choices
    assert result.deepest is not None
    assert (result.deepest.scene, result.deepest.depth) == ("d", 3)
    run = replay(story, result.deepest.path)
    assert run.view.scene == "d"
    data = result.as_dict()
    assert data["scenes"]["unreached"] == ["sky"] and data["deepest"]["depth"] == 3


def random_story(tmp_path: Path, seed: int) -> Story:
    """A small story with loops, a counter, an enum, `once`, routes and a random scene."""
    rng = random.Random(seed)
    n = 7
    names = [f"s{i}" for i in range(n)]
    conds = [
        "flag",
        "not flag",
        "count >= 2",
        'mode == "b"',
        'visited("s2")',
        "count < 1 or flag",
        'chosen("s1", "c0")',
        "turns() > 3",
        'visits("s3") >= 2',
    ]
    lines = []
    for i, sid in enumerate(names):
        lines.append(f"  {sid}:")
        if i == 0:  # every variable is read, so a counter in a loop is capped
            lines.append("    text: [{if: 'count >= 2 and junk > 0', text: Again.}, {text: Hi.}]")
        kind = rng.choice(["choices", "choices", "choices", "next", "random"])
        if i <= 1:  # s1 always has a choice c0, which a condition may name
            kind = "choices"
        targets = names + ["end1", "end2"]
        if kind == "choices":
            lines.append("    choices:")
            for k in range(rng.randint(1, 3)):
                parts = [f"label: C{k}", f"id: c{k}", f"goto: {rng.choice(targets)}"]
                if rng.random() < 0.4:
                    parts.append(f"if: '{rng.choice(conds)}'")
                if rng.random() < 0.2:
                    parts.append(f"requires: '{rng.choice(conds)}'")
                if rng.random() < 0.2:
                    parts.append("once: true")
                effect = rng.choice(
                    ["", "set: {flag: true}", "add: {count: 1}", "set: {mode: b}", "set: {junk: 2}"]
                )
                if effect:
                    parts.append(effect)
                lines.append("      - {" + ", ".join(parts) + "}")
        else:
            lines.append(f"    {kind}:")
            for _ in range(rng.randint(1, 2)):
                cond = f", if: '{rng.choice(conds)}'" if rng.random() < 0.5 else ""
                lines.append(f"      - {{goto: {rng.choice(targets)}{cond}}}")
            lines.append(f"      - {{goto: {rng.choice(targets)}}}")
        if rng.random() < 0.3:
            lines.append("    on_enter: {add: {count: 1}, set: {junk: 1}}")
    lines += ["  end1:", "    ending: true", "  end2:", "    ending: {kind: good, title: Two}"]
    path = tmp_path / f"r{seed}.yaml"
    path.write_text(
        "branching: 1\nstart: s0\n"
        "state: {flag: false, count: 0, mode: a, junk: 0}\nscenes:\n" + "\n".join(lines) + "\n",
        encoding="utf-8",
    )
    return load_story(path)


@pytest.mark.parametrize("seed", range(40))
def test_random_stories_agree_with_the_plain_search(tmp_path: Path, seed: int) -> None:
    story = random_story(tmp_path, seed)
    result = assert_agrees_with_plain(story)
    for found in result.endings:
        run = replay_any(story, found.path, found.scene)
        assert run.view.scene == found.scene


@pytest.mark.parametrize("name", ["tutorial", "signal", "lighthouse.yaml"])
def test_bundled_stories_agree_with_the_plain_search(name: str) -> None:
    if not (STORIES / name).exists():
        pytest.skip(f"stories/{name} is not there")
    story = load_story(STORIES / name)
    result = assert_agrees_with_plain(story)
    assert result.ok


def test_the_shortest_proof_is_played_by_the_engine_through_rewinds(tmp_path: Path) -> None:
    story = load_story(STORIES / "signal")
    result = explore(story, raw=False)
    for found in result.endings:
        run = replay_any(story, found.path, found.scene)
        assert run.view.ending is not None and run.view.scene == found.scene


def test_an_endless_full_count_stops_at_its_bound_and_keeps_the_proofs(tmp_path: Path) -> None:
    story = story_of(
        tmp_path,
        """  a:
    choices:
      - {label: Again, goto: a, add: {score: 1}}
      - {label: Stop, goto: z}
  z:
    ending: true
""",
        head="state: {score: 0}\n",
    )
    result = explore(story, max_states=10, raw=True)  # score is never read: merged, 2 states
    assert result.complete and result.ok and result.states == 2
    assert result.raw_states is not None and result.raw_states > 1_000
    assert not result.raw_complete and "full states" in (result.stopped or "")
    assert "INCOMPLETE: the count of full states stopped" in result.report()
