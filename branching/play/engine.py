"""The pure story engine: a playthrough as a state machine, with no I/O.

`Playthrough.start(story, seed)` enters the start scene and follows `next` and
`random` routes until a choice point, an ending, or a stuck state. `view` says
what a player shows (typed, UI-neutral dataclasses), `choose` takes a choice by
id, `back` and `rewind_to` return to an earlier choice point exactly as it was
(variables, visits, once-used choices, turns), and `to_json`/`from_json` save
and restore the whole playthrough.

Random routes are drawn from a generator seeded by (seed, turns, scene, visit
count) rather than one long-lived generator, so every step is reproducible on
its own: going back and choosing again draws the same, a restored playthrough
continues exactly as the original would have, and nothing random needs saving.

The engine records nothing; the caller hands each accepted step to the store.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from branching.errors import EngineError, SaveError
from branching.expr.conditions import Env, Expression, Value
from branching.story.model import Choice, Effect, Ending, Route, Scene, Story

MAX_AUTO_STEPS = 1000  # scenes entered in a row without a choice point: a loop of `next`s


def new_seed() -> int:
    """A fresh random seed for a playthrough (recorded, so it can be replayed)."""
    return int.from_bytes(os.urandom(4), "big") >> 1


class _Env:
    """The conditions.Env reading shared by `State` and its working copy."""

    __slots__ = ()
    vars: Mapping[str, Value]
    visit_counts: Mapping[str, int]
    chosen_pairs: AbstractSet[tuple[str, str]]
    turn_count: int

    def var(self, name: str) -> Value:
        return self.vars[name]

    def visits(self, scene: str) -> int:
        return self.visit_counts.get(scene, 0)

    def chosen(self, scene: str, choice: str) -> bool:
        return (scene, choice) in self.chosen_pairs

    def turns(self) -> int:
        return self.turn_count


@dataclass(frozen=True, slots=True)
class State(_Env):
    """Everything a condition can see, at one moment. Immutable."""

    scene: str
    vars: Mapping[str, Value]
    visit_counts: Mapping[str, int]
    chosen_pairs: frozenset[tuple[str, str]]
    turn_count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "scene": self.scene,
            "vars": dict(self.vars),
            "visits": dict(self.visit_counts),
            "chosen": sorted([s, c] for s, c in self.chosen_pairs),
            "turns": self.turn_count,
        }


class _Mutable(_Env):
    """A working copy of State while a step is computed."""

    __slots__ = ("scene", "vars", "visit_counts", "chosen_pairs", "turn_count")

    def __init__(self, state: State) -> None:
        self.scene = state.scene
        self.vars: dict[str, Value] = dict(state.vars)
        self.visit_counts: dict[str, int] = dict(state.visit_counts)
        self.chosen_pairs: set[tuple[str, str]] = set(state.chosen_pairs)
        self.turn_count = state.turn_count

    def apply(self, effect: Effect) -> None:
        for name, value in effect.set:
            self.vars[name] = value
        for name, amount in effect.add:
            self.vars[name] = self.vars[name] + amount  # type: ignore[operator]

    def freeze(self) -> State:
        """The State it ends as. Its last use: the State keeps its dicts (not copied again;
        nothing changes them any more)."""
        return State(
            self.scene,
            self.vars,
            self.visit_counts,
            frozenset(self.chosen_pairs),
            self.turn_count,
        )


# (condition, the key holding it: "if"/"requires"/"route", its choice id or route target)
Holds = Callable[[Expression, str, str], bool]


def _plain_holds(env: Env) -> Holds:
    return lambda expr, _key, _owner: expr.holds(env)


def listed_choices(scene: Scene, env: Env, holds: Holds) -> list[tuple[Choice, bool]]:
    """The choices a player lists at `scene`, in written order, each with whether it is
    locked: hidden ones (`if` false, `once` already taken) are left out.

    `holds` judges each condition; the engine's simply evaluates it, the explorer's
    also notes divisions by zero, so both follow exactly the same rules.
    """
    shown: list[tuple[Choice, bool]] = []
    for c in scene.choices:
        if c.condition is not None and not holds(c.condition, "if", c.id):
            continue
        if c.once and env.chosen(scene.id, c.id):
            continue
        locked = c.requires is not None and not holds(c.requires, "requires", c.id)
        shown.append((c, locked))
    return shown


def open_routes(scene: Scene, holds: Holds) -> list[Route]:
    """The routes that may be taken: the first `next` route that holds, or every
    `random` route that holds (one of which is then drawn by weight)."""
    out: list[Route] = []
    for r in scene.routes:
        if r.condition is None or holds(r.condition, "route", r.goto):
            out.append(r)
            if scene.next:
                break
    return out


def scene_text(scene: Scene, env: Env) -> str:
    """The scene's text as shown in `env`: its first variant whose condition holds."""
    for variant in scene.text:
        if variant.condition is None or variant.condition.holds(env):
            return variant.text.render(env)
    return ""


@dataclass(frozen=True, slots=True)
class Passage:
    """A scene as entered: its rendered text."""

    scene: str
    title: str
    chapter: str | None
    text: str


@dataclass(frozen=True, slots=True)
class ChoiceView:
    number: int  # as players number them: from 1, available and locked, in written order
    id: str
    label: str
    target: str
    locked: bool = False
    reason: str | None = None  # why it is locked
    default: bool = False  # taken when the timer runs out
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Offer:
    """An ending's offer to go back to an earlier choice point."""

    number: int
    scene: str
    title: str


@dataclass(frozen=True, slots=True)
class View:
    """What a player shows now."""

    scene: str
    title: str
    chapter: str | None
    passages: tuple[Passage, ...]
    choices: tuple[ChoiceView, ...] = ()
    timer: float = 0.0
    ending: Ending | None = None
    offers: tuple[Offer, ...] = ()
    stuck: str | None = None
    turns: int = 0

    @property
    def finished(self) -> bool:
        return self.ending is not None or self.stuck is not None

    @property
    def default(self) -> ChoiceView | None:
        return next((c for c in self.choices if c.default), None)

    def by_number(self, number: int) -> ChoiceView | None:
        return next((c for c in self.choices if c.number == number), None)


@dataclass(frozen=True, slots=True)
class Frame:
    """One stop of the playthrough (a choice point shown, or the end)."""

    state: State
    passages: tuple[Passage, ...]


class Steps:
    """A memo of the engine's steps, shared by many playthroughs of one story.

    A step (a frame and a choice id, or the start) always leads to the same
    next frame unless a `random` route was drawn on the way (the draw depends
    on the playthrough's seed): so a simulation of many viewers computes each
    step once and hands every later playthrough the very same immutable frame,
    and the view of a frame that is not an ending (an ending's offers depend on
    the frames before it) is computed once too. Steps that drew at random are
    never kept. Entries hold their frame, so an id is never reused while it is
    a key; at `limit` entries nothing more is kept (a bounded memory, the same
    results). The dict form of each state is kept the same way, so the store
    sees "the same state" by identity too. A player never uses one: it is for
    `branching simulate`.
    """

    __slots__ = ("_steps", "_views", "_dicts", "limit")

    def __init__(self, limit: int = 200_000) -> None:
        self._steps: dict[tuple[int, str], tuple[Frame | None, Frame]] = {}
        self._views: dict[int, tuple[Frame, View]] = {}
        self._dicts: dict[int, tuple[State, dict[str, Any]]] = {}
        self.limit = limit

    def as_dict(self, state: State) -> dict[str, Any]:
        """`state.to_dict()`, the very same dict for the same state (never change it)."""
        hit = self._dicts.get(id(state))
        if hit is not None and hit[0] is state:
            return hit[1]
        data = state.to_dict()
        if len(self._dicts) < self.limit:
            self._dicts[id(state)] = (state, data)
        return data

    def step(self, frame: Frame | None, choice: str) -> Frame | None:
        hit = self._steps.get((id(frame), choice))
        return hit[1] if hit is not None and hit[0] is frame else None

    def keep(self, frame: Frame | None, choice: str, new: Frame) -> None:
        if len(self._steps) < self.limit:
            self._steps[(id(frame), choice)] = (frame, new)

    def view(self, frame: Frame) -> View | None:
        hit = self._views.get(id(frame))
        return hit[1] if hit is not None and hit[0] is frame else None

    def keep_view(self, frame: Frame, view: View) -> None:
        if view.ending is None and len(self._views) < self.limit:
            self._views[id(frame)] = (frame, view)


@dataclass
class Playthrough:
    story: Story
    seed: int = 0
    frames: list[Frame] = field(default_factory=list)
    # shared step memo of a simulation (see `Steps`); None for a player
    steps: Steps | None = field(default=None, repr=False, compare=False)
    # set while a step is computed when a `random` route is drawn
    _drew: bool = field(default=False, repr=False, compare=False)
    # the view of the last frame shown, by identity: a frame never changes, and
    # the frames before it (an ending's offers) change only with it
    _shown: tuple[Frame, View] | None = field(default=None, repr=False, compare=False)

    # -- starting and stepping ----------------------------------------------------

    @classmethod
    def start(cls, story: Story, seed: int = 0, steps: Steps | None = None) -> Playthrough:
        """Enter the start scene and go on until a choice point or an ending.

        `steps` (a simulation's) shares computed steps between playthroughs.
        """
        if story.start not in story.scenes:
            raise EngineError(f"the story has no start scene '{story.start}'")
        run = cls(story, seed, steps=steps)
        first = steps.step(None, "") if steps is not None else None
        if first is None:
            empty = State(story.start, dict(story.state), {}, frozenset(), 0)
            run._drew = False
            first = run._advance(_Mutable(empty), story.start)
            if steps is not None and not run._drew:
                steps.keep(None, "", first)
        run.frames.append(first)
        return run

    @property
    def state(self) -> State:
        return self.frames[-1].state

    @property
    def scene(self) -> Scene:
        return self.story.scenes[self.state.scene]

    @property
    def view(self) -> View:
        frame = self.frames[-1]
        shown = self._shown
        if shown is not None and shown[0] is frame:
            return shown[1]
        steps = self.steps
        view = steps.view(frame) if steps is not None else None
        if view is None:
            view = self._view(frame)
            if steps is not None:
                steps.keep_view(frame, view)
        self._shown = (frame, view)
        return view

    @property
    def can_go_back(self) -> bool:
        return len(self.frames) > 1

    def choose(self, choice_id: str) -> View:
        """Take an available choice by id."""
        frame = self.frames[-1]
        view = self.view
        if view.finished:
            raise EngineError("the playthrough has ended; go back or rewind first")
        shown = next((c for c in view.choices if c.id == choice_id), None)
        if shown is None:
            raise EngineError(f"no choice '{choice_id}' is available in '{view.scene}'")
        if shown.locked:
            raise EngineError(f"'{shown.label}' is locked: {shown.reason}")
        steps = self.steps
        new = steps.step(frame, choice_id) if steps is not None else None
        if new is None:
            choice = self.scene.choice(choice_id)
            assert choice is not None
            work = _Mutable(frame.state)
            work.apply(choice.effect)
            work.chosen_pairs.add((frame.state.scene, choice.id))
            work.turn_count += 1
            self._drew = False
            new = self._advance(work, choice.goto)
            if steps is not None and not self._drew:
                steps.keep(frame, choice_id, new)
        self.frames.append(new)
        return self.view

    def choose_number(self, number: int) -> View:
        """Take a choice by its player number (from 1)."""
        shown = self.view.by_number(number)
        if shown is None:
            raise EngineError(f"there is no choice {number}")
        return self.choose(shown.id)

    def back(self) -> View:
        """Return to the previous choice point, exactly as it was shown."""
        if not self.can_go_back:
            raise EngineError("there is no earlier choice to go back to")
        self.frames.pop()
        return self.view

    def rewind_to(self, scene_id: str) -> View:
        """Return to the latest visit of an earlier choice point in this playthrough."""
        for i in range(len(self.frames) - 2, -1, -1):
            if self.frames[i].state.scene == scene_id:
                del self.frames[i + 1 :]
                return self.view
        raise EngineError(f"'{scene_id}' was not visited as a choice point in this playthrough")

    # -- internals ------------------------------------------------------------------

    def _advance(self, work: _Mutable, target: str) -> Frame:
        passages: list[Passage] = []
        for _ in range(MAX_AUTO_STEPS):
            scene = self.story.scenes[target]
            work.scene = target
            work.visit_counts[target] = work.visit_counts.get(target, 0) + 1
            work.apply(scene.on_enter)
            passages.append(Passage(target, scene.title, scene.chapter, scene_text(scene, work)))
            if scene.choices or scene.ending is not None:
                break
            nxt = self._route(scene, work)
            if nxt is None:
                break
            target = nxt
        return Frame(work.freeze(), tuple(passages))

    def _route(self, scene: Scene, env: _Mutable) -> str | None:
        eligible = open_routes(scene, _plain_holds(env))
        if not eligible:
            return None
        if scene.next:
            return eligible[0].goto
        self._drew = True
        rng = random.Random(f"{self.seed}/{env.turn_count}/{scene.id}/{env.visits(scene.id)}")
        return rng.choices(eligible, weights=[r.weight for r in eligible])[0].goto

    def _view(self, frame: Frame) -> View:
        state = frame.state
        scene = self.story.scenes[state.scene]
        head = (scene.id, scene.title, scene.chapter, frame.passages)
        turns = state.turn_count
        if scene.ending is not None:
            return View(*head, ending=scene.ending, offers=self._offers(scene), turns=turns)
        if not scene.choices:
            looped = scene.routes and len(frame.passages) >= MAX_AUTO_STEPS
            why = "a loop of scenes with no choice" if looped else f"no route of '{scene.id}' holds"
            return View(*head, stuck=why, turns=turns)
        choices = self._choices(scene, state)
        if not any(not c.locked for c in choices):
            why = f"no choice of '{scene.id}' can be taken"
            return View(*head, choices=choices, stuck=why, turns=turns)
        return View(*head, choices=choices, timer=self.story.timer_for(scene), turns=turns)

    def _choices(self, scene: Scene, state: State) -> tuple[ChoiceView, ...]:
        shown = listed_choices(scene, state, _plain_holds(state))
        default = next((c.id for c, locked in shown if c.default and not locked), None)
        if default is None:
            default = next((c.id for c, locked in shown if not locked), None)
        return tuple(
            ChoiceView(
                number=i,
                id=c.id,
                label=c.label.render(state),
                target=c.goto,
                locked=locked,
                reason=f"requires {c.requires.source}" if locked and c.requires else None,
                default=c.id == default,
                tags=c.tags,
            )
            for i, (c, locked) in enumerate(shown, start=1)
        )

    def _offers(self, scene: Scene) -> tuple[Offer, ...]:
        visited = {f.state.scene for f in self.frames[:-1]}
        offers = [s for s in scene.rewind if s in visited]
        return tuple(Offer(i, s, self.story.scenes[s].title) for i, s in enumerate(offers, start=1))

    # -- saving ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The whole playthrough as JSON-able data."""
        return {
            "format": "branching-playthrough/1",
            "story": self.story.id,
            "content_hash": self.story.content_hash,
            "seed": self.seed,
            "frames": [
                {**f.state.to_dict(), "passages": [[p.scene, p.text] for p in f.passages]}
                for f in self.frames
            ],
        }

    @classmethod
    def from_json(cls, story: Story, data: Mapping[str, Any]) -> Playthrough:
        """Restore a playthrough saved by `to_json` (or frames recorded by telemetry)."""
        from branching.play.restore import frames_from_json

        if not isinstance(data, Mapping) or not isinstance(data.get("frames"), list):
            raise SaveError("not a saved playthrough (no 'frames')")
        seed = data.get("seed", 0)
        if not isinstance(seed, int):
            raise SaveError("the saved seed is not an integer")
        run = cls(story, seed)
        run.frames = frames_from_json(story, data["frames"])
        if not run.frames:
            raise SaveError("the saved playthrough has no frames")
        return run
