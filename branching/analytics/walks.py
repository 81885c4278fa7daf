"""Figures that need each session's story in order: paths, progress, "no difference".

One pass over the events of the picked sessions, ordered by session and
sequence number, replays what the engine did:
- the path is the list of choices taken, with a rewind (or going back)
  removing the choices it undid, so a complete path is the way the viewer
  actually reached their ending;
- progress is the length of that path when the session stopped;
- for "choices that make no difference", each decision remembers the state
  the viewer was in when choosing and every (scene, variables) stop after it
  until the next rewind. Two choices at the same point, from the same
  variables, make no difference when every session that took either one later
  passed the same stop with the same variables: the branches rejoined with the
  same state. Visit counts are left out of "state" on purpose (two branches
  always visit different scenes); a later `chosen()` test could still tell the
  branches apart, so this is only a candidate: `no_difference` says "no
  difference" only where the explorer proved it on the story
  (`verify.choices`), drops the pairs it proved different, and words the rest
  for what they are (seen in N sessions, not proven).
  Events store the state as snapshots and patches, so the pass reads every
  event of a session and rebuilds the state as it goes (`store.states`).
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from branching.analytics.filters import Unit
from branching.analytics.rows import Flag, PathShare, Progress
from branching.analytics.shape import Shape
from branching.store.states import StateReader, dumps
from branching.verify.choices import ChoicePairVerdict

Stop = tuple[str, str]  # (scene, variables as JSON text)
_DECISIONS = ("choice_made", "timeout_default")
_WALKED = frozenset({*_DECISIONS, "rewind", "scene_shown", "ending_reached"})


def _stop(state: dict[str, Any] | None) -> Stop | None:
    """(scene, variables) of a recorded state, or None when it has neither."""
    if state is None:
        return None
    scene, variables = state.get("scene"), state.get("vars")
    if scene is None or variables is None:
        return None
    return (scene if isinstance(scene, str) else dumps(scene)), dumps(variables)


@dataclass
class _Session:
    viewer: str
    outcome: str
    ending: str | None
    steps: list[tuple[str, str]] = field(default_factory=list)
    stops: list[Stop] = field(default_factory=list)
    open: list[tuple[str, str, str, int]] = field(default_factory=list)  # scene, choice, pre, i
    last: Stop | None = None


@dataclass
class Walks:
    """What the pass collects; `paths`, `progress` and `no_difference` read it."""

    unit: Unit
    paths: dict[tuple[tuple[tuple[str, str], ...], str], set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )
    progress: dict[tuple[int, bool], set[str]] = field(default_factory=lambda: defaultdict(set))
    completed: set[str] = field(default_factory=set)
    common: dict[tuple[str, str], dict[str, set[Stop]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    decided: Counter[tuple[str, str]] = field(default_factory=Counter)  # (scene, choice) passes

    def close_decisions(self, s: _Session) -> None:
        for scene, choice, pre, index in s.open:
            future = set(s.stops[index:])
            group = self.common[(scene, pre)]
            group[choice] = group[choice] & future if choice in group else future
            self.decided[(scene, choice)] += 1
        s.open.clear()
        s.stops.clear()

    def finish(self, session_id: str, s: _Session) -> None:
        self.close_decisions(s)
        who = s.viewer if self.unit == "viewers" else session_id
        ended = s.outcome == "ending"
        self.progress[(len(s.steps), ended)].add(who)
        if ended:
            self.completed.add(who)
            self.paths[(tuple(s.steps), s.ending or "")].add(who)


def _rewind(s: _Session, scene: str) -> None:
    for i in range(len(s.steps) - 1, -1, -1):
        if s.steps[i][0] == scene:
            del s.steps[i:]
            break


def _step(
    walks: Walks, s: _Session, kind: str, scene: str | None, choice: str | None, stop: Stop | None
) -> None:
    if kind in _DECISIONS and scene and choice:
        s.steps.append((scene, choice))
        if s.last is not None and s.last[0] == scene:
            s.open.append((scene, choice, s.last[1], len(s.stops)))
    elif kind == "rewind" and scene:
        _rewind(s, scene)
        walks.close_decisions(s)
    if stop is not None:
        s.stops.append(stop)
        s.last = stop


def walk(conn: sqlite3.Connection, unit: Unit) -> Walks:
    """Replay every picked session once."""
    walks = Walks(unit)
    sessions = {
        r[0]: _Session(r[1], r[2], r[3])
        for r in conn.execute(
            """SELECT p.session_id, p.viewer_id, s.outcome, s.ending_id
        FROM temp.picked p JOIN sessions s ON s.session_id = p.session_id"""
        )
    }
    rows = conn.execute(
        """SELECT e.session_id, e.seq, e.type, e.scene, e.choice, e.state
        FROM temp.picked p JOIN events e ON e.session_id = p.session_id
        ORDER BY e.session_id, e.seq"""
    )
    reader, current = StateReader(), None
    for session_id, seq, kind, scene, choice, stored in rows:
        if session_id != current:
            reader, current = StateReader(), session_id
        state = reader.read_text(seq, stored)  # every event: each patches the one before
        if kind not in _WALKED:
            continue
        _step(walks, sessions[session_id], kind, scene, choice, _stop(state))
    for session_id, s in sessions.items():
        walks.finish(session_id, s)
    return walks


def _label(shape: Shape, scene: str, choice: str) -> str:
    found = shape.scenes.get(scene)
    c = found.choice(choice) if found else None
    return c.label if c else f"{scene}/{choice}"


def paths(walks: Walks, shape: Shape, top: int) -> list[PathShare]:
    """The `top` most common complete paths, then one row for all the others."""
    completed = len(walks.completed)
    counted = Counter({key: len(who) for key, who in walks.paths.items()})
    ranked = sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))
    out = [
        PathShare(
            tuple(_label(shape, s, c) for s, c in steps),
            shape.title_of(ending) if ending else "",
            n,
            completed,
        )
        for (steps, ending), n in ranked[:top]
    ]
    rest = ranked[top:]
    if rest:
        who: set[str] = set().union(*(walks.paths[key] for key, _ in rest))
        out.append(PathShare((), "", len(who), completed, other=True))
    return out


# up to this many choices, "how far sessions got" has a row per depth; deeper
# stories get buckets whose last depths run 0, 2, 5, 10, 20, 50, 100, 200...
EXACT_DEPTHS = 10


def depth_buckets(most: int) -> list[tuple[int, int]]:
    """(first, last) depth of each row needed to cover depths 0..`most`."""
    if most <= EXACT_DEPTHS:
        return [(n, n) for n in range(most + 1)]
    out, first, scale = [(0, 0)], 1, 1
    while first <= most:
        for step in (2, 5, 10):
            if first <= most:
                out.append((first, step * scale))
                first = step * scale + 1
        scale *= 10
    return out


def progress(walks: Walks) -> list[Progress]:
    """Units by choice points passed, split by whether they reached an ending.

    A row per depth for short stories; 1-2-5 buckets (0, 1-2, 3-5, 6-10, 11-20,
    21-50...) once a session passed more than `EXACT_DEPTHS` choice points. A
    bucket counts the distinct units in it, so a viewer whose sessions stopped
    at depths 3 and 4 counts once in 3-5.
    """
    most = max((n for n, _ in walks.progress), default=-1)
    buckets = depth_buckets(most)
    firsts = [first for first, _ in buckets]
    who: dict[tuple[int, bool], set[str]] = defaultdict(set)
    for (n, ended), units in walks.progress.items():
        who[(bisect_right(firsts, n) - 1, ended)] |= units
    return [
        Progress(first, len(who[(i, True)]), len(who[(i, False)]), None if first == last else last)
        for i, (first, last) in enumerate(buckets)
    ]


def observed_rejoins(walks: Walks) -> dict[tuple[str, str, str], Stop]:
    """(scene, a, b) -> a stop where their sessions met again with the same variables,
    for the pairs whose sessions always did (from every starting state seen)."""
    meets: dict[tuple[str, str, str], list[Stop | None]] = defaultdict(list)
    for (scene, _pre), group in walks.common.items():
        for a, b in combinations(sorted(group), 2):
            both = group[a] & group[b]
            meets[(scene, a, b)].append(min(both) if both else None)
    return {
        pair: min(m for m in seen if m is not None)
        for pair, seen in sorted(meets.items())
        if seen and all(m is not None for m in seen)
    }


def no_difference(
    walks: Walks,
    shape: Shape,
    verdicts: Mapping[tuple[str, str, str], ChoicePairVerdict] | None = None,
) -> list[Flag]:
    """Pairs of choices that make no difference, worded by how sure we are.

    With `verdicts` (the explorer's, on the story file): a pair proven `same`
    is flagged "no difference" (proof "explorer") whether or not sessions took
    it; a pair proven `differs` is never flagged; a pair the sessions always
    rejoined on but the explorer could not decide is flagged with what was seen
    (proof "observed") and why it is not proven. Without `verdicts` (the story
    was named by id: only its stored structure is known, not its conditions),
    every pair the sessions rejoined on is worded as seen, never as "always".
    """
    seen = observed_rejoins(walks)
    flags: dict[tuple[str, str, str], Flag] = {}
    for (scene, a, b), stop in seen.items():
        verdict = None
        if verdicts is not None:
            verdict = verdicts.get((scene, a, b)) or verdicts.get((scene, b, a))
        if verdict is not None and verdict.verdict == "differs":
            continue
        if verdict is not None and verdict.verdict == "same":
            continue  # flagged below, with the proof
        if verdicts is None:
            why = "the story was named by id: its stored structure has no conditions"
        elif verdict is None:
            why = "the story file has no such choices"
        else:
            why = verdict.why
        n = walks.decided[(scene, a)] + walks.decided[(scene, b)]
        flags[(scene, a, b)] = Flag(
            "no-difference",
            scene,
            shape.title_of(scene),
            f"all {n} times they were taken, viewers who took '{_label(shape, scene, a)}' or "
            f"'{_label(shape, scene, b)}' met again at '{shape.title_of(stop[0])}' with the "
            f"same variables (not proven: {why})",
            proof="observed",
        )
    for (scene, a, b), verdict in (verdicts or {}).items():
        if verdict.verdict == "same":
            flags[(scene, a, b)] = Flag(
                "no-difference",
                scene,
                shape.title_of(scene),
                f"'{_label(shape, scene, a)}' and '{_label(shape, scene, b)}' make no "
                "difference: whichever is taken, the story comes back to the same scenes in "
                f"the same state (proven over {verdict.states} "
                f"state{'s' if verdict.states != 1 else ''})",
                proof="explorer",
            )
    return [flags[k] for k in sorted(flags)]
