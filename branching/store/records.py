"""The plain values that cross the store's API: what players pass in and get back.

Frozen dataclasses, so players, the simulator and tests share one vocabulary
and nothing outside the store needs to know the schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class StoryInfo:
    """A story version as the store records it.

    `structure` is the JSON-able description of scenes, choices, routes,
    endings and chapters that analytics use to draw the flowchart from the
    database alone.
    """

    id: str
    title: str
    author: str | None
    version_label: str | None
    content_hash: str
    structure: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where an unfinished playthrough stopped, with the exact recorded state.

    `frames` are the state snapshots of the stops the engine keeps (each
    choice point or ending shown), oldest first, with whatever a go-back or a
    rewind undid removed: `Playthrough.from_json(story, {"seed": seed,
    "frames": list(frames)})` rebuilds the run. `scene` is the scene of the
    last frame and `state` the last state recorded.
    """

    session_id: str
    story_id: str
    content_hash: str
    seed: int | None
    scene: str
    state: dict[str, Any] | None
    last_seq: int
    started_at: str
    frames: tuple[dict[str, Any], ...] = ()
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ForgetResult:
    """What `forget` removed, and whether every byte is gone from the files."""

    sessions: int
    events: int
    spooled: int
    fully_erased: bool
    unfinished: int = 0  # of `sessions`, still in progress: their players' later ops are dropped


@dataclass(frozen=True, slots=True)
class PrunePlan:
    """What `prune` would drop: events before `cutoff`, the playthroughs they belong to."""

    cutoff: str
    events: int
    sessions: int
    unfinished: int  # of `sessions`, still in progress: they could no longer be resumed
    first: str | None
    last: str | None
    kept: int  # events recorded on or after the cutoff


@dataclass(frozen=True, slots=True)
class PruneResult:
    """How many raw events `prune` removed (their counts stay in the totals)."""

    events: int
    cutoff: str


@dataclass(frozen=True, slots=True)
class Refused:
    """Rows of a merge source left out, all for the same reason (the first rule broken)."""

    what: str  # "story version", "playthrough", "event" or "attribute"
    count: int
    reason: str
    events: int = 0  # for playthroughs: the source's events left out with them


@dataclass(frozen=True, slots=True)
class MergeResult:
    """What one source added to the target of a merge, and what it left out."""

    source: str
    stories: int
    sessions: int
    events: int
    conflicts: int
    source_pruned: bool
    refused: tuple[Refused, ...] = ()
