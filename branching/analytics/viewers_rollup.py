"""Each scene's unique viewers on SQLite, from the digests instead of the events.

Every `stats` report names its scenes and how many reached each (the reach,
which the other tables divide by), so counting unique viewers used to read
every `scene_shown` event of the chosen sessions: at ten million events about
forty seconds, for any table. The store keeps what this needs: each session's
digest lists the scenes it was shown (`shown`, `store/digests.py`), and the
aggregates hold how many times each scene was shown in every class of
sessions (`agg_scenes.views`). So the chosen sessions are read with their
digests in viewer order, each viewer's scenes are the union of their
sessions' (a viewer counts once per scene), and the times shown are summed
from the aggregates, the figures the scan gives (`metrics.scene_counts`).

The choices table by viewers is counted the same way (`viewer_taken`): each
digest lists the (scene, choice) its session decided (`took`), so a viewer
counts once per choice taken in any of their sessions, and the times taken
and timed out are summed from `agg_edges`. The aggregates key a choice by
its target too, the digests do not: when a choice of the selection went to
more than one target (a version moved it), the viewers per target cannot be
told apart, and the events are read (None). The drop-off table by viewers
reads the sessions' own rows (`viewer_left`: last scene and outcome), never
the events.

When the aggregates are not split by the selection (`rollup.answerable`: a
time of day, several `--where`, a key with too many values) the times shown
cannot be summed, and the events are read as before (None).

Still read from the events by viewers, because no digest column holds what
they count per session: the timing table's viewers the clock chose for at a
scene (a digest would need `timed_out`, the sorted codes of the scenes of its
`timeout_default` events), and the interactions table's viewers who rewound
to, paused at or skipped a reveal at a scene (a digest would need, per kind,
the sorted codes of the scenes of its `rewind`, `pause` and
`reveal_skipped` events).
"""

from __future__ import annotations

from collections import Counter

from branching.analytics.filters import Filters
from branching.analytics.rollup import answerable, class_where
from branching.analytics.source import Version
from branching.analytics.stats_rollup import Digested, Left, SceneCounts, Taken
from branching.store.digests import names


def viewer_figures(
    d: Digested, story_id: str, chosen: list[Version], filters: Filters, *, choices: bool
) -> tuple[SceneCounts | None, Taken | None]:
    """The reach (`viewer_reach`) and, with `choices`, the choices (`viewer_taken`) by
    viewers, in one read of the chosen sessions' digests; None for either that the
    events must answer."""
    if d.unit != "viewers" or not answerable(d.conn, story_id, filters)[0]:
        return None, None
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
    counted = by_viewer(d, ("shown", "took") if edges is not None else ("shown",))
    book = names(d.conn)
    reached = {book[code]: n for code, n in counted[0].items()}
    counts = {scene: (reached.get(scene, 0), n) for scene, n in views.items()}
    if edges is None:
        return counts, None
    viewers = {book[code]: n for code, n in counted[1].items()}
    taken = {
        (scene, choice, target): (viewers.get((scene, choice), 0), times, clock)
        for (scene, choice), (target, times, clock) in edges.items()
    }
    return counts, taken


def viewer_reach(
    d: Digested, story_id: str, chosen: list[Version], filters: Filters
) -> SceneCounts | None:
    """scene -> (unique viewers shown it, times it was shown), or None (read the events)."""
    return viewer_figures(d, story_id, chosen, filters, choices=False)[0]


def viewer_taken(
    d: Digested, story_id: str, chosen: list[Version], filters: Filters
) -> Taken | None:
    """(scene, choice, target) -> (unique viewers who took it, times, times the clock chose
    it), decisions only, as `stats_rollup.rolled_figures` gives them in sessions; or None
    (read the events): not by viewers, a selection the aggregates are not split by, or a
    choice that went to more than one target."""
    return viewer_figures(d, story_id, chosen, filters, choices=True)[1]


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
    """For each digest column given (`shown`, `took`): code -> viewers whose sessions
    list it, each viewer counted once per code, in one read of the chosen sessions
    in viewer order. (Counting each viewer's union of texts instead, to split each
    distinct text once, was slower at 10 M events: few viewers share their lists.)"""
    counted: list[Counter[str]] = [Counter() for _ in columns]
    held: list[set[str]] = [set() for _ in columns]
    viewer: object = None
    picked = ", ".join(f"d.{c}" for c in columns)
    for who, *lists in d.conn.execute(
        f"""SELECT s.viewer_id, {picked} FROM {d.sessions}
        JOIN session_digests d ON d.session_id = s.session_id
        WHERE {d.cond} ORDER BY s.viewer_id""",
        d.params,
    ):
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
