"""The figures of `branching stats` that the aggregates answer, without reading events.

`report.build_report` asks `rolled_figures` first. On SQLite, when the
selection is one the aggregates are split by (the rules of `rollup.py`:
counting sessions, whole-day `--since`/`--until`, at most one `--where` on a
kept attribute; any version, `--first-only`, audience), the per-scene and
per-choice tables come from `agg_scenes`, `agg_edges` and `agg_sessions`:
sums over a few hundred rows instead of a pass over ten million events. The
figures are the ones the scan (`metrics.py`) computes, in the same raw shapes
(`scene -> (units, times)` and so on), so the rows are built by the same code
either way; a test compares both on random selections.

Counting unique viewers needs distinct viewer ids per scene and choice, which
no sum of class rows gives: `--by viewers` reads the events.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from branching.analytics.filters import Filters, Unit
from branching.analytics.rollup import answerable, class_where
from branching.analytics.source import Version

SceneCounts = dict[str, tuple[int, int]]  # scene -> (units shown it, times shown)
# (scene, choice, target or None) -> (units that took it, times, times the clock chose it)
Taken = dict[tuple[str, str, str | None], tuple[int, int, int]]
TimingCounts = dict[str, tuple[int, int, int]]  # scene -> (decisions, timeouts, units timed out)
Left = dict[str, tuple[int, int]]  # last scene -> (units that stopped there, of them unfinished)


@dataclass(frozen=True, slots=True)
class Rolled:
    """What `metrics` would have counted over the picked sessions' events and rows."""

    sessions: int
    completed: int
    scene_counts: SceneCounts
    taken: Taken  # decisions only (routes are not choices)
    timing: TimingCounts
    left: Left
    by_ending: dict[str, int]  # ending id -> sessions that reached it


def rolled_figures(
    conn: sqlite3.Connection, story_id: str, chosen: list[Version], filters: Filters, unit: Unit
) -> tuple[Rolled | None, str]:
    """The aggregates' figures for the selection, or (None, why not)."""
    if unit != "sessions":
        return None, ""
    ok, why = answerable(conn, story_id, filters)
    if not ok:
        return None, why
    where, params = class_where(story_id, chosen, filters)
    scene_counts: SceneCounts = {}
    timed_out: dict[str, int] = {}
    for scene, views, reached, clock in conn.execute(
        f"""SELECT scene, SUM(views), SUM(sessions), SUM(sessions_timed_out) FROM agg_scenes
        WHERE {where} GROUP BY 1""",
        params,
    ):
        if views:
            scene_counts[scene] = (int(reached), int(views))
        if clock:
            timed_out[scene] = int(clock)
    taken: Taken = {}
    timing: dict[str, list[int]] = {}
    for scene, choice, target, n, times, clock in conn.execute(
        f"""SELECT scene, choice, target, SUM(sessions), SUM(times), SUM(timeouts)
        FROM agg_edges WHERE {where} AND choice <> '' GROUP BY 1, 2, 3 HAVING SUM(times) > 0""",
        params,
    ):
        taken[(scene, choice, target or None)] = (int(n), int(times), int(clock))
        row = timing.setdefault(scene, [0, 0])
        row[0] += int(times)
        row[1] += int(clock)
    left: dict[str, list[int]] = {}
    by_ending: dict[str, int] = {}
    sessions = completed = 0
    for last, outcome, ending, count in conn.execute(
        f"""SELECT last_scene, outcome, ending_id, SUM(sessions) FROM agg_sessions
        WHERE {where} GROUP BY 1, 2, 3 HAVING SUM(sessions) > 0""",
        params,
    ):
        sessions += int(count)
        if outcome == "ending":
            completed += int(count)
            by_ending[ending] = by_ending.get(ending, 0) + int(count)
        elif last:
            here = left.setdefault(last, [0, 0])
            here[0] += int(count)
            if outcome == "in_progress":
                here[1] += int(count)
    return (
        Rolled(
            sessions,
            completed,
            scene_counts,
            taken,
            {s: (d, t, timed_out.get(s, 0)) for s, (d, t) in timing.items()},
            {s: (n, open_) for s, (n, open_) in left.items()},
            by_ending,
        ),
        "",
    )
