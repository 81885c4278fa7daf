"""The plain values `branching stats` reports: one frozen dataclass per kind of row.

Every count is in the report's unit (sessions or unique viewers) unless the
field says otherwise (`decisions`, `events`), and every rate carries the
count it was computed over, so a renderer can always state the denominator
and hide small figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from branching.analytics.filters import Unit

# every table of `branching stats`, in the order it shows them
TABLES = (
    "overview",
    "reach",
    "choices",
    "timing",
    "dropoff",
    "endings",
    "paths",
    "interactions",
    "progress",
    "segments",
    "tags",
    "flags",
    "unreached",
)


@dataclass(frozen=True, slots=True)
class Overview:
    story_id: str
    title: str
    unit: Unit
    filters: str
    versions: tuple[str, ...]
    sessions: int  # sessions in the selection, whatever the unit
    viewers: int
    started: int  # in the unit: the denominator of reach, endings and completion
    completed: int  # in the unit: reached an ending
    first_started: str | None
    last_started: str | None
    pruned_choices: int  # choices whose raw events were pruned (not in these figures)

    @property
    def completion_rate(self) -> float | None:
        return self.completed / self.started if self.started else None


@dataclass(frozen=True, slots=True)
class SceneReach:
    scene: str
    title: str
    chapter: str | None
    kind: str
    reached: int  # units that entered the scene
    started: int  # the denominator: units that started a session
    visits: int  # every time it was shown (events)

    @property
    def share(self) -> float | None:
        return self.reached / self.started if self.started else None


@dataclass(frozen=True, slots=True)
class ChoiceShare:
    scene: str
    scene_title: str
    choice: str
    label: str
    target: str
    count: int  # units that took the choice
    base: int  # units that reached the scene
    times: int  # every time it was taken (events)
    timeouts: int  # times the clock took it (events)
    tags: tuple[str, ...] = ()
    retired: bool = False

    @property
    def share(self) -> float | None:
        return self.count / self.base if self.base else None


@dataclass(frozen=True, slots=True)
class Timing:
    """Decisions at one choice point: counted in decisions (events), not in the unit.

    `median_ms`/`p90_ms` are over the choices viewers made (not the timeouts).
    """

    scene: str
    title: str
    timer: float | None
    decisions: int
    timeouts: int
    timed_out: int  # units for whom the clock chose at least once here
    median_ms: float | None
    p90_ms: float | None

    @property
    def timeout_rate(self) -> float | None:
        return self.timeouts / self.decisions if self.decisions else None


@dataclass(frozen=True, slots=True)
class DropOff:
    scene: str
    title: str
    reached: int
    left: int  # stopped here without an ending (quit, abandoned, stuck or unfinished)
    unfinished: int  # of `left`: still in progress, may resume

    @property
    def rate(self) -> float | None:
        return self.left / self.reached if self.reached else None


@dataclass(frozen=True, slots=True)
class EndingShare:
    ending: str  # scene id, or kind for a row of the by-kind table
    title: str
    kind: str
    count: int
    started: int

    @property
    def share(self) -> float | None:
        return self.count / self.started if self.started else None


@dataclass(frozen=True, slots=True)
class PathShare:
    """A complete path: the choices taken (after rewinds) and the ending reached."""

    steps: tuple[str, ...]  # "Scene title: choice label"
    ending: str  # ending title; "" for the "other paths" row
    count: int
    completed: int  # the denominator: units that reached an ending
    other: bool = False  # the row that sums every path outside the top N

    @property
    def share(self) -> float | None:
        return self.count / self.completed if self.completed else None


@dataclass(frozen=True, slots=True)
class Interaction:
    scene: str
    title: str
    reached: int
    rewinds: int  # units that went back to this scene
    pauses: int  # units that paused here
    skips: int  # units that skipped the text reveal here
    events: tuple[int, int, int] = (0, 0, 0)  # rewinds, pauses, skips as events


@dataclass(frozen=True, slots=True)
class Progress:
    """Sessions by the number of choice points they passed (net of rewinds).

    One row is one depth (`upto` is None) or a bucket of depths `choices..upto`
    (see `walks.progress`); a viewer counts once per row.
    """

    choices: int
    ended: int  # units whose sessions with this many choices reached an ending
    left: int  # ... or stopped (quit, abandoned, stuck, unfinished)
    upto: int | None = None  # the bucket's last depth; None: the row is one depth


@dataclass(frozen=True, slots=True)
class Segment:
    dimension: str  # "region" (an attribute), "terminal", "platform", "hour", "weekday"...
    value: str
    count: int
    completed: int
    choices_per_session: float | None = None

    @property
    def completion_rate(self) -> float | None:
        return self.completed / self.count if self.count else None


@dataclass(frozen=True, slots=True)
class TagShare:
    tag: str
    where: str  # "choice": taken when offered; "scene": reached of started
    base: int
    count: int

    @property
    def share(self) -> float | None:
        return self.count / self.base if self.base else None


@dataclass(frozen=True, slots=True)
class Flag:
    kind: str  # "lopsided", "no-difference", "timeouts"
    scene: str
    title: str
    detail: str
    value: float | None = None
    proof: str = ""  # no-difference: "explorer" (proven on the story) or "observed" (sessions only)


@dataclass(frozen=True, slots=True)
class Report:
    """Everything `branching stats` shows, for one story and one selection of sessions."""

    overview: Overview
    reach: tuple[SceneReach, ...] = ()
    choices: tuple[ChoiceShare, ...] = ()
    timing: tuple[Timing, ...] = ()
    dropoff: tuple[DropOff, ...] = ()
    endings: tuple[EndingShare, ...] = ()
    ending_kinds: tuple[EndingShare, ...] = ()
    paths: tuple[PathShare, ...] = ()
    interactions: tuple[Interaction, ...] = ()
    progress: tuple[Progress, ...] = ()
    segments: tuple[Segment, ...] = ()
    tags: tuple[TagShare, ...] = ()
    flags: tuple[Flag, ...] = ()
    unreached_scenes: tuple[str, ...] = ()
    unreached_choices: tuple[tuple[str, str], ...] = field(default=())
