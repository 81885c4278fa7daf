"""`segments` and `tags` on SQLite when counting sessions: two reads of the chosen
sessions, counted in C; `segments` counting viewers: one read in viewer order.

The portable query (`segments.segments`) groups every chosen session once
per breakdown: at 180,000 sessions SQLite sorts 1.6 million rows, and
summing them in a Python loop took as long. Sessions add up, so here the
breakdowns read as shown (terminal, platform, size) and the attributes are
read once per session, with its digest (`stats_rollup.Digested`: its
decisions), and counted as whole rows by a `collections.Counter` (C speed,
memory bounded by the batch) of (ended + 2 x decisions, values...): whether
the session ended and its decisions ride along with its values, and the few
thousand distinct rows are summed afterwards into sessions, ended sessions
and decisions per value. The local times are the other read: SQL groups the
sessions by (UTC date, local hours since it) and sums them (a couple of
thousand groups); counted here, nearly every session's (date, hours,
decisions) would have been a key of its own.

The local hour and weekday are the ones `segments.LOCAL_HOUR` and
`LOCAL_WEEKDAY` compute, taken apart: SQL gives each session's UTC date and
its local time in whole hours since that date's midnight, `h` (the same
`floor_div` of the same minutes); the hour is `h mod 24`, the day shift
`h // 24`, and the UTC date's weekday comes from the very SQL of
`segments` (`UTC_WEEKDAY`), run once per distinct date instead of once per
session. A start that is not a timestamp is "unknown" in both, as there.

Counting viewers (`viewer_segments`), the same rows are read in viewer order
and each viewer's values are a set, flushed into the counts when the next
viewer starts: a viewer counts once per value, as the portable query's
`COUNT(DISTINCT w)` counts them, without its sort of one row per session and
breakdown (1.6 million at 180,000 sessions, about 7 s).
"""

from __future__ import annotations

import operator
import re
from collections import Counter
from collections.abc import Iterable
from itertools import compress, repeat
from typing import Any

from branching.analytics.rows import Segment, TagShare
from branching.analytics.segments import (
    DIMENSIONS,
    MINUTES,
    STAMP,
    UTC_WEEKDAY,
    Grouped,
    floor_div,
    from_grouped,
    tag_shares,
    tagged,
)
from branching.analytics.shape import Shape
from branching.analytics.stats_rollup import Digested
from branching.store.digests import names

_BATCH = 20_000  # sessions counted at a time: memory stays flat
_PLAIN = ("terminal", "platform", "terminal size")  # columns read as they are shown
_HOUR, _WEEKDAY = list(DIMENSIONS).index("local hour"), list(DIMENSIONS).index("weekday")


def _columns(d: Digested) -> tuple[list[str], str, str]:
    """What both readers join when the sessions are read: every attribute key held,
    the joins to one value of each and those values' columns (after a comma)."""
    keys = [str(k) for (k,) in d.conn.execute("SELECT DISTINCT key FROM session_attrs")]
    joins = "".join(
        f"\n        LEFT JOIN session_attrs x{j} ON x{j}.session_id = s.session_id AND x{j}.key = ?"
        for j in range(len(keys))
    )
    values = "".join(f", x{j}.value" for j in range(len(keys)))
    return keys, joins, values


def digest_segments(d: Digested) -> list[Segment]:
    """`segments.segments` counting sessions (`d.unit` must be "sessions": viewers do
    not add up across batches), from the sessions, their digests and attributes.

    Read alone (`Digested.alone`), each digest holds its session's columns and its
    attributes as one text (m015): no join, and the attributes are counted by text
    (a few distinct ones), each text decoded once (`attributes`); the keys are those
    the chosen sessions hold, so `session_attrs` is not read at all.

    Two reads: the breakdowns read as shown and the attributes, counted here as
    whole rows (a few thousand distinct ones); and the local times, which SQL
    groups by (UTC date, local hours since it) and sums: counted here, nearly
    every session's (date, hours, decisions) would be a key of its own."""
    alone = d.alone is not None
    keys, joins, values = ([], "", "") if alone else _columns(d)
    plain = ", ".join(DIMENSIONS[name] for name in _PLAIN)
    ended = "CASE WHEN s.outcome = 'ending' THEN 1 ELSE 0 END"
    cursor = d.conn.execute(
        f"""SELECT {ended} + 2 * {d.column("made")}, {plain}{", s.attrs" if alone else values}
        FROM {d.joined}{"" if alone else joins}
        WHERE {d.where[0]}""",
        [*([] if alone else keys), *d.where[1]],
    )
    # (ended + 2 * decisions, the breakdowns read as shown, each attribute's value or the
    # text of them all): the session's ending and decisions ride along with its values
    held: Counter[tuple[Any, ...]] = Counter()
    while batch := cursor.fetchmany(_BATCH):
        held.update(batch)
    times: Sums = {
        (date, h): (int(n), int(e or 0), int(m or 0))
        for date, h, n, e, m in d.read(
            f"""CASE WHEN {STAMP} THEN substr(s.started_at, 1, 10) END,
            CASE WHEN {STAMP} THEN {floor_div(MINUTES, 60)} END,
            COUNT(*), SUM({ended}), SUM({d.column("made")})""",
            "GROUP BY 1, 2",
        )
    }
    texts: dict[str | None, dict[str, str]] = {}
    if alone:  # each distinct text of attributes, decoded; every key a chosen session has
        texts = {found[-1]: attributes(found[-1]) for found in held}
        keys = sorted({key for attrs in texts.values() for key in attrs})
    tallies: list[Counter[tuple[Any, int]]] = [Counter() for _ in range(len(_PLAIN) + len(keys))]
    for (both, *values_of), n in held.items():
        if alone:
            values_of = [*values_of[:-1], *(texts[values_of[-1]].get(key) for key in keys)]
        for i, value in enumerate(values_of):
            tallies[i][(value, both)] += n
    grouped: list[tuple[Any, ...]] = []
    for i, name in enumerate(_PLAIN):
        grouped += _rows(list(DIMENSIONS).index(name), _sums(tallies[i]), numbered=False)
    grouped += _local_times(d, times)
    kept: list[str] = []
    for j, key in enumerate(keys):
        sums = _sums(tallies[len(_PLAIN) + j])
        if any(value is not None for value in sums):  # else no chosen session has the key
            kept.append(key)
            grouped += _rows(-len(kept), sums, numbered=False)
    return from_grouped(kept, grouped)


def viewer_segments(d: Digested) -> list[Segment]:
    """`segments.segments` counting viewers (`d.unit` "viewers"), from the same rows as
    `digest_segments`, read in viewer order: each viewer's breakdown values (and those
    of their sessions that ended) are a set, so a viewer counts once per value however
    many of their sessions have it; the decisions per session add up as they are.
    Memory holds one viewer's values and the counts per value."""
    keys, joins, values = _columns(d)
    plain = ", ".join(DIMENSIONS[name] for name in _PLAIN)
    dated = f"CASE WHEN {STAMP} THEN substr(s.started_at, 1, 10) END"
    weekday = _weekdays(d, [str(t) for (t,) in d.own(f"DISTINCT {dated}") if t is not None])
    parts = [list(DIMENSIONS).index(name) for name in _PLAIN]
    attr_parts = [-1 - j for j in range(len(keys))]
    units: Counter[tuple[int, Any]] = Counter()  # (part, value) -> viewers
    ended: Counter[tuple[int, Any]] = Counter()  # of them with a session that ended
    made: Counter[tuple[int, Any]] = Counter()  # decisions of the sessions with the value
    sessions: Counter[tuple[int, Any]] = Counter()
    mine: set[tuple[int, Any]] = set()
    mine_ended: set[tuple[int, Any]] = set()
    viewer: object = None
    for who, done, decided, *row in d.conn.execute(
        f"""SELECT s.viewer_id, s.outcome = 'ending', {d.column("made")}, {plain}, {dated},
               CASE WHEN {STAMP} THEN {floor_div(MINUTES, 60)} END{values}
        FROM {d.joined}{joins}
        WHERE {d.where[0]} ORDER BY s.viewer_id""",
        [*keys, *d.where[1]],
    ):
        if who != viewer:
            units.update(mine)
            ended.update(mine_ended)
            mine, mine_ended, viewer = set(), set(), who
        date, h = row[len(_PLAIN)], row[len(_PLAIN) + 1]
        at = [
            *zip(parts, row[: len(_PLAIN)], strict=True),
            (_HOUR, None if h is None else int(h) % 24),
            (_WEEKDAY, None if h is None else (weekday[str(date)] + int(h) // 24) % 7),
            *zip(attr_parts, row[len(_PLAIN) + 2 :], strict=True),
        ]
        mine.update(at)
        if done:
            mine_ended.update(at)
        sessions.update(at)
        if decided:
            for key in at:
                made[key] += int(decided)
    units.update(mine)
    ended.update(mine_ended)
    grouped: list[tuple[Any, ...]] = []
    kept: dict[int, int] = {}  # attribute part -> its part among the keys some session has
    for j in range(len(keys)):
        if any(part == -1 - j and value is not None for part, value in units):
            kept[-1 - j] = -1 - len(kept)
    for (part, value), n in units.items():
        if part < 0 and part not in kept:
            continue
        numbered = part in (_HOUR, _WEEKDAY)
        grouped.append(
            (
                kept.get(part, part),
                None if numbered else value,
                value if numbered else None,
                n,
                ended[(part, value)],
                made[(part, value)],
                sessions[(part, value)],
            )
        )
    return from_grouped([keys[-1 - part] for part in kept], grouped)


_PAIR = re.compile(r"'((?:[^']|'')*)'='((?:[^']|'')*)'")


def attributes(text: str | None) -> dict[str, str]:
    """A digest's `attrs` (m015: `'key'='value'` SQL literals, by key, comma-separated)."""
    return {
        key.replace("''", "'"): value.replace("''", "'") for key, value in _PAIR.findall(text or "")
    }


Sums = dict[Any, tuple[int, int, int]]  # value -> (sessions, of them ended, their decisions)


def _sums(tally: Counter[tuple[Any, int]]) -> Sums:
    out: dict[Any, list[int]] = {}
    for (value, both), n in tally.items():
        row = out.setdefault(value, [0, 0, 0])
        row[0] += n
        row[1] += n * (both & 1)
        row[2] += n * (both >> 1)
    return {value: (n, e, m) for value, (n, e, m) in out.items()}


def _rows(part: int, sums: Sums, *, numbered: bool) -> list[tuple[Any, ...]]:
    """`segments.from_grouped`'s rows of one breakdown."""
    return [
        (part, None if numbered else value, value if numbered else None, n, e, m, n)
        for value, (n, e, m) in sums.items()
    ]


def _local_times(d: Digested, sums: Sums) -> Grouped:
    """The local hour and weekday rows, from the sums by (UTC date, local hours `h`)."""
    weekday = _weekdays(d, {date for date, _ in sums if date is not None})
    hours: dict[Any, list[int]] = {}
    days: dict[Any, list[int]] = {}
    for (date, h), figures in sums.items():
        hour = None if h is None else int(h) % 24
        day = None if h is None else (weekday[date] + int(h) // 24) % 7
        for into, key in ((hours, hour), (days, day)):
            row = into.setdefault(key, [0, 0, 0])
            for k in range(3):
                row[k] += figures[k]
    return [
        *_rows(_HOUR, {k: (n, e, m) for k, (n, e, m) in hours.items()}, numbered=True),
        *_rows(_WEEKDAY, {k: (n, e, m) for k, (n, e, m) in days.items()}, numbered=True),
    ]


def _weekdays(d: Digested, dates: Iterable[str]) -> dict[str, int]:
    """The UTC weekday of each date (0: Sunday), by `segments.UTC_WEEKDAY` itself."""
    out: dict[str, int] = {}
    todo = sorted(dates)
    for at in range(0, len(todo), 400):
        chunk = todo[at : at + 400]
        picks = " UNION ALL ".join("SELECT ? AS started_at" for _ in chunk)
        for date, day in d.conn.execute(
            f"SELECT s.started_at, (({UTC_WEEKDAY}) % 7 + 7) % 7 FROM ({picks}) s", chunk
        ):
            out[str(date)] = int(day)
    return out


def counted_tags(d: Digested, shape: Shape, started: int) -> list[TagShare]:
    """`segments.tags` counting sessions, from the digests' scenes shown and choices taken.

    Each session's lists are counted as they are (a `Counter` per batch, C speed),
    and each distinct list is searched once per code of a tag, by `in` over all of
    them at once (`map`, no Python loop per list: at 10 M events 62,000 distinct
    scene lists and 118,000 choice lists, 0.96 s with a set built per list, 0.28 s
    so); sessions with the same list count together (`stats_rollup.digest_tags`
    asks SQL to search every session's lists, which takes longer than reading them).
    """
    every = tagged(shape)
    if not every:
        return []
    codes = {name: str(code) for code, name in names(d.conn).items()}
    wanted: list[tuple[int, frozenset[str]]] = []  # (0: shown, 1: took; the codes of a tag)
    for t in every:
        wanted.append((0, frozenset(codes[s] for s in t.scenes if s in codes)))
        if t.kind == "choice":
            wanted.append((1, frozenset(codes[p] for p in t.pairs if p in codes)))
    lists: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
    none = "'[]'"  # a session without a digest
    cursor = d.read(f"{d.column('shown', none)}, {d.column('took', none)}")
    while batch := cursor.fetchmany(_BATCH):
        shown, took = zip(*batch, strict=True)
        lists[0].update(shown)
        lists[1].update(took)
    totals = [0] * len(wanted)
    for which in (0, 1):
        mine = [(i, want) for i, (kind, want) in enumerate(wanted) if kind == which and want]
        if not mine:
            continue
        texts = lists[which]
        weights = list(texts.values())
        # each distinct list as ",a,b,c,": a code is found as ",code," wherever it stands
        wrapped = [f",{text[1:-1]}," for text in texts]
        for i, want in mine:
            hit: list[bool] = []
            for code in sorted(want):
                found = map(operator.contains, wrapped, repeat(f",{code},"))
                hit = list(map(operator.or_, hit, found)) if hit else list(found)
            totals[i] = sum(compress(weights, hit))
    return tag_shares(every, started, totals)
