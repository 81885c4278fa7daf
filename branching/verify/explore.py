"""Exhaustive search of a story's (scene, state) space: what can be reached, and how.

The checker reasons about the graph and each variable's possible values on
their own; `explore` plays every playthrough at once, with the rules of the
engine (STORY-FORMAT.md, "Precise rules"): choices numbered as
players number them, `set` then `add`, visits counted on entry, `on_enter`,
`once`, `if`/`requires`, `next` taking the first route that holds and `random`
branching into *every* eligible route. For each ending it keeps the shortest
proof (fewest choices), and it reports the states that get stuck and the
conditions that met a division by zero.

It also says which scenes and choices can be reached and which cannot, the
states from which no ending can be reached any more (doomed), and the
deepest state (the longest of the shortest paths).

What a state keeps (only what conditions can observe, so equal futures share
one state and loops stay finite) and how a step changes it live in `space`;
states are packed into ints and stepped by `packed`; the sweeps over them
(scene by scene in topological order) live in `sweep`. Two counts are
reported: the states the proofs come from (merged where they differ only in
variables no way on reads), and optionally the raw count of full states
(every variable kept). Going back (`rewind`) returns to earlier states and
adds none.

The search stops early at `max_states` (it then still expands the states it
has), at a time or memory limit, or on Ctrl-C, and then returns everything
found so far with `complete` False and `stopped` saying why: nothing is ever
lost to a limit. The values it returns live in `findings`. Proofs are
replayable with `Playthrough.choose_number`; a path through a `random` scene
also lists the draws it needs. Headless core: standard library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from branching.story.model import Story
from branching.verify.findings import (
    ChoiceStep,
    Deepest,
    DoomedScene,
    EndingFound,
    Exploration,
    Proof,
    StuckState,
    ZeroDivision,
)
from branching.verify.limits import Limits, Watch, resident_bytes
from branching.verify.packed import Moves, PackOverflow
from branching.verify.space import StateSpace
from branching.verify.sweep import Reduced, count_raw

DEFAULT_MAX_STATES = 200_000

__all__ = [
    "ChoiceStep",
    "Deepest",
    "DoomedScene",
    "EndingFound",
    "Exploration",
    "Proof",
    "StuckState",
    "ZeroDivision",
    "explore",
]


def explore(
    story: Story,
    max_states: int | None = DEFAULT_MAX_STATES,
    *,
    max_seconds: float | None = None,
    max_memory: int | None = None,
    raw: bool = False,
    interruptible: bool = False,
    started: Callable[[], None] | None = None,
    counting: Callable[[Exploration], None] | None = None,
) -> Exploration:
    """Search every state of `story` (loaded without errors) reachable from its start.

    `raw` also counts the full states (every variable kept; at most 100 times
    `max_states` of them). `interruptible`: Ctrl-C stops the search cleanly;
    `started` is called once it does, `counting` with the findings once the
    search is complete and the count of full states begins.
    """
    watch = Watch(Limits(max_states, max_seconds, max_memory))
    if interruptible:
        with watch.catching_interrupts():
            if started is not None:
                started()
            return _explore(story, watch, raw, counting)
    if started is not None:
        started()
    return _explore(story, watch, raw, counting)


# ---------------------------------------------------------------- the search


def _explore(
    story: Story, watch: Watch, raw: bool, counting: Callable[[Exploration], None] | None
) -> Exploration:
    max_states = watch.limits.max_states
    search = Reduced(Moves(StateSpace(story)), watch, max_states)
    try:
        search.run()
    except PackOverflow:
        watch.stopped = "a value range too large to pack"
    except MemoryError:
        watch.out_of_memory()
    except KeyboardInterrupt:
        watch.stopped = "a Ctrl-C"
    seconds = watch.elapsed()
    complete = watch.stopped is None and not search.full
    found = _findings(story, search, complete, watch, seconds)
    search.moves.on_zero = None
    watch.reserve = None  # it holds the search
    del search  # the raw count needs the memory more than the proofs' parents do
    if not (raw and found.complete):
        return found
    if counting is not None:
        counting(found)
    if max_states is not None:
        watch.limits = Limits(max_states * 100, watch.limits.max_seconds, watch.limits.max_memory)
    began = watch.elapsed()
    try:
        raw_states, raw_complete = count_raw(Moves(StateSpace(story, raw=True)), watch)
    except KeyboardInterrupt:
        raw_states, raw_complete = 0, False
        watch.stopped = "a Ctrl-C"
    return replace(
        found,
        raw_states=raw_states,
        raw_complete=raw_complete,
        raw_seconds=watch.elapsed() - began,
        stopped=watch.stopped,
        peak_memory=max(found.peak_memory, watch.peak, resident_bytes()),
    )


def _findings(
    story: Story,
    search: Reduced,
    complete: bool,
    watch: Watch,
    seconds: float,
) -> Exploration:
    moves = search.moves
    info = search.info
    index = moves.index

    def proof(si: int, s: int) -> Proof:
        steps: list[ChoiceStep] = []
        draws: list[tuple[str, str]] = []
        for label in search.path(si, s):
            if label < 0:
                continue
            what = moves.labels[label]
            if what[0] == "choice":
                steps.append(ChoiceStep(what[1], int(what[2]), what[3]))
            else:
                draws.append((what[1], what[2]))
        return Proof(tuple(steps), tuple(draws))

    def nearest(si: int) -> int:
        return min(info[si], key=lambda s: info[si][s] & 0xFFFFFF)

    endings, unreached = [], []
    for scene in story.endings():
        si = index[scene.id]
        if info[si]:
            ending = scene.ending
            assert ending is not None
            endings.append(EndingFound(scene.id, ending.kind, ending.title, proof(si, nearest(si))))
        else:
            unreached.append(scene.id)
    stuck = [
        StuckState(moves.scenes[si].id, why, proof(si, s)) for (si, why), s in search.stuck.items()
    ]
    doomed: list[DoomedScene] = []
    if complete:
        trapped = search.trapped()
        lost = search.doomed() if trapped is not None else None
        if trapped is None or lost is None:  # the memory limit: nothing is lost, little proven
            complete = False
            watch.stopped = f"{watch.stopped} while looking for states with no way to an ending"
        else:
            stuck += [
                StuckState(moves.scenes[si].id, "a loop of scenes with no choice", proof(si, s))
                for si, s in trapped
            ]
            for si, states in lost.items():
                doomed.append(DoomedScene(moves.scenes[si].id, len(states), proof(si, states[0])))
    deepest: Deepest | None = None
    best = (-1, 0, 0)
    for si, held in enumerate(info):
        for s, inf in held.items():
            if inf & 0xFFFFFF > best[0]:
                best = (inf & 0xFFFFFF, si, s)
    if best[0] >= 0:
        deepest = Deepest(moves.scenes[best[1]].id, best[0], proof(best[1], best[2]))
    zero = [
        ZeroDivision(moves.scenes[si].id, where, source.strip(), proof(si, s))
        for (si, where, source), s in search.zero.items()
    ]
    taken = {(moves.scenes[si].id, moves.scenes[si].choices[ci].id) for si, ci in moves.taken}
    every = [(s.id, c.id) for s in story.scenes.values() for c in s.choices]
    return Exploration(
        story=story.id,
        endings=tuple(endings),
        unreached=tuple(unreached),
        stuck=tuple(stuck),
        zero_divisions=tuple(zero),
        states=search.states,
        complete=complete,
        max_states=search.max_states,
        stopped=watch.stopped,
        seconds=seconds,
        reached_scenes=tuple(s.id for s, states in zip(moves.scenes, info, strict=True) if states),
        unreached_scenes=tuple(
            s.id for s, states in zip(moves.scenes, info, strict=True) if not states
        ),
        reached_choices=tuple(c for c in every if c in taken),
        unreached_choices=tuple(c for c in every if c not in taken),
        doomed=tuple(doomed),
        deepest=deepest,
        peak_memory=max(watch.peak, resident_bytes()),
    )
