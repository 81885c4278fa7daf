"""`coverage()`: every scene and choice of a story seen three ways, for the author before release.

1. **Statically reachable** (the explorer): can any playthrough get there at
   all? "unreachable" is a proof only when the exploration finished; a
   stopped one leaves the rest "unknown".
2. **Rarely reached** by N seeded simulated runs that prefer the option taken
   least so far (`least-used`, as ChoiceScript's randomtest does): how many of
   the runs got there. Reachable but reached by fewer than `rare` of the runs
   means a viewer will hardly ever see it.
3. **Never reached by real viewers** (telemetry, simulated sessions left out):
   how many times real viewers got there, when a database is named.

Each row gets one verdict, the worst that applies: `unreachable`, `never seen`
(reachable, but no real viewer got there), `rare`, or `ok`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from branching.analytics.filters import Filters
from branching.simulate.audience import Audience
from branching.simulate.run import simulate
from branching.story.model import Story
from branching.verify.explore import explore
from branching.verify.limits import default_max_memory

DEFAULT_RUNS = 200
DEFAULT_RARE = 0.05
VERDICTS = ("unreachable", "never seen", "rare", "ok")


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """One scene (choice None) or one choice, seen three ways."""

    scene: str
    choice: str | None
    title: str  # the scene's title, or the choice's label as written
    chapter: str | None
    static: str  # "reachable", "unreachable" or "unknown"
    runs: int  # simulated runs that reached it
    real: int | None  # times real viewers reached it (None: no database)
    verdict: str

    @property
    def kind(self) -> str:
        return "scene" if self.choice is None else "choice"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "scene": self.scene,
            "choice": self.choice,
            "title": self.title,
            "chapter": self.chapter,
            "static": self.static,
            "simulated_runs": self.runs,
            "real_viewers": self.real,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class Coverage:
    story_id: str
    title: str
    runs: int
    rare: float
    explored_complete: bool
    explored_states: int
    telemetry: str | None  # what the real-viewer column counts, None without a database
    rows: tuple[CoverageRow, ...]
    totals: dict[str, int] = field(default_factory=dict)

    def failing(self, fail_on: frozenset[str]) -> list[CoverageRow]:
        return [r for r in self.rows if r.verdict in fail_on]

    def as_dict(self) -> dict[str, Any]:
        return {
            "story": self.story_id,
            "title": self.title,
            "simulated_runs": self.runs,
            "rare_below": self.rare,
            "exploration_complete": self.explored_complete,
            "explored_states": self.explored_states,
            "telemetry": self.telemetry,
            "totals": self.totals,
            "rows": [r.as_dict() for r in self.rows],
        }


def coverage(
    story: Story,
    *,
    runs: int = DEFAULT_RUNS,
    rare: float = DEFAULT_RARE,
    seed: int = 0,
    db: str | Path | None = None,
    max_states: int | None = None,
) -> Coverage:
    """The coverage table of `story` (loaded without errors)."""
    # no bound on states by default (the explorer's memory limit protects), as `explore` does
    found = explore(
        story, max_states=max_states, max_memory=default_max_memory(), interruptible=True
    )
    scenes_seen, choices_seen = set(found.reached_scenes), set(found.reached_choices)
    complete = found.complete
    sim_scenes, sim_choices = _simulated(story, runs, seed)
    real_scenes: dict[str, int] | None = None
    real_choices: dict[tuple[str, str], int] | None = None
    telemetry = None
    if db is not None:
        real_scenes, real_choices, telemetry = _telemetry(story, db)
        if not real_scenes:
            real_scenes = real_choices = None  # nothing recorded yet: nothing to compare
    rows: list[CoverageRow] = []
    for scene in story.scenes.values():
        static = _static(scene.id in scenes_seen, complete)
        rows.append(
            _row(
                scene.id,
                None,
                scene.title,
                scene.chapter,
                static,
                sim_scenes[scene.id],
                None if real_scenes is None else real_scenes.get(scene.id, 0),
                runs,
                rare,
            )
        )
        for c in scene.choices:
            key = (scene.id, c.id)
            rows.append(
                _row(
                    scene.id,
                    c.id,
                    c.label.source,
                    scene.chapter,
                    _static(key in choices_seen, complete),
                    sim_choices[key],
                    None if real_choices is None else real_choices.get(key, 0),
                    runs,
                    rare,
                )
            )
    totals = Counter(r.verdict for r in rows)
    return Coverage(
        story.id,
        story.title,
        runs,
        rare,
        complete,
        found.states,
        telemetry,
        tuple(rows),
        {v: totals.get(v, 0) for v in VERDICTS},
    )


def _static(reached: bool, complete: bool) -> str:
    if reached:
        return "reachable"
    return "unreachable" if complete else "unknown"


def _row(
    scene: str,
    choice: str | None,
    title: str,
    chapter: str | None,
    static: str,
    runs_reached: int,
    real: int | None,
    runs: int,
    rare: float,
) -> CoverageRow:
    if static == "unreachable":
        verdict = "unreachable"
    elif real == 0:
        verdict = "never seen"
    elif runs_reached < rare * runs:
        verdict = "rare"
    else:
        verdict = "ok"
    return CoverageRow(scene, choice, title, chapter, static, runs_reached, real, verdict)


def _simulated(story: Story, runs: int, seed: int) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    """Per scene and choice, how many of `runs` least-used runs reached it."""
    audience = Audience(
        sessions=runs,
        viewers=runs,
        seed=seed,
        strategy="least-used",
        abandon=0.0,
        timeouts=0.0,
        back=0.0,
        pause=0.0,
        replay=0.0,
        rewind=0.0,
        start=date(2000, 1, 1),
        end=date(2000, 1, 1),
        attrs={},
    )
    scenes: Counter[str] = Counter()
    choices: Counter[tuple[str, str]] = Counter()
    batches = simulate(story, audience, shards=1)  # one stream: least-used covers best
    next(batches)  # the story's registration
    for ops in batches:
        seen_scenes = {op["scene"] for op in ops if op.get("type") == "scene_shown"}
        seen_choices = {
            (op["scene"], op["choice"])
            for op in ops
            if op.get("type") in ("choice_made", "timeout_default")
        }
        scenes.update(seen_scenes)
        choices.update(seen_choices)
    return scenes, choices


def _telemetry(
    story: Story, db: str | Path
) -> tuple[dict[str, int], dict[tuple[str, str], int], str]:
    """Times real viewers reached each scene and took each choice (simulated ones left out)."""
    from branching.analytics.filters import audience_counts
    from branching.analytics.flow import flow_graph
    from branching.analytics.source import open_readonly

    conn = open_readonly(db)
    try:
        real, _ = audience_counts(conn, story.id)
    finally:
        conn.close()
    if not real:
        return {}, {}, "no real viewer has played this story yet"
    graph = flow_graph(
        story.path or story.id, db=db, filters=Filters(audience="real"), unit="times"
    )
    scenes = {s.id: s.visits for s in graph.scenes.values() if not s.is_box}
    choices = {
        (s.id, e.choice): e.count for s in graph.scenes.values() for e in s.edges if e.choice
    }
    return scenes, choices, f"times real viewers got there ({real:,} sessions)"
