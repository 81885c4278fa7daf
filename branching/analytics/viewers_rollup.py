"""Each scene's and choice's unique viewers on SQLite, from the digests instead of the events.

Every `stats` report names its scenes and how many reached each (the reach,
which the other tables divide by), so counting unique viewers used to read
every `scene_shown` event of the chosen sessions: at ten million events about
forty seconds, for any table. The store keeps what this needs: each session's
digest lists the scenes it was shown (`shown`, `store/digests.py`), and the
aggregates hold how many times each scene was shown in every class of
sessions (`agg_scenes.views`). So the chosen sessions' digests are read in
viewer order, each viewer's scenes are the union of their sessions' (a viewer
counts once per scene), and the times shown are summed from the aggregates,
the figures the scan gives (`metrics.scene_counts`).

The choices table by viewers is counted the same way: each digest lists the
(scene, choice) its session decided (`took`), so a viewer counts once per
choice taken in any of their sessions, and the times taken and timed out are
summed from `agg_edges`. The aggregates key a choice by its target too, the
digests do not: when a choice of the selection went to more than one target
(a version moved it), the viewers per target cannot be told apart, and the
events are read (None). The drop-off table by viewers reads the sessions'
own rows (`viewer_left`: last scene and outcome), never the events.

From m016 each digest also carries its viewer (`viewer_id`, indexed with the
story) and the scenes where its session timed out, rewound to, paused and
skipped a reveal (`timed_out`, `rewound`, `paused`, `skipped`). Then the
digests are read alone, in the index's viewer order, without the sessions;
the timing table's viewers the clock chose for at a scene and the
interactions table's viewers who rewound to, paused at or skipped at a scene
come from the same read (the decisions, timeouts and times of each act are
summed from `agg_edges` and `agg_acts`). A file read before m016 (opened
read-only, not migrated) reads the sessions joined to the digests as before,
and its timing and interactions by viewers from the events.

When the aggregates are not split by the selection (`rollup.answerable`: a
time of day, several `--where`, a key with too many values) the times shown
cannot be summed, and the events are read as before (None).

The read is grouped by viewer: SQLite runs each viewer's lists together
(`group_concat`, in the index's order: no sort), and Python counts a batch of
viewers at a time by C code (`str.join`, `json.loads`, `set`, `Counter`),
never a statement per code (`viewer_lists`); the same read gives the
overview. From m018 each digest lists, a character per code, the scenes
shown and the edges walked (`reached`: scene, choice, target) and where the
clock chose (`clocked`): those are read instead of `shown`, `took` and
`timed_out`, and the choices table counts viewers per edge, so a choice with
several targets in the chosen versions is answered too.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter, mul
from typing import Any

from branching.analytics.accelerated import (
    Accelerated,
    Acts,
    Left,
    Overview,
    SceneCounts,
    Taken,
    TimingCounts,
)
from branching.analytics.filters import Filters
from branching.analytics.rollup import answerable, class_where
from branching.analytics.source import Version
from branching.analytics.stats_rollup import (
    VIEWER_ORDER,
    Digested,
    has_index,
    rolled_interactions,
    rolled_percentiles,
    rolled_where,
)
from branching.store.digests import code_of, edge_names, has_acts, has_edges, names
from branching.store.export import read_snapshot

_ACT_COLUMNS = ("rewound", "paused", "skipped")  # the digests' lists of each (m016)


@dataclass(frozen=True, slots=True)
class ViewerFigures:
    """What the digests and the aggregates answer by viewers (None: read the events).

    In the raw shapes the scan and `stats_rollup.Rolled` use: `counts` the
    reach, `taken` the choices, `timing` the timing counts, `acts` the
    interactions; `overview` the figures `stats_rollup.digest_overview` gives."""

    counts: SceneCounts | None = None
    taken: Taken | None = None
    timing: TimingCounts | None = None
    acts: Acts | None = None
    overview: Overview | None = None  # `stats_rollup.digest_overview` of the same read


def viewer_figures(
    d: Digested,
    story_id: str,
    chosen: list[Version],
    filters: Filters,
    *,
    choices: bool,
    timing: bool = False,
    acts: bool = False,
) -> ViewerFigures:
    """The reach and, when asked, the choices, timing counts and interactions by viewers,
    in one read of the chosen sessions' digests; None for any that the events must
    answer (timing and interactions need m016's lists)."""
    if d.unit != "viewers" or not answerable(d.conn, story_id, filters)[0]:
        return ViewerFigures()
    listed = has_acts(d.conn)  # m016's lists
    timing, acts = timing and listed, acts and listed
    edged = has_edges(d.conn)  # m018's: the edges walked, and where the clock chose
    where, params = class_where(story_id, chosen, filters)
    views = {
        str(scene): int(n)
        for scene, n in d.conn.execute(
            f"""SELECT scene, SUM(views) FROM agg_scenes WHERE {where}
            GROUP BY 1 HAVING SUM(views) > 0""",
            params,
        )
    }
    # the decisions' edges, read once for the choices and the timing alike
    rows = _edges(d, where, params) if choices or timing else []
    # `took` lists a (scene, choice): when one went to several targets in the chosen
    # versions its viewers cannot be split (m018's `reached` lists each edge)
    split = edged or len({(s, c) for s, c, _, _, _ in rows}) == len(rows)
    edges = rows if choices and split else None
    if edged:  # the scenes shown are among the codes `reached` lists, the edges too
        columns = ["reached", *(["clocked"] if timing else [])]
    else:
        columns = ["shown", *(["took"] if edges is not None else [])]
        columns += ["timed_out"] if timing else []
    columns += _ACT_COLUMNS if acts else ()
    found, overview = viewer_lists(d, tuple(columns))
    counted = dict(zip(columns, found, strict=True))
    book = names(d.conn)
    lines = edge_names(d.conn) if edged else {}

    def decoded(column: str) -> dict[object, int]:
        """Scene or (scene, choice) -> viewers, of the column's codes (no edge)."""
        return {book[code]: n for code, n in counted[column].items() if code not in lines}

    reached = decoded("reached" if edged else "shown")
    counts = {scene: (reached.get(scene, 0), n) for scene, n in views.items()}
    taken = None
    if edges is not None:
        if edged:  # viewers per edge: (scene, choice, target)
            walked = {lines[code]: n for code, n in counted["reached"].items() if code in lines}
            who = {(s, c, t): walked.get((s, c, t or ""), 0) for s, c, t, _, _ in edges}
        else:  # viewers per (scene, choice), one target each
            took = decoded("took")
            who = {(s, c, t): took.get((s, c), 0) for s, c, t, _, _ in edges}
        taken = {(s, c, t): (who[(s, c, t)], times, clock) for s, c, t, times, clock in edges}
    clocked = None
    if timing:
        timed_out = decoded("clocked" if edged else "timed_out")
        summed: dict[str, list[int]] = {}  # scene -> decisions, timeouts (as `rolled_figures`)
        for scene, _, _, times, clock in rows:
            row = summed.setdefault(scene, [0, 0])
            row[0] += times
            row[1] += clock
        clocked = {s: (n, clock, timed_out.get(s, 0)) for s, (n, clock) in summed.items()}
    return ViewerFigures(
        counts, taken, clocked, _acts(d, where, params, decoded) if acts else None, overview
    )


def viewer_accelerated(
    conn: sqlite3.Connection,
    d: Digested | None,
    story_id: str,
    chosen: list[Version],
    filters: Filters,
    *,
    choices: bool,
    clocked: bool,
    timing: bool,
    acts: bool,
    dropoff: bool,
) -> Accelerated:
    """What SQLite answers by viewers, as a report reads it: the digests' figures
    (`viewer_figures`, with `clocked` the timing counts) and with `dropoff` who stopped
    where (`viewer_left`), when the store keeps digests (`d`); with `timing` the times
    to decide, over the decisions whatever the unit, from the sessions' aggregates."""
    found = ViewerFigures()
    if d is not None:
        found = viewer_figures(
            d, story_id, chosen, filters, choices=choices, timing=clocked, acts=acts
        )
    by_class = rolled_where(conn, story_id, chosen, filters) if timing else None
    return Accelerated(
        found.counts,
        found.taken,
        found.timing,
        rolled_percentiles(conn, *by_class) if by_class is not None else None,
        found.acts,
        viewer_left(d) if dropoff and d is not None else None,
        found.overview,
    )


def _acts(
    d: Digested, where: str, params: list[object], decoded: Callable[[str], dict[object, int]]
) -> Acts:
    """scene -> (viewers who rewound to it, paused at it, skipped at it; times of each),
    for the scenes with one of them, as `metrics.interactions` counts them: the
    sessions' figures (`stats_rollup.rolled_interactions`), the viewers for the sessions."""
    who = [decoded(column) for column in _ACT_COLUMNS]

    def viewers(i: int, scene: str, times: int) -> int:  # (none where no act of the kind)
        return who[i].get(scene, 0) if times else 0

    return {
        s: (viewers(0, s, r[3]), viewers(1, s, r[4]), viewers(2, s, r[5]), r[3], r[4], r[5])
        for s, r in (rolled_interactions(d.conn, where, params) or {}).items()
    }


def _edges(
    d: Digested, where: str, params: list[object]
) -> list[tuple[str, str, str | None, int, int]]:
    """(scene, choice, target, times, timeouts) of the decisions of the classes `where`
    chooses, in the order of (scene, choice, target)."""
    return [
        (str(scene), str(choice), target or None, int(times), int(clock))
        for scene, choice, target, times, clock in d.conn.execute(
            f"""SELECT scene, choice, target, SUM(times), SUM(timeouts) FROM agg_edges
            WHERE {where} AND choice <> '' GROUP BY 1, 2, 3 HAVING SUM(times) > 0""",
            params,
        )
    ]


def viewer_left(d: Digested) -> Left | None:
    """Last scene -> (unique viewers with a session that stopped there without completing,
    of them with one still in progress), from the sessions' own rows (`metrics.dropoff`);
    None when not counting viewers."""
    if d.unit != "viewers":
        return None
    open_now = d.count("s.outcome = 'in_progress'")
    return {
        str(last): (int(n), int(open_ or 0))
        for last, n, open_ in d.own(
            f"s.last_scene, {d.count()}, {open_now}",
            "AND s.outcome <> 'ending' AND s.last_scene IS NOT NULL GROUP BY 1",
            copied=has_edges(d.conn),  # from m018 the digests' index holds the last scene
        )
    }


def viewer_lists(d: Digested, columns: tuple[str, ...]) -> tuple[list[Counter[int]], Overview]:
    """For each digest column given (`shown`, `took`, m016's and m018's lists): code ->
    viewers whose sessions list it, each viewer counted once per code; and the
    overview of the same sessions (`stats_rollup.digest_overview`
    by viewers: sessions, viewers, started and completed, first and last start).

    One read of the chosen sessions grouped by viewer, each viewer's lists run
    together by SQLite (from m016 the digests' index by story and viewer gives that
    order without a sort, and holds the lists), then counted in bulk
    (`_count_viewers`). At 10 M events of Signal, the scenes and choices by viewers
    took 0.75-0.9 s of CPU with the per-row loop this replaced (a set per viewer,
    filled list by list), 0.45-0.6 s in bulk from the JSON lists (`shown`, `took`)
    and 0.3-0.45 s from m018's `reached` (measured on a loaded machine); the
    overview, a read of its own before (0.11 s), rides along. Read alone, the
    digests' first and last start are looked up from the ends of the sessions'
    index by start (`_starts`) rather than compared per viewer in the read; both
    reads in one snapshot, so a session committed between them (a player recording
    while the dashboard reads) is in both or in neither."""
    with read_snapshot(d.conn):
        return _viewer_lists(d, columns)


def _viewer_lists(d: Digested, columns: tuple[str, ...]) -> tuple[list[Counter[int]], Overview]:
    if d.alone is not None:
        cond, params = d.alone
        table, key, of = VIEWER_ORDER, "s.story_id, s.viewer_id", "s"
    else:
        cond, params = d.cond, d.params
        table = f"{d.sessions} JOIN session_digests d ON d.session_id = s.session_id"
        key, of = "s.viewer_id", "d"
    lists = ", ".join(f"group_concat({of}.{c}, '')" for c in columns)
    probe = d.alone is not None  # the first and last start from the index by start
    starts = "" if probe else "MIN(s.started_at), MAX(s.started_at), "
    at = 3 if probe else 5  # where a row's lists begin (sessions, viewer, ended, starts)
    cursor = d.conn.execute(
        f"""SELECT COUNT(*), s.viewer_id IS NOT NULL, MAX(s.outcome = 'ending'), {starts}{lists}
        FROM {table} WHERE {cond} GROUP BY {key}""",
        params,
    )
    counted: list[Counter[Any]] = [Counter() for _ in columns]
    kinds = [c in _CHARS for c in columns]
    sessions = viewers = completed = 0
    first: str | None = None
    last: str | None = None
    while batch := cursor.fetchmany(_BATCH):
        _count_viewers(batch, counted, kinds, at)
        sessions += sum(map(itemgetter(0), batch))
        viewers += sum(map(itemgetter(1), batch))
        completed += sum(map(mul, map(itemgetter(1), batch), map(itemgetter(2), batch)))
        if probe:
            continue
        begun = [t for t in map(itemgetter(3), batch) if t is not None]
        ends = [t for t in map(itemgetter(4), batch) if t is not None]
        first = min([*begun, *([first] if first is not None else [])], default=None)
        last = max([*ends, *([last] if last is not None else [])], default=None)
    if probe and sessions:  # (no session: no start, as SQL's MIN and MAX give)
        first, last = _starts(d.conn, cond, params)
    counts = [
        Counter({code_of(c): n for c, n in seen.items()}) if chars else seen
        for seen, chars in zip(counted, kinds, strict=True)
    ]
    return counts, (sessions, viewers, viewers, completed, first, last)


_CHARS = frozenset({"reached", "clocked"})  # m018's lists: a character a code (`chars`)


_BATCH = 20_000  # viewers counted at a time: memory stays flat


def _starts(conn: sqlite3.Connection, cond: str, params: list[object]) -> tuple[Any, Any]:
    """The first and last start of the digests `cond` chooses (named `s`, read alone),
    as `MIN` and `MAX` give them.

    Taken per viewer in the grouped read, the two cost 0.13-0.19 s of CPU at 10 M
    events (a comparison of texts per session, two texts per viewer to Python).
    The sessions' index by start orders every session of the file: the first
    chosen digest in that order, among the `_PROBE` earliest sessions, holds
    the first start (the latest likewise), a few thousand lookups by id. A
    selection with none among them (a version recorded late, another story's
    sessions first) reads every chosen digest's start instead (0.1 s)."""
    if has_index(conn, "sessions_by_start"):
        found = [
            conn.execute(
                f"""SELECT s.started_at FROM (SELECT session_id AS id, started_at AS at
                    FROM sessions INDEXED BY sessions_by_start WHERE started_at IS NOT NULL
                    ORDER BY started_at {way} LIMIT {_PROBE}) x
                CROSS JOIN session_digests s WHERE s.session_id = x.id AND {cond}
                ORDER BY x.at {way} LIMIT 1""",
                params,
            ).fetchone()
            for way in ("ASC", "DESC")
        ]
        if found[0] is not None and found[1] is not None:
            return found[0][0], found[1][0]
    ((first, last),) = conn.execute(
        f"SELECT MIN(s.started_at), MAX(s.started_at) FROM {VIEWER_ORDER} WHERE {cond}", params
    ).fetchall()
    return first, last


_PROBE = 1_000  # sessions looked at from each end of the index by start


def _count_viewers(
    batch: list[tuple[Any, ...]], counted: list[Counter[Any]], kinds: list[bool], at: int
) -> None:
    """Add a batch of viewers' rows (their sessions, then from `at` each column's lists run
    together: `[3,7][][1,3]`, or m018's characters, `kinds` True) to `counted`, each
    viewer once per code.

    Every step is one call over the whole batch (no Python loop per code): a viewer
    with one session has distinct codes already (a digest lists each once), so
    their lists are run into one JSON array, parsed once and counted (characters:
    counted as they are); a viewer with several has each of their lists run into
    one array, the arrays parsed at once, each made a set (the union) and the sets
    counted (characters: a set of the text)."""
    singles = [row for row in batch if row[0] == 1]  # one session
    several = [row for row in batch if row[0] != 1]
    for i, (seen, chars) in enumerate(zip(counted, kinds, strict=True), start=at):
        pick = itemgetter(i)
        if chars:  # m018's lists: a character a code, run together as they are
            seen.update("".join(map(pick, singles)))
            seen.update(chain.from_iterable(map(set, map(pick, several))))
            continue
        seen.update(_codes("".join(map(pick, singles))))
        arrays = ",".join(_array(text) for text in map(pick, several))
        seen.update(chain.from_iterable(map(set, json.loads(f"[{arrays}]"))))


def _array(text: str) -> str:
    """Lists run together (`[3,7][][1,3]`) as one JSON array (`[3,7,1,3]`)."""
    return text.replace("[]", "").replace("][", ",") or "[]"


def _codes(text: str) -> list[int]:
    """Every code of lists run together (`[3,7][][1,3]`), in order."""
    joined = _array(text)
    return json.loads(joined) if len(joined) > 2 else []
