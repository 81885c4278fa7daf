"""The flowchart's figures read from the raw events, in portable SQL: one definition.

These queries run unchanged on SQLite, on DuckDB over the Parquet export and
on Spark SQL (`engines.py`), so a figure cannot differ by engine. What keeps
them portable: plain SELECTs; the chosen sessions as a CTE, `picked`, put in
front of every query (never a TEMP table); `?` parameters for every value;
only functions the three share (COUNT, SUM, COALESCE, CASE, LEAD,
ROW_NUMBER); GROUP BY by position.

On SQLite they are the scan path: the figures the running totals and the
aggregates (`graph.totals_counts`, `rollup.py`) cannot answer. On the Parquet
engines they answer every flowchart.

Two departures, DuckDB's own SQL for speed, held equal to the portable
queries by the tests: the flowchart's figures in one pass (`_one_pass`), and
the stats tables' per-scene, per-choice and per-tag figures in one pass
(`event_figures`), each counting distinct sessions (or viewers) as bitmaps.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace

from branching.analytics.engines import Queryable, Row, query, stream
from branching.analytics.filters import Filters, Unit, session_conditions, tally, tally_sessions
from branching.analytics.graph import Counts, EdgeKey
from branching.analytics.shape import SEEN_LABELS, Shape, apply_seen_labels
from branching.analytics.source import Version
from branching.store import sketch
from branching.store.sketch import FINE, MEDIUM

_CHOICE_TYPES = "('choice_made', 'timeout_default', 'route_taken')"
_JOIN_EVENTS = "FROM picked p JOIN events e ON e.session_id = p.session_id"
_JOIN_SESSIONS = "FROM picked p JOIN sessions s ON s.session_id = p.session_id"


@dataclass(frozen=True, slots=True)
class ChosenSessions:
    """The chosen sessions as a CTE (`picked(session_id, viewer_id)`) and its parameters."""

    sql: str
    params: tuple[object, ...]
    cond: str = ""  # the condition over `sessions s` it holds (see `picked`), if any

    def query(self, src: Queryable, body: str, params: tuple[object, ...] = ()) -> list[Row]:
        """Rows of `body` (which reads `picked`) with the CTE in front."""
        return query(src, f"WITH {self.sql}\n{body}", (*self.params, *params))

    def stream(self, src: Queryable, body: str, params: tuple[object, ...] = ()) -> Iterator[Row]:
        """`query`'s rows one at a time (`engines.stream`)."""
        return stream(src, f"WITH {self.sql}\n{body}", (*self.params, *params))


def picked_events(src: Queryable, table: str = "events e") -> str:
    """FROM the chosen sessions `p` joined to a table of their rows (`events e`).

    The same inner join on every engine; on SQLite, written so that it reads
    `picked` first, in session order (`CROSS JOIN` fixes the order of the loops
    there, and `LIMIT -1`, no limit, keeps the ordered subquery whole), and each
    chosen session's rows by the primary key: left to itself SQLite scans every
    event of the database to find those of a small selection (0.29 s against
    0.06 s for one GROUP BY over a week of 1.1 M events), and in the sessions'
    index order it reads the events' pages at random (twice as slow over ten
    million events as in the events' own order).
    """
    alias = table.split()[-1]
    if getattr(src, "dialect", "sqlite") == "sqlite":
        return (
            "FROM (SELECT session_id, viewer_id FROM picked ORDER BY session_id LIMIT -1) p "
            f"CROSS JOIN {table} ON {alias}.session_id = p.session_id"
        )
    return f"FROM picked p JOIN {table} ON {alias}.session_id = p.session_id"


def picked(story_id: str, chosen: list[Version], filters: Filters) -> ChosenSessions:
    """The sessions of `story_id` that `filters` choose."""
    cond, params = session_conditions(story_id, chosen, filters)
    return ChosenSessions(f"picked AS ({_picking(cond)})", tuple(params), cond)


def picked_where(cond: str, params: Sequence[object]) -> ChosenSessions:
    """The sessions meeting `cond` over `sessions s`, e.g. the same choice as `picked`
    written another way (SQLite's `--first-only` by the store's `agg_firsts`, not by
    numbering every session of the story: 1.8 s -> 0.6 s for the endings at 10 M)."""
    return ChosenSessions(f"picked AS ({_picking(cond)})", tuple(params), cond)


def _picking(cond: str) -> str:
    return f"SELECT s.session_id, s.viewer_id FROM sessions s WHERE {cond}"


# DuckDB keeps the chosen sessions in a table of the connection for the queries that follow
_KEPT = "CREATE OR REPLACE TEMP TABLE chosen_sessions AS "
Labels = list[tuple[str, str, str, int]]  # scene, choice, label, count: `apply_seen_labels`


def event_counts(src: Queryable, chosen: ChosenSessions, unit: Unit) -> Counts:
    """Counts in `unit` over the chosen sessions' events.

    A session completed when its outcome is `ending`; one that did not "left"
    at its last scene shown. On DuckDB the events are read in one pass
    (`_one_pass`); elsewhere by the portable queries below, figure by figure.
    """
    if getattr(src, "dialect", "sqlite") == "duckdb":
        return _one_pass(src, chosen, unit, None)[0]
    edges = {
        (str(r[0]), str(r[1]), str(r[2])): (int(r[3]), int(r[4]))
        for r in chosen.query(
            src,
            f"""SELECT e.scene, COALESCE(e.choice, ''), COALESCE(e.target, ''), {tally(unit)},
                   {tally(unit, "e.type = 'timeout_default'")}
            {_JOIN_EVENTS} WHERE e.type IN {_CHOICE_TYPES} GROUP BY 1, 2, 3""",
        )
    }
    visits: dict[str, int] = {}
    views = 0
    for scene, n, shown in chosen.query(
        src,
        f"""SELECT e.scene, {tally(unit)}, COUNT(*) {_JOIN_EVENTS}
        WHERE e.type = 'scene_shown' GROUP BY 1""",
    ):
        visits[scene] = int(n)
        views += int(shown)
    timed_out = {
        r[0]: int(r[1])
        for r in chosen.query(
            src,
            f"""SELECT e.scene, {tally(unit, "e.type = 'timeout_default'")} {_JOIN_EVENTS}
            WHERE e.type IN ('choice_made', 'timeout_default') GROUP BY 1""",
        )
    }
    return _with_sessions(
        src, chosen, unit, Counts(edges, visits, {}, timed_out=timed_out, views=views)
    )


def counts_and_labels(
    src: Queryable, chosen: ChosenSessions, unit: Unit, hashes: list[str]
) -> tuple[Counts, Labels]:
    """`event_counts` and the labels viewers saw (`seen_labels`' rows) in one pass over
    the events, on DuckDB. The labels count every session of the versions `hashes`, so
    the events the engine reads must be all the story's (no `--since` day scope)."""
    counts, labels = _one_pass(src, chosen, unit, hashes)
    if labels is None:  # no session chosen: nothing was read
        marks = ", ".join("?" for _ in hashes)
        found = query(src, _LABELS.format(marks=marks), hashes) if hashes else []
        labels = [(r[0], r[1], r[2], int(r[3])) for r in found]
    return counts, labels


def _with_sessions(src: Queryable, chosen: ChosenSessions, unit: Unit, counts: Counts) -> Counts:
    """`counts` with the figures of the chosen sessions themselves: where they stopped
    or ended, how many there are, how many viewers, how many completed."""
    stopped = {
        r[0]: int(r[1])
        for r in chosen.query(
            src,
            f"""SELECT s.last_scene, {tally_sessions(unit)} {_JOIN_SESSIONS}
            WHERE s.outcome <> 'ending' AND s.last_scene IS NOT NULL GROUP BY 1""",
        )
    }
    ended = {
        str(r[0]): int(r[1])
        for r in chosen.query(
            src,
            f"""SELECT s.ending_id, {tally_sessions(unit)} {_JOIN_SESSIONS}
            WHERE s.outcome = 'ending' GROUP BY 1""",
        )
    }
    sessions, viewers, completed = chosen.query(
        src,
        f"""SELECT COUNT(*), COUNT(DISTINCT p.viewer_id),
               {tally_sessions(unit, "s.outcome = 'ending'")} {_JOIN_SESSIONS}""",
    )[0]
    return replace(
        counts,
        stopped=stopped,
        sessions=int(sessions),
        viewers=int(viewers),
        completed=int(completed or 0),
        ended=ended,
    )


# `_with_sessions`' three figures in one read of the chosen sessions kept with their
# outcome (`_keep_chosen`, keyed), no join back to the sessions
_KEPT_FIGURES = """SELECT 'stopped', p.last_scene, {tally}, 0, 0 FROM chosen_sessions p
WHERE p.outcome <> 'ending' AND p.last_scene IS NOT NULL GROUP BY p.last_scene
UNION ALL
SELECT 'ended', p.ending_id, {tally}, 0, 0 FROM chosen_sessions p
WHERE p.outcome = 'ending' GROUP BY p.ending_id
UNION ALL
SELECT 'all', NULL, COUNT(*), COUNT(DISTINCT p.viewer_id), {completed} FROM chosen_sessions p"""


def _kept_sessions(src: Queryable, unit: Unit, counts: Counts) -> Counts:
    """`_with_sessions` over the chosen sessions `_keep_chosen` kept with their outcome,
    ending and last scene (a keyed export, DuckDB): the same figures in one query."""
    stopped: dict[str, int] = {}
    ended: dict[str, int] = {}
    sessions = viewers = completed = 0
    sql = _KEPT_FIGURES.format(
        tally=tally_sessions(unit), completed=tally_sessions(unit, "p.outcome = 'ending'")
    )
    for kind, at, n, who, done in query(src, sql):
        if kind == "stopped":
            stopped[at] = int(n)
        elif kind == "ended":
            ended[str(at)] = int(n)
        else:
            sessions, viewers, completed = int(n), int(who), int(done or 0)
    return replace(
        counts,
        stopped=stopped,
        sessions=sessions,
        viewers=viewers,
        completed=completed,
        ended=ended,
    )


# what a distinct chosen session (or viewer) is numbered by, 1 to the sessions chosen
_NUMBERED = {
    "sessions": "DENSE_RANK() OVER (ORDER BY {key})",
    "viewers": "CASE WHEN viewer_id IS NOT NULL THEN DENSE_RANK() OVER (ORDER BY viewer_id) END",
    "times": "CAST(NULL AS BIGINT)",
}
# the labels of the choices viewers made, as the running total `choice_labels` counts them
_LABEL = """CASE WHEN e.label IS NOT NULL AND e.choice IS NOT NULL
    AND e.type IN ('choice_made', 'timeout_default') AND e.content_hash IN ({marks})
    THEN e.label END"""
# (the conditions on the events themselves, so that DuckDB skips what holds no label)
_LABELS = """SELECT e.scene, e.choice, e.label, COUNT(*) FROM events e
WHERE e.label IS NOT NULL AND e.choice IS NOT NULL
  AND e.type IN ('choice_made', 'timeout_default') AND e.content_hash IN ({marks})
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""
# DuckDB: every event figure in one pass. Each cell (scene shown, or edge) counts its
# events and keeps a bitmap of the sessions (viewers) it saw: the distinct count is the
# bitmap's bits, and a scene's sessions that timed out are its edges' bitmaps OR-ed
# together, so nothing holds a row per session and event (COUNT DISTINCT over ten
# million events would, and take seconds). The sessions join on their integer key.
# With the labels (`{label}` not NULL), every event of the story is read (the chosen
# sessions' have `p.k`) and grouped a second way, by the label seen.
_ONE_PASS = """, numbered AS (SELECT {key} AS k, {who} AS who FROM chosen_sessions),
seen AS (
    SELECT e.type AS type, e.type = 'scene_shown' AS shown, e.scene AS scene,
           COALESCE(e.choice, '') AS choice, COALESCE(e.target, '') AS target,
           {label} AS label, p.k IS NOT NULL AS picked, p.who AS who
    FROM events e {join} numbered p ON e.{key} = p.k
    WHERE e.type IN ({kinds})),
cells AS MATERIALIZED (
    SELECT {cell} AS cell, shown, scene, choice, target, {label_column} AS label,
           COUNT(*) FILTER (WHERE picked) AS times,
           COUNT(*) FILTER (WHERE picked AND type = 'timeout_default') AS timeouts,
           COUNT(*) FILTER (WHERE picked AND type IN ('choice_made', 'timeout_default'))
             AS decided,
           {bits} AS who,
           {late} AS late,
           COUNT(*) AS seen_times
    FROM seen GROUP BY {groups})
SELECT shown, scene, choice, target, times, timeouts, decided,
       bit_count(who), bit_count(late), NULL FROM cells WHERE cell = 1 AND times > 0
UNION ALL
SELECT NULL, scene, NULL, NULL, 0, SUM(timeouts), SUM(decided), 0, bit_count(bit_or(late)), NULL
FROM cells WHERE cell = 1 AND times > 0 AND NOT shown GROUP BY scene
UNION ALL
SELECT NULL, scene, choice, NULL, seen_times, 0, 0, 0, 0, label FROM cells
WHERE cell = 0 AND label IS NOT NULL"""


# DuckDB, without the labels: the scenes shown read apart from the edges (`_one_pass`),
# two columns of theirs instead of the edges' four: 0.21 + 0.49 s at ten million events
# against 1.2 s for the one pass over both (a scene shown has no choice nor target, but
# a reader of the columns decodes them all the same)
_SCENES_SHOWN = """, numbered AS (SELECT {key} AS k, {who} AS who FROM chosen_sessions)
SELECT e.scene, COUNT(*), {bits} FROM events e JOIN numbered p ON e.{key} = p.k
WHERE e.type = 'scene_shown' GROUP BY e.scene"""
_EVENT_KINDS = "'choice_made', 'timeout_default', 'route_taken'"
# ... and the edges: a cell per kind, scene, choice and target with one bitmap of its
# units, OR-ed by edge (its units; the clock's cells: its units timed out) and by scene
# (the units timed out there): one aggregate a row where `_ONE_PASS` has five. The
# cells group the choice and target as stored; a missing one is '' only in the edges,
# grouped again (0.85-0.9 -> 0.65-0.75 s of CPU at ten million events: no COALESCE
# worked out for each of 4.7 million events, and their text grouped as read)
_EDGES = """, numbered AS (SELECT {key} AS k, {who} AS who FROM chosen_sessions),
cells AS MATERIALIZED (
    SELECT e.type AS type, e.scene AS scene, e.choice AS choice, e.target AS target,
           COUNT(*) AS times, {bits} AS who
    FROM events e JOIN numbered p ON e.{key} = p.k
    WHERE e.type IN ({kinds}) GROUP BY 1, 2, 3, 4)
SELECT FALSE, scene, COALESCE(choice, ''), COALESCE(target, ''), SUM(times),
       COALESCE(SUM(times) FILTER (WHERE type = 'timeout_default'), 0), 0,
       bit_count(bit_or(who)), bit_count(bit_or(who) FILTER (WHERE type = 'timeout_default')),
       NULL
FROM cells GROUP BY scene, COALESCE(choice, ''), COALESCE(target, '')
UNION ALL
SELECT NULL, scene, NULL, NULL, 0, COALESCE(SUM(times) FILTER (WHERE type = 'timeout_default'), 0),
       SUM(times), 0, bit_count(bit_or(who) FILTER (WHERE type = 'timeout_default')), NULL
FROM cells WHERE type IN ('choice_made', 'timeout_default') GROUP BY scene"""


def _one_pass(
    src: Queryable, chosen: ChosenSessions, unit: Unit, hashes: list[str] | None
) -> tuple[Counts, Labels | None]:
    """`event_counts` on DuckDB: the same figures, the sessions chosen once (a `--where`
    or `--first-only` is worked out a single time), the events in two passes, the
    scenes shown and the edges (`_SCENES_SHOWN`); with `hashes`, in one pass with the
    labels seen in those versions too (None: no session was chosen)."""
    key, who, low, high = _numbered(src, chosen, unit)
    kept = ChosenSessions("picked AS (SELECT session_id, viewer_id FROM chosen_sessions)", ())
    if key == "session_key":  # the chosen sessions' own figures, kept with them
        counts = _kept_sessions(src, unit, Counts({}, {}, {}, views=0))
    else:
        counts = _with_sessions(src, kept, unit, Counts({}, {}, {}, views=0))
    if not counts.sessions:
        return counts, None
    if unit == "times":
        bits = late = "CAST(NULL AS BIT)"
        params: tuple[object, ...] = ()
    else:
        bits = "bitstring_agg(who, ?, ?)"
        late = "bitstring_agg(CASE WHEN type = 'timeout_default' THEN who END, ?, ?)"
        params = (low, high, low, high)
    if hashes:
        label = _LABEL.format(marks=", ".join("?" for _ in hashes))
        cell, label_column, join = "GROUPING(label)", "label", "LEFT JOIN"
        groups = "GROUPING SETS ((shown, scene, choice, target), (scene, choice, label))"
        params = (*hashes, *params)
    else:
        label = label_column = "CAST(NULL AS VARCHAR)"
        cell, join, groups = "1", "JOIN", "shown, scene, choice, target"
    sql = _ONE_PASS.format(
        kinds=_EVENT_KINDS + (", 'scene_shown'" if hashes else ""),
        key=key,
        who=who,
        bits=bits,
        late=late,
        label=label,
        cell=cell,
        label_column=label_column,
        groups=groups,
        join=join,
    )
    edges: dict[EdgeKey, tuple[int, int]] = {}
    visits: dict[str, int] = {}
    timed_out: dict[str, int] = {}
    labels: Labels = []
    views = 0
    if not hashes:
        shown_sql = _SCENES_SHOWN.format(
            key=key, who=who, bits="0" if unit == "times" else "bit_count(bitstring_agg(who, ?, ?))"
        )
        for scene, times, units in kept.query(src, shown_sql, params[:2]):
            visits[scene] = int(times) if unit == "times" else int(units or 0)
            views += int(times)
        sql = _EDGES.format(
            key=key,
            who=who,
            kinds=_EVENT_KINDS,
            bits="CAST(NULL AS BIT)" if unit == "times" else "bitstring_agg(who, ?, ?)",
        )
        params = params[:2]
    for shown, scene, choice, target, times, timeouts, decided, who, late_, seen in kept.query(
        src, sql, params
    ):
        n, t = (int(times), int(timeouts)) if unit == "times" else (int(who or 0), int(late_ or 0))
        if seen is not None:  # a label viewers saw
            labels.append((str(scene), str(choice), str(seen), int(times)))
        elif shown is None:  # a scene's choices: who timed out there
            if decided:
                timed_out[scene] = t
        elif shown:
            visits[scene] = n
            views += int(times)
        else:
            edges[(str(scene), str(choice), str(target))] = (n, t)
    counts = replace(counts, edges=edges, visits=visits, timed_out=timed_out, views=views)
    return counts, sorted(labels) if hashes else None


def derived_routes(
    src: Queryable, chosen: ChosenSessions, unit: Unit, route_scenes: list[str]
) -> dict[EdgeKey, tuple[int, int]]:
    """Route edges from consecutive `scene_shown` events of the chosen sessions.

    For databases recorded without `route_taken` events: the scene shown after
    a `next`/`random` scene is where its route led.
    """
    if not route_scenes:
        return {}
    marks = ", ".join("?" for _ in route_scenes)
    count = {
        "times": "COUNT(*)",
        "sessions": "COUNT(DISTINCT session_id)",
        "viewers": "COUNT(DISTINCT viewer_id)",
    }[unit]
    rows = chosen.query(
        src,
        f""", shown AS (
            SELECT e.session_id, p.viewer_id, e.scene,
                   LEAD(e.scene) OVER (PARTITION BY e.session_id ORDER BY e.seq) AS target
            {_JOIN_EVENTS} WHERE e.type = 'scene_shown')
        SELECT scene, target, {count} FROM shown
        WHERE scene IN ({marks}) AND target IS NOT NULL GROUP BY 1, 2""",
        tuple(route_scenes),
    )
    return {(r[0], "", r[1]): (int(r[2]), 0) for r in rows}


def seen_labels(src: Queryable, tables: frozenset[str], shape: Shape, hashes: list[str]) -> Shape:
    """`shape` with each templated label as its viewers most often saw it (`choice_labels`).

    An export of layout 4 holds the database's running total itself (`choice_labels`,
    read as on SQLite). On DuckDB over an older export the events are counted
    themselves, without the view's join to the sessions (its story and version
    are the event's partition and `content_hash`): the engine must be scoped to
    the story's events, every day of them (`Engine.scope(story_id)`), as
    `event_figures` needs too.
    """
    if "choice_labels" not in tables or not hashes:
        return shape
    marks = ", ".join("?" for _ in hashes)
    if getattr(src, "dialect", "sqlite") == "duckdb" and not getattr(src, "stored_labels", False):
        rows = query(src, _LABELS.format(marks=marks), hashes)
    else:
        rows = query(src, SEEN_LABELS.format(marks=marks), [shape.id, *hashes])
    return apply_seen_labels(shape, [(r[0], r[1], r[2], int(r[3])) for r in rows])


def decide_bucket(column: str) -> str:
    """`store.sketch.bucket(column)` in portable SQL: the lower bound of the time-to-decide
    bucket holding the milliseconds in `column` (`%` on non-negative integers, the same
    on SQLite, DuckDB and Spark). Grouping by it instead of by the milliseconds sends
    Python one row per scene and bucket (1,723 at ten million events) instead of one per
    distinct time (151,432); `bucket` of a bucket's lower bound is that bound."""
    ms = f"CAST({column} AS BIGINT)"
    return (
        f"CASE WHEN {ms} < 0 THEN 0 WHEN {ms} < {FINE} THEN {ms} - {ms} % 100 "
        f"WHEN {ms} < {MEDIUM} THEN {ms} - {ms} % 1000 ELSE {ms} - {ms} % 10000 END"
    )


@dataclass(frozen=True, slots=True)
class EventFigures:
    """The stats tables' event figures, read in one pass by `event_figures` (DuckDB)."""

    scenes: dict[str, tuple[int, int]]  # scene -> (units shown it, times shown)
    taken: dict[tuple[str, str, str | None], tuple[int, int, int]]  # -> units, times, timeouts
    decisions: dict[str, tuple[int, int, int]]  # scene -> decisions, timeouts, units timed out
    interactions: dict[str, tuple[int, ...]]  # scene -> units rewound, paused, skipped; times
    unions: list[int]  # the units of the cells meeting each of `event_figures`' `unions`


_DECIDED = "('choice_made', 'timeout_default')"
_INTERACTIONS = ("rewind", "pause", "reveal_skipped")
# DuckDB: every per-scene and per-choice figure of the stats tables in one pass over the
# events (`event_figures`). Each cell (type, scene, choice, target) counts its events and
# keeps a bitmap of the units (sessions or viewers, numbered 1..N among the chosen) it
# saw; a choice's units are its cells' bitmaps OR-ed (taken by the player or by the
# clock), a scene's units timed out its timeout cells'. Only the kinds of event the
# tables asked for are read (`event_figures`' `kinds`); with the interactions, as the
# kinds left out ("not a route", one comparison or three per event, where DuckDB makes
# a list of four or six kinds a join; the kinds no table reads are few).
_COUNT_KEPT = "SELECT COUNT(*) FROM chosen_sessions"
_FIGURES = """, numbered AS (SELECT {key} AS k, {who} AS who FROM chosen_sessions),
cells AS MATERIALIZED (
    SELECT e.type AS type, e.scene AS scene, e.choice AS choice, e.target AS target,
           COUNT(*) AS times, bitstring_agg(p.who, ?, ?) AS who
    FROM events e JOIN numbered p ON e.{key} = p.k
    WHERE {kinds} GROUP BY 1, 2, 3, 4)
SELECT 'cell', type, scene, NULL, NULL, times, bit_count(who), 0 FROM cells
WHERE type NOT IN {decided}
UNION ALL
SELECT 'taken', NULL, scene, choice, target, SUM(times), bit_count(bit_or(who)),
       COALESCE(SUM(times) FILTER (WHERE type = 'timeout_default'), 0)
FROM cells WHERE type IN {decided} GROUP BY scene, choice, target
UNION ALL
SELECT 'late', NULL, scene, NULL, NULL, SUM(times), bit_count(bit_or(who)), 0 FROM cells
WHERE type = 'timeout_default' GROUP BY scene"""


def _keep_chosen(src: Queryable, chosen: ChosenSessions) -> str:
    """Keep the chosen sessions in the engine's table `chosen_sessions` (DuckDB), worked
    out once; the column it joins the events on (`session_key` where the export has it,
    and then their outcome, ending and last scene are kept too, for `_kept_sessions`)."""
    keyed = bool(getattr(src, "keyed", False)) and bool(chosen.cond)
    if keyed:
        query(
            src,
            f"{_KEPT}SELECT s.session_id, s.viewer_id, s.session_key, s.outcome, s.ending_id, "
            f"s.last_scene FROM sessions s WHERE {chosen.cond}",
            chosen.params,
        )
        return "session_key"
    query(src, f"{_KEPT}WITH {chosen.sql} SELECT session_id, viewer_id FROM picked", chosen.params)
    return "session_id"


FIGURE_KINDS = ("scenes", "decisions", "interactions")  # what `event_figures` can read


def _numbered(src: Queryable, chosen: ChosenSessions, unit: Unit) -> tuple[str, str, int, int]:
    """Keep the chosen sessions (`_keep_chosen`) and say how the units are numbered for
    their bitmaps: (the key the events join on, SQL of a unit's number over
    `chosen_sessions`, the lowest and the highest number; 0, 0: none chosen).

    A keyed export's sessions and viewers are numbers already (`DuckDbEngine._view`):
    their bitmaps span the chosen ones' range (when it is not much wider than their
    count), else they are numbered 1..N here (a window over the chosen sessions).
    """
    key = _keep_chosen(src, chosen)
    who, (total,) = _NUMBERED[unit].format(key=key), query(src, _COUNT_KEPT)[0]
    low, high = (1, int(total)) if total else (0, 0)
    if key == "session_key" and total:
        number = "viewer_id" if unit == "viewers" else key
        first, last = query(src, f"SELECT MIN({number}), MAX({number}) FROM chosen_sessions")[0]
        if last is not None and int(last) - int(first) < 2 * int(total):
            who, low, high = number, int(first), int(last)
    return key, who, low, high


# DuckDB: the timing table in one pass over the decisions (`decision_times`): by scene,
# kind and time-to-decide bucket (`decide_bucket`, the player's own choices only), their
# count and a bitmap of the units the clock chose for (NULL for every other group)
_DECISION_TIMES = """, numbered AS (SELECT {key} AS k, {who} AS who FROM chosen_sessions)
SELECT e.scene, e.type,
       CASE WHEN e.type = 'choice_made' AND e.decide_ms IS NOT NULL THEN {bucket} END,
       COUNT(*), {late}
FROM events e JOIN numbered p ON e.{key} = p.k
WHERE e.type IN ('choice_made', 'timeout_default') GROUP BY 1, 2, 3"""

Percentiles = dict[str, tuple[float | None, float | None]]


def decision_times(
    src: Queryable, chosen: ChosenSessions, unit: Unit
) -> tuple[dict[str, tuple[int, int, int]], Percentiles]:
    """The timing table's figures in one pass over the chosen sessions' decisions, on
    DuckDB: scene -> (decisions, timeouts, units timed out), and scene -> (median, 90th
    percentile) ms to decide, from the same sketch buckets as `metrics.decide_percentiles`
    (which, with `metrics.timing`'s own count, reads the events twice)."""
    key, who, low, high = _numbered(src, chosen, unit)
    if not high:
        return {}, {}
    late = "0" if unit == "times" else "bit_count(bitstring_agg(CASE WHEN "
    if unit != "times":
        late += "e.type = 'timeout_default' THEN p.who END, ?, ?))"
    sql = _DECISION_TIMES.format(key=key, who=who, bucket=decide_bucket("e.decide_ms"), late=late)
    kept = ChosenSessions("picked AS (SELECT session_id, viewer_id FROM chosen_sessions)", ())
    counts: dict[str, tuple[int, int, int]] = {}
    buckets: dict[str, dict[int, int]] = {}
    for scene, kind, ms, n, units in kept.query(src, sql, () if unit == "times" else (low, high)):
        decided, timeouts, late_units = counts.get(scene, (0, 0, 0))
        if kind == "timeout_default":
            timeouts += int(n)
            late_units += int(n) if unit == "times" else int(units or 0)
        elif ms is not None:
            held = buckets.setdefault(scene, {})
            low_ms = sketch.bucket(ms)
            held[low_ms] = held.get(low_ms, 0) + int(n)
        counts[scene] = (decided + int(n), timeouts, late_units)
    return counts, {scene: sketch.percentiles(held) for scene, held in buckets.items()}


def event_figures(
    src: Queryable,
    chosen: ChosenSessions,
    unit: Unit,
    kinds: Collection[str] = FIGURE_KINDS,
    unions: Sequence[tuple[str, Sequence[object]]] = (),
) -> EventFigures:
    """The event figures the stats tables read, in one pass over the chosen sessions'
    events, on DuckDB: `kinds` of `FIGURE_KINDS`, the scenes' reach always, the
    decisions (choices and the timing table's counts), the interactions; and for each
    of `unions` (a condition of ours over a cell's `type`, `scene` and `choice`, its
    values as parameters) the units of the cells that meet it, their bitmaps OR-ed
    (the tags: who was shown one of a tag's scenes, who took one of its choices). The
    same figures as `metrics`' and `segments`' portable queries, each of which reads
    the events once (held equal by the consistency suite); what is not asked for is
    left empty."""
    decisions = ["'choice_made'", "'timeout_default'"]
    types = ["'scene_shown'", *(decisions if "decisions" in kinds else [])]
    read = f"e.type IN ({', '.join(types)})"
    if "interactions" in kinds:  # as the kinds left out: a list of four or six is a join
        left = ["'route_taken'", *([] if "decisions" in kinds else decisions)]
        read = " AND ".join(f"e.type <> {k}" for k in left)
    key, who, low, high = _numbered(src, chosen, unit)
    figures = EventFigures({}, {}, {}, {}, [0] * len(unions))
    if not high:
        return figures
    sql = _FIGURES.format(key=key, who=who, decided=_DECIDED, kinds=read)
    params: list[object] = [low, high]
    for i, (cond, values) in enumerate(unions):
        sql += f"""
UNION ALL
SELECT 'union', '{i}', NULL, NULL, NULL, 0, bit_count(bit_or(who)), 0 FROM cells WHERE {cond}"""
        params += values
    kept = ChosenSessions("picked AS (SELECT session_id, viewer_id FROM chosen_sessions)", ())
    moves: dict[str, dict[str, tuple[int, int]]] = {k: {} for k in _INTERACTIONS}
    timeouts: dict[str, tuple[int, int]] = {}
    for kind, type_, scene, choice, target, times, units, late in kept.query(
        src, sql, tuple(params)
    ):
        n, t = int(units or 0), int(times)
        if kind == "cell" and type_ == "scene_shown":
            figures.scenes[scene] = (n, t)
        elif kind == "cell" and type_ in moves and scene is not None:
            moves[type_][scene] = (n, t)
        elif kind == "taken":
            figures.taken[(scene, choice, target)] = (n, t, int(late or 0))
        elif kind == "late":
            timeouts[scene] = (t, n)
        elif kind == "union":
            figures.unions[int(type_)] = n
    by_scene: dict[str, tuple[int, int]] = {}
    for (scene, _, _), (_, times, _) in figures.taken.items():
        decided, _ = by_scene.get(scene, (0, 0))
        by_scene[scene] = (decided + times, 0)
    for scene, (decided, _) in by_scene.items():
        late_times, late_units = timeouts.get(scene, (0, 0))
        figures.decisions[scene] = (decided, late_times, late_units)
    for scene in {s for kind in moves.values() for s in kind}:
        units = [moves[k].get(scene, (0, 0))[0] for k in _INTERACTIONS]
        times = [moves[k].get(scene, (0, 0))[1] for k in _INTERACTIONS]
        figures.interactions[scene] = (*units, *times)
    return figures
