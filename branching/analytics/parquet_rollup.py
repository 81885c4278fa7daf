"""Flowchart figures from the aggregates in the Parquet export, on DuckDB.

`rollup.py` answers a flowchart in sessions or times from SQLite's aggregate
tables wherever they are split by what the filters select on; this is the
same answer over their copies in the export (`store.parquet_aggregates`,
written by the run that exported the events, so they agree with them), read
by DuckDB as views named like the tables (`DuckDbEngine.aggregates`): a few
hundred thousand rows summed, where the scan decodes and joins 4.7 million
events at ten million (1.1-2.3 s of CPU; this, ~0.1 s).

The same cases as SQLite, the same rows chosen (`rollup.class_where`) and
the same sums, so the same figures: the unit is `sessions` or `times` (by
viewers the events are scanned: the digests' lists of viewers are not
exported); `--since`/`--until` on whole UTC days; at most one `--where`, on
an attribute the aggregates keep; any version, `--first-only`, audience.
Anything else (or an export without the aggregates: older, or of a pruned
database) returns None and the caller scans the events, as before.

The distinct viewers of the selection (a header figure) are counted in the
exported sessions (as the scan does: `scan._with_sessions`); with
`--first-only` each viewer has one session, so they are the sessions.
"""

from __future__ import annotations

from branching.analytics.engines import DuckDbEngine, Row
from branching.analytics.filters import Filters, Unit, session_conditions
from branching.analytics.graph import Counts
from branching.analytics.rollup import class_where, scene_figures, why_not
from branching.analytics.source import Version


def parquet_counts(
    engine: DuckDbEngine, story_id: str, chosen: list[Version], filters: Filters, unit: Unit
) -> tuple[Counts | None, str]:
    """The counts from the export's aggregates, or (None, why not: the note SQLite
    prints when it reads the events for the same selection, "" when there is nothing
    worth saying, as for an export without the aggregates)."""
    if unit == "viewers" or not engine.aggregates():
        return None, ""
    why = why_scanned(engine, story_id, filters)
    if why:
        return None, why
    where, params = class_where(story_id, chosen, filters)
    return _counts(engine, where, params, unit, _viewers(engine, story_id, chosen, filters)), ""


def why_scanned(engine: DuckDbEngine, story_id: str, filters: Filters) -> str:
    """`rollup.answerable` over the export: "" when the aggregates are split by what
    `filters` select on (whole days, at most one `--where`, on a kept key), else the
    note SQLite prints when it reads the events instead, word for word."""

    def kept(key: str) -> bool | None:
        sql = "SELECT kept FROM agg_attr_keys WHERE story_id = ? AND key = ?"
        found = engine.rows(sql, [story_id, key])
        return bool(found[0][0]) if found else None

    return why_not(filters, kept)


# the three tables' rows of the selection in one query: edges, scenes, where sessions ended
_ROWS = """SELECT 'edge', scene, choice, target, SUM({n}), SUM({t}), SUM(times) FROM agg_edges
WHERE {where} GROUP BY 2, 3, 4 HAVING SUM(times) > 0
UNION ALL
SELECT 'scene', scene, NULL, NULL, SUM(views), SUM(sessions), SUM(sessions_timed_out)
FROM agg_scenes WHERE {where} GROUP BY 2
UNION ALL
SELECT 'end', last_scene, outcome, ending_id, SUM(sessions), 0, 0 FROM agg_sessions
WHERE {where} GROUP BY 2, 3, 4 HAVING SUM(sessions) > 0
ORDER BY 1, 2, 3, 4"""


def _counts(
    engine: DuckDbEngine, where: str, params: list[object], unit: Unit, viewers: int
) -> Counts:
    """`rollup._counts` over the export: the same sums, read in one query."""
    n, t = ("times", "timeouts") if unit == "times" else ("sessions", "sessions_timed_out")
    rows = engine.rows(_ROWS.format(n=n, t=t, where=where), [*params, *params, *params])
    edges: dict[tuple[str, str, str], tuple[int, int]] = {}
    scenes: list[Row] = []
    ends: list[Row] = []
    for row in rows:
        if row[0] == "edge":
            edges[(row[1], row[2], row[3])] = (int(row[4]), int(row[5]))
        else:
            (scenes if row[0] == "scene" else ends).append(row)
    visits, timed_out, views = scene_figures(((r[1], *r[4:]) for r in scenes), edges, unit)
    left: dict[str, int] = {}
    ended: dict[str, int] = {}
    sessions = completed = 0
    for _, last, outcome, ending, count, _, _ in ends:
        sessions += int(count)
        if outcome == "ending":
            completed += int(count)
            ended[ending] = ended.get(ending, 0) + int(count)
        elif last:
            left[last] = left.get(last, 0) + int(count)
    return Counts(
        edges,
        visits,
        left,
        sessions=sessions,
        viewers=viewers,
        completed=completed,
        ended=ended,
        timed_out=timed_out,
        views=views,
    )


def _viewers(engine: DuckDbEngine, story_id: str, chosen: list[Version], filters: Filters) -> int:
    """Distinct viewers of the selection: its sessions with `--first-only` (`rollup._viewers`),
    else counted in the exported sessions (a count of bits on DuckDB, `_bitmaps`)."""
    if filters.first_only:
        where, params = class_where(story_id, chosen, filters)
        found = engine.rows(
            f"SELECT COALESCE(SUM(sessions), 0) FROM agg_sessions WHERE {where}", params
        )
        return int(found[0][0])
    cond, params = session_conditions(story_id, chosen, filters)
    found = engine.rows(f"SELECT COUNT(DISTINCT s.viewer_id) FROM sessions s WHERE {cond}", params)
    return int(found[0][0])
