"""What `explore` found, as values: proofs, endings, stuck and doomed states, counts.

Frozen dataclasses the search fills in and the CLI prints (`report()`, plain
words, one finding per line) or serialises (`as_dict()`, for `--format
json`). A finding listed was really found; when the search stopped early
(`complete` False, `stopped` saying why) what is missing is not proven
absent, and the report says so. Headless core: standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ChoiceStep:
    """One choice of a proof: its number as the player lists it, and its id."""

    scene: str
    number: int
    choice: str


@dataclass(frozen=True, slots=True)
class Proof:
    """How to get somewhere: the choices to take, and the random draws needed on the way."""

    steps: tuple[ChoiceStep, ...] = ()
    draws: tuple[tuple[str, str], ...] = ()  # (random scene, scene drawn), in order

    @property
    def numbers(self) -> list[int]:
        return [s.number for s in self.steps]

    @property
    def choices(self) -> list[str]:
        return [s.choice for s in self.steps]

    def __str__(self) -> str:
        text = (
            "choices " + ",".join(map(str, self.numbers)) + f" ({', '.join(self.choices)})"
            if self.steps
            else "at the start, no choice needed"
        )
        if self.draws:
            text += "; random draws " + ", ".join(f"{s} -> {g}" for s, g in self.draws)
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "numbers": self.numbers,
            "choices": self.choices,
            "scenes": [s.scene for s in self.steps],
            "draws": [list(d) for d in self.draws],
        }


@dataclass(frozen=True, slots=True)
class EndingFound:
    scene: str
    kind: str
    title: str
    path: Proof


@dataclass(frozen=True, slots=True)
class StuckState:
    scene: str
    reason: str
    path: Proof


@dataclass(frozen=True, slots=True)
class DoomedScene:
    """A scene where some states can no longer reach any ending: how many, and one path."""

    scene: str
    states: int
    path: Proof


@dataclass(frozen=True, slots=True)
class Deepest:
    """The state whose shortest path is the longest: its scene, depth (choices) and path."""

    scene: str
    depth: int
    path: Proof


@dataclass(frozen=True, slots=True)
class ZeroDivision:
    """A condition that divided by zero (so it counted as false) in a reachable state."""

    scene: str
    where: str
    condition: str
    path: Proof


@dataclass(frozen=True)
class Exploration:
    """What the search found. `complete` False: it stopped early (`stopped` says why), so
    nothing missing from it is proven absent; everything listed was really found."""

    story: str
    endings: tuple[EndingFound, ...]
    unreached: tuple[str, ...]  # ending scene ids never reached
    stuck: tuple[StuckState, ...]
    zero_divisions: tuple[ZeroDivision, ...]
    states: int
    complete: bool
    max_states: int | None
    stopped: str | None = None
    seconds: float = 0.0
    raw_states: int | None = None  # full states, every variable kept (None: not counted)
    raw_complete: bool = False
    raw_seconds: float = 0.0
    reached_scenes: tuple[str, ...] = ()
    unreached_scenes: tuple[str, ...] = ()
    reached_choices: tuple[tuple[str, str], ...] = ()
    unreached_choices: tuple[tuple[str, str], ...] = ()
    doomed: tuple[DoomedScene, ...] = ()
    deepest: Deepest | None = None
    peak_memory: int = 0

    @property
    def ok(self) -> bool:
        """The search finished, every ending is reachable, nothing is stuck or doomed."""
        return self.complete and not self.problems

    @property
    def problems(self) -> bool:
        """Something is wrong for sure: a stuck or doomed state, or (when complete) an
        ending nobody can reach."""
        return bool(self.stuck or self.doomed or (self.complete and self.unreached))

    @property
    def states_per_second(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0

    @property
    def raw_per_second(self) -> float:
        return (self.raw_states or 0) / self.raw_seconds if self.raw_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "story": self.story,
            "states": self.states,
            "raw_states": self.raw_states,
            "raw_complete": self.raw_complete,
            "complete": self.complete,
            "stopped": self.stopped,
            "max_states": self.max_states,
            "seconds": round(self.seconds, 3),
            "states_per_second": round(self.states_per_second),
            "raw_seconds": round(self.raw_seconds, 3),
            "raw_states_per_second": round(self.raw_per_second),
            "peak_memory_bytes": self.peak_memory,
            "endings": [
                {"scene": e.scene, "kind": e.kind, "title": e.title, "path": e.path.as_dict()}
                for e in self.endings
            ],
            "unreached": list(self.unreached),
            "scenes": {
                "reached": list(self.reached_scenes),
                "unreached": list(self.unreached_scenes),
            },
            "choices": {
                "reached": [list(c) for c in self.reached_choices],
                "unreached": [list(c) for c in self.unreached_choices],
            },
            "stuck": [
                {"scene": s.scene, "reason": s.reason, "path": s.path.as_dict()} for s in self.stuck
            ],
            "doomed": [
                {"scene": d.scene, "states": d.states, "path": d.path.as_dict()}
                for d in self.doomed
            ],
            "deepest": None
            if self.deepest is None
            else {
                "scene": self.deepest.scene,
                "depth": self.deepest.depth,
                "path": self.deepest.path.as_dict(),
            },
            "zero_divisions": [
                {
                    "scene": z.scene,
                    "where": z.where,
                    "condition": z.condition,
                    "path": z.path.as_dict(),
                }
                for z in self.zero_divisions
            ],
        }

    def report(self) -> str:
        """The findings in plain words, one per line."""
        lines = [self._headline()]
        if self.raw_states is not None:
            lines.append(
                f"Full states (every variable kept): {self.raw_states:,}"
                + ("" if self.raw_complete else f" at least (the count stopped at {self.stopped})")
                + f", {self.raw_per_second:,.0f}/s"
            )
        total = len(self.reached_scenes) + len(self.unreached_scenes)
        lines.append(f"Scenes reached: {len(self.reached_scenes)} of {total}")
        if self.unreached_scenes:
            lines.append(
                ("  never reached: " if self.complete else "  not reached so far: ")
                + ", ".join(self.unreached_scenes)
            )
        total = len(self.reached_choices) + len(self.unreached_choices)
        lines.append(f"Choices that can be taken: {len(self.reached_choices)} of {total}")
        if self.unreached_choices:
            lines.append(
                ("  never: " if self.complete else "  not so far: ")
                + ", ".join(f"{s}/{c}" for s, c in self.unreached_choices)
            )
        lines.append(
            f"Endings reached: {len(self.endings)} of {len(self.endings) + len(self.unreached)}"
        )
        lines += [f"  {e.scene} ({e.kind}: {e.title}): {e.path}" for e in self.endings]
        if self.unreached:
            lines.append(
                ("Endings never reached: " if self.complete else "Endings not reached so far: ")
                + ", ".join(self.unreached)
            )
        if self.deepest is not None:
            d = self.deepest
            lines.append(f"Deepest state: {d.depth} choice(s), at {d.scene}: {d.path}")
        for s in self.stuck:
            lines.append(f"Stuck at {s.scene}: {s.reason}; reached by {s.path}")
        for m in self.doomed:
            lines.append(
                f"No ending can be reached any more from {m.states:,} state(s) at {m.scene};"
                f" one is reached by {m.path}"
            )
        for z in self.zero_divisions:
            lines.append(
                f"Division by zero at {z.scene} in {z.where} '{z.condition}'; reached by {z.path}"
            )
        if not self.complete:
            lines.append("INCOMPLETE: " + self._why())
        elif self.raw_states is not None and not self.raw_complete:
            lines.append(
                f"INCOMPLETE: the count of full states stopped at {self.stopped}; "
                "the search itself finished, so every finding above is proven."
            )
        return "\n".join(lines)

    def _headline(self) -> str:
        speed = f" in {self.seconds:.1f} s ({self.states_per_second:,.0f}/s)"
        if self.complete:
            return f"Explored {self.states:,} state(s){speed}; the search is complete."
        return f"Explored {self.states:,} state(s){speed}; " + self._why()

    def _why(self) -> str:
        reason = self.stopped or (
            f"the limit of {self.max_states:,} states" if self.max_states else "a limit"
        )
        return (
            f"stopped at {reason}: the search is not complete, so nothing below is proven absent."
        )
