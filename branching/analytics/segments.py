"""Breakdowns of the picked sessions: by viewer attribute, terminal, platform,
terminal size, local hour and day of week, and by tag.

Local time is the session's start in UTC shifted by the UTC offset the player
recorded, so "9 in the evening" means the viewer's evening wherever they were.
Each segment gives its count in the report's unit, how many of those reached
an ending, and the mean number of choices per session.

Every breakdown comes from ONE portable query (`scan.ChosenSessions`, the
chosen sessions as the CTE `picked`), so it runs unchanged on SQLite, DuckDB
and Spark: the CTE `made` counts each picked session's decisions in one
grouped pass over their events, `seg` is each picked session with those, its
context (the dimensions) and its attributes pivoted to a column per key
(NULL: the "(none)" row), and ONE GROUP BY reads `seg` joined to the list of
breakdowns, each session once per breakdown. (It was a UNION ALL of an
aggregate per breakdown over `seg`, with a correlated count of decisions and
the attributes joined twice: at 10 million events DuckDB held every arm's
tables at once and ran out of its memory after minutes.) Sessions are
counted as rows (one row per session and breakdown), viewers as distinct
numbers. Local
hour and weekday are integer arithmetic on the stored text
(`2026-01-31T21:05:00.000Z`) and the offset, with no date function (SQLite's
`datetime`/`strftime` are its own): the same hour and day as SQLite's
`strftime('%H'/'%w', datetime(started_at, offset || ' minutes'))`. The mean
is worked out in Python from an exact sum and count; rows are ordered in
Python, never by an engine's rules for NULL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from branching.analytics.engines import Queryable
from branching.analytics.filters import Unit, tally
from branching.analytics.rows import Segment, TagShare
from branching.analytics.scan import ChosenSessions, picked_events
from branching.analytics.shape import Shape

WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def floor_div(value: str, by: int) -> str:
    """SQL for `value // by` (floor; `by` > 0) that every engine computes alike.

    Integer division is written differently by each engine, and `%` keeps the
    sign of `value` in all three: `value` less its floor remainder is a multiple
    of `by`, so the division is exact whatever type the engine gives it, and
    the cast makes it an integer again.
    """
    return f"CAST(({value} - ((({value}) % {by}) + {by}) % {by}) / {by} AS BIGINT)"


def _part(start: int, length: int) -> str:
    return f"CAST(substr(s.started_at, {start}, {length}) AS INTEGER)"


# the local time, from the parts of the stored UTC text: minutes since the UTC day's
# midnight (negative or past a day once shifted) and the UTC date's weekday
# (Sakamoto's method: 0 is Sunday)
STAMP = "s.started_at LIKE '____-__-__T__:__%'"
MINUTES = f"({_part(12, 2)} * 60 + {_part(15, 2)} + COALESCE(s.utc_offset_min, 0))"
_YEAR = f"({_part(1, 4)} - CASE WHEN {_part(6, 2)} < 3 THEN 1 ELSE 0 END)"
_MONTH_SHIFT = (
    f"CASE {_part(6, 2)} "
    + " ".join(
        f"WHEN {m} THEN {t}" for m, t in enumerate((0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4), start=1)
    )
    + " END"
)
UTC_WEEKDAY = (
    f"({_YEAR} + {floor_div(_YEAR, 4)} - {floor_div(_YEAR, 100)} + {floor_div(_YEAR, 400)}"
    f" + {_MONTH_SHIFT} + {_part(9, 2)})"
)
LOCAL_HOUR = f"CASE WHEN {STAMP} THEN (({floor_div(MINUTES, 60)} % 24) + 24) % 24 END"
LOCAL_WEEKDAY = (
    f"CASE WHEN {STAMP} THEN ((({UTC_WEEKDAY} + {floor_div(MINUTES, 1440)}) % 7) + 7) % 7 END"
)
DIMENSIONS: dict[str, str] = {
    "terminal": "COALESCE(s.term_program, s.terminal, 'unknown')",
    "platform": "COALESCE(s.platform, 'unknown')",
    "terminal size": """CASE WHEN s.term_cols IS NULL THEN 'unknown'
        WHEN s.term_cols < 80 THEN 'under 80 columns'
        WHEN s.term_cols < 120 THEN '80-119 columns' ELSE '120 columns or more' END""",
    "local hour": LOCAL_HOUR,
    "weekday": LOCAL_WEEKDAY,
}
_NUMBERED = ("local hour", "weekday")  # integers here; words (or two digits) in the rows


_VIEWER = "CASE WHEN p.viewer_id IS NOT NULL THEN DENSE_RANK() OVER (ORDER BY p.viewer_id) END"


def _seg(src: Queryable, keys: int, unit: Unit, *, digested: bool = False) -> str:
    """The CTEs after `picked`: `made`, each picked session's decisions (one grouped
    pass over their events), and `seg`, each picked session with its viewer, outcome,
    decisions, the dimensions as d0, d1... and its value of each of the `keys`
    attribute keys (`?` parameters, in order) as a0, a1... (NULL: it has none), and
    counting viewers, its viewer numbered (`w`: integers count faster than the ids)."""
    dims = ", ".join(f"{sql} AS d{i}" for i, sql in enumerate(DIMENSIONS.values()))
    values = "".join(f", v.a{j} AS a{j}" for j in range(keys))
    pivot = ", ".join(f"MAX(CASE WHEN a.key = ? THEN a.value END) AS a{j}" for j in range(keys))
    joins = (
        f"""
        LEFT JOIN (SELECT a.session_id AS session_id, {pivot} FROM session_attrs a
                   GROUP BY a.session_id) v ON v.session_id = p.session_id"""
        if keys
        else ""
    )
    # each session's decisions: from its digest (SQLite's store keeps one per
    # session); else on SQLite by the events' key, one session at a time (a join
    # to a grouped CTE there is a scan of it per session); else one grouped pass
    # over the events (DuckDB's memory could not hold a count per session)
    made, cte, join = "COALESCE(m.made, 0)", "", ""
    if digested and getattr(src, "dialect", "sqlite") == "duckdb":
        made = "COALESCE(s.made, 0)"  # an export's sessions carry it (`stored_made`)
    elif digested:
        join = "\n        LEFT JOIN session_digests m ON m.session_id = p.session_id"
    elif getattr(src, "dialect", "sqlite") == "sqlite":
        made = """(SELECT COUNT(*) FROM events e WHERE e.session_id = p.session_id
                AND e.type IN ('choice_made', 'timeout_default'))"""
    else:
        cte = f""", made AS (
        SELECT e.session_id AS session_id, COUNT(*) AS made {picked_events(src)}
        WHERE e.type IN ('choice_made', 'timeout_default') GROUP BY e.session_id)"""
        join = "\n        LEFT JOIN made m ON m.session_id = p.session_id"
    return f"""{cte},
    seg AS (
        SELECT {_VIEWER if unit == "viewers" else "NULL"} AS w, s.outcome AS outcome,
               {made} AS made, {dims}{values}
        {picked_events(src, "sessions s")}{join}{joins})"""


def _counted(unit: Unit) -> str:
    """SQL for (units, units that reached an ending) of a breakdown's `seg` rows.

    A breakdown has one row per session (a session has one value per attribute
    key: the attributes' primary key), so sessions are counted as rows, not
    distinct ids; viewers as distinct numbers (`w`): at 10 M events the
    distinct ids of every breakdown held at once did not fit DuckDB's memory.
    """
    if unit == "viewers":
        return (
            "COUNT(DISTINCT seg.w), COUNT(DISTINCT CASE WHEN seg.outcome = 'ending' THEN seg.w END)"
        )
    return "COUNT(*), SUM(CASE WHEN seg.outcome = 'ending' THEN 1 ELSE 0 END)"


def _value(name: str, value: object) -> str:
    if value is None:
        return "unknown"
    if name == "weekday":
        return WEEKDAYS[int(str(value))]
    if name == "local hour":
        return f"{int(str(value)):02d}"
    return str(value)


def _order(name: str, value: object) -> tuple[int, int, str]:
    """How SQLite ordered a breakdown's rows: NULL first, the hour and day as numbers."""
    if value is None:
        return (0, 0, "")
    if name in _NUMBERED:
        return (1, int(str(value)), "")
    return (1, 0, str(value))


def segments(
    src: Queryable, chosen: ChosenSessions, unit: Unit, *, digested: bool = False
) -> list[Segment]:
    """Every breakdown, attributes first (with a "(none)" row for sessions without one).

    `digested`: each session's decisions are read from the digests the store
    keeps (`store/digests.py`, SQLite only) instead of counted from the events.
    """
    keys = [
        str(k)
        for (k,) in chosen.query(
            src,
            """SELECT DISTINCT a.key FROM picked p
            JOIN session_attrs a ON a.session_id = p.session_id""",
        )
    ]
    # one GROUP BY over every breakdown: each session once per breakdown (`part`), its
    # value there as text or as a number (hour, weekday); a UNION ALL of an aggregate
    # per breakdown held all their tables at once, past DuckDB's memory at 10 M events
    parts = [*(-1 - j for j in range(len(keys))), *range(len(DIMENSIONS))]
    texts: list[str] = []
    nums: list[str] = []
    for j in range(len(keys)):
        texts.append(f"WHEN {-1 - j} THEN seg.a{j}")
    for i, name in enumerate(DIMENSIONS):
        (nums if name in _NUMBERED else texts).append(f"WHEN {i} THEN seg.d{i}")
    body = f"""SELECT x.part, CASE x.part {" ".join(texts)} END AS text,
           CASE x.part {" ".join(nums)} END AS num, {_counted(unit)}, SUM(seg.made), COUNT(*)
    FROM seg CROSS JOIN ({" UNION ALL ".join(f"SELECT {n} AS part" for n in parts)}) x
    GROUP BY 1, 2, 3"""
    ctes = _seg(src, len(keys), unit, digested=digested)
    return from_grouped(keys, chosen.query(src, ctes + "\n" + body, tuple(keys)))


Grouped = Iterable[tuple[Any, ...]]  # (part, text, num, units, ended, decisions, sessions)


def from_grouped(keys: list[str], grouped: Grouped) -> list[Segment]:
    """The breakdowns' rows from the grouped counts: `part` -1 - j is attribute
    `keys[j]` (its value in `text`, None for sessions without it), `part` i >= 0
    is the i-th of `DIMENSIONS` (its value in `num` for the hour and weekday, else
    in `text`); ordered as the table shows them."""
    attrs: list[Segment] = []
    by_dimension: dict[str, list[tuple[object, Segment]]] = {name: [] for name in DIMENSIONS}
    names = list(DIMENSIONS)
    for part, text, num, n, ended, made, sessions in grouped:
        mean = int(made or 0) / int(sessions) if sessions else None
        figures_of = (int(n), int(ended or 0), mean)
        if part < 0:
            value = "(none)" if text is None else str(text)
            attrs.append(Segment(keys[-1 - int(part)], value, *figures_of))
            continue
        name = names[int(part)]
        raw = num if name in _NUMBERED else text
        by_dimension[name].append((raw, Segment(name, _value(name, raw), *figures_of)))
    attrs.sort(key=lambda s: (s.dimension, s.value == "(none)", s.value))
    out = attrs
    for name, rows in by_dimension.items():
        out += [row for _, row in sorted(rows, key=lambda r: _order(name, r[0]))]
    return _weekdays_from_monday(out)


def _weekdays_from_monday(rows: list[Segment]) -> list[Segment]:
    days = [r for r in rows if r.dimension == "weekday"]
    days.sort(key=lambda r: (WEEKDAYS.index(r.value) + 6) % 7 if r.value in WEEKDAYS else 7)
    rest = [r for r in rows if r.dimension != "weekday"]
    return rest + days


def _any(column: str, values: list[str]) -> tuple[str, list[object]]:
    if not values:
        return "1 = 0", []
    return f"{column} IN ({', '.join('?' for _ in values)})", list(values)


@dataclass(frozen=True, slots=True)
class Tagged:
    """One tag of a story: a choice tag counts who took one of its `pairs` among those
    shown one of its `scenes`; a scene tag, who was shown one of its `scenes`."""

    tag: str
    kind: str  # "choice" or "scene"
    scenes: list[str]
    pairs: list[tuple[str, str]]


def tagged(shape: Shape) -> list[Tagged]:
    """The story's choice tags, then its scene tags, each in name order."""
    scenes = list(shape.scenes.values())
    out = [
        Tagged(
            tag,
            "choice",
            [s.id for s in scenes if any(tag in c.tags for c in s.choices)],
            [(s.id, c.id) for s in scenes for c in s.choices if tag in c.tags],
        )
        for tag in sorted({t for s in scenes for c in s.choices for t in c.tags})
    ]
    out += [
        Tagged(tag, "scene", [s.id for s in scenes if tag in s.tags], [])
        for tag in sorted({t for s in scenes for t in s.tags})
    ]
    return out


def tag_shares(tags: list[Tagged], started: int, row: Iterable[object]) -> list[TagShare]:
    """The rows of the tags table from one row of counts: two columns per choice tag
    (offered, took), then one per scene tag (shown; of `started`)."""
    values = iter(int(str(v or 0)) for v in row)
    return [
        TagShare(t.tag, t.kind, next(values), next(values))
        if t.kind == "choice"
        else TagShare(t.tag, t.kind, started, next(values))
        for t in tags
    ]


def tags(
    src: Queryable, chosen: ChosenSessions, shape: Shape, unit: Unit, started: int
) -> list[TagShare]:
    """Per choice tag: taken when offered; per scene tag: reached of started.

    Every tag is one column of the same query: one pass over the events.
    """
    columns: list[str] = []
    params: list[object] = []
    every = tagged(shape)
    for t in every:
        at, at_params = _any("e.scene", t.scenes)
        columns.append(tally(unit, f"e.type = 'scene_shown' AND {at}"))
        params += at_params
        if t.kind == "choice":
            took = " OR ".join("(e.scene = ? AND e.choice = ?)" for _ in t.pairs)
            columns.append(
                tally(unit, f"e.type IN ('choice_made', 'timeout_default') AND ({took})")
            )
            params += [v for pair in t.pairs for v in pair]
    if not columns:
        return []
    at, at_params = _any("e.scene", sorted({scene for t in every for scene in t.scenes}))
    (row,) = chosen.query(
        src,
        f"""SELECT {", ".join(columns)} {picked_events(src)}
        WHERE e.type IN ('scene_shown', 'choice_made', 'timeout_default') AND {at}""",
        (*params, *at_params),
    )
    return tag_shares(every, started, row)
