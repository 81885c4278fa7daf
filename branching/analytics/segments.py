"""Breakdowns of the picked sessions: by viewer attribute, terminal, platform,
terminal size, local hour and day of week, and by tag.

Local time is the session's start in UTC shifted by the UTC offset the player
recorded, so "9 in the evening" means the viewer's evening wherever they were.
Each segment gives its count in the report's unit, how many of those reached
an ending, and the mean number of choices per session.
"""

from __future__ import annotations

import sqlite3

from branching.analytics.filters import Unit, tally, tally_sessions
from branching.analytics.rows import Segment, TagShare
from branching.analytics.shape import Shape

WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

_LOCAL = "datetime(s.started_at, COALESCE(s.utc_offset_min, 0) || ' minutes')"
DIMENSIONS: dict[str, str] = {
    "terminal": "COALESCE(s.term_program, s.terminal, 'unknown')",
    "platform": "COALESCE(s.platform, 'unknown')",
    "terminal size": """CASE WHEN s.term_cols IS NULL THEN 'unknown'
        WHEN s.term_cols < 80 THEN 'under 80 columns'
        WHEN s.term_cols < 120 THEN '80-119 columns' ELSE '120 columns or more' END""",
    "local hour": f"strftime('%H', {_LOCAL})",
    "weekday": f"strftime('%w', {_LOCAL})",
}


def _prepare(conn: sqlite3.Connection) -> None:
    """TEMP table `seg`: each picked session with its choices made and context."""
    conn.execute("DROP TABLE IF EXISTS temp.seg")
    conn.execute(
        """CREATE TEMP TABLE seg AS
        SELECT p.session_id, p.viewer_id, s.outcome,
               (SELECT COUNT(*) FROM events e WHERE e.session_id = p.session_id
                AND e.type IN ('choice_made', 'timeout_default')) AS made,
               """
        + ", ".join(f"{sql} AS d{i}" for i, sql in enumerate(DIMENSIONS.values()))
        + " FROM temp.picked p JOIN sessions s ON s.session_id = p.session_id"
    )


def _rows(conn: sqlite3.Connection, sql: str, name: str | None) -> list[Segment]:
    out = []
    for row in conn.execute(sql):
        value = str(row[1]) if row[1] is not None else "unknown"
        if (name or row[0]) == "weekday" and value.isdigit():
            value = WEEKDAYS[int(value)]
        out.append(
            Segment(
                name or str(row[0]),
                value,
                int(row[2]),
                int(row[3]),
                float(row[4]) if row[4] is not None else None,
            )
        )
    return out


def segments(conn: sqlite3.Connection, unit: Unit) -> list[Segment]:
    """Every breakdown, attributes first (with a "(none)" row for sessions without one)."""
    _prepare(conn)
    count = tally_sessions(unit, alias="seg")
    done = tally_sessions(unit, "seg.outcome = 'ending'", alias="seg")
    out = _rows(
        conn,
        f"""SELECT a.key, a.value, {count}, {done}, AVG(seg.made)
                FROM temp.seg seg JOIN session_attrs a ON a.session_id = seg.session_id
                GROUP BY 1, 2 ORDER BY 1, 2""",
        None,
    )
    out += _rows(
        conn,
        f"""SELECT k.key, '(none)', {count}, {done}, AVG(seg.made)
                 FROM (SELECT DISTINCT a.key FROM session_attrs a
                       JOIN temp.seg x ON x.session_id = a.session_id) k
                 JOIN temp.seg seg ON NOT EXISTS (SELECT 1 FROM session_attrs a
                      WHERE a.session_id = seg.session_id AND a.key = k.key)
                 GROUP BY 1 ORDER BY 1""",
        None,
    )
    out.sort(key=lambda s: (s.dimension, s.value == "(none)", s.value))
    for i, name in enumerate(DIMENSIONS):
        order = "CAST(d{0} AS INTEGER)" if name in ("local hour", "weekday") else "1"
        out += _rows(
            conn,
            f"""SELECT '{name}', d{i}, {count}, {done}, AVG(seg.made) FROM temp.seg seg
                     GROUP BY d{i} ORDER BY {order.format(i)}, 2""",
            name,
        )
    return _weekdays_from_monday(out)


def _weekdays_from_monday(rows: list[Segment]) -> list[Segment]:
    days = [r for r in rows if r.dimension == "weekday"]
    days.sort(key=lambda r: (WEEKDAYS.index(r.value) + 6) % 7 if r.value in WEEKDAYS else 7)
    rest = [r for r in rows if r.dimension != "weekday"]
    return rest + days


def _any(column: str, values: list[str]) -> tuple[str, list[object]]:
    if not values:
        return "0", []
    return f"{column} IN ({', '.join('?' for _ in values)})", list(values)


def tags(conn: sqlite3.Connection, shape: Shape, unit: Unit, started: int) -> list[TagShare]:
    """Per choice tag: taken when offered; per scene tag: reached of started.

    Every tag is one column of the same query: one pass over the events.
    """
    columns: list[str] = []
    params: list[object] = []
    out: list[tuple[str, str, int | None]] = []  # tag, kind, started (None: the first column)
    choice_tags = sorted({t for s in shape.scenes.values() for c in s.choices for t in c.tags})
    for tag in choice_tags:
        scenes = [s.id for s in shape.scenes.values() if any(tag in c.tags for c in s.choices)]
        pairs = [(s.id, c.id) for s in shape.scenes.values() for c in s.choices if tag in c.tags]
        at, at_params = _any("e.scene", scenes)
        took = " OR ".join("(e.scene = ? AND e.choice = ?)" for _ in pairs)
        columns.append(tally(unit, f"e.type = 'scene_shown' AND {at}"))
        columns.append(tally(unit, f"e.type IN ('choice_made', 'timeout_default') AND ({took})"))
        params += [*at_params, *(v for pair in pairs for v in pair)]
        out.append((tag, "choice", None))
    scene_tags = sorted({t for s in shape.scenes.values() for t in s.tags})
    for tag in scene_tags:
        at, at_params = _any("e.scene", [s.id for s in shape.scenes.values() if tag in s.tags])
        columns.append(tally(unit, f"e.type = 'scene_shown' AND {at}"))
        params += at_params
        out.append((tag, "scene", started))
    if not columns:
        return []
    tagged = sorted(
        {s.id for s in shape.scenes.values() if s.tags or any(c.tags for c in s.choices)}
    )
    at, at_params = _any("e.scene", tagged)
    row = conn.execute(
        f"""SELECT {", ".join(columns)} FROM temp.picked p CROSS JOIN events e
        ON e.session_id = p.session_id
        WHERE e.type IN ('scene_shown', 'choice_made', 'timeout_default') AND {at}""",
        [*params, *at_params],
    ).fetchone()
    values = iter(int(v or 0) for v in row)
    shares = []
    for tag, kind, base in out:
        if base is None:
            shares.append(TagShare(tag, kind, next(values), next(values)))
        else:
            shares.append(TagShare(tag, kind, base, next(values)))
    return shares
