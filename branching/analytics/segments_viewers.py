"""`segments` counting viewers on SQLite: one read of the chosen sessions in viewer
order, counted a batch of whole viewers at a time.

A viewer counts once per value, as the portable query's `COUNT(DISTINCT w)`
counts them, without its sort of one row per session and breakdown (1.6
million at 180,000 sessions, about 7 s), and without a Python statement per
session (the loop this replaced took 2.0-2.3 s of CPU at 10 M events, the
batches 1.2-1.5, the batches below 0.6-0.7): each step is one call over a batch
(`Counter`s and sets of zipped columns or of integers packed by shifts), in C.

Where the time went, at 10 M events (180,000 sessions, 90,000 viewers): SQLite
reading the digests in table order and sorting them by viewer (cheaper than
walking the index by viewer, which looks up every row: 1.1 s), and Python
hashing what it counts. So: most viewers (74,500 of 90,000) have one session,
and count as that session does, in the same `Counter` pass as the sums; only
the others go through sets of (viewer, value). The local time is worked out by
SQL as a short text (UTC date, local hours since its midnight) once per hour of
the start and whole-hour offset, a few thousand (`LocalClock.of_starts`), and
turned into one small code per text, not per session. The sort
runs with a small page cache: a table scan gains nothing from a large one, and
SQLite's sort, which sizes its runs by it, was 0.1 s faster and the process
50 MB smaller. Counting sessions, and the helpers both share (the breakdowns
read as shown, the attributes' text, the weekday of a date), are in
`segments_rollup`.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from itertools import accumulate, compress, repeat
from operator import and_, itemgetter, lshift, ne, not_, or_, rshift
from typing import Any

from branching.analytics.accelerated import Overview
from branching.analytics.rows import Segment
from branching.analytics.segments import DIMENSIONS, from_grouped
from branching.analytics.segments_rollup import (
    HOUR,
    PLAIN,
    WEEKDAY,
    LocalClock,
    Sums,
    add_sums,
    attributes,
    columns_of,
    day_of,
    hour_of,
    small_cache,
)
from branching.analytics.stats_rollup import Digested

_BATCH = 20_000  # sessions read at a time (whole viewers counted): memory stays flat


def viewer_segments(d: Digested) -> list[Segment]:
    """`segments.segments` counting viewers (`segments_and_overview` without its overview)."""
    return segments_and_overview(d)[0]


def segments_and_overview(d: Digested, *, joined: bool = True) -> tuple[list[Segment], Overview]:
    """`segments.segments` counting viewers (`d.unit` "viewers"): a viewer counts once
    per value however many of their sessions have it (and once among the ended if one
    of those ended); the sessions and their decisions add up as they are.

    One read of the chosen sessions in viewer order (from m015 the digests alone,
    their attributes as one text), counted a batch of whole viewers at a time in bulk
    (`_ViewerTally`): memory holds a batch and the counts per value. Read alone, the
    terminal, platform, size and attributes come as one text (`joined`: fewer
    objects to make and hash; read apart if a value holds the separator). The local
    time comes from the start and the offset as stored (`LocalClock.of_starts`:
    `segments`' own `MINUTES`, floored to hours by SQL once per start's hour and
    offset, a few thousand), each turned into its hour and weekday once.

    The overview of the same sessions (`stats_rollup.digest_overview` by viewers:
    sessions, viewers, started and completed, first and last start) rides along:
    `report` reads no overview of its own then (at 10 M events 0.14-0.2 s)."""
    alone = d.alone is not None
    keys, joins, values = ([], "", "") if alone else columns_of(d)
    joined = joined and alone
    fields = [DIMENSIONS[name] for name in PLAIN]
    if joined:  # the profile as one text, its fields between `_UNIT` characters
        profile = f" || char({ord(_UNIT)}) || ".join([*(f"({f})" for f in fields), "s.attrs"])
    else:  # the fields apart: the attributes as one text (alone) or a value per key
        profile = ", ".join(fields) + (", s.attrs" if alone else values)
    ended = "CASE WHEN s.outcome = 'ending' THEN 1 ELSE 0 END"
    with small_cache(d):
        tally = _tally(
            d,
            d.conn.execute(
                f"""SELECT s.viewer_id, {ended} + 2 * {d.column("made")}, s.utc_offset_min,
                       s.started_at, {profile}
                FROM {d.joined}{joins}
                WHERE {d.where[0]} ORDER BY s.viewer_id""",
                [*keys, *d.where[1]],
            ),
        )
    found = tally.segments(keys, "joined" if joined else "attrs" if alone else "values")
    if found is None:  # a field holds the separator: read the fields apart
        return segments_and_overview(d, joined=False)
    return found, tally.overview()


def _tally(d: Digested, cursor: sqlite3.Cursor) -> _ViewerTally:
    """Count the rows of `cursor` (in viewer order) a batch of whole viewers at a time."""
    tally = _ViewerTally(LocalClock(d))
    held: list[tuple[Any, ...]] = []  # the last viewer's rows: more may follow
    while batch := cursor.fetchmany(_BATCH):
        rows = held + batch
        last, cut = rows[-1][0], len(rows)
        while cut and rows[cut - 1][0] == last:
            cut -= 1
        held = rows[cut:]
        if cut:
            tally.add(rows[:cut])
    if held:
        tally.add(held)
    return tally


# a session's terminal, platform, size and attributes: a text of them all (the digests
# read alone: `_UNIT` between them) or a tuple of them (each attribute's value)
Profile = Any


class _ViewerTally:
    """The counts of `viewer_segments`, added a batch of whole viewers at a time.

    Each step is one call over the batch (sets and `Counter`s of zipped columns or of
    integers packed by shifts, C speed). Every session adds to the sums, by (ended + 2
    x decisions, value). A viewer with one session (most of them) counts as that
    session does: (ended, value). Only the others' values go through sets of (viewer
    number, value), a viewer's distinct values of a part. The terminal, platform,
    size and attributes, which rarely change between one viewer's sessions, are taken
    together as a profile: a viewer with one profile is counted by it, one with
    several by the set of their values in each part. The local time is a code
    (`LocalClock`): sums by (ended + 2 x decisions) << 8 | code, lone viewers by ended
    << 8 | code, the others' distinct hours by number << 5 | hour and weekdays by
    number << 3 | weekday."""

    def __init__(self, clock: LocalClock) -> None:
        self.clock = clock
        # a viewer's one profile, or their several -> viewers; of them with an ending
        # (of the viewers with more than one session: the lone ones are in `lone`)
        self.profiles: tuple[Counter[Any], ...] = (Counter(), Counter())
        # every session: (ended + 2 x made, profile), then (ended + 2 x made) << 8 | time
        self.sessions: Counter[tuple[int, Profile]] = Counter()
        self.times: Counter[int] = Counter()
        # the viewers with one session: (ended, profile), then ended << 8 | time
        self.lone: Counter[tuple[int, Profile]] = Counter()
        self.lone_times: Counter[int] = Counter()
        # the local hour, then weekday (as in a code: 31 and 7 for none): (viewers, of
        # them ended) by value, of the viewers with more than one session
        self.units = ((Counter[int](), Counter[int]()), (Counter[int](), Counter[int]()))
        # the overview: sessions, viewers, of them with an ending, first and last start
        self.counted = [0, 0, 0]
        self.first: str | None = None
        self.last: str | None = None

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        """Count `rows`: every session of the viewers they hold, in viewer order."""
        who, both, offsets, starts, *columns = zip(*rows, strict=True)
        profiles = columns[0] if len(columns) == 1 else list(zip(*columns, strict=True))
        codes = self.clock.of_starts(starts, offsets)
        self.sessions.update(zip(both, profiles, strict=True))
        self.times.update(map(or_, map(lshift, both, repeat(8)), codes))
        ended = list(map(and_, both, repeat(1)))
        new = [True, *map(ne, who[1:], who[:-1])]  # a row that starts a viewer
        self._overview(who, ended, new, starts)
        alone = list(map(and_, new, [*new[1:], True]))  # ... and ends them
        self.lone.update(compress(zip(ended, profiles, strict=True), alone))
        self.lone_times.update(compress(map(or_, map(lshift, ended, repeat(8)), codes), alone))
        if False not in alone:
            return
        many = list(map(not_, alone))
        # each viewer a number: one more at each change of viewer
        numbers = list(compress(accumulate(new), many))
        ended = list(compress(ended, many))
        mine = list(compress(profiles, many))
        _profiles(set(zip(numbers, mine, strict=True)), self.profiles[0])
        _profiles(set(compress(zip(numbers, mine, strict=True), ended)), self.profiles[1])
        mine = list(compress(codes, many))
        for (units, done), bits, values in (
            (self.units[0], 5, map(rshift, mine, repeat(3))),
            (self.units[1], 3, map(and_, mine, repeat(7))),
        ):
            packed = list(map(or_, map(lshift, numbers, repeat(bits)), values))
            low = (1 << bits) - 1
            units.update(map(and_, set(packed), repeat(low)))
            done.update(map(and_, set(compress(packed, ended)), repeat(low)))

    def _overview(
        self, who: tuple[Any, ...], ended: list[int], new: list[bool], starts: tuple[Any, ...]
    ) -> None:
        """Add whole viewers' sessions to the overview (a viewer's rows are all in one
        batch, so viewers add up across batches; as SQL's `COUNT(DISTINCT)`, `MIN` and
        `MAX` count them, a missing viewer or start is not counted: the missing viewers,
        in viewer order, come first, together)."""
        self.counted[0] += len(who)
        self.counted[1] += sum(new) - (who[0] is None)
        self.counted[2] += len(set(compress(who, ended)) - {None})
        try:
            low, high = min(starts), max(starts)
        except (TypeError, ValueError):  # a start missing (or none at all)
            known = [t for t in starts if t is not None]
            if not known:
                return
            low, high = min(known), max(known)
        self.first = low if self.first is None else min(self.first, low)
        self.last = high if self.last is None else max(self.last, high)

    def overview(self) -> Overview:
        """`stats_rollup.digest_overview` by viewers, of the sessions counted."""
        sessions, viewers, done = self.counted
        return sessions, viewers, viewers, done, self.first, self.last

    def segments(self, keys: list[str], kind: str) -> list[Segment] | None:
        """The breakdowns' rows. Each profile is (`kind`) one text, its fields between
        `_UNIT` characters ("joined"), or a tuple of them ("attrs"), the last the
        attributes as one text (m015), decoded here, every key a chosen session has;
        or ("values") a tuple ending with each of `keys`' values. None when a joined
        text has more fields than that (a value holds the separator): they cannot be
        told apart."""
        plain = len(PLAIN)
        decoded: dict[Profile, list[Any]] = {}
        as_text = kind != "values"  # the attributes as one text, to decode
        if as_text:
            texts = {
                profile: profile.split(_UNIT) if kind == "joined" else list(profile)
                for _, profile in self.sessions
            }
            if any(len(fields) != plain + 1 for fields in texts.values()):
                return None
            attrs = {text: attributes(fields[-1]) for text, fields in texts.items()}
            keys = sorted({key for found in attrs.values() for key in found})
            decoded = {
                text: [*fields[:plain], *(attrs[text].get(key) for key in keys)]
                for text, fields in texts.items()
            }

        def values_of(profile: Profile) -> list[Any]:
            return decoded[profile] if as_text else list(profile)

        parts = plain + len(keys)
        units = [[Counter[Any]() for _ in range(parts)] for _ in (0, 1)]
        for into, counted in zip(units, self.profiles, strict=True):
            for profile, n in counted.items():
                if isinstance(profile, _Several):  # each part's distinct values
                    found = zip(*map(values_of, profile), strict=True)
                    for tally, values in zip(into, found, strict=True):
                        for value in set(values):
                            tally[value] += n
                elif n:  # (0: a viewer counted by their several profiles)
                    for tally, value in zip(into, values_of(profile), strict=True):
                        tally[value] += n
        sums: list[Sums] = [{} for _ in range(parts)]
        for (both, profile), n in self.sessions.items():
            for summed, value in zip(sums, values_of(profile), strict=True):
                add_sums(summed, value, both, n)
        for (ended, profile), n in self.lone.items():  # a viewer with this one session
            for into, count in zip(units, (n, n * ended), strict=True):
                for tally, value in zip(into, values_of(profile), strict=True):
                    tally[value] += count
        grouped: list[tuple[Any, ...]] = []
        for j, name in enumerate(PLAIN):
            part = list(DIMENSIONS).index(name)
            grouped += _viewer_rows(part, units[0][j], units[1][j], sums[j], numbered=False)
        for part, (viewers, done), of, none in zip(
            (HOUR, WEEKDAY), self.units, (hour_of, day_of), (31, 7), strict=True
        ):
            who: Counter[Any] = Counter()
            won: Counter[Any] = Counter()
            times: Sums = {}
            for packed, n in self.times.items():
                add_sums(times, of(packed & 255), packed >> 8, n)
            for packed, n in self.lone_times.items():  # a viewer with this one session
                who[of(packed & 255)] += n
                won[of(packed & 255)] += n * (packed >> 8)
            for whole, seen in ((who, viewers), (won, done)):
                for value, n in seen.items():  # (`none`: no local time)
                    whole[None if value == none else value] += n
            grouped += _viewer_rows(part, who, won, times, numbered=True)
        kept: list[str] = []
        for j, key in enumerate(keys, start=plain):
            if any(value is not None for value in units[0][j]):  # else no chosen session has it
                kept.append(key)
                grouped += _viewer_rows(
                    -len(kept), units[0][j], units[1][j], sums[j], numbered=False
                )
        return from_grouped(kept, grouped)


class _Several(frozenset[Any]):
    """The distinct profiles of a viewer who has more than one."""


def _profiles(seen: set[tuple[int, Profile]], into: Counter[Any]) -> None:
    """Count each viewer's profile (`seen`: distinct (viewer number, profile)); a viewer
    with several, by the set of them (`_Several`)."""
    into.update(map(itemgetter(1), seen))
    many = Counter(map(itemgetter(0), seen))
    if len(many) == len(seen):
        return
    twice = {number for number, n in many.items() if n > 1}
    theirs: dict[int, list[Profile]] = {}
    for number, profile in (x for x in seen if x[0] in twice):
        theirs.setdefault(number, []).append(profile)
        into[profile] -= 1
    into.update(_Several(profiles) for profiles in theirs.values())


_UNIT = "\x1f"  # ASCII's unit separator, between the fields of a profile's text


def _viewer_rows(
    part: int, units: Counter[Any], ended: Counter[Any], sums: Sums, *, numbered: bool
) -> list[tuple[Any, ...]]:
    """`segments.from_grouped`'s rows of one breakdown counted by viewers: the viewers
    with each value, of them with an ending, then the decisions and sessions with it."""
    return [
        (
            part,
            None if numbered else v,
            v if numbered else None,
            n,
            ended[v],
            sums[v][2],
            sums[v][0],
        )
        for v, n in units.items()
    ]
