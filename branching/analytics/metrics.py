"""The per-scene and per-choice figures of `branching stats`, as SQL over raw events.

Every query joins the TEMP table `picked` (the sessions the filters chose, see
`filters.pick_sessions`) and counts in the report's unit with `tally`, so the
same code answers "how many sessions" and "how many unique viewers". Each
function returns rows in the story's written order.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections import defaultdict

from branching.analytics.filters import Unit, tally, tally_sessions
from branching.analytics.rows import (
    ChoiceShare,
    DropOff,
    EndingShare,
    Interaction,
    SceneReach,
    Timing,
)
from branching.analytics.shape import Shape

_JOIN = "FROM temp.picked p JOIN events e ON e.session_id = p.session_id"
_DECISION = "e.type IN ('choice_made', 'timeout_default')"


def started(conn: sqlite3.Connection, unit: Unit) -> tuple[int, int, int]:
    """(sessions, viewers, started in the unit) of the picked sessions."""
    sessions, viewers = conn.execute(
        "SELECT COUNT(*), COUNT(DISTINCT viewer_id) FROM temp.picked"
    ).fetchone()
    return int(sessions), int(viewers), int(viewers if unit == "viewers" else sessions)


def scene_reach(conn: sqlite3.Connection, shape: Shape, unit: Unit, base: int) -> list[SceneReach]:
    rows = {
        r[0]: (int(r[1]), int(r[2]))
        for r in conn.execute(
            f"SELECT e.scene, {tally(unit)}, COUNT(*) {_JOIN} WHERE e.type = 'scene_shown' "
            "GROUP BY 1"
        )
    }
    out = []
    for s in shape.scenes.values():
        reached, visits = rows.get(s.id, (0, 0))
        out.append(SceneReach(s.id, s.title, s.chapter, s.kind, reached, base, visits))
    return out


def _reached(conn: sqlite3.Connection, unit: Unit) -> dict[str, int]:
    return {
        r[0]: int(r[1])
        for r in conn.execute(
            f"SELECT e.scene, {tally(unit)} {_JOIN} WHERE e.type = 'scene_shown' GROUP BY 1"
        )
    }


def choice_shares(conn: sqlite3.Connection, shape: Shape, unit: Unit) -> list[ChoiceShare]:
    """Each choice's takers as a share of the units that reached its scene."""
    reached = _reached(conn, unit)
    taken = {
        (r[0], r[1], r[2]): (int(r[3]), int(r[4]), int(r[5]))
        for r in conn.execute(
            f"""SELECT e.scene, e.choice, e.target, {tally(unit)}, COUNT(*),
               SUM(e.type = 'timeout_default') {_JOIN} WHERE {_DECISION} GROUP BY 1, 2, 3"""
        )
    }
    out: list[ChoiceShare] = []
    for scene in shape.scenes.values():
        seen = set()
        for c in scene.choices:
            seen.add((scene.id, c.id, c.goto))
            n, times, timeouts = taken.get((scene.id, c.id, c.goto), (0, 0, 0))
            out.append(
                ChoiceShare(
                    scene.id,
                    scene.title,
                    c.id,
                    c.label,
                    c.goto,
                    n,
                    reached.get(scene.id, 0),
                    times,
                    timeouts,
                    c.tags,
                    c.retired,
                )
            )
        for key, (n, times, timeouts) in taken.items():
            if key[0] == scene.id and key not in seen:
                known = scene.choice(key[1])
                out.append(
                    ChoiceShare(
                        scene.id,
                        scene.title,
                        key[1],
                        known.label if known else key[1],
                        key[2],
                        n,
                        reached.get(scene.id, 0),
                        times,
                        timeouts,
                        retired=True,
                    )
                )
    return out


def median_p90(values: list[int]) -> tuple[float | None, float | None]:
    """The median and 90th percentile of `values`, interpolating between neighbours."""
    if not values:
        return None, None
    if len(values) == 1:  # `quantiles` wants two before Python 3.13
        return float(values[0]), float(values[0])
    p90 = statistics.quantiles(values, n=10, method="inclusive")[8]
    return float(statistics.median(values)), p90


def timing(conn: sqlite3.Connection, shape: Shape, unit: Unit) -> list[Timing]:
    """Timeouts and time to decide at each choice point.

    Timeouts count over every decision; time to decide over the choices viewers
    made themselves (when the clock chose, nobody decided).
    """
    ms: dict[str, list[int]] = defaultdict(list)
    for scene, value in conn.execute(
        f"SELECT e.scene, e.decide_ms {_JOIN} WHERE e.type = 'choice_made' "
        "AND e.decide_ms IS NOT NULL ORDER BY 1, 2"
    ):
        ms[scene].append(int(value))
    counts = {
        r[0]: (int(r[1]), int(r[2]), int(r[3]))
        for r in conn.execute(
            f"""SELECT e.scene, COUNT(*), SUM(e.type = 'timeout_default'),
               {tally(unit, "e.type = 'timeout_default'")} {_JOIN} WHERE {_DECISION}
        GROUP BY 1"""
        )
    }
    return [
        Timing(
            s.id,
            s.title,
            s.timer,
            *counts.get(s.id, (0, 0, 0)),
            *median_p90(ms[s.id]),
        )
        for s in shape.choice_points()
    ]


def dropoff(conn: sqlite3.Connection, shape: Shape, unit: Unit) -> list[DropOff]:
    """Who stopped at each scene without completing, of those who reached it.

    Every scene that is not an ending has a row; an ending has one only when
    someone went back from it and stopped there without completing.
    """
    reached = _reached(conn, unit)
    left = {
        r[0]: (int(r[1]), int(r[2]))
        for r in conn.execute(
            f"""SELECT s.last_scene, {tally_sessions(unit)},
               {tally_sessions(unit, "s.outcome = 'in_progress'")}
        FROM temp.picked p JOIN sessions s ON s.session_id = p.session_id
        WHERE s.outcome != 'ending' AND s.last_scene IS NOT NULL GROUP BY 1"""
        )
    }
    return [
        DropOff(s.id, s.title, reached.get(s.id, 0), *left.get(s.id, (0, 0)))
        for s in shape.scenes.values()
        if s.kind != "ending" or left.get(s.id, (0, 0))[0]
    ]


def endings(
    conn: sqlite3.Connection, shape: Shape, unit: Unit, base: int
) -> tuple[list[EndingShare], list[EndingShare]]:
    """Sessions (or viewers) by the ending they reached, and by the ending's kind."""
    by_ending = {
        r[0]: (r[1], int(r[2]))
        for r in conn.execute(
            f"""SELECT s.ending_id, MAX(s.ending_kind), {tally_sessions(unit)}
        FROM temp.picked p JOIN sessions s ON s.session_id = p.session_id
        WHERE s.outcome = 'ending' GROUP BY 1"""
        )
    }
    rows = []
    for scene in shape.endings():
        kind, n = by_ending.pop(scene.id, (scene.ending_kind, 0))
        rows.append(
            EndingShare(
                scene.id,
                scene.ending_title or scene.title,
                scene.ending_kind or kind or "neutral",
                n,
                base,
            )
        )
    rows += [
        EndingShare(eid, eid, kind or "neutral", n, base) for eid, (kind, n) in by_ending.items()
    ]
    kinds = {
        r[0]: int(r[1])
        for r in conn.execute(
            f"""SELECT COALESCE(s.ending_kind, 'neutral'), {tally_sessions(unit)}
        FROM temp.picked p JOIN sessions s ON s.session_id = p.session_id
        WHERE s.outcome = 'ending' GROUP BY 1"""
        )
    }
    for row in rows:
        kinds.setdefault(row.kind, 0)
    by_kind = [EndingShare(k, k, k, n, base) for k, n in sorted(kinds.items())]
    return rows, by_kind


def interactions(conn: sqlite3.Connection, shape: Shape, unit: Unit) -> list[Interaction]:
    """Rewinds back to each scene, pauses and skipped text reveals at it."""
    reached = _reached(conn, unit)
    rows = {
        r[0]: tuple(int(v) for v in r[1:])
        for r in conn.execute(
            f"""SELECT e.scene, {tally(unit, "e.type = 'rewind'")},
               {tally(unit, "e.type = 'pause'")}, {tally(unit, "e.type = 'reveal_skipped'")},
               SUM(e.type = 'rewind'),
               SUM(e.type = 'pause'), SUM(e.type = 'reveal_skipped')
        {_JOIN} WHERE e.type IN ('rewind', 'pause', 'reveal_skipped') AND e.scene IS NOT NULL
        GROUP BY 1"""
        )
    }
    out = []
    for s in shape.scenes.values():
        r = rows.get(s.id, (0, 0, 0, 0, 0, 0))
        out.append(
            Interaction(s.id, s.title, reached.get(s.id, 0), r[0], r[1], r[2], (r[3], r[4], r[5]))
        )
    return out
