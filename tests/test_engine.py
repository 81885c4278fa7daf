"""The pure engine, in Given/When/Then style, with no UI and no database."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from branching.errors import EngineError, SaveError
from branching.play.engine import Playthrough
from branching.story.loader import load_story
from branching.story.model import Story


def story_from(tmp_path: Path, text: str) -> Story:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_story(path)


def test_given_breakfast_when_started_then_first_choice_point_with_default(breakfast: Path):
    run = Playthrough.start(load_story(breakfast))
    view = run.view
    assert view.scene == "kitchen"
    assert [c.label for c in view.choices] == ["Sugar Puffs", "Frosties"]
    assert view.default is not None and view.default.id == "frosties"
    assert view.timer == 10
    assert run.state.visits("kitchen") == 1


def test_given_a_choice_when_taken_then_state_set_and_next_scenes_followed(breakfast: Path):
    run = Playthrough.start(load_story(breakfast))
    view = run.choose("sugar_puffs")
    assert [p.scene for p in view.passages] == ["bus", "office"]
    assert "Sugar Puffs" in view.passages[0].text  # the cereal shows up in the advert
    assert run.state.vars["cereal"] == "sugar_puffs"
    assert view.timer == 15  # the scene's own timer overrides the story's
    assert run.state.turns() == 1


def test_given_hidden_and_locked_choices_then_numbering_skips_only_hidden(breakfast: Path):
    run = Playthrough.start(load_story(breakfast))
    view = run.choose("frosties")
    # "Ask for the corner office" is hidden (trust < 3); the therapist is unlocked
    assert [(c.number, c.id, c.locked) for c in view.choices] == [
        (1, "accept", False),
        (2, "refuse", False),
        (3, "call_your_therapist", False),
    ]


def test_given_a_locked_choice_when_taken_then_refused(tmp_path: Path):
    story = story_from(
        tmp_path,
        """
        branching: 1
        start: a
        state: {key: false}
        scenes:
          a:
            text: A door.
            choices:
              - {label: Open it, goto: b, requires: key}
              - {label: Find the key, goto: a, set: {key: true}}
          b: {text: Inside., ending: true}
    """,
    )
    run = Playthrough.start(story)
    door = run.view.choices[0]
    assert door.locked and door.reason == "requires key"
    with pytest.raises(EngineError, match="locked"):
        run.choose("open_it")
    run.choose("find_the_key")
    assert not run.view.choices[0].locked
    assert run.choose("open_it").ending is not None


def test_given_once_choice_when_taken_then_it_disappears_and_back_restores_it(tmp_path: Path):
    story = story_from(
        tmp_path,
        """
        branching: 1
        start: hub
        state: {coins: 0}
        scenes:
          hub:
            text: "You have {coins} coins."
            choices:
              - {label: Take the coin, goto: hub, once: true, add: {coins: 1}}
              - {label: Leave, goto: out}
          out: {text: Bye., ending: {kind: good, title: Out}}
    """,
    )
    run = Playthrough.start(story)
    view = run.choose("take_the_coin")
    assert [c.id for c in view.choices] == ["leave"]
    assert view.passages[-1].text == "You have 1 coins."
    assert run.state.visits("hub") == 2
    view = run.back()
    assert [c.id for c in view.choices] == ["take_the_coin", "leave"]
    assert run.state.vars["coins"] == 0 and run.state.visits("hub") == 1
    assert run.state.turns() == 0


def test_given_an_ending_with_rewind_when_taken_then_only_visited_offers(breakfast: Path):
    run = Playthrough.start(load_story(breakfast))
    run.choose("frosties")
    view = run.choose("accept")
    assert view.ending is not None and view.ending.kind == "bad"
    assert [(o.number, o.scene) for o in view.offers] == [(1, "office")]
    view = run.rewind_to("office")
    assert view.scene == "office" and run.state.vars["trust"] == 0


def test_given_set_then_add_when_choice_taken_then_order_is_set_first(tmp_path: Path):
    story = story_from(
        tmp_path,
        """
        branching: 1
        start: a
        state: {n: 5}
        scenes:
          a:
            choices: [{label: Go, goto: b, set: {n: 1}, add: {n: 2}}]
          b: {text: "n={n} visited={visited('b')} visits={visits('b')}", ending: true}
    """,
    )
    run = Playthrough.start(story)
    view = run.choose("go")
    assert view.passages[-1].text == "n=3 visited=true visits=1"


def test_given_random_routes_then_same_seed_same_path_and_weights_respected(tmp_path: Path):
    story = story_from(
        tmp_path,
        """
        branching: 1
        start: coin
        scenes:
          coin:
            random:
              - {goto: heads, weight: 3}
              - {goto: tails}
          heads: {ending: {kind: good, title: Heads}}
          tails: {ending: {kind: bad, title: Tails}}
    """,
    )
    outcomes = [Playthrough.start(story, seed).view.scene for seed in range(400)]
    assert outcomes == [Playthrough.start(story, seed).view.scene for seed in range(400)]
    heads = outcomes.count("heads")
    assert 240 < heads < 360  # about three in four


def test_given_no_route_holds_then_stuck(tmp_path: Path):
    story = story_from(
        tmp_path,
        """
        branching: 1
        start: a
        state: {x: 0}
        scenes:
          a:
            next:
              - {if: x > 0, goto: b}
          b: {ending: true, text: "{x}"}
    """,
    )
    view = Playthrough.start(story).view
    assert view.stuck is not None and view.finished


def test_given_a_playthrough_when_saved_and_restored_then_identical(breakfast: Path):
    story = load_story(breakfast)
    run = Playthrough.start(story, seed=7)
    run.choose("frosties")
    data = json.loads(json.dumps(run.to_json()))
    back = Playthrough.from_json(story, data)
    assert back.view == run.view
    assert back.state == run.state
    back.back()
    assert back.view.scene == "kitchen"


def test_given_a_bad_save_when_restored_then_clear_error(breakfast: Path):
    story = load_story(breakfast)
    with pytest.raises(SaveError, match="no scene 'nowhere'"):
        Playthrough.from_json(story, {"frames": [{"scene": "nowhere"}]})
    with pytest.raises(SaveError, match="trust should be int"):
        Playthrough.from_json(story, {"frames": [{"scene": "kitchen", "vars": {"trust": "x"}}]})
    with pytest.raises(SaveError):
        Playthrough.from_json(story, {"nope": 1})


def test_given_the_start_when_going_back_then_refused(breakfast: Path):
    run = Playthrough.start(load_story(breakfast))
    assert not run.can_go_back
    with pytest.raises(EngineError):
        run.back()


def test_given_an_ended_playthrough_when_choosing_then_refused(breakfast: Path):
    run = Playthrough.start(load_story(breakfast))
    run.choose("frosties")
    run.choose("refuse")
    with pytest.raises(EngineError, match="ended"):
        run.choose("accept")


@pytest.mark.parametrize("name", ["signal", "lighthouse.yaml", "tutorial"])
def test_shared_steps_give_every_playthrough_exactly_what_the_engine_computes(name: str) -> None:
    """A simulation's step memo (`Steps`) is invisible: the same views, states and texts."""
    import random

    from branching.play.engine import Steps
    from branching.store.states import Patches, StateChain

    story = load_story(Path(__file__).resolve().parent.parent / "stories" / name)
    steps, patches = Steps(), Patches()
    shared_hits = 0
    for seed in range(60):
        rng = random.Random(seed)
        plain, shared = Playthrough.start(story, seed), Playthrough.start(story, seed, steps)
        chain, shared_chain = StateChain(), StateChain(patches=patches)
        for _ in range(40):
            assert shared.view == plain.view
            assert shared.state == plain.state
            text = chain.encode_text(plain.state.to_dict())
            assert shared_chain.encode_text(steps.as_dict(shared.state)) == text
            view = plain.view
            if view.ending is not None or view.stuck is not None:
                if not view.offers:
                    break
                offer = view.offers[rng.randrange(len(view.offers))].scene
                plain.rewind_to(offer)
                shared.rewind_to(offer)
                continue
            if plain.can_go_back and rng.random() < 0.1:
                plain.back()
                shared.back()
                continue
            choice = rng.choice([c for c in view.choices if not c.locked]).id
            before = len(steps._steps)
            plain.choose(choice)
            shared.choose(choice)
            shared_hits += len(steps._steps) == before
    assert shared_hits > 0  # the memo was used, not just filled
