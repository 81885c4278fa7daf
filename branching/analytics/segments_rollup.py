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
and counted a batch of whole viewers at a time by C code (sets of (viewer
number, value), `Counter`s of zipped columns): a viewer counts once per
value, as the portable query's `COUNT(DISTINCT w)` counts them, without its
sort of one row per session and breakdown (1.6 million at 180,000 sessions,
about 7 s), and without a Python statement per session (the loop this
replaced took 2.0-2.3 s of CPU at 10 M events, the batches 1.2-1.5). The tags
by viewers (`counted_tags`) search each viewer's lists run together.
"""

from __future__ import annotations

import operator
import re
from collections import Counter
from collections.abc import Iterable
from itertools import accumulate, compress, repeat
from operator import add, and_, floordiv, itemgetter, mod, ne
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
from branching.analytics.stats_rollup import VIEWER_ORDER, Digested
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
    keys, joins, values = ([], "", "") if alone else _columns(d)
    joined = joined and alone
    fields = [DIMENSIONS[name] for name in _PLAIN]
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
        self.days.update(_weekdays(self.d, set(dates) - self.days.keys()))
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
        plain = len(_PLAIN)
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
        for j, name in enumerate(_PLAIN):
            part = list(DIMENSIONS).index(name)
            grouped += _viewer_rows(part, units[0][j], units[1][j], sums[j], numbered=False)
        for part, (viewers, done), made in zip(
            (_HOUR, _WEEKDAY), self.clock, self.clock_sessions, strict=True
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


def counted_tags(
    d: Digested, shape: Shape, started: int, *, viewers: bool = False
) -> list[TagShare]:
    """`segments.tags` from the digests' scenes shown and choices taken: in sessions, or
    (`viewers`) in viewers, a viewer counting once for a tag when any of their
    sessions has it.

    Each session's lists are counted as they are (a `Counter` per batch, C speed),
    and each distinct list is searched once per code of a tag, by `in` over all of
    them at once (`map`, no Python loop per list: at 10 M events 62,000 distinct
    scene lists and 118,000 choice lists, 0.96 s with a set built per list, 0.28 s
    so); sessions with the same list count together (SQL searching every session's
    lists took longer than reading them). By viewers, each viewer's lists are run
    together by SQLite (`[3,7][1,3]`, in the viewer order of the digests' index, no
    sort) and searched the same way: whether any of a viewer's sessions has a code is
    whether their lists run together have it (at 10 M events 0.3 s of CPU where a
    distinct count per tag in SQL took 0.9).
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
    if viewers and d.alone is not None:
        cond, params = d.alone
        cursor = d.conn.execute(
            f"""SELECT group_concat(s.shown, ''), group_concat(s.took, '')
            FROM {VIEWER_ORDER} WHERE {cond} GROUP BY s.story_id, s.viewer_id""",
            params,
        )
    elif viewers:
        cursor = d.conn.execute(
            f"""SELECT group_concat({d.column("shown", none)}, ''),
                   group_concat({d.column("took", none)}, '')
            FROM {d.joined} WHERE {d.cond} GROUP BY s.viewer_id""",
            d.params,
        )
    else:
        cursor = d.read(f"{d.column('shown', none)}, {d.column('took', none)}")
    totals = [0] * len(wanted)
    while batch := cursor.fetchmany(_BATCH):
        shown, took = zip(*batch, strict=True)
        lists[0].update(shown)
        lists[1].update(took)
        if viewers:  # few viewers share their lists: search them a batch at a time
            _search(lists, wanted, totals)
            lists = (Counter(), Counter())
    _search(lists, wanted, totals)
    return tag_shares(every, started, totals)


def _search(
    lists: tuple[Counter[str], Counter[str]],
    wanted: list[tuple[int, frozenset[str]]],
    totals: list[int],
) -> None:
    """Add to each tag's total (`wanted`: which lists, the tag's codes) the count of the
    `lists` (shown, took: distinct texts -> units) with one of its codes."""
    for which in (0, 1):
        mine = [(i, want) for i, (kind, want) in enumerate(wanted) if kind == which and want]
        texts = lists[which]
        if not mine or not texts:
            continue
        # each distinct text with a comma for every bracket (`[3,7][1]`: `,3,7,,1,`): a
        # code is found as ",code," wherever it stands; taken out of `texts` as it is
        # wrapped, so that each text is held once (at 10 M events 180,000 of them)
        weights: list[int] = []
        wrapped: list[str] = []
        while texts:
            text, n = texts.popitem()
            weights.append(n)
            wrapped.append(text.replace("[", ",").replace("]", ","))
        for i, want in mine:
            hit: list[bool] = []
            for code in sorted(want):
                found = map(operator.contains, wrapped, repeat(f",{code},"))
                hit = list(map(operator.or_, hit, found)) if hit else list(found)
            totals[i] += sum(compress(weights, hit))
