"""Flowchart figures from the aggregates (`store/aggregates.py`) instead of the events.

`rollup_counts` answers what `graph.event_counts` scans for, with the same
figures, whenever the selection is one the aggregates are split by:
- the unit is `sessions` or `times` (`viewers` needs distinct viewer ids per
  edge, which no sum of aggregates gives: `flow_viewers.viewer_counts` counts
  them from the session digests instead, for any filter);
- `--since`/`--until` fall on whole UTC days (the aggregates hold the day a
  session started; a time of day needs the exact start: the events are read,
  and a note says so);
- at most one `--where`, on an attribute kept in the aggregates (a key with
  more than `aggregates.ATTR_LIMIT` distinct values is not: the events are read, and a
  note says so; two or more `--where` are read from the events too);
- any version, `--first-only` and audience.

It returns the counts, or None with the note that explains the fallback
(empty when there is nothing worth saying). The distinct viewers of the
selection (a header figure) come from the digests (or the sessions), never the events.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from branching.analytics.filters import Filters, Unit, session_conditions
from branching.analytics.flow_viewers import selection, viewer_counts
from branching.analytics.graph import Counts
from branching.analytics.source import Version
from branching.store import aggregates
from branching.store.db import has_table
from branching.store.digests import has_acts, outdated

_MIDNIGHT = "T00:00:00.000Z"


def rollup_counts(
    conn: sqlite3.Connection, story_id: str, chosen: list[Version], filters: Filters, unit: Unit
) -> tuple[Counts | None, str]:
    """Counts from the aggregates, or (None, why not) when they cannot answer."""
    if unit == "viewers":
        return viewer_counts(conn, story_id, chosen, filters)
    ok, why = answerable(conn, story_id, filters)
    if not ok:
        return None, why
    where, params = class_where(story_id, chosen, filters)
    return _counts(conn, where, params, unit, _viewers(conn, story_id, chosen, filters)), ""


def answerable(conn: sqlite3.Connection, story_id: str, filters: Filters) -> tuple[bool, str]:
    """Whether the aggregates are split by what `filters` select on, and if not, why."""
    if not _has_aggregates(conn):
        return False, ""

    def kept(key: str) -> bool | None:
        sql = "SELECT kept FROM agg_attr_keys WHERE story_id = ? AND key = ?"
        row = conn.execute(sql, [story_id, key]).fetchone()
        return None if row is None else bool(row[0])

    why = why_not(filters, kept)
    return not why, why


def why_not(filters: Filters, kept: Callable[[str], bool | None]) -> str:
    """Why aggregates that hold whole UTC days and one kept attribute (`kept(key)`:
    whether the attribute's values are in them, None when it was never recorded)
    cannot answer `filters`, in the note a report prints when it reads the events
    instead; "" when they can. One wording for SQLite and a Parquet export."""
    for name, stamp in (("--since", filters.since), ("--until", filters.until)):
        if stamp and not stamp.endswith(_MIDNIGHT):
            return (
                f"{name} has a time of day: read from the raw events "
                "(the aggregates hold whole UTC days)"
            )
    if len(filters.where) > 1:
        return "several --where: read from the raw events (the aggregates hold one)"
    if filters.where and kept(key := filters.where[0][0]) is False:
        return (
            f"--where {key}: more than {aggregates.ATTR_LIMIT} distinct values, so not in the "
            "aggregates: read from the raw events"
        )
    return ""


def class_where(story_id: str, chosen: list[Version], filters: Filters) -> tuple[str, list[object]]:
    """SQL over the aggregate tables choosing the rows of the selection (see `answerable`)."""
    key, value = filters.where[0] if filters.where else ("", "")
    return _where(story_id, chosen, filters, key, value)


def _has_aggregates(conn: sqlite3.Connection) -> bool:
    """False for a database read before its upgrade (m011 runs when a Store opens it)."""
    return has_table(conn, "agg_sessions")


def _where(
    story_id: str, chosen: list[Version], filters: Filters, key: str, value: str
) -> tuple[str, list[object]]:
    sql = ["story_id = ? AND attr_key = ? AND attr_value = ?"]
    params: list[object] = [story_id, key, value]
    if filters.version:
        sql.append(f"content_hash IN ({', '.join('?' for _ in chosen)})")
        params += [v.content_hash for v in chosen]
    if filters.since:
        sql.append("day >= ?")
        params.append(filters.since[:10])
    if filters.until:
        sql.append("day < ?")
        params.append(filters.until[:10])
    if filters.first_only:
        sql.append("first_play = 1")
    if filters.audience in ("real", "simulated"):
        sql.append(f"simulated = {int(filters.audience == 'simulated')}")
    return " AND ".join(sql), params


def scene_figures(
    scenes: Iterable[Sequence[Any]],
    edges: Mapping[tuple[str, str, str], tuple[int, int]],
    unit: Unit,
) -> tuple[dict[str, int], dict[str, int], int]:
    """(visits, where the clock chose, scenes shown) from the summed rows of `agg_scenes`
    (scene, views, sessions, sessions timed out) and the edges' (count, timeouts): the
    same rule over SQLite's aggregates and their copies in a Parquet export."""
    visits: dict[str, int] = {}
    timed_out: dict[str, int] = {}
    views = 0
    for scene, shown, reached, clock in scenes:
        if shown:
            visits[scene] = int(shown if unit == "times" else reached)
            views += int(shown)
        if unit == "sessions":
            timed_out[scene] = int(clock)
    if unit == "times":  # every time the clock chose at a scene: its edges' timeouts
        for (scene, choice, _), (_, late) in edges.items():
            if choice:
                timed_out[scene] = timed_out.get(scene, 0) + late
    return visits, timed_out, views


def _counts(
    conn: sqlite3.Connection, where: str, params: list[object], unit: Unit, viewers: int
) -> Counts:
    n, t = ("times", "timeouts") if unit == "times" else ("sessions", "sessions_timed_out")
    edges = {
        (r[0], r[1], r[2]): (int(r[3]), int(r[4]))
        for r in conn.execute(
            f"""SELECT scene, choice, target, SUM({n}), SUM({t}) FROM agg_edges
            WHERE {where} GROUP BY 1, 2, 3 HAVING SUM(times) > 0""",
            params,
        )
    }
    scenes = conn.execute(
        f"""SELECT scene, SUM(views), SUM(sessions), SUM(sessions_timed_out) FROM agg_scenes
        WHERE {where} GROUP BY 1""",
        params,
    )
    visits, timed_out, views = scene_figures(scenes, edges, unit)
    ends = session_ends(conn, where, params)
    return Counts(
        edges,
        visits,
        {scene: n for scene, (n, _) in ends.left.items()},
        sessions=ends.sessions,
        viewers=viewers,
        completed=ends.completed,
        ended=ends.ended,
        timed_out=timed_out,
        views=views,
    )


@dataclass(frozen=True, slots=True)
class SessionEnds:
    """Where the selection's sessions stopped, from `agg_sessions`."""

    sessions: int
    completed: int
    ended: dict[str, int]  # ending id -> sessions that reached it
    left: dict[str, tuple[int, int]]  # last scene -> (sessions that stopped there, of them open)


def session_ends(conn: sqlite3.Connection, where: str, params: list[object]) -> SessionEnds:
    """The sessions of the aggregate rows `where` chooses (`class_where`), by how they ended."""
    left: dict[str, list[int]] = {}
    ended: dict[str, int] = {}
    sessions = completed = 0
    for last, outcome, ending, count in conn.execute(
        f"""SELECT last_scene, outcome, ending_id, SUM(sessions) FROM agg_sessions
        WHERE {where} GROUP BY 1, 2, 3 HAVING SUM(sessions) > 0""",
        params,
    ):
        sessions += int(count)
        if outcome == "ending":
            completed += int(count)
            ended[ending] = ended.get(ending, 0) + int(count)
        elif last:
            here = left.setdefault(last, [0, 0])
            here[0] += int(count)
            if outcome == "in_progress":
                here[1] += int(count)
    return SessionEnds(
        sessions, completed, ended, {scene: (n, open_) for scene, (n, open_) in left.items()}
    )


def _viewers(
    conn: sqlite3.Connection, story_id: str, chosen: list[Version], filters: Filters
) -> int:
    """Distinct viewers of the selection: with `--first-only` its sessions (each viewer
    has one first session); else counted in the digests' index by story and viewer
    (m016), which holds them in viewer order with every column a selection reads (at
    10 million events 0.09 s, where a distinct count over the sessions sorted 180,000
    viewer ids in 0.8 s); in the sessions for a file from before it."""
    if filters.first_only:
        where, params = _where(story_id, chosen, filters, *(filters.where or [("", "")])[0])
        row = conn.execute(
            f"SELECT COALESCE(SUM(sessions), 0) FROM agg_sessions WHERE {where}", params
        ).fetchone()
        return int(row[0])
    if has_table(conn, "session_digests") and not outdated(conn) and has_acts(conn):
        cond, params = selection(story_id, chosen, filters)
        read = "session_digests s INDEXED BY session_digests_by_viewer"
    else:
        cond, params = session_conditions(story_id, chosen, filters)
        read = "sessions s"
    row = conn.execute(f"SELECT COUNT(DISTINCT s.viewer_id) FROM {read} WHERE {cond}", params)
    return int(row.fetchone()[0])
