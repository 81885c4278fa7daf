"""The figures of `branching stats` over the Parquet export from its aggregates, on DuckDB.

On SQLite the per-scene and per-choice tables of `stats` are sums over the
aggregates (`stats_rollup.rolled_figures`: the reach, the choices, the
timing counts), the times to decide and the interactions sums over
`agg_decide` and `agg_acts` (`rolled_percentiles`, `rolled_interactions`),
and the tags are counted from the sessions' digests. The export holds
copies of those tables and lists (`store.parquet_aggregates`, written by the
run that exported the events, so they agree with them), which DuckDB reads
as views named like the tables (`DuckDbEngine.aggregates`): the same rows
chosen (`rollup.class_where`), the same sums, so the same figures, where the
scan decodes and joins 4.7 million events at ten million.

The tags come from the sessions' `reached` lists (`parquet_viewers`): a
session was shown a tag's scene when its list holds the scene's code, took
a tag's choice when it holds the code of an edge of that choice.

In sessions (and with `--first-only`, which picks one session per viewer:
its viewers are its sessions, as SQLite counts them) from the sums alone. By
viewers (`exported_viewer_figures`), as SQLite's `viewers_rollup`: the times
shown, taken and timed out are the same sums, and the viewers of each scene,
edge and scene where the clock chose are counted from the chosen sessions'
lists as bits (layout 5, `parquet_viewers.viewer_codes`; the choices by
viewers at ten million events 0.5-0.7 s of CPU where the events' two passes
took 1.2-1.8), and the interactions' viewers from the lists of who rewound,
paused and skipped, as bits too, with the sums of `agg_acts`. Splitting the
lists' text into codes in DuckDB took as long as those passes, so an export
without the bits (before layout 5) reads the events by viewers.

The same cases as SQLite (`parquet_rollup.why_scanned`): `--since`/`--until`
on whole UTC days, at most one `--where` on a kept attribute; any version,
audience. A table these cannot answer (an export without the aggregates, or
without `agg_decide`/`agg_acts` for the timing and the interactions) is left
None and the caller reads the events, as before. The tags need only the
lists, for any selection.
"""

from __future__ import annotations

from dataclasses import replace

from branching.analytics import stats_rollup
from branching.analytics.accelerated import Accelerated, Acts, Percentiles, SceneCounts, Taken
from branching.analytics.engines import DuckDbEngine
from branching.analytics.filters import Filters, Unit, session_conditions, tally_sessions
from branching.analytics.parquet_rollup import why_scanned
from branching.analytics.parquet_viewers import digest_book, viewer_codes
from branching.analytics.rollup import class_where
from branching.analytics.rows import TagShare
from branching.analytics.segments import tag_shares, tagged
from branching.analytics.shape import Shape
from branching.analytics.source import Version
from branching.analytics.stats_rollup import ACTS_SQL, DECIDE_SQL
from branching.store.digests import chars, edge_names, names


def exported_figures(
    engine: DuckDbEngine,
    story_id: str,
    chosen: list[Version],
    filters: Filters,
    *,
    timing: bool,
    acts: bool,
) -> tuple[Accelerated | None, str]:
    """The export's figures for the selection in sessions (with `--first-only` they are
    its viewers too), or (None, why the events are read)."""
    if not engine.aggregates():
        return None, ""
    why = why_scanned(engine, story_id, filters)
    if why:
        return None, why
    where, params = class_where(story_id, chosen, filters)
    stored = engine.aggregate_views()
    ms = _percentiles(engine, where, params) if timing and "agg_decide" in stored else None
    rows = _edges(engine, where, params)
    scene_counts: SceneCounts = {}
    timed_out: dict[str, int] = {}
    for scene, views, reached, clock in engine.rows(
        f"""SELECT scene, SUM(views), SUM(sessions), SUM(sessions_timed_out) FROM agg_scenes
        WHERE {where} GROUP BY 1 ORDER BY 1""",
        params,
    ):
        if views:
            scene_counts[scene] = (int(reached), int(views))
        if clock:
            timed_out[scene] = int(clock)
    taken: Taken = {(s, c, t): (n, times, clock) for s, c, t, n, times, clock in rows}
    return (
        Accelerated(
            scene_counts,
            taken,
            {s: (d, t, timed_out.get(s, 0)) for s, (d, t) in _per_scene(rows).items()},
            ms,
            _interactions(engine, where, params) if acts and "agg_acts" in stored else None,
        ),
        "",
    )


def exported_viewer_figures(
    engine: DuckDbEngine,
    story_id: str,
    chosen: list[Version],
    filters: Filters,
    *,
    clocked: bool,
    timing: bool,
    acts: bool,
) -> Accelerated | None:
    """`viewers_rollup.viewer_figures` over the export: the reach and the choices by
    viewers, with `clocked` the timing counts (and with `timing` the times to decide, as
    in sessions: they are over the decisions whatever the unit), with `acts` the
    interactions; None where the events must answer (no aggregates or no bits, a
    selection the aggregates are not split by, a chosen session without its lists)."""
    if not engine.stored_bits or not engine.aggregates() or why_scanned(engine, story_id, filters):
        return None
    stored = engine.aggregate_views()
    acts = acts and "agg_acts" in stored
    lists = ["reached", *(["clocked"] if clocked else []), *(_ACT_LISTS if acts else [])]
    cond, cond_params = session_conditions(story_id, chosen, filters)
    counted = viewer_codes(engine, cond, cond_params, lists=lists)
    if counted is None:
        return None
    book = digest_book(engine)
    try:
        named = names(book)
        lines = edge_names(book)
    finally:
        book.close()

    def scenes(name: str) -> dict[object, int]:
        """Scene -> viewers, of the codes of list `name` that stand for a scene."""
        return {named[c]: n for c, n in counted.counted[name].items() if c in named}

    where, params = class_where(story_id, chosen, filters)
    shown = scenes("reached")
    walked = {lines[c]: n for c, n in counted.counted["reached"].items() if c in lines}
    scene_counts: SceneCounts = {
        str(scene): (shown.get(scene, 0), int(views))
        for scene, views in engine.rows(
            f"""SELECT scene, SUM(views) FROM agg_scenes WHERE {where}
            GROUP BY 1 HAVING SUM(views) > 0 ORDER BY 1""",
            params,
        )
    }
    rows = _edges(engine, where, params)
    taken: Taken = {
        (s, c, t): (walked.get((s, c, t or ""), 0), times, clock)
        for s, c, t, _, times, clock in rows
    }
    timed_out = scenes("clocked") if clocked else {}
    return Accelerated(
        scene_counts,
        taken,
        {s: (d, t, timed_out.get(s, 0)) for s, (d, t) in _per_scene(rows).items()}
        if clocked
        else None,
        _percentiles(engine, where, params) if timing and "agg_decide" in stored else None,
        _viewer_acts(engine, where, params, [scenes(name) for name in _ACT_LISTS])
        if acts
        else None,
    )


def exported_accelerated(
    engine: DuckDbEngine,
    story_id: str,
    chosen: list[Version],
    filters: Filters,
    by_sessions: bool,
    *,
    reach: bool,
    clocked: bool,
    timing: bool,
    acts: bool,
    tags: bool,
) -> Accelerated:
    """What the export answers for a report: with `reach` its aggregates' figures, in
    sessions (`exported_figures`; with `--first-only`, `by_sessions`, they are its
    viewers too) or by viewers from the sessions' lists as bits (layout 5:
    `exported_viewer_figures`; without them the events are read, as splitting the
    lists' text into codes took as long as the events' passes); with `tags`, whether
    the sessions' lists count the tags (`exported_tags`)."""
    found = None
    if reach and by_sessions:
        found = exported_figures(engine, story_id, chosen, filters, timing=timing, acts=acts)[0]
    elif reach:
        found = exported_viewer_figures(
            engine, story_id, chosen, filters, clocked=clocked, timing=timing, acts=acts
        )
    lists = tags and engine.digest_lists() and (by_sessions or engine.stored_bits)
    return replace(found or Accelerated(), lists=bool(lists))


_ACT_LISTS = ("rewound", "paused", "skipped")  # in `stats_rollup.Acts`' order


def _viewer_acts(
    engine: DuckDbEngine, where: str, params: list[object], who: list[dict[object, int]]
) -> Acts:
    """`viewers_rollup._acts` over the export: per scene with an act, the viewers who
    rewound to it, paused and skipped at it (`who`, none where no act of the kind),
    then the times of each (`agg_acts`)."""

    def viewers(i: int, scene: str, times: int) -> int:
        return who[i].get(scene, 0) if times else 0

    return {
        s: (viewers(0, s, r[3]), viewers(1, s, r[4]), viewers(2, s, r[5]), r[3], r[4], r[5])
        for s, r in _interactions(engine, where, params).items()
    }


Edge = tuple[str, str, str | None, int, int, int]  # scene, choice, target, sessions, times, clock


def _edges(engine: DuckDbEngine, where: str, params: list[object]) -> list[Edge]:
    """(scene, choice, target, sessions, times, timeouts) of the decisions of the classes
    `where` chooses (`stats_rollup.rolled_figures`' read of `agg_edges`)."""
    return [
        (str(s), str(c), t or None, int(n), int(times), int(clock))
        for s, c, t, n, times, clock in engine.rows(
            f"""SELECT scene, choice, target, SUM(sessions), SUM(times), SUM(timeouts)
            FROM agg_edges WHERE {where} AND choice <> '' GROUP BY 1, 2, 3
            HAVING SUM(times) > 0 ORDER BY 1, 2, 3""",
            params,
        )
    ]


def _per_scene(rows: list[Edge]) -> dict[str, tuple[int, int]]:
    """scene -> (decisions, timeouts), summed over its edges in their order."""
    summed: dict[str, list[int]] = {}
    for scene, _, _, _, times, clock in rows:
        row = summed.setdefault(scene, [0, 0])
        row[0] += times
        row[1] += clock
    return {s: (d, t) for s, (d, t) in summed.items()}


def _percentiles(engine: DuckDbEngine, where: str, params: list[object]) -> Percentiles:
    """`stats_rollup.rolled_percentiles` over the export's `agg_decide`."""
    return stats_rollup.percentiles_of(engine.rows(DECIDE_SQL.format(where=where), params))


def _interactions(engine: DuckDbEngine, where: str, params: list[object]) -> Acts:
    """`stats_rollup.rolled_interactions` over the export's `agg_acts`."""
    return stats_rollup.acts_of(engine.rows(ACTS_SQL.format(where=where), params))


def exported_tags(
    engine: DuckDbEngine,
    story_id: str,
    chosen: list[Version],
    filters: Filters,
    shape: Shape,
    started: int,
    unit: Unit = "sessions",
) -> list[TagShare] | None:
    """`segments.tags` from the chosen sessions' `reached` lists: per choice tag the
    units shown one of its scenes and those that took one of its choices (any target),
    per scene tag those shown one of its scenes; None without the lists, or when a
    chosen session has none. In sessions from the lists' text; by viewers from their
    bits (`parquet_viewers.viewer_codes`: None on an export without them)."""
    every = tagged(shape)
    if not every:
        return []
    if not engine.digest_lists():
        return None
    book = digest_book(engine)
    try:
        scenes = {name: code for code, name in names(book).items() if isinstance(name, str)}
        lines = edge_names(book)
    finally:
        book.close()
    edges: dict[tuple[str, str], list[int]] = {}
    for code, (s, c, _) in lines.items():
        edges.setdefault((str(s), str(c)), []).append(code)
    wanted: list[list[int]] = []  # the codes of each count, in `tag_shares`' order
    for t in every:
        wanted.append([scenes[s] for s in t.scenes if s in scenes])
        if t.kind == "choice":
            wanted.append(sorted(code for pair in t.pairs for code in edges.get(pair, [])))
    cond, params = session_conditions(story_id, chosen, filters)
    if unit == "viewers":
        counted = viewer_codes(engine, cond, params, wanted, lists=())
        return None if counted is None else tag_shares(every, started, counted.sets)
    columns: list[str] = []
    values: list[object] = []
    for codes in wanted:
        if not codes:
            columns.append("0")
            continue
        columns.append(tally_sessions("sessions", "regexp_matches(s.reached, ?)", "s"))
        values.append(_pattern(codes))
    row = engine.rows(
        f"""SELECT COUNT(*) FILTER (WHERE s.reached IS NULL), {", ".join(columns)}
        FROM sessions s WHERE {cond}""",
        [*values, *params],
    )[0]
    if row[0]:
        return None
    return tag_shares(every, started, row[1:])


def _pattern(codes: list[int]) -> str:
    """A regular expression (RE2, DuckDB's) matching any of the codes' characters."""
    return "[" + "".join(f"\\x{{{ord(ch):x}}}" for ch in chars(sorted(set(codes)))) + "]"
