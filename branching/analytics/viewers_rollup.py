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
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from branching.analytics.filters import Filters
from branching.analytics.rollup import answerable, class_where
from branching.analytics.source import Version
from branching.analytics.stats_rollup import (
    VIEWER_ORDER,
    Acts,
    Digested,
    Left,
    SceneCounts,
    Taken,
    TimingCounts,
)
from branching.store.digests import has_acts, names

_ACT_KINDS = ("rewind", "pause", "reveal_skipped")  # `metrics.interactions`' column order
_ACT_COLUMNS = ("rewound", "paused", "skipped")  # the digests' lists of each (m016)


@dataclass(frozen=True, slots=True)
class ViewerFigures:
    """What the digests and the aggregates answer by viewers (None: read the events).

    In the raw shapes the scan and `stats_rollup.Rolled` use: `counts` the
    reach, `taken` the choices, `timing` the timing counts, `acts` the
    interactions."""

    counts: SceneCounts | None = None
    taken: Taken | None = None
    timing: TimingCounts | None = None
    acts: Acts | None = None


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
    where, params = class_where(story_id, chosen, filters)
    views = {
        str(scene): int(n)
        for scene, n in d.conn.execute(
            f"""SELECT scene, SUM(views) FROM agg_scenes WHERE {where}
            GROUP BY 1 HAVING SUM(views) > 0""",
            params,
        )
    }
    edges = _edges(d, where, params) if choices else None
    columns = ["shown"]
    if edges is not None:
        columns.append("took")
    if timing:
        columns.append("timed_out")
    if acts:
        columns += _ACT_COLUMNS
    counted = dict(zip(columns, by_viewer(d, tuple(columns)), strict=True))
    book = names(d.conn)

    def decoded(column: str) -> dict[object, int]:
        return {book[code]: n for code, n in counted[column].items()}

    reached = decoded("shown")
    counts = {scene: (reached.get(scene, 0), n) for scene, n in views.items()}
    taken = None
    if edges is not None:
        viewers = decoded("took")
        taken = {
            (scene, choice, target): (viewers.get((scene, choice), 0), times, clock)
            for (scene, choice), (target, times, clock) in edges.items()
        }
    clocked = None
    if timing:
        timed_out = decoded("timed_out")
        clocked = {
            str(scene): (int(n), int(clock), timed_out.get(scene, 0))
            for scene, n, clock in d.conn.execute(
                f"""SELECT scene, SUM(times), SUM(timeouts) FROM agg_edges
                WHERE {where} AND choice <> '' GROUP BY 1 HAVING SUM(times) > 0""",
                params,
            )
        }
    return ViewerFigures(counts, taken, clocked, _acts(d, where, params, decoded) if acts else None)


def _acts(
    d: Digested, where: str, params: list[object], decoded: Callable[[str], dict[object, int]]
) -> Acts:
    """scene -> (viewers who rewound to it, paused at it, skipped at it; times of each),
    for the scenes with one of them, as `metrics.interactions` counts them."""
    who = [decoded(column) for column in _ACT_COLUMNS]
    found: dict[str, list[int]] = {}
    for scene, kind, times in d.conn.execute(
        f"""SELECT scene, kind, SUM(times) FROM agg_acts WHERE {where}
        GROUP BY 1, 2 HAVING SUM(times) > 0""",
        params,
    ):
        row = found.setdefault(str(scene), [0] * 6)
        i = _ACT_KINDS.index(kind)
        row[i], row[3 + i] = who[i].get(scene, 0), int(times)
    return {s: (r[0], r[1], r[2], r[3], r[4], r[5]) for s, r in found.items()}


def viewer_reach(
    d: Digested, story_id: str, chosen: list[Version], filters: Filters
) -> SceneCounts | None:
    """scene -> (unique viewers shown it, times it was shown), or None (read the events)."""
    return viewer_figures(d, story_id, chosen, filters, choices=False).counts


def viewer_taken(
    d: Digested, story_id: str, chosen: list[Version], filters: Filters
) -> Taken | None:
    """(scene, choice, target) -> (unique viewers who took it, times, times the clock chose
    it), decisions only, as `stats_rollup.rolled_figures` gives them in sessions; or None
    (read the events): not by viewers, a selection the aggregates are not split by, or a
    choice that went to more than one target."""
    return viewer_figures(d, story_id, chosen, filters, choices=True).taken


def _edges(
    d: Digested, where: str, params: list[object]
) -> dict[tuple[str, str], tuple[str | None, int, int]] | None:
    """(scene, choice) -> (target, times, timeouts) of the decisions of the classes
    `where` chooses, or None when a choice went to more than one target."""
    edges: dict[tuple[str, str], tuple[str | None, int, int]] = {}
    for scene, choice, target, times, clock in d.conn.execute(
        f"""SELECT scene, choice, target, SUM(times), SUM(timeouts) FROM agg_edges
        WHERE {where} AND choice <> '' GROUP BY 1, 2, 3 HAVING SUM(times) > 0""",
        params,
    ):
        if (scene, choice) in edges:
            return None  # one choice, several targets: `took` cannot split its viewers
        edges[(scene, choice)] = (target or None, int(times), int(clock))
    return edges


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
        )
    }


def by_viewer(d: Digested, columns: tuple[str, ...]) -> list[Counter[int]]:
    """For each digest column given (`shown`, `took`, m016's lists): code -> viewers whose
    sessions list it, each viewer counted once per code, in one read of the chosen
    sessions in viewer order (the digests alone from m016: their index by story and
    viewer gives that order, and holds the lists: at 10 M events the read takes 0.1-0.2
    s of CPU, the union and count of each viewer's codes the rest). (Counting each
    viewer's union of texts instead, to split each distinct text once, was slower at
    10 M events: few viewers share their lists; so were a set only for a viewer's
    second session, and SQL's `group_concat` of each viewer's lists.)"""
    if d.alone is not None:
        cond, params = d.alone
        picked = ", ".join(f"s.{c}" for c in columns)
        cursor = d.conn.execute(
            f"""SELECT s.viewer_id, {picked} FROM {VIEWER_ORDER}
            WHERE {cond} ORDER BY s.story_id, s.viewer_id""",
            params,
        )
    else:
        picked = ", ".join(f"d.{c}" for c in columns)
        cursor = d.conn.execute(
            f"""SELECT s.viewer_id, {picked} FROM {d.sessions}
            JOIN session_digests d ON d.session_id = s.session_id
            WHERE {d.cond} ORDER BY s.viewer_id""",
            d.params,
        )
    counted: list[Counter[str]] = [Counter() for _ in columns]
    held: list[set[str]] = [set() for _ in columns]
    viewer: object = None
    for who, *lists in cursor:
        if who != viewer:
            for seen, codes in zip(counted, held, strict=True):
                seen.update(codes)
                codes.clear()
            viewer = who
        for codes, text in zip(held, lists, strict=True):
            if len(text) > 2:  # "[]": none
                codes.update(text[1:-1].split(","))
    for seen, codes in zip(counted, held, strict=True):
        seen.update(codes)
    return [Counter({int(code): n for code, n in seen.items()}) for seen in counted]
