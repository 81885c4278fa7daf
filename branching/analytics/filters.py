"""Which playthroughs a figure covers, and what it counts them in.

`Filters` narrows the sessions of a story: a date range (by when the session
started, `--since` inclusive, `--until` exclusive, a bare date `--until` taking
in that whole day), a version, viewer attributes (`--where region=NL`, all
must hold) and "first playthrough of each viewer only" (the viewer's earliest
session of the story in any version, then the other filters apply).

`Unit` says what a count counts, always stated beside the figure (the
vocabulary of the README's "What the numbers count"):
- `sessions` (the default everywhere): distinct playthroughs;
- `viewers`: distinct viewers (keyed hashes), however often they played;
- `times`: times taken, every pass (a viewer who loops back or rewinds counts
  again); this is what the running totals hold, so the unfiltered flowchart in
  this unit never reads raw events. The aggregates (`rollup.py`) hold
  `sessions` and `times` split by everything `Filters` selects on, so most
  filtered flowcharts do not read them either. `choices`, its old name, is still accepted
  where a user types a unit (`unit_named`).

Simulated sessions (`branching simulate`) are an audience of their own:
`audience` is `auto` (real viewers only wherever the story has any, else the
simulated ones), `real`, `simulated` or `all`. `settle_audience` resolves it
against the database and words it, and every output's header carries the
words, so a producer never mistakes a rehearsal for real viewers.

`session_conditions` chooses the sessions in portable SQL (no correlated
subquery with LIMIT, no SQLite-only function), so the same text runs on
SQLite, DuckDB and Spark (`scan.py` puts it in a `picked` CTE). On SQLite,
`stats` still puts the chosen sessions in one TEMP table, `picked`
(`pick_sessions`). All values go in as parameters.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from branching.analytics.engines import Queryable, columns_of, query
from branching.analytics.shape import FilterInvalid
from branching.analytics.source import Version
from branching.store.clock import format_ts, parse_cutoff
from branching.store.errors import InvalidInput

Unit = Literal["sessions", "viewers", "times"]
AUDIENCES = ("auto", "real", "simulated", "all")
UNITS: tuple[Unit, ...] = ("sessions", "viewers", "times")
UNIT_ALIASES: dict[str, Unit] = {"choices": "times"}  # the old name of `times`
UNIT_TEXT: dict[str, str] = {
    "sessions": "sessions (playthroughs)",
    "viewers": "unique viewers",
    "times": "times taken (a viewer who loops back or rewinds counts again)",
}


def unit_named(text: str) -> Unit:
    """The unit a user typed (`choices` is the old name of `times`)."""
    name = UNIT_ALIASES.get(text, text)
    for unit in UNITS:
        if unit == name:
            return unit
    raise FilterInvalid(f"count by {', '.join(UNITS)}, not {text!r}")


@dataclass(frozen=True, slots=True)
class Filters:
    """A selection of sessions; the empty selection is every session of every version."""

    since: str | None = None
    until: str | None = None
    version: str | None = None
    where: tuple[tuple[str, str], ...] = ()
    first_only: bool = False
    audience: str = "auto"  # resolved by `settle_audience` to real, simulated or all
    audience_note: str = ""

    @property
    def empty(self) -> bool:
        return self.audience in ("auto", "all") and not (
            self.since or self.until or self.version or self.where or self.first_only
        )

    def describe(self, chosen: list[Version] | None = None) -> str:
        """The filters in words, for the header of every output."""
        parts: list[str] = []
        if self.version and chosen:
            parts.append("version " + ", ".join(v.describe() for v in chosen))
        else:
            parts.append("all versions")
        if self.since:
            parts.append(f"sessions started from {self.since}")
        if self.until:
            parts.append(f"before {self.until}")
        parts += [f"{k}={v}" for k, v in self.where]
        if self.first_only:
            parts.append("first playthrough of each viewer only")
        if self.audience_note:
            parts.append(self.audience_note)
        return " · ".join(parts)


def _cutoff(text: str, *, end: bool) -> str:
    try:
        stamp = parse_cutoff(text)
    except InvalidInput as exc:
        raise FilterInvalid(str(exc)) from None
    if end and len(text.strip()) == 10:  # a bare date: take in the whole day
        day = datetime.fromisoformat(stamp[:10]).replace(tzinfo=UTC)
        last = datetime.max.replace(tzinfo=UTC)  # the day after 9999-12-31 does not exist
        stamp = format_ts(day + timedelta(days=1) if day.date() < last.date() else last)
    return stamp


def make_filters(
    *,
    since: str | None = None,
    until: str | None = None,
    version: str | None = None,
    where: tuple[str, ...] | list[str] = (),
    first_only: bool = False,
    audience: str = "auto",
) -> Filters:
    """Filters from what a user typed; bad dates or `--where` items raise AnalyticsError."""
    if audience not in AUDIENCES:
        raise FilterInvalid(f"--audience must be one of {', '.join(AUDIENCES)}, not {audience!r}")
    pairs: list[tuple[str, str]] = []
    for item in where:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise FilterInvalid(f"--where {item!r} must look like KEY=VALUE, e.g. region=NL")
        pairs.append((key.strip(), value.strip()))
    lo = _cutoff(since, end=False) if since else None
    hi = _cutoff(until, end=True) if until else None
    if lo and hi and lo >= hi:
        raise FilterInvalid(f"--since {since} is not before --until {until}")
    return Filters(
        since=lo,
        until=hi,
        version=version,
        where=tuple(pairs),
        first_only=first_only,
        audience=audience,
    )


def audience_counts(conn: Queryable, story_id: str) -> tuple[int, int]:
    """Sessions of `story_id`: (real, simulated)."""
    real = simulated = 0
    if "simulated" not in columns_of(conn, "sessions"):  # read before its migration: all real
        sql = "SELECT 0, COUNT(*) FROM sessions WHERE story_id = ?"
    else:
        sql = "SELECT simulated, COUNT(*) FROM sessions WHERE story_id = ? GROUP BY 1"
    for flag, count in query(conn, sql, [story_id]):
        if flag:
            simulated += count
        else:
            real += count
    return real, simulated


def settle_audience(conn: Queryable, story_id: str, filters: Filters) -> Filters:
    """`filters` with its audience resolved (real, simulated or all) and put in words.

    Two index probes decide it; sessions are counted (for the words) only for
    an audience that is there, so the unfiltered flowchart of a story with no
    simulated sessions stays a read of the running totals.
    """
    marked = "simulated" in columns_of(conn, "sessions")

    def count(flag: int, *, probe: bool = False) -> int:
        if not marked:
            return 0 if flag else int(probe)  # read before m008: every session is real
        if probe:  # one index probe (EXISTS as a value is not portable: Spark refuses it)
            sql = "SELECT 1 FROM sessions WHERE story_id = ? AND simulated = ? LIMIT 1"
            return len(query(conn, sql, [story_id, flag]))
        sql = "SELECT COUNT(*) FROM sessions WHERE story_id = ? AND simulated = ?"
        return int(query(conn, sql, [story_id, flag])[0][0])

    has_real, has_simulated = count(0, probe=True), count(1, probe=True)
    asked = filters.audience
    if asked == "auto":
        asked = "real" if has_real and has_simulated else "all"
    if asked == "real" and not has_simulated or asked == "simulated" and not has_real:
        asked = "all"  # the database holds only that audience: nothing to leave out
    if asked == "real":
        note = f"real viewers only ({count(1):,} simulated sessions left out)"
    elif asked == "simulated":
        note = f"simulated sessions only ({count(0):,} real ones left out)"
    elif has_simulated and has_real:
        note = f"real and simulated sessions ({count(1):,} simulated)"
    elif has_simulated:
        note = "a simulated audience: every session here is simulated"
    else:
        note = ""
    return replace(filters, audience=asked, audience_note=note)


def session_conditions(
    story_id: str, chosen: list[Version], filters: Filters
) -> tuple[str, list[object]]:
    """Portable SQL over `sessions s` choosing the sessions of `filters`, and its parameters.

    `--where` is an uncorrelated IN over the attributes; `--first-only` takes
    each viewer's earliest session of the story (in any version) by
    ROW_NUMBER, then the other conditions apply.
    """
    sql = ["s.story_id = ?"]
    params: list[object] = [story_id]
    if filters.version:
        sql.append(f"s.content_hash IN ({', '.join('?' for _ in chosen)})")
        params += [v.content_hash for v in chosen]
    if filters.since:
        sql.append("s.started_at >= ?")
        params.append(filters.since)
    if filters.until:
        sql.append("s.started_at < ?")
        params.append(filters.until)
    for key, value in filters.where:
        sql.append(
            "s.session_id IN (SELECT a.session_id FROM session_attrs a"
            " WHERE a.key = ? AND a.value = ?)"
        )
        params += [key, value]
    if filters.audience in ("real", "simulated"):
        sql.append(f"s.simulated = {int(filters.audience == 'simulated')}")
    if filters.first_only:
        sql.append("""s.session_id IN (SELECT f.session_id FROM (
                      SELECT session_id, ROW_NUMBER() OVER (
                        PARTITION BY viewer_id ORDER BY started_at, session_id) AS nth
                      FROM sessions WHERE story_id = ?) f WHERE f.nth = 1)""")
        params.append(story_id)
    return " AND ".join(sql), params


def pick_sessions(
    conn: sqlite3.Connection, story_id: str, chosen: list[Version], filters: Filters
) -> int:
    """Fill TEMP table `picked(session_id, viewer_id)`; return how many sessions it holds."""
    cond, params = session_conditions(story_id, chosen, filters)
    conn.execute("DROP TABLE IF EXISTS temp.picked")
    conn.execute(
        "CREATE TEMP TABLE picked (session_id TEXT PRIMARY KEY, viewer_id TEXT) WITHOUT ROWID"
    )
    conn.execute(
        f"INSERT INTO temp.picked SELECT s.session_id, s.viewer_id FROM sessions s WHERE {cond}",
        params,
    )
    return int(conn.execute("SELECT COUNT(*) FROM temp.picked").fetchone()[0])


def tally(unit: Unit, cond: str = "1") -> str:
    """SQL counting events `e` (joined to `picked p`) that meet `cond`, in `unit`."""
    if unit == "times":
        return "COUNT(*)" if cond == "1" else f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)"
    column = "e.session_id" if unit == "sessions" else "p.viewer_id"
    if cond == "1":  # `CASE WHEN 1` is not portable (Spark wants a boolean)
        return f"COUNT(DISTINCT {column})"
    return f"COUNT(DISTINCT CASE WHEN {cond} THEN {column} END)"


def tally_sessions(unit: Unit, cond: str = "1", alias: str = "p") -> str:
    """SQL counting picked sessions (`alias`, with session_id and viewer_id) meeting `cond`."""
    column = f"{alias}.viewer_id" if unit == "viewers" else f"{alias}.session_id"
    if cond == "1":
        return f"COUNT(DISTINCT {column})"
    return f"COUNT(DISTINCT CASE WHEN {cond} THEN {column} END)"
