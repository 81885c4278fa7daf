"""`segments` on SQLite when counting sessions: one read of the chosen sessions,
counted in C (the tags: `tags_rollup`).

The portable query (`segments.segments`) groups every chosen session once
per breakdown: at 180,000 sessions SQLite sorts 1.6 million rows, and
summing them in a Python loop took as long. Sessions add up, so here the
breakdowns read as shown (terminal, platform, size) and the attributes are
read once per session, with its digest (`stats_rollup.Digested`: its
decisions), and counted as whole rows by a `collections.Counter` (C speed,
memory bounded by the batch) of (ended + 2 x decisions, values...): whether
the session ended and its decisions ride along with its values, and the few
thousand distinct rows are summed afterwards into sessions, ended sessions
and decisions per value.

The local times come in the same read (they were a second read, which SQL
grouped by date and hour: 0.3-0.4 s of sorting at 10 M events): each session's
local time is one short text, its UTC date and its local time in whole hours
since that date's midnight, `h` (`LOCAL_TEXT`: the same `floor_div` of the
same minutes as `segments.LOCAL_HOUR`), a couple of thousand distinct ones.
SQL works it out, but not per session (that was 0.2 s of the read's 0.5 at 10
M events): the read gives the start and offset as stored, and `LocalClock.
of_starts` asks SQL for the text of each distinct start's hour and offset when
the offset is whole hours and the start's minute 00 to 59 (its text is then its
hour's first minute's: the minutes cannot carry it past the hour), and of each
distinct start and offset otherwise (an odd start, or a half-hour zone), so
the text is always SQL's own. Each distinct text becomes one code
(`LocalClock`): the hour `h mod 24` and the
weekday, the UTC date's (from the very SQL of `segments`, `UTC_WEEKDAY`, run
once per distinct date) shifted by `h // 24`. A start that is not a timestamp
is "unknown" in both, as there. The sessions are counted by code and (ended
+ 2 x decisions), packed in one integer: a few thousand keys where (date,
hours, decisions) would have been nearly one per session. The read runs with
a small page cache (`small_cache`): it scans the digests in table order.

Counting viewers, the breakdowns are `segments_viewers`' (one read in viewer
order; it shares this module's columns, attributes, clock and cache).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import compress, repeat
from operator import and_, getitem, is_, itemgetter, lshift, or_
from typing import Any, cast

from branching.analytics.rows import Segment
from branching.analytics.segments import (
    DIMENSIONS,
    MINUTES,
    STAMP,
    UTC_WEEKDAY,
    Grouped,
    floor_div,
    from_grouped,
)
from branching.analytics.stats_rollup import Digested

_BATCH = 20_000  # sessions counted at a time: memory stays flat
PLAIN = ("terminal", "platform", "terminal size")  # columns read as they are shown
HOUR, WEEKDAY = list(DIMENSIONS).index("local hour"), list(DIMENSIONS).index("weekday")


def columns_of(d: Digested) -> tuple[list[str], str, str]:
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

    One read: the breakdowns read as shown and the attributes, counted here as
    whole rows (a few thousand distinct ones), and the local times, counted by
    their code (`LocalClock`) and (ended + 2 x decisions)."""
    alone = d.alone is not None
    keys, joins, values = ([], "", "") if alone else columns_of(d)
    plain = ", ".join(DIMENSIONS[name] for name in PLAIN)
    ended = "CASE WHEN s.outcome = 'ending' THEN 1 ELSE 0 END"
    # (ended + 2 * decisions, the breakdowns read as shown, each attribute's value or the
    # text of them all): the session's ending and decisions ride along with its values
    held: Counter[tuple[Any, ...]] = Counter()
    timed: Counter[int] = Counter()  # (ended + 2 * decisions) << 8 | the local time's code
    clock = LocalClock(d)
    with small_cache(d):
        cursor = d.conn.execute(
            f"""SELECT {ended} + 2 * {d.column("made")}, {STARTS},
                   {plain}{", s.attrs" if alone else values}
            FROM {d.joined}{"" if alone else joins}
            WHERE {d.where[0]}""",
            [*([] if alone else keys), *d.where[1]],
        )
        rest: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None
        while batch := cursor.fetchmany(_BATCH):
            rest = rest or itemgetter(0, *range(3, len(batch[0])))
            held.update(map(rest, batch))
            codes = clock.of_starts(
                list(map(itemgetter(1), batch)), list(map(itemgetter(2), batch))
            )
            timed.update(map(or_, map(lshift, map(itemgetter(0), batch), repeat(8)), codes))
    texts: dict[str | None, dict[str, str]] = {}
    if alone:  # each distinct text of attributes, decoded; every key a chosen session has
        texts = {found[-1]: attributes(found[-1]) for found in held}
        keys = sorted({key for attrs in texts.values() for key in attrs})
    tallies: list[Counter[tuple[Any, int]]] = [Counter() for _ in range(len(PLAIN) + len(keys))]
    for (both, *values_of), n in held.items():
        if alone:
            values_of = [*values_of[:-1], *(texts[values_of[-1]].get(key) for key in keys)]
        for i, value in enumerate(values_of):
            tallies[i][(value, both)] += n
    grouped: list[tuple[Any, ...]] = []
    for i, name in enumerate(PLAIN):
        grouped += _rows(list(DIMENSIONS).index(name), _sums(tallies[i]), numbered=False)
    grouped += _local_times(timed)
    kept: list[str] = []
    for j, key in enumerate(keys):
        sums = _sums(tallies[len(PLAIN) + j])
        if any(value is not None for value in sums):  # else no chosen session has the key
            kept.append(key)
            grouped += _rows(-len(kept), sums, numbered=False)
    return from_grouped(kept, grouped)


_PAIR = re.compile(r"'((?:[^']|'')*)'='((?:[^']|'')*)'")


def attributes(text: str | None) -> dict[str, str]:
    """A digest's `attrs` (m015: `'key'='value'` SQL literals, by key, comma-separated)."""
    return {
        key.replace("''", "'"): value.replace("''", "'") for key, value in _PAIR.findall(text or "")
    }


Sums = dict[Any, tuple[int, int, int]]  # value -> (sessions, of them ended, their decisions)


def add_sums(into: Sums, value: Any, both: int, n: int) -> None:
    """`n` sessions with `value`, each ended (`both` & 1) and with `both` >> 1 decisions."""
    sessions, ended, made = into.get(value, (0, 0, 0))
    into[value] = (sessions + n, ended + n * (both & 1), made + n * (both >> 1))


def _sums(tally: Counter[tuple[Any, int]]) -> Sums:
    out: Sums = {}
    for (value, both), n in tally.items():
        add_sums(out, value, both, n)
    return out


def _rows(part: int, sums: Sums, *, numbered: bool) -> list[tuple[Any, ...]]:
    """`segments.from_grouped`'s rows of one breakdown."""
    return [
        (part, None if numbered else value, value if numbered else None, n, e, m, n)
        for value, (n, e, m) in sums.items()
    ]


def _local_times(timed: Counter[int]) -> Grouped:
    """The local hour and weekday rows, from the sessions counted by (ended + 2 x
    decisions) << 8 | the local time's code (`LocalClock`)."""
    coded: Sums = {}  # first by code (a couple of hundred), then by hour and by weekday
    for packed, n in timed.items():
        add_sums(coded, packed & 255, packed >> 8, n)
    out: list[tuple[Any, ...]] = []
    for part, of in ((HOUR, hour_of), (WEEKDAY, day_of)):
        sums: Sums = {}
        for code, (n, ended, made) in coded.items():
            was = sums.get(of(code), (0, 0, 0))
            sums[of(code)] = (was[0] + n, was[1] + ended, was[2] + made)
        out += _rows(part, sums, numbered=True)
    return out


# each session's local time as SQL gives it: its UTC date and the local hours since that
# date's midnight (`segments`' own `MINUTES`, floored), `YYYY-MM-DD h`; None when the
# start is not a timestamp (its hour and weekday are "unknown")
LOCAL_TEXT = f"""CASE WHEN {STAMP} THEN substr(s.started_at, 1, 10) || ' ' ||
    {floor_div(MINUTES, 60)} END"""
NO_TIME = 255  # the code of a start that is not a timestamp: hour 31, weekday 7
# what `LocalClock.of_starts` reads: the start ('' for none: not a timestamp either) and
# the offset as stored
STARTS = "COALESCE(s.started_at, ''), s.utc_offset_min"
_MINUTE = slice(13, 16)  # a start's `:MM`
_MINUTES = frozenset(f":{m:02d}" for m in range(60))
_HOUR = slice(0, 13)  # a start's `YYYY-MM-DDTHH`
_CUT = {True: _HOUR, False: slice(None)}  # an hourly start's hour, or all of it
_FAR = 10**15  # offsets past it could overflow SQLite's integers: keyed by the whole start


class LocalClock:
    """Each session's local hour and weekday from its `LOCAL_TEXT`, as one small
    integer: hour x 8 + weekday (0: Sunday), `NO_TIME` for None; the hour is the
    code >> 3, the weekday the code & 7 (`hour_of`, `day_of`). A few thousand
    distinct texts at 10 M events, each worked out once (`segments.LOCAL_HOUR` and
    `LOCAL_WEEKDAY` taken apart: `h % 24`, and the UTC date's weekday, by
    `UTC_WEEKDAY` itself, shifted by `h // 24`), not once per session."""

    def __init__(self, d: Digested) -> None:
        self.d = d
        self.codes: dict[str | None, int] = {None: NO_TIME}
        self.keyed: dict[tuple[Any, Any, bool], int] = {}  # (start or its hour, offset, hourly)
        self.hourly: dict[int, dict[str, int]] = {}  # offset -> start's hour -> code

    def of(self, texts: Sequence[str | None]) -> list[int]:
        """The code of each text."""
        new = set(texts) - self.codes.keys()
        if new:
            days = weekdays(self.d, {text[:10] for text in new if text is not None})
            for text in new:
                assert text is not None  # (None is known from the start)
                h = int(text[11:])
                self.codes[text] = h % 24 * 8 + (days[text[:10]] + h // 24) % 7
        return list(map(self.codes.__getitem__, texts))

    def of_starts(self, starts: Sequence[Any], offsets: Sequence[Any]) -> list[int]:
        """The code of each session from its start and UTC offset as stored (`STARTS`),
        its `LOCAL_TEXT` worked out by SQL once per distinct (start, offset) whose
        text it may differ from: a start's minute (`:MM`, 00 to 59) is never past the
        hour a whole-hour offset shifts it to, so those sessions are keyed by the
        start's hour (`...THH`), and their text is the one of that hour's first
        minute: a few thousand keys, not one per session. A batch with one such
        offset and no other minute (nearly always) is keyed by the hours alone."""
        if None in starts:  # (no start: not a timestamp either, as '' is not)
            starts = ["" if start is None else start for start in starts]
        if None in offsets:  # (no offset: `MINUTES` reads it as 0, so it is keyed as 0)
            offsets = [0 if offset is None else offset for offset in offsets]
        found = set(offsets)
        if len(found) == 1 and _whole_hours(offset := next(iter(found))):
            if set(map(getitem, starts, repeat(_MINUTE))) <= _MINUTES:
                return self._coded(
                    self.hourly.setdefault(offset, {}),
                    list(map(getitem, starts, repeat(_HOUR))),
                    lambda hour: (hour + ":00", offset),
                )
        offs = {v: _whole_hours(v) for v in found}
        hourly = list(
            map(
                and_,
                map(_MINUTES.__contains__, map(getitem, starts, repeat(_MINUTE))),
                map(offs.__getitem__, offsets),
            )
        )
        cut = map(getitem, starts, map(_CUT.__getitem__, hourly))
        return self._coded(  # (whether the key is an hour's: a start may be 13 long)
            self.keyed,
            list(zip(cut, offsets, hourly, strict=True)),
            lambda key: (key[0] + ":00" if key[2] else key[0], key[1]),
        )

    def _coded(
        self, table: dict[Any, int], keys: list[Any], start: Callable[[Any], Any]
    ) -> list[int]:
        """The code of each key in `table`, the new ones (`start`: the (start, offset) whose
        `LOCAL_TEXT` a key stands for) worked out first."""
        codes = list(map(table.get, keys))
        if None in codes:  # (a look-up each: a set of the keys hashed them all again)
            new = list(set(compress(keys, map(is_, codes, repeat(None)))))
            texts = local_texts(self.d, list(map(start, new)))
            table.update(zip(new, self.of(texts), strict=True))
            codes = list(map(table.__getitem__, keys))
        return cast(list[int], codes)  # (no None left)


def _whole_hours(offset: Any) -> bool:
    """Whether a stored offset is a whole number of hours (not so far out that SQLite's
    integers could overflow)."""
    return type(offset) is int and offset % 60 == 0 and abs(offset) < _FAR


def hour_of(code: int) -> int | None:
    return None if code == NO_TIME else code >> 3


def day_of(code: int) -> int | None:
    return None if code == NO_TIME else code & 7


_SORT_KIB = 4_096  # SQLite's page cache while the digests are read in table order


@contextmanager
def small_cache(d: Digested) -> Iterator[None]:
    """A small page cache for a read of the digests alone in table order (a scan, and
    SQLite's sort sizes its runs by it), the caller's put back after."""
    if d.alone is None:  # the sessions joined to their digests: lookups, keep the cache
        yield
        return
    (cache,) = d.conn.execute("PRAGMA cache_size").fetchone()
    d.conn.execute(f"PRAGMA cache_size = -{_SORT_KIB}")
    try:
        yield
    finally:
        d.conn.execute(f"PRAGMA cache_size = {int(cache)}")


def local_texts(d: Digested, starts: Sequence[tuple[Any, Any]]) -> list[str | None]:
    """`LOCAL_TEXT` of each (start, offset), by SQL itself, in their order."""
    out: list[str | None] = []
    for at in range(0, len(starts), 400):
        chunk = starts[at : at + 400]
        picks = " UNION ALL ".join(
            "SELECT ? AS i, ? AS started_at, ? AS utc_offset_min" for _ in chunk
        )
        found = dict(
            d.conn.execute(
                f"SELECT s.i, {LOCAL_TEXT} FROM ({picks}) s",
                [v for i, pair in enumerate(chunk) for v in (i, *pair)],
            )
        )
        out += [found[i] for i in range(len(chunk))]
    return out


def weekdays(d: Digested, dates: Iterable[str]) -> dict[str, int]:
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
