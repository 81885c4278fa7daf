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
no sum of class rows gives: `--by viewers` reads the digests
(`viewers_rollup.py`), whose class sums (times shown, taken, timed out) come
from here (`rolled_where`).

Every accelerator hands the report its figures in one shape, `Accelerated`
(here: what SQLite's aggregates, its digests by viewers and a Parquet
export's aggregates have in common), so the report picks its figures with
one rule: the accelerator's where it answers, else the scan's.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from branching.analytics.accelerated import (
    Accelerated,
    Acts,
    Left,
    Percentiles,
    SceneCounts,
    Taken,
    TimingCounts,
)
from branching.analytics.filters import Filters, Unit, session_conditions
from branching.analytics.flow_viewers import selection
from branching.analytics.rollup import answerable, class_where, session_ends
from branching.analytics.rows import PathShare, Progress
from branching.analytics.shape import Shape
from branching.analytics.source import Version
from branching.store import decide_acts, sketch
from branching.store.db import columns, has_table
from branching.store.digests import has_acts, names, outdated


@dataclass(frozen=True, slots=True)
class Rolled:
    """What `metrics` would have counted over the picked sessions' events and rows."""

    sessions: int
    completed: int
    scene_counts: SceneCounts
    taken: Taken  # decisions only (routes are not choices)
    timing: TimingCounts
    left: Left
    where: str  # `rollup.class_where` of the selection, for the readers below
    params: list[object]


def rolled_where(
    conn: sqlite3.Connection, story_id: str, chosen: list[Version], filters: Filters
) -> tuple[str, list[object]] | None:
    """`rollup.class_where` of the selection when the aggregates are split by it (the
    rows of `agg_*` to sum whatever the unit: times, decisions, time to decide), else None."""
    if not answerable(conn, story_id, filters)[0]:
        return None
    return class_where(story_id, chosen, filters)


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
    ends = session_ends(conn, where, params)
    return (
        Rolled(
            ends.sessions,
            ends.completed,
            scene_counts,
            taken,
            {s: (d, t, timed_out.get(s, 0)) for s, (d, t) in timing.items()},
            ends.left,
            where,
            params,
        ),
        "",
    )


# -- the per-session figures, from the digests the store keeps (`store/digests.py`) ----------


def has_digests(conn: sqlite3.Connection) -> bool:
    """False for a database read before its upgrade (m012 runs when a Store opens it), or
    one whose digests predate the rule that every session has one (`digests.outdated`)."""
    return has_table(conn, "session_digests") and not outdated(conn)


@dataclass(frozen=True, slots=True)
class Digested:
    """The chosen sessions joined to their digests (a session without one has digested nothing).

    `alone`: the same choice over the digests by themselves, named `s` as
    the sessions are, when they carry copies of every session column it and
    the per-session tables read (m015; None when not): those tables then
    read the digests without the sessions (`joined`, `column`).
    `digests`: how to read them alone, in table order. From m016 the digests
    have an index by story and viewer holding what a count of viewers reads
    (`VIEWER_ORDER`); SQLite would take it for any read of a story's digests
    and look up every row from it (at 10 M events 0.6-0.8 s of CPU where the
    table's own order takes 0.1-0.2), so the reads that need other columns
    name the table's key instead.
    """

    conn: sqlite3.Connection
    cond: str  # over `sessions s`, from `filters.session_conditions`
    params: list[object]
    unit: Unit
    sessions: str = "sessions s"  # how to read them: in id order when that is cheaper
    alone: tuple[str, list[object]] | None = None
    digests: str = "session_digests s"

    def count(self, cond: str = "1") -> str:
        """SQL counting the chosen sessions meeting `cond`, in the unit."""
        if self.unit == "viewers":
            return f"COUNT(DISTINCT CASE WHEN {cond} THEN s.viewer_id END)"
        return f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)"

    @property
    def joined(self) -> str:
        """The FROM clause: each chosen session `s` with its digest `d`, or (`alone`)
        the digests themselves as `s`."""
        if self.alone is not None:
            return self.digests
        return f"{self.sessions} LEFT JOIN session_digests d ON d.session_id = s.session_id"

    def column(self, name: str, empty: str = "0") -> str:
        """SQL for a digest's column `name` in `joined` (`empty` for a session without one)."""
        return f"s.{name}" if self.alone is not None else f"COALESCE(d.{name}, {empty})"

    @property
    def where(self) -> tuple[str, list[object]]:
        """The condition choosing the sessions in `joined`, and its parameters."""
        return self.alone or (self.cond, self.params)

    def read(self, select: str, tail: str = "", params: tuple[object, ...] = ()) -> sqlite3.Cursor:
        """`SELECT select` over `joined` (`params` go before the condition's)."""
        cond, mine = self.where
        return self.conn.execute(
            f"SELECT {select} FROM {self.joined} WHERE {cond} {tail}", [*params, *mine]
        )

    def rows(self, select: str, tail: str = "", params: tuple[object, ...] = ()) -> list[Any]:
        return self.read(select, tail, params).fetchall()

    def own(self, select: str, tail: str = "", *, copied: bool = False) -> list[Any]:
        """Rows of `SELECT select` over the chosen sessions' own rows (no digest);
        `copied`: `select` reads only columns the digests copy, so (`alone`) read those
        (counting viewers, only columns their index holds: read from it)."""
        if copied and self.alone is not None:
            cond, params = self.alone
            table = VIEWER_ORDER if self.unit == "viewers" else self.digests
        else:
            cond, params = self.cond, self.params
            table = "sessions s" if self.cond == _PLAIN else self.sessions
        return self.conn.execute(
            f"SELECT {select} FROM {table} WHERE {cond} {tail}", params
        ).fetchall()


_PLAIN = "s.story_id = ?"  # every session of the story: no filter at all
# the digests read from their index by story and viewer (m016), which holds their
# viewer, outcome, start, first play, audience, version, attributes and lists
VIEWER_ORDER = "session_digests s INDEXED BY session_digests_by_viewer"
# the digests read in the table's own order (its key: session id)
_TABLE_ORDER = "session_digests s INDEXED BY sqlite_autoindex_session_digests_1"


def digested(
    conn: sqlite3.Connection, story_id: str, chosen: list[Version], filters: Filters, unit: Unit
) -> Digested | None:
    """The chosen sessions' digests, or None when the database has none (read before m012).

    `--first-only` reads each viewer's first session from `agg_firsts` (the
    store keeps it by the rule `filters.session_conditions` states: earliest
    start, then id) instead of numbering every session of the story.
    """
    if not has_digests(conn):
        return None
    firsts = filters.first_only and has_table(conn, "agg_firsts")
    cond, params = session_conditions(
        story_id, chosen, replace(filters, first_only=False) if firsts else filters
    )
    alone = None
    mine, every = _shares(conn, story_id)
    # the story holds at least a quarter of the sessions, and no date range picks a few
    # of them through the sessions' index on the start
    most = mine * 4 >= every and not (filters.since or filters.until)
    # by viewers once the digests hold the viewer (m016); not for a story with few of the
    # file's sessions (the digests of every story would be read)
    viewers = has_acts(conn)
    if most and (unit == "sessions" or viewers) and has_copies(conn):
        alone = selection(story_id, chosen, filters, firsts=firsts)
    if firsts:
        cond += " AND s.session_id IN (SELECT f.session_id FROM agg_firsts f WHERE f.story_id = ?)"
        params = [*params, story_id]
    table = _TABLE_ORDER if viewers else "session_digests s"
    return Digested(conn, cond, params, unit, _in_id_order(conn, most), alone, table)


def has_copies(conn: sqlite3.Connection) -> bool:
    """Whether each digest carries its session's columns (m015)."""
    return "first_play" in columns(conn, "session_digests")


_BY_ID = "sqlite_autoindex_sessions_1"  # the sessions' primary key (session_id)


def _shares(conn: sqlite3.Connection, story_id: str) -> tuple[int, int]:
    """The story's sessions, and every session of the file."""
    ((mine,),) = conn.execute("SELECT COUNT(*) FROM sessions WHERE story_id = ?", [story_id])
    ((every,),) = conn.execute("SELECT COUNT(*) FROM sessions")
    return int(mine), int(every)


def _in_id_order(conn: sqlite3.Connection, most: bool) -> str:
    """How to read the story's sessions joined to their digests and attributes.

    Both are keyed by session id, and a session's row is where it was
    written, so reading the sessions in row order looks each digest up at
    random. Read in id order (the primary key's index), the lookups walk the
    digests' pages in order. That index holds every story's sessions, so it
    is taken when the story has at least a quarter of them and no date range
    picks sessions by their start (`most`).
    """
    if not most or not has_index(conn, _BY_ID):
        return "sessions s"
    return f"sessions s INDEXED BY {_BY_ID}"


def digest_overview(
    d: Digested, first_only: bool
) -> tuple[int, int, int, int, str | None, str | None]:
    """`metrics.overview` on SQLite: (sessions, viewers, started and completed in the
    unit, first and last start) in one read of the sessions, without sorting every
    session by viewer when it can be helped: with `--first-only` each viewer has
    one session; with no filter at all the viewer index (viewer, story) holds them
    in order. Counting viewers from m016, the digests' index by story and viewer
    holds every column this reads (and the selection's): it is read alone."""
    if d.unit == "viewers":
        ((n, viewers, done, first, last),) = d.own(
            """COUNT(*), COUNT(DISTINCT s.viewer_id),
            COUNT(DISTINCT CASE WHEN s.outcome = 'ending' THEN s.viewer_id END),
            MIN(s.started_at), MAX(s.started_at)""",
            copied=True,
        )
        return int(n), int(viewers), int(viewers), int(done or 0), first, last
    plain = d.cond == _PLAIN and has_index(d.conn, "sessions_by_viewer")
    if plain and not first_only and all(has_index(d.conn, name) for name in _PLAIN_INDEXES):
        return _plain_overview(d.conn, d.params)
    distinct = "" if first_only or plain else ", COUNT(DISTINCT s.viewer_id)"
    ((n, done, first, last, *rest),) = d.own(
        f"""COUNT(*), SUM(CASE WHEN s.outcome = 'ending' THEN 1 ELSE 0 END),
        MIN(s.started_at), MAX(s.started_at){distinct}""",
        copied=not distinct,
    )
    if first_only:
        viewers = n
    elif plain:
        ((viewers,),) = d.conn.execute(
            """SELECT COUNT(*) FROM (SELECT 1 FROM sessions s INDEXED BY sessions_by_viewer
            WHERE s.story_id = ? GROUP BY s.viewer_id)""",
            d.params,
        ).fetchall()
    else:
        (viewers,) = rest
    return int(n), int(viewers), int(n), int(done or 0), first, last


# the sessions' indexes that answer a whole story's overview without its rows (with
# `sessions_by_viewer`, which `plain` asks for already)
_PLAIN_INDEXES = ("sessions_by_outcome", "sessions_by_start")


def _plain_overview(
    conn: sqlite3.Connection, params: list[object]
) -> tuple[int, int, int, int, str | None, str | None]:
    """`digest_overview` of a whole story, by sessions, from the sessions' indexes alone:
    the sessions and those completed from the index by story and outcome, the first
    and last start from the index by start (its two ends), the viewers from the index
    by viewer. At 10 M events 0.05 s of CPU where reading every digest took 0.15.
    Where the store keeps the aggregates, the sessions and those completed are the
    sum of `agg_sessions`' whole-story rows (a few thousand) and the viewers the
    rows of `agg_firsts` (one per viewer of the story: `--first-only`'s list),
    both kept exact by every write path: 0.015 s where the indexes took 0.06."""
    kept = has_table(conn, "agg_sessions") and has_table(conn, "agg_firsts")
    ((n, done),) = conn.execute(
        """SELECT COALESCE(SUM(sessions), 0),
               SUM(CASE WHEN outcome = 'ending' THEN sessions ELSE 0 END)
        FROM agg_sessions WHERE story_id = ? AND attr_key = '' AND attr_value = ''"""
        if kept
        else """SELECT COUNT(*), SUM(outcome = 'ending') FROM sessions
        INDEXED BY sessions_by_outcome WHERE story_id = ?""",
        params,
    ).fetchall()
    ends = [
        conn.execute(
            f"""SELECT started_at FROM sessions INDEXED BY sessions_by_start
            WHERE story_id = ? ORDER BY started_at {way} LIMIT 1""",
            params,
        ).fetchone()
        for way in ("ASC", "DESC")
    ]
    ((viewers,),) = conn.execute(
        "SELECT COUNT(*) FROM agg_firsts WHERE story_id = ?"
        if kept
        else """SELECT COUNT(*) FROM (SELECT 1 FROM sessions s INDEXED BY sessions_by_viewer
        WHERE s.story_id = ? GROUP BY s.viewer_id)""",
        params,
    ).fetchall()
    first, last = (row[0] if row else None for row in ends)
    return int(n), int(viewers), int(n), int(done or 0), first, last


def has_index(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the database has the index `name` (an older file may lack one)."""
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", [name]
    ).fetchone()
    return found is not None


def _steps(book: dict[int, str | tuple[str, str]], path: str) -> tuple[tuple[str, str], ...]:
    out = []
    for code in json.loads(path):
        name = book.get(int(code))
        if isinstance(name, tuple):
            out.append(name)
    return tuple(out)


def digest_paths(d: Digested, shape: Shape, top: int, completed: int) -> list[PathShare]:
    """`walks.paths` from the digests: the `top` most common complete paths, then the rest.

    Ranked as the walk ranks them: by units, ties by the path's scenes and
    choices, then its ending.
    """
    from branching.analytics.walks import label_of  # (its imports: only here)

    book = names(d.conn)
    path = d.column("path", "'[]'")
    # by count, most first: only a path with at least the top-th largest count can rank
    # (ties at the cut all can), so the read stops at the first below it and Python holds
    # about `top` of the distinct paths (at 10 M events 226,000 of them), decoding just those
    groups = d.read(
        f"{path}, COALESCE(s.ending_id, ''), {d.count()}",
        "AND s.outcome = 'ending' GROUP BY 1, 2 ORDER BY 3 DESC",
    )
    kept: list[tuple[str, str, int]] = []
    least = 0
    more = False  # a path left below the cut
    for found, ending, n in groups:
        if len(kept) >= top and (top <= 0 or int(n or 0) < least):
            more = True
            break
        kept.append((found, ending, int(n or 0)))
        if len(kept) == top:
            least = int(n or 0)
    groups.close()
    ranked = heapq.nsmallest(
        top,
        ((_steps(book, path), ending, n, path) for path, ending, n in kept),
        key=lambda r: (-r[2], r[0], r[1]),
    )
    out = [
        PathShare(
            tuple(label_of(shape, s, c) for s, c in steps),
            shape.title_of(ending) if ending else "",
            n,
            completed,
        )
        for steps, ending, n, _ in ranked
    ]
    more = more or len(kept) > len(ranked)
    if more and d.unit == "sessions":  # sessions add up
        others = completed - sum(n for _, _, n, _ in ranked)
        out.append(PathShare((), "", others, completed, other=True))
    elif more:
        shown = " OR ".join(f"({path} = ? AND COALESCE(s.ending_id, '') = ?)" for _ in ranked)
        params = tuple(v for _, ending, _, path in ranked for v in (path, ending))
        ((others,),) = d.rows(
            d.count(f"s.outcome = 'ending' AND NOT ({shown or '1 = 0'})"), params=params
        )
        out.append(PathShare((), "", int(others or 0), completed, other=True))
    return out


def digest_progress(d: Digested) -> list[Progress]:
    """`walks.progress` from the digests: units by choice points passed, ended or not.

    Sessions add up across depths, so they are counted per depth in one read;
    a viewer counts once per bucket, so viewers are counted per bucket.
    """
    from branching.analytics.walks import depth_buckets  # (its imports: only here)

    if d.unit == "sessions":
        depth = d.column("depth")
        depths = d.rows(f"{depth}, s.outcome = 'ending', {d.count()}", "GROUP BY 1, 2")
        buckets = depth_buckets(max((int(r[0]) for r in depths), default=-1))
        lasts = [last for _, last in buckets]
        who: dict[tuple[int, bool], int] = {}
        for depth, ended, n in depths:
            i = bisect_left(lasts, int(depth))
            who[(i, bool(ended))] = who.get((i, bool(ended)), 0) + int(n or 0)
    else:
        depth = d.column("depth")
        ((most,),) = d.rows(f"MAX({depth})")
        buckets = depth_buckets(int(most) if most is not None else -1)
        if not buckets:
            return []
        bucket = " ".join(f"WHEN {depth} <= {last} THEN {i}" for i, (_, last) in enumerate(buckets))
        who = {
            (int(i), bool(ended)): int(n or 0)
            for i, ended, n in d.rows(
                f"CASE {bucket} END, s.outcome = 'ending', {d.count()}", "GROUP BY 1, 2"
            )
        }
    return [
        Progress(
            first, who.get((i, True), 0), who.get((i, False), 0), None if first == last else last
        )
        for i, (first, last) in enumerate(buckets)
    ]


# -- time to decide and interactions, from `agg_decide` and `agg_acts` (m013) -----------------

_ACT_ORDER = ("rewind", "pause", "reveal_skipped")  # `metrics.interactions`' column order


def rolled_percentiles(
    conn: sqlite3.Connection, where: str, params: list[object]
) -> Percentiles | None:
    """`metrics.decide_percentiles` from the sketch's buckets kept per class (`agg_decide`).

    `where`, `params`: `rollup.class_where` of an answerable selection. The
    buckets of its classes are summed and read by `sketch.percentiles`, the
    function the scan uses, so the figures are identical; a scene with no
    time recorded has no entry, as in the scan. None before m014 (packed buckets).
    """
    if not decide_acts.packed(conn):
        return None
    return percentiles_of(conn.execute(DECIDE_SQL.format(where=where), params))


# the buckets of the chosen classes (`rollup.class_where`), one packed text per class and
# scene (m014); and the interactions summed per scene and kind, in that order
DECIDE_SQL = "SELECT scene, buckets FROM agg_decide WHERE {where}"
ACTS_SQL = """SELECT scene, kind, SUM(sessions), SUM(times) FROM agg_acts WHERE {where}
GROUP BY 1, 2 HAVING SUM(times) > 0 ORDER BY 1, 2"""


def percentiles_of(rows: Iterable[tuple[Any, ...]]) -> Percentiles:
    """The percentiles per scene of `DECIDE_SQL`'s rows (SQLite's or the export's)."""
    summed = decide_acts.summed(rows)
    buckets = {s: {low: n for low, n in h.items() if n > 0} for s, h in summed.items()}
    return {scene: sketch.percentiles(held) for scene, held in buckets.items() if held}


def acts_of(rows: Iterable[tuple[Any, ...]]) -> Acts:
    """The interactions per scene of `ACTS_SQL`'s rows (SQLite's or the export's)."""
    found: dict[str, list[int]] = {}
    for scene, kind, sessions, times in rows:
        row = found.setdefault(str(scene), [0] * 6)
        i = _ACT_ORDER.index(kind)
        row[i], row[3 + i] = int(sessions), int(times)
    return {s: (r[0], r[1], r[2], r[3], r[4], r[5]) for s, r in found.items()}


def rolled_interactions(conn: sqlite3.Connection, where: str, params: list[object]) -> Acts | None:
    """What `metrics.interactions` counts per scene, in sessions, from `agg_acts`.

    (sessions with a rewind back to the scene, a pause at it, a skipped reveal
    at it, then the times of each), only for scenes with one of them, as the
    scan returns them; `where`, `params`: `rollup.class_where`. None before m013.
    """
    if not decide_acts.has_tables(conn):
        return None
    return acts_of(conn.execute(ACTS_SQL.format(where=where), params))


# -- the one shape a report reads every accelerator's figures in -----------------------------


def rolled_accelerated(
    conn: sqlite3.Connection, rolled: Rolled, *, timing: bool, acts: bool
) -> Accelerated:
    """The aggregates' figures (`rolled_figures`) as a report reads them, with `timing`
    the times to decide and with `acts` the interactions of the same classes."""
    return Accelerated(
        rolled.scene_counts,
        rolled.taken,
        rolled.timing,
        rolled_percentiles(conn, rolled.where, rolled.params) if timing else None,
        rolled_interactions(conn, rolled.where, rolled.params) if acts else None,
        rolled.left,
    )
