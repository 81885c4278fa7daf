"""The per-scene and per-choice figures of `branching stats`, as SQL over raw events.

Every query reads the chosen sessions as the CTE `picked` (`scan.ChosenSessions`,
the sessions the filters chose) and counts in the report's unit with
`tally`, so the same code answers "how many sessions" and "how many unique
viewers". The SQL is the portable kind `scan.py` writes (no TEMP table, no
SQLite-only function, booleans counted with CASE), so the same text runs on
SQLite, on DuckDB over the Parquet export and on Spark (`engines.py`), and a
figure cannot differ by engine. Each function returns rows in the story's
written order; nothing depends on the order an engine returns rows in.

Nothing here brings every event (or every value) into Python: counts are
GROUP BYs, and the time-to-decide percentiles are read from a histogram
(`store/sketch.py`) built from each distinct time's count, so memory stays
flat however many events there are. The units that reached each scene are
counted once per report and handed to the tables that divide by them
(`reached`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from branching.analytics.engines import Queryable, Row, query
from branching.analytics.filters import Unit, tally, tally_sessions
from branching.analytics.rows import (
    ChoiceShare,
    DropOff,
    EndingShare,
    Interaction,
    SceneReach,
    Timing,
)
from branching.analytics.scan import ChosenSessions, decide_bucket, picked_events
from branching.analytics.shape import Shape
from branching.store import sketch

_DECISION = "e.type IN ('choice_made', 'timeout_default')"
_SESSIONS = "FROM picked p JOIN sessions s ON s.session_id = p.session_id"


def _events(src: Queryable) -> str:
    """FROM the chosen sessions' events (`p`, `e`), each engine reading them its
    fastest way (`scan.picked_events`)."""
    return picked_events(src)


def _times(cond: str) -> str:
    """SQL counting the events that meet `cond` (a boolean summed the portable way)."""
    return f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)"


def overview(
    src: Queryable, chosen: ChosenSessions, unit: Unit
) -> tuple[int, int, int, int, str | None, str | None]:
    """(sessions, viewers, started and completed in the unit, first and last start)
    of the picked sessions, in one read of their rows."""
    ended = tally_sessions(unit, "s.outcome = 'ending'", alias="s")
    figures = f"""COUNT(*), COUNT(DISTINCT s.viewer_id), {ended},
        MIN(s.started_at), MAX(s.started_at)"""
    sessions, viewers, done, first, last = _sessions(src, chosen, figures)[0]
    started = viewers if unit == "viewers" else sessions
    return int(sessions), int(viewers), int(started), int(done or 0), first, last


def scene_counts(src: Queryable, chosen: ChosenSessions, unit: Unit) -> dict[str, tuple[int, int]]:
    """scene -> (units shown it, times it was shown), over the picked sessions."""
    return {
        r[0]: (int(r[1]), int(r[2]))
        for r in chosen.query(
            src,
            f"SELECT e.scene, {tally(unit)}, COUNT(*) {_events(src)} "
            "WHERE e.type = 'scene_shown' GROUP BY 1",
        )
    }


def reached_of(counts: Mapping[str, tuple[int, int]]) -> dict[str, int]:
    """scene -> units shown it, from `scene_counts`."""
    return {scene: n for scene, (n, _) in counts.items()}


def scene_reach(
    src: Queryable,
    chosen: ChosenSessions,
    shape: Shape,
    unit: Unit,
    base: int,
    counts: Mapping[str, tuple[int, int]] | None = None,
) -> list[SceneReach]:
    rows = scene_counts(src, chosen, unit) if counts is None else counts
    out = []
    for s in shape.scenes.values():
        reached, visits = rows.get(s.id, (0, 0))
        out.append(SceneReach(s.id, s.title, s.chapter, s.kind, reached, base, visits))
    return out


def _reached(
    src: Queryable, chosen: ChosenSessions, unit: Unit, reached: Mapping[str, int] | None
) -> Mapping[str, int]:
    return reached_of(scene_counts(src, chosen, unit)) if reached is None else reached


def choice_shares(
    src: Queryable,
    chosen: ChosenSessions,
    shape: Shape,
    unit: Unit,
    reached: Mapping[str, int] | None = None,
    taken: Mapping[tuple[str, str, str | None], tuple[int, int, int]] | None = None,
) -> list[ChoiceShare]:
    """Each choice's takers as a share of the units that reached its scene.

    `taken`: (scene, choice, target) -> (units, times, timeouts) counted
    already (by the aggregates, `stats_rollup`); else read here.
    """
    reached = _reached(src, chosen, unit, reached)
    if taken is None:
        taken = {
            (r[0], r[1], r[2]): (int(r[3]), int(r[4]), int(r[5]))
            for r in chosen.query(
                src,
                f"""SELECT e.scene, e.choice, e.target, {tally(unit)}, COUNT(*),
                   {_times("e.type = 'timeout_default'")} {_events(src)} WHERE {_DECISION}
                GROUP BY 1, 2, 3""",
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
                        key[2] or "",
                        n,
                        reached.get(scene.id, 0),
                        times,
                        timeouts,
                        retired=True,
                    )
                )
    return out


def _at(n: int, value: Callable[[int], float]) -> tuple[float | None, float | None]:
    """The median and 90th percentile of `n` sorted values, `value(i)` the i-th (from 0):
    the rank rule of the time-to-decide sketch (`store.sketch.at`)."""
    return sketch.at(n, value)


def median_p90(values: list[int]) -> tuple[float | None, float | None]:
    """The median and 90th percentile of `values` as the timing table reads them: from
    their histogram (`store.sketch`), so within a bucket's width of the exact figures."""
    return sketch.percentiles(sketch.histogram((v, 1) for v in values))


def decide_percentiles(
    src: Queryable, chosen: ChosenSessions
) -> dict[str, tuple[float | None, float | None]]:
    """scene -> (median, 90th percentile) milliseconds to decide, from the sketch.

    SQL counts each scene's times by the sketch's bucket (`scan.decide_bucket`:
    portable, `%` and no division, whose integer form differs by engine); Python
    reads the figures with `store.sketch.percentiles`, the function the
    aggregates' fast path (`agg_decide`) uses, so every source and path gives
    identical figures. What is held is one count per bucket, never every value.
    """
    buckets: dict[str, dict[int, int]] = {}
    for scene, ms, n in chosen.stream(
        src,
        f"""SELECT e.scene, {decide_bucket("e.decide_ms")}, COUNT(*) {_events(src)}
        WHERE e.type = 'choice_made' AND e.decide_ms IS NOT NULL GROUP BY 1, 2""",
    ):
        low = sketch.bucket(ms)
        held = buckets.setdefault(scene, {})
        held[low] = held.get(low, 0) + int(n)
    return {scene: sketch.percentiles(held) for scene, held in buckets.items()}


def timing(
    src: Queryable,
    chosen: ChosenSessions,
    shape: Shape,
    unit: Unit,
    counts: Mapping[str, tuple[int, int, int]] | None = None,
    ms: Mapping[str, tuple[float | None, float | None]] | None = None,
) -> list[Timing]:
    """Timeouts and time to decide at each choice point.

    Timeouts count over every decision; time to decide over the choices viewers
    made themselves (when the clock chose, nobody decided). `counts` (scene ->
    decisions, timeouts, units timed out) and `ms` (scene -> median, p90), when
    given, were counted already (`stats_rollup`); else they are read here.
    """
    if ms is None:
        ms = decide_percentiles(src, chosen)
    if counts is None:
        counts = {
            r[0]: (int(r[1]), int(r[2]), int(r[3]))
            for r in chosen.query(
                src,
                f"""SELECT e.scene, COUNT(*), {_times("e.type = 'timeout_default'")},
                   {tally(unit, "e.type = 'timeout_default'")} {_events(src)} WHERE {_DECISION}
                GROUP BY 1""",
            )
        }
    return [
        Timing(
            s.id,
            s.title,
            s.timer,
            *counts.get(s.id, (0, 0, 0)),
            *ms.get(s.id, (None, None)),
        )
        for s in shape.choice_points()
    ]


def dropoff(
    src: Queryable,
    chosen: ChosenSessions,
    shape: Shape,
    unit: Unit,
    reached: Mapping[str, int] | None = None,
    left: Mapping[str, tuple[int, int]] | None = None,
) -> list[DropOff]:
    """Who stopped at each scene without completing, of those who reached it.

    Every scene that is not an ending has a row; an ending has one only when
    someone went back from it and stopped there without completing. `left`
    (last scene -> units that stopped there, of them unfinished), when given,
    was counted already (`stats_rollup`).
    """
    reached = _reached(src, chosen, unit, reached)
    if left is None:
        left = {
            r[0]: (int(r[1]), int(r[2]))
            for r in chosen.query(
                src,
                f"""SELECT s.last_scene, {tally_sessions(unit)},
                   {tally_sessions(unit, "s.outcome = 'in_progress'")} {_SESSIONS}
                WHERE s.outcome <> 'ending' AND s.last_scene IS NOT NULL GROUP BY 1""",
            )
        }
    return [
        DropOff(s.id, s.title, reached.get(s.id, 0), *left.get(s.id, (0, 0)))
        for s in shape.scenes.values()
        if s.kind != "ending" or left.get(s.id, (0, 0))[0]
    ]


def endings(
    src: Queryable, chosen: ChosenSessions, shape: Shape, unit: Unit, base: int
) -> tuple[list[EndingShare], list[EndingShare]]:
    """Sessions (or viewers) by the ending they reached, and by the ending's kind."""
    by_ending, kinds = _ended(src, chosen, unit)
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
    for row in rows:
        kinds.setdefault(row.kind, 0)
    by_kind = [EndingShare(k, k, k, n, base) for k, n in sorted(kinds.items())]
    return rows, by_kind


def _ended(
    src: Queryable, chosen: ChosenSessions, unit: Unit
) -> tuple[dict[Any, tuple[str | None, int]], dict[str, int]]:
    """(ending id -> (its kind, the highest recorded; units)) in SQLite's order of
    groups (none first), and (kind, 'neutral' for none -> units), of the picked
    sessions that reached an ending. Sessions add up, so they are read once, by
    ending and kind; a viewer may count under two endings, so viewers twice."""
    ended = "s.outcome = 'ending'"
    by_ending: dict[Any, tuple[str | None, int]] = {}  # an id, or None (hand-edited rows)
    kinds: dict[str, int] = {}
    if unit == "sessions":
        for eid, kind, n in _sessions(
            src, chosen, "s.ending_id, s.ending_kind, COUNT(*)", ended, "GROUP BY 1, 2"
        ):
            top, total = by_ending.get(eid, (None, 0))
            if kind is not None and (top is None or kind > top):
                top = kind
            by_ending[eid] = (top, total + int(n))
            named = kind if kind is not None else "neutral"
            kinds[named] = kinds.get(named, 0) + int(n)
    else:
        count = tally_sessions(unit, alias="s")
        for eid, kind, n in _sessions(
            src, chosen, f"s.ending_id, MAX(s.ending_kind), {count}", ended, "GROUP BY 1"
        ):
            by_ending[eid] = (kind, int(n))
        for kind, n in _sessions(
            src, chosen, f"COALESCE(s.ending_kind, 'neutral'), {count}", ended, "GROUP BY 1"
        ):
            kinds[kind] = int(n)
    ordered = sorted(by_ending, key=lambda e: (e is not None, e or ""))  # NULL first
    return {e: by_ending[e] for e in ordered}, kinds


def _sessions(
    src: Queryable, chosen: ChosenSessions, select: str, where: str = "", group: str = ""
) -> list[Row]:
    """Rows of `SELECT select` over the picked sessions' own rows (`s`) that meet
    `where`, then `group`: by the sessions' condition when the chosen sessions
    carry one (no join back to them), else joined to `picked`."""
    if chosen.cond:
        both = f"{chosen.cond} AND {where}" if where else chosen.cond
        return query(src, f"SELECT {select} FROM sessions s WHERE {both} {group}", chosen.params)
    return chosen.query(src, f"SELECT {select} {_SESSIONS} WHERE {where or '1 = 1'} {group}")


def interactions(
    src: Queryable,
    chosen: ChosenSessions,
    shape: Shape,
    unit: Unit,
    reached: Mapping[str, int] | None = None,
    rows: Mapping[str, tuple[int, ...]] | None = None,
) -> list[Interaction]:
    """Rewinds back to each scene, pauses and skipped text reveals at it.

    `rows` (scene -> units that rewound, paused, skipped; then the times of
    each), when given, were counted already (`stats_rollup`).
    """
    reached = _reached(src, chosen, unit, reached)
    kinds = ("rewind", "pause", "reveal_skipped")
    if rows is None:
        rows = {
            r[0]: tuple(int(v) for v in r[1:])
            for r in chosen.query(
                src,
                f"""SELECT e.scene, {", ".join(tally(unit, f"e.type = '{k}'") for k in kinds)},
                   {", ".join(_times(f"e.type = '{k}'") for k in kinds)}
                {_events(src)} WHERE e.type IN ('rewind', 'pause', 'reveal_skipped')
                  AND e.scene IS NOT NULL
                GROUP BY 1""",
            )
        }
    out = []
    for s in shape.scenes.values():
        r = rows.get(s.id, (0, 0, 0, 0, 0, 0))
        out.append(
            Interaction(s.id, s.title, reached.get(s.id, 0), r[0], r[1], r[2], (r[3], r[4], r[5]))
        )
    return out
