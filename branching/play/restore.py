"""Checked restoring of saved playthrough frames (engine saves, telemetry snapshots).

A save may come from an older version of the story, a hand-edited file or a
corrupt database, so every field is checked against the story before the
engine trusts it: unknown scenes or variables, wrong types and negative counts
raise `SaveError` with a message saying which frame and what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from branching.errors import SaveError
from branching.play.engine import Frame, Passage, State, scene_text
from branching.story.model import Story


def frames_from_json(story: Story, frames: list[Any]) -> list[Frame]:
    return [_frame(story, i, f) for i, f in enumerate(frames)]


def state_from_dict(story: Story, data: Any, where: str = "state") -> State:
    """A `State` from `State.to_dict()` output, checked against the story."""
    if not isinstance(data, Mapping):
        raise SaveError(f"{where}: expected a mapping")
    scene = data.get("scene")
    if not isinstance(scene, str) or scene not in story.scenes:
        raise SaveError(f"{where}: the story has no scene {scene!r}")
    variables = _vars(story, data.get("vars", {}), where)
    visits = data.get("visits", {})
    if not isinstance(visits, Mapping) or not all(
        isinstance(k, str) and type(v) is int and v >= 0 for k, v in visits.items()
    ):
        raise SaveError(f"{where}: visits must map scene ids to counts")
    chosen = data.get("chosen", [])
    if not isinstance(chosen, list) or not all(
        isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(x, str) for x in p)
        for p in chosen
    ):
        raise SaveError(f"{where}: chosen must be a list of [scene, choice] pairs")
    turns = data.get("turns", 0)
    if type(turns) is not int or turns < 0:
        raise SaveError(f"{where}: turns must be a count")
    return State(scene, variables, dict(visits), frozenset((s, c) for s, c in chosen), turns)


def _vars(story: Story, raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise SaveError(f"{where}: vars must be a mapping")
    out = dict(story.state)
    for name, value in raw.items():
        if name not in story.state:
            raise SaveError(f"{where}: the story has no variable {name!r}")
        want = type(story.state[name])
        if want is float and type(value) is int:
            value = float(value)
        if type(value) is not want:
            raise SaveError(f"{where}: {name} should be {want.__name__}, got {value!r}")
        out[name] = value
    return out


def _frame(story: Story, index: int, data: Any) -> Frame:
    where = f"frame {index + 1}"
    state = state_from_dict(story, data, where)
    raw = data.get("passages")
    passages: list[Passage] = []
    if isinstance(raw, list) and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in raw
    ):
        for scene_id, text in raw:
            scene = story.scenes.get(scene_id)
            if scene is None:
                raise SaveError(f"{where}: the story has no scene {scene_id!r}")
            passages.append(Passage(scene_id, scene.title, scene.chapter, text))
    if not passages:  # telemetry snapshots carry no text: render the scene again
        scene = story.scenes[state.scene]
        passages.append(Passage(scene.id, scene.title, scene.chapter, scene_text(scene, state)))
    return Frame(state, tuple(passages))
