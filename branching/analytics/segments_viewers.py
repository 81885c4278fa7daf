"""`segments` counting viewers on SQLite: one read of the chosen sessions in viewer
order, counted a batch of whole viewers at a time.

A viewer counts once per value, as the portable query's `COUNT(DISTINCT w)`
counts them, without its sort of one row per session and breakdown (1.6
million at 180,000 sessions, about 7 s), and without a Python statement per
session (the loop this replaced took 2.0-2.3 s of CPU at 10 M events, the
batches 1.2-1.5): each step is one call over a batch (sets of (viewer number,
value), `Counter`s of zipped columns), in C. Counting sessions, and the
helpers both share (the breakdowns read as shown, the attributes' text, the
weekday of a date), are in `segments_rollup`.
"""

from __future__ import annotations

from collections import Counter
from itertools import accumulate, compress, repeat
from operator import add, and_, floordiv, itemgetter, mod, ne
from typing import Any

from branching.analytics.rows import Segment
from branching.analytics.segments import DIMENSIONS, MINUTES, STAMP, floor_div, from_grouped
from branching.analytics.segments_rollup import (
    HOUR,
    PLAIN,
    WEEKDAY,
    Sums,
    attributes,
    columns_of,
    weekdays,
)
from branching.analytics.stats_rollup import Digested

_BATCH = 20_000  # sessions read at a time (whole viewers counted): memory stays flat


def viewer_segments(d: Digested, *, joined: bool = True) -> list[Segment]:
    """`segments.segments` counting viewers (`d.unit` "viewers"): a viewer counts once
    per value however many of their sessions have it (and once among the ended if one
    of those ended); the sessions and their decisions add up as they are.

    One read of the chosen sessions in viewer order (from m015 the digests alone,
    their attributes as one text), counted a batch of whole viewers at a time in bulk
    (`_ViewerTally`): memory holds a batch and the counts per value. Read alone, the
    terminal, platform, size and attributes come as one text (`joined`: fewer
    objects to make and hash; read apart if a value holds the separator). The local
    hour and weekday are `segments`' SQL, worked out once per distinct start time of
    day and offset and per distinct date (`_LocalTimes`), not once per session."""
    alone = d.alone is not None
    keys, joins, values = ([], "", "") if alone else columns_of(d)
    joined = joined and alone
    fields = [DIMENSIONS[name] for name in PLAIN]
    if joined:  # the profile as one text, its fields between `_UNIT` characters
        profile = f" || char({ord(_UNIT)}) || ".join([*(f"({f})" for f in fields), "s.attrs"])
    else:  # the fields apart: the attributes as one text (alone) or a value per key
        profile = ", ".join(fields) + (", s.attrs" if alone else values)
    ended = "CASE WHEN s.outcome = 'ending' THEN 1 ELSE 0 END"
    cursor = d.conn.execute(
        f"""SELECT s.viewer_id, {ended} + 2 * {d.column("made")},
               CASE WHEN {STAMP} THEN substr(s.started_at, 1, 16) END,
               s.utc_offset_min, {profile}
        FROM {d.joined}{joins}
        WHERE {d.where[0]} ORDER BY s.viewer_id""",
        [*keys, *d.where[1]],
    )
    tally = _ViewerTally(_LocalTimes(d))
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
    found = tally.segments(keys, "joined" if joined else "attrs" if alone else "values")
    if found is None:  # a field holds the separator: read the fields apart
        return viewer_segments(d, joined=False)
    return found


class _LocalTimes:
    """Each session's local hour and weekday, by `segments`' own SQL (`MINUTES`,
    `UTC_WEEKDAY`), asked once per distinct (time of day, offset) and date."""

    def __init__(self, d: Digested) -> None:
        self.d = d
        self.hours: dict[tuple[str, Any], int] = {}  # (HH:MM, offset) -> hours since midnight
        self.days: dict[str, int] = {}  # UTC date -> weekday (0: Sunday)

    def of(self, stamps: tuple[Any, ...], offsets: tuple[Any, ...]) -> tuple[list[Any], list[Any]]:
        """(local hours, local weekdays) of the sessions' starts (`substr(started_at, 1,
        16)` when a timestamp, else None) and UTC offsets; None where not a timestamp."""
        if None in stamps:  # a start that is not a timestamp: no local time
            at = [i for i, t in enumerate(stamps) if t is not None]
            hours, days = self.of(tuple(stamps[i] for i in at), tuple(offsets[i] for i in at))
            out: tuple[list[Any], list[Any]] = ([None] * len(stamps), [None] * len(stamps))
            for i, hour, day in zip(at, hours, days, strict=True):
                out[0][i], out[1][i] = hour, day
            return out
        clocks = list(zip(map(itemgetter(slice(11, 16)), stamps), offsets, strict=True))
        self.hours.update(_sql_hours(self.d, sorted(set(clocks) - self.hours.keys(), key=repr)))
        dates = list(map(itemgetter(slice(0, 10)), stamps))
        self.days.update(weekdays(self.d, set(dates) - self.days.keys()))
        hs = list(map(self.hours.__getitem__, clocks))
        shifted = map(add, map(self.days.__getitem__, dates), map(floordiv, hs, repeat(24)))
        return list(map(mod, hs, repeat(24))), list(map(mod, shifted, repeat(7)))


def _sql_hours(d: Digested, clocks: list[tuple[str, Any]]) -> dict[tuple[str, Any], int]:
    """(HH:MM, offset) -> the local hours since the UTC date's midnight, by `MINUTES`."""
    out: dict[tuple[str, Any], int] = {}
    for at in range(0, len(clocks), 400):
        chunk = clocks[at : at + 400]
        picks = " UNION ALL ".join(
            "SELECT ? AS clock, ? AS started_at, ? AS utc_offset_min" for _ in chunk
        )
        params = [v for clock, offset in chunk for v in (clock, f"0000-00-00T{clock}", offset)]
        for clock, offset, h in d.conn.execute(
            f"SELECT s.clock, s.utc_offset_min, {floor_div(MINUTES, 60)} FROM ({picks}) s", params
        ):
            out[(str(clock), offset)] = int(h)
    return out


# a session's terminal, platform, size and attributes: a text of them all (the digests
# read alone: `_UNIT` between them) or a tuple of them (each attribute's value)
Profile = Any


class _ViewerTally:
    """The counts of `viewer_segments`, added a batch of whole viewers at a time.

    Each step is one call over the batch (sets and `Counter`s of zipped columns, C
    speed): a viewer's distinct values of a part are the set of (viewer number,
    value). The terminal, platform, size and attributes, which rarely change between
    one viewer's sessions, are taken together as a profile: a viewer with one profile
    is counted by it, one with several by the set of their values in each part."""

    def __init__(self, local: _LocalTimes) -> None:
        self.local = local
        self.first = 0  # the number of the batch's first viewer
        # a viewer's one profile, or their several -> viewers; of them with an ending
        self.profiles: tuple[Counter[Any], ...] = (Counter(), Counter())
        self.sessions: Counter[tuple[int, Profile]] = Counter()  # (ended + 2 x made, profile)
        # the local hour, then weekday: (viewers, of them ended) by value; sessions
        self.clock = ((Counter[Any](), Counter[Any]()), (Counter[Any](), Counter[Any]()))
        self.clock_sessions: tuple[Counter[tuple[int, Any]], ...] = (Counter(), Counter())

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        """Count `rows`: every session of the viewers they hold, in viewer order."""
        who, both, stamps, offsets, *columns = zip(*rows, strict=True)
        profiles = columns[0] if len(columns) == 1 else list(zip(*columns, strict=True))
        # each viewer a number: one more at each change of viewer
        numbers = list(accumulate(map(ne, who, (None, *who[:-1])), initial=self.first))[1:]
        self.first = numbers[-1]
        ended = list(map(and_, both, repeat(1)))
        self.sessions.update(zip(both, profiles, strict=True))
        _profiles(set(zip(numbers, profiles, strict=True)), self.profiles[0])
        _profiles(set(compress(zip(numbers, profiles, strict=True), ended)), self.profiles[1])
        for (units, done), made, values in zip(
            self.clock, self.clock_sessions, self.local.of(stamps, offsets), strict=True
        ):
            units.update(map(itemgetter(1), set(zip(numbers, values, strict=True))))
            done.update(map(itemgetter(1), set(compress(zip(numbers, values, strict=True), ended))))
            made.update(zip(both, values, strict=True))

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
                _add(summed, value, both, n)
        grouped: list[tuple[Any, ...]] = []
        for j, name in enumerate(PLAIN):
            part = list(DIMENSIONS).index(name)
            grouped += _viewer_rows(part, units[0][j], units[1][j], sums[j], numbered=False)
        for part, (viewers, done), made in zip(
            (HOUR, WEEKDAY), self.clock, self.clock_sessions, strict=True
        ):
            times: Sums = {}
            for (both, value), n in made.items():
                _add(times, value, both, n)
            grouped += _viewer_rows(part, viewers, done, times, numbered=True)
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


def _add(into: Sums, value: Any, both: int, n: int) -> None:
    """`n` sessions with `value`, each ended (`both` & 1) and with `both` >> 1 decisions."""
    sessions, ended, made = into.get(value, (0, 0, 0))
    into[value] = (sessions + n, ended + n * (both & 1), made + n * (both >> 1))


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
