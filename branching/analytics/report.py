"""`build_report()`: the one call behind `branching stats`, and the flags.

It opens the source (`engines.open_engine`: the database read-only, or with
`source` the Parquet export through DuckDB or Spark), resolves the story and
version, chooses the sessions the filters choose (`scan.picked`: the CTE
`picked` in front of every query) and runs the queries of `metrics`, `walks`
and `segments` that the tables asked for need over them: one portable
definition, so every engine gives the same figures. On DuckDB the per-scene,
per-choice and per-tag figures come from one pass over the events instead
(`scan.event_figures`, held equal to the portable queries by the tests).
With a source, the story's structure, versions and the labels viewers saw
come from the export too. On SQLite, what the store keeps answers
first (`stats_rollup`: the aggregates and the sessions' digests;
`segments_rollup`: breakdowns counting sessions; `tags_rollup`: the tags;
`viewers_rollup`:
each scene's and each choice's unique viewers, and who dropped off), with the
same figures; over a Parquet export, its aggregates and lists (`parquet_stats`).
These accelerators never apply together: one is picked (`_accelerated`) and
hands its figures in one shape (`accelerated.Accelerated`), and each table
takes its figure from it where it answers, else from the scan. Flags point at
what a producer should look at:
- lopsided: at a choice point with at least `flag_min` decisions, one option
  took more than 90% of them;
- timeouts: the clock chose more than a third of the time;
- no-difference: two options after which everything that can happen is the
  same. Said only where the explorer proved it on the story file
  (`verify.choices`, within `CHECK_LIMITS`); pairs it proved different are
  never flagged; pairs the sessions always rejoined on that it could not
  decide (or a story named by id, whose conditions are not stored) are worded
  as what was seen, with proof "observed". The explorer's complete answer is
  kept on disk per story version (`verdict_cache`).

Progress and stopping (for the dashboard, which draws the cheap figures first
and reads these in the background): `progress(done, total)` is called while
the events are read, `done` and `total` in session reads (each pass over the
picked sessions counts them once; the walk, which rebuilds states and takes
most of the time, counts `WALK_WEIGHT` times), about every `CHECK_EVERY`
SQLite steps and every few hundred sessions walked. It returning False stops
the read within milliseconds (SQLite's progress handler interrupts the query
under way) and `build_report` raises `ReportStopped`. On DuckDB and Spark
progress is coarser: after each pass and every few hundred sessions walked,
and a stop waits for the query under way. Without `progress` nothing
changes, and the figures are the same either way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from branching.analytics import metrics, scan, segments
from branching.analytics.engines import DuckDbEngine, Engine, open_engine
from branching.analytics.filters import Filters, Unit, settle_audience
from branching.analytics.rows import (
    TABLES,
    ChoiceShare,
    DropOff,
    EndingShare,
    Flag,
    Interaction,
    Overview,
    PathShare,
    Report,
    Segment,
    TagShare,
    Timing,
)
from branching.analytics.rows import Progress as ProgressRow
from branching.analytics.shape import AnalyticsError, Shape, shape_from_structure
from branching.analytics.source import Version, looks_like_path, resolve_versions, stored_shape
from branching.errors import BranchingError
from branching.story.bundled import bundled_story

if TYPE_CHECKING:  # imported where used: a report without flags, paths or progress
    # from the digests never walks sessions nor explores the story (40 ms of imports)
    from branching.analytics import walks
    from branching.analytics.accelerated import Accelerated
    from branching.analytics.stats_rollup import Digested
    from branching.story.model import Story
    from branching.verify.choices import ChoicePairVerdict

LOPSIDED = 0.9
TIMEOUTS = 1 / 3

Progress = Callable[[int, int], bool]  # (done, total) -> go on
SCANS = 6  # passes over the picked sessions' events besides the walk
WALK_WEIGHT = 10  # the walk takes about ten times as long as one pass (82 s vs 7 s at 10 M)
CHECK_EVERY = 20_000  # SQLite steps between two calls of `progress`
CACHE_KIB = 32_768  # SQLite's page cache for a report's reads (its default is 2 MB)
# the tables that show each scene's reach or name scenes (by the reach's titles), or
# divide by the units that reached a scene: only they read the scenes' counts
REACHED = frozenset({"reach", "choices", "timing", "dropoff", "interactions", "flags", "unreached"})
# ... of which the timing table and the flags only name scenes (the reach's titles;
# the flags weigh a choice by its decisions, never by who reached it): no counts read
NAMED_ONLY = frozenset({"timing", "flags"})
# the event figures of the tables that DuckDB can read in one pass, each a pass of its
# own on the portable path: the scenes' counts, the choices', the interactions'. From
# `FIGURED_PASSES` of them on, they are one pass (`scan.event_figures`), and the tags'
# with them: that pass groups more, so it pays only for three (measured at 10 M events:
# 0.77 s against 0.43 for the scenes' and the choices' two passes, 0.45 against 0.65
# for all three). The timing table has a pass of its own on DuckDB (its counts with
# its times to decide, `scan.decision_times`); the flags' timing counts add up the
# choices' (`_decided_of`)
PASSES = (
    REACHED - NAMED_ONLY,
    frozenset({"choices", "flags", "unreached"}),
    frozenset({"interactions"}),
)
FIGURED_PASSES = 3
# the tables that show choice labels, as viewers saw them (`scan.seen_labels`)
LABELLED = frozenset({"choices", "paths", "flags", "unreached"})


class ReportStopped(AnalyticsError):
    """The caller's `progress` said stop: the report was not finished."""

    title = "Reading stopped"


class _Reading:
    """How far a report has read, told to `progress`, which may stop it."""

    def __init__(self, conn: sqlite3.Connection | None, progress: Progress | None) -> None:
        self.progress = progress
        self.sessions = self.done = 0
        self.stopped = False
        if progress is not None and conn is not None:
            conn.set_progress_handler(self.tick, CHECK_EVERY)

    @property
    def total(self) -> int:
        return self.sessions * (SCANS + WALK_WEIGHT)

    def tick(self) -> int:
        """SQLite's progress handler: nonzero interrupts the query under way."""
        if self.progress is not None and not self.stopped:
            self.stopped = not self.progress(min(self.done, self.total), self.total)
        return int(self.stopped)

    def passed(self, weight: int = 1) -> None:
        """One more pass over the picked sessions is done."""
        self.done += weight * self.sessions
        self.tick()
        if self.stopped:
            raise ReportStopped("the read was stopped before the report was finished")

    def walked(self, start: int) -> Callable[[int], None]:
        """The walk's hook: `n` sessions walked (of the pass that began at `start`)."""

        def at(n: int) -> None:
            self.done = start + n * WALK_WEIGHT
            self.tick()
            if self.stopped:
                raise ReportStopped("the read was stopped before the report was finished")

        return at


def build_report(
    story: str,
    *,
    db: str | Path | None,
    filters: Filters | None = None,
    unit: Unit = "sessions",
    top: int = 10,
    flag_min: int = 10,
    progress: Progress | None = None,
    source: str | None = None,
    tables: Collection[str] | None = None,
) -> Report:
    """Every figure of `branching stats` for `story` (a YAML path or a story id).

    `progress(done, total)`, if given, hears how far the read is and can stop
    it by returning False (then `ReportStopped` is raised). `source`
    (`parquet:OUT/`, `spark:OUT/`) reads a Parquet export instead of `db`.
    `tables` (names of `TABLES`; all by default) are the tables the caller
    will show: the figures only the others need are not read, and their rows
    are left empty. The overview is always read (every output states it);
    the reach when a table shows it, names scenes by it or divides by it
    (`REACHED`); the labels viewers saw when a table shows choice labels
    (`LABELLED`).
    """
    if unit not in ("sessions", "viewers"):
        raise AnalyticsError("stats count sessions or viewers (--by sessions|viewers)")
    filters = filters or Filters()
    loaded = _load(story) if looks_like_path(story) else None
    shape = shape_from_structure(loaded.structure()) if loaded is not None else None
    engine = open_engine(db, source)
    reading = _Reading(engine.sqlite, progress)
    try:
        want = frozenset(TABLES if tables is None else tables)
        return _report(engine, reading, story, shape, loaded, filters, unit, top, flag_min, want)
    except sqlite3.OperationalError:
        if reading.stopped:  # SQLite's "interrupted": the caller said stop
            raise ReportStopped("the read was stopped before the report was finished") from None
        raise
    finally:
        engine.close()


def _report(
    engine: Engine,
    reading: _Reading,
    story: str,
    shape: Shape | None,
    loaded: Story | None,
    filters: Filters,
    unit: Unit,
    top: int,
    flag_min: int,
    want: frozenset[str],
) -> Report:
    story_id = shape.id if shape is not None else story
    chosen = resolve_versions(engine, story_id, filters.version)
    if shape is None:
        shape = stored_shape(engine, story_id, chosen)
    engine.scope(story_id)  # a Parquet engine reads the story's partition only
    if want & LABELLED:
        shape = scan.seen_labels(engine, engine.tables(), shape, [v.content_hash for v in chosen])
    filters = settle_audience(engine, story_id, filters)
    engine.scope(story_id, filters.since)  # the labels are read: only the chosen days now
    picked = scan.picked(story_id, chosen, filters)
    conn = engine.sqlite
    digests = None
    if conn is not None:  # SQLite's own accelerators: the aggregates and the digests
        # (imported here: a report over a Parquet export never reads them)
        from branching.analytics import (
            segments_rollup,
            segments_viewers,
            stats_rollup,
            tags_rollup,
        )

        # the digests' joins revisit pages: keep more of them (bounded)
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        digests = stats_rollup.digested(conn, story_id, chosen, filters, unit)
    # `--first-only` picks at most one session per viewer: on SQLite its viewers are
    # its sessions, which the aggregates add up across classes
    alike = "sessions" if filters.first_only and conn is not None else unit
    sped = _accelerated(engine, digests, story_id, chosen, filters, unit, want)
    scanned = want - sped.answered()
    figured = _one_pass(engine, picked, unit, shape, scanned)
    split: list[Segment] | None = None  # the segments, when read with the overview
    splits: list[Segment] = []
    if digests is not None:  # the same sessions, picked by the store's own list of firsts
        picked = scan.picked_where(digests.cond, digests.params)
        # by viewers, the read of the viewers' lists gave the overview too, or else the
        # read of the segments gives it (read first, then)
        figures = sped.overview
        if figures is None and alike == "viewers" and "segments" in want:
            split, figures = segments_viewers.segments_and_overview(digests)
            splits = split
        figures = figures or stats_rollup.digest_overview(digests, filters.first_only)
    else:
        figures = metrics.overview(engine, picked, unit)
    sessions, viewers, started, completed, first, last = figures
    reading.sessions = sessions
    pruned = 0
    if "pruned_traversals" in engine.tables():  # an export holds the events still held
        pruned = engine.rows(
            "SELECT COALESCE(SUM(count), 0) FROM pruned_traversals WHERE story_id = ?", [story_id]
        )[0][0]
    counts: dict[str, tuple[int, int]] = {}
    if sped.counts is not None:  # each table: the accelerator's figures, else the scan's
        counts = sped.counts
    elif figured is not None:
        counts = figured.scenes
    elif want & (REACHED - NAMED_ONLY):
        counts = metrics.scene_counts(engine, picked, unit)
        reading.passed()
    reached = metrics.reached_of(counts)
    verdicts = None
    if "flags" in want:
        verdicts = _verdicts(loaded) if loaded is not None else _twin_verdicts(story_id, chosen)
    choices: list[ChoiceShare] = []
    if want & {"choices", "flags", "unreached"}:
        taken = sped.taken if sped.taken is not None else figured.taken if figured else None
        choices = metrics.choice_shares(engine, picked, shape, unit, reached, taken)
        reading.passed()
    timing: list[Timing] = []
    if want & {"timing", "flags"}:
        ms = sped.ms if "timing" in want else {}  # the flags read the timeouts only
        decided = sped.timing
        if decided is None:
            decided = figured.decisions if figured else None
        if engine.dialect == "duckdb" and ms is None:  # the counts and the times in one pass
            decided, ms = scan.decision_times(engine, picked, unit)
        elif engine.dialect == "duckdb" and decided is None and "timing" not in want:
            decided = _decided_of(choices)  # the flags: no pass of their own
        timing = metrics.timing(engine, picked, shape, unit, decided, ms)
        reading.passed()
    walked = None
    if want & {"flags", "paths", "progress"}:
        from branching.analytics import walks
    need_walk = "flags" in want and walks.needs_observing(
        ((c.scene, c.choice) for c in choices if c.times), verdicts
    )
    if digests is None and want & {"paths", "progress"} or need_walk:
        walked = walks.walk(
            engine,
            picked,
            unit,
            observe=need_walk,
            progress=reading.walked(reading.done) if reading.progress else None,
        )
        reading.done = 0
        reading.passed(2 + WALK_WEIGHT)
    path_rows: list[PathShare] = []
    progress_rows: list[ProgressRow] = []
    if digests is not None and walked is None:
        if "paths" in want:
            path_rows = stats_rollup.digest_paths(digests, shape, top, completed)
        if "progress" in want:
            progress_rows = stats_rollup.digest_progress(digests)
    elif walked is not None:
        path_rows = walks.paths(walked, shape, top) if "paths" in want else []
        progress_rows = walks.progress(walked) if "progress" in want else []
    overview = Overview(
        story_id,
        shape.title,
        unit,
        filters.describe(chosen),
        tuple(v.describe() for v in chosen),
        sessions,
        viewers,
        started,
        completed,
        first,
        last,
        int(pruned),
    )
    reach = (
        metrics.scene_reach(engine, picked, shape, unit, started, counts) if want & REACHED else []
    )
    ends: list[EndingShare] = []
    kinds: list[EndingShare] = []
    if "endings" in want:
        ends, kinds = metrics.endings(engine, picked, shape, alike, started)
    interactions: list[Interaction] = []
    if "interactions" in want:
        interactions = metrics.interactions(
            engine,
            picked,
            shape,
            unit,
            reached,
            sped.acts if sped.acts is not None else figured.interactions if figured else None,
        )
        reading.passed()
    if "segments" in want and split is not None:
        reading.passed()  # read with the overview
    elif "segments" in want:
        if digests is not None and alike == "sessions":
            splits = segments_rollup.digest_segments(digests)
        elif digests is not None:
            splits = segments_viewers.viewer_segments(digests)
        else:
            # an export of layout 4 carries each session's decisions, as the digests do
            digested = digests is not None or bool(getattr(engine, "stored_made", False))
            splits = segments.segments(engine, picked, unit, digested=digested)
        reading.passed()
    tag_rows: list[TagShare] = []
    if "tags" in want:
        if digests is not None:
            by_viewer = alike == "viewers"
            tag_rows = tags_rollup.counted_tags(digests, shape, started, viewers=by_viewer)
        elif figured is not None and "tags" in scanned:  # DuckDB: the units from the one pass
            tag_rows = segments.tag_shares(segments.tagged(shape), started, figured.unions)
        else:
            listed = None
            if sped.lists and isinstance(engine, DuckDbEngine):  # the sessions' lists
                from branching.analytics import parquet_stats

                listed = parquet_stats.exported_tags(
                    engine,
                    story_id,
                    chosen,
                    filters,
                    shape,
                    started,
                    "sessions" if unit == "sessions" or filters.first_only else "viewers",
                )
            tag_rows = (
                listed
                if listed is not None
                else segments.tags(engine, picked, shape, unit, started)
            )
            reading.passed()
    dropoff: list[DropOff] = []
    if "dropoff" in want:
        dropoff = metrics.dropoff(engine, picked, shape, unit, reached, sped.left)
    flag_rows: list[Flag] = []
    if "flags" in want:
        flag_rows = flags(shape, choices, timing, walked or walks.Walks(unit), flag_min, verdicts)
    return Report(
        overview=overview,
        reach=tuple(reach),
        choices=tuple(choices),
        timing=tuple(timing) if "timing" in want else (),  # for the flags: no times to decide
        dropoff=tuple(dropoff),
        endings=tuple(ends),
        ending_kinds=tuple(kinds),
        paths=tuple(path_rows),
        interactions=tuple(interactions),
        progress=tuple(progress_rows),
        segments=tuple(splits),
        tags=tuple(tag_rows),
        flags=tuple(flag_rows),
        unreached_scenes=tuple(r.scene for r in reach if not r.reached and sessions),
        unreached_choices=tuple((c.scene, c.choice) for c in choices if not c.times and sessions),
    )


def flags(
    shape: Shape,
    choices: list[ChoiceShare],
    timing: list[Timing],
    walked: walks.Walks,
    flag_min: int,
    verdicts: Mapping[tuple[str, str, str], ChoicePairVerdict] | None = None,
) -> list[Flag]:
    """Lopsided choices, choice points that time out, choices that make no difference."""
    out: list[Flag] = []
    by_scene: dict[str, list[ChoiceShare]] = {}
    for c in choices:
        by_scene.setdefault(c.scene, []).append(c)
    for scene, rows in by_scene.items():
        decisions = sum(c.times for c in rows)
        if len(rows) < 2 or decisions < flag_min:
            continue
        top = max(rows, key=lambda c: c.times)
        if top.times / decisions > LOPSIDED:
            out.append(
                Flag(
                    "lopsided",
                    scene,
                    shape.title_of(scene),
                    f"'{top.label}' took {top.times} of {decisions} decisions",
                    top.times / decisions,
                )
            )
    for t in timing:
        rate = t.timeout_rate
        if t.decisions >= flag_min and rate is not None and rate > TIMEOUTS:
            out.append(
                Flag(
                    "timeouts",
                    t.scene,
                    t.title,
                    f"the clock chose {t.timeouts} of {t.decisions} times",
                    rate,
                )
            )
    from branching.analytics import walks

    out += walks.no_difference(walked, shape, verdicts)
    return out


def _accelerated(
    engine: Engine,
    digests: Digested | None,
    story_id: str,
    chosen: list[Version],
    filters: Filters,
    unit: Unit,
    want: frozenset[str],
) -> Accelerated:
    """The one accelerator that gives this report figures without a pass over the
    events: on DuckDB a Parquet export's aggregates and lists; on SQLite its
    aggregates (in sessions, or with `--first-only`), else by viewers its digests;
    elsewhere none (every field None: the events answer). They never apply together
    (SQLite's need its connection, which no other engine has), in that precedence."""
    from branching.analytics.accelerated import Accelerated

    # the tables that read no reach (segments, tags, paths...) skip the aggregates' sums
    # (0.07 s of CPU at 10 M events)
    reach, clocked = bool(want & REACHED), bool(want & {"timing", "flags"})
    timing, acts = "timing" in want, "interactions" in want
    if isinstance(engine, DuckDbEngine):
        from branching.analytics import parquet_stats

        by_sessions = unit == "sessions" or filters.first_only  # one session per viewer
        return parquet_stats.exported_accelerated(
            engine,
            story_id,
            chosen,
            filters,
            by_sessions,
            reach=reach,
            clocked=clocked,
            timing=timing,
            acts=acts,
            tags="tags" in want,
        )
    conn = engine.sqlite
    if conn is None or not reach:
        return Accelerated()
    from branching.analytics import stats_rollup, viewers_rollup

    alike = "sessions" if filters.first_only else unit  # `--first-only`: its sessions
    rolled = stats_rollup.rolled_figures(conn, story_id, chosen, filters, alike)[0]
    if rolled is not None:
        return stats_rollup.rolled_accelerated(conn, rolled, timing=timing, acts=acts)
    if unit != "viewers":
        return Accelerated()
    # time to decide is over the decisions whatever the unit: from the aggregates' buckets
    return viewers_rollup.viewer_accelerated(
        conn,
        digests,
        story_id,
        chosen,
        filters,
        choices=bool(want & {"choices", "flags", "unreached"}),
        clocked=clocked,
        timing=timing,
        acts=acts,
        dropoff="dropoff" in want,
    )


def _one_pass(
    engine: Engine, picked: scan.ChosenSessions, unit: Unit, shape: Shape, scanned: frozenset[str]
) -> scan.EventFigures | None:
    """On DuckDB, the event figures of the tables `scanned` (those no accelerator
    answered) in one pass over the events, when they would take `FIGURED_PASSES` or
    more passes of their own; else None (each table reads its own)."""
    if engine.dialect != "duckdb" or _passes(scanned) < FIGURED_PASSES:
        return None
    reads = {"scenes", "interactions"} if "interactions" in scanned else {"scenes"}
    if scanned & {"choices", "timing", "flags", "unreached", "tags"}:
        reads.add("decisions")
    unions = _tag_unions(segments.tagged(shape)) if "tags" in scanned else []
    return scan.event_figures(engine, picked, unit, reads, unions)


def _passes(want: frozenset[str]) -> int:
    """How many passes over the events the portable queries of the tables `want` take
    for the event figures (`PASSES`)."""
    return sum(bool(want & tables) for tables in PASSES)


def _decided_of(choices: list[ChoiceShare]) -> dict[str, tuple[int, int, int]]:
    """scene -> (decisions, timeouts, 0) added up from `choices` (every choice taken at
    a scene of the story is one of them, retired or not): the timing counts the flags
    read, without the units timed out, which only the timing table shows."""
    out: dict[str, tuple[int, int, int]] = {}
    for c in choices:
        decided, late, _ = out.get(c.scene, (0, 0, 0))
        out[c.scene] = (decided + c.times, late + c.timeouts, 0)
    return out


def _tag_unions(tags: list[segments.Tagged]) -> list[tuple[str, list[object]]]:
    """The conditions over `scan.event_figures`' cells whose units the tags table
    counts, in `segments.tag_shares`' order: per choice tag, who was shown one of its
    scenes, then who took one of its choices; per scene tag, who was shown one of its
    scenes (as `segments.tags` counts them over the events)."""
    out: list[tuple[str, list[object]]] = []
    for t in tags:
        marks = ", ".join("?" for _ in t.scenes)
        shown = f"type = 'scene_shown' AND scene IN ({marks})" if t.scenes else "1 = 0"
        out.append((shown, list(t.scenes)))
        if t.kind == "choice":
            took = " OR ".join("(scene = ? AND choice = ?)" for _ in t.pairs) or "1 = 0"
            decided = "type IN ('choice_made', 'timeout_default')"
            out.append((f"{decided} AND ({took})", [v for pair in t.pairs for v in pair]))
    return out


def _load(path: str | Path) -> Story:
    """The story file at `path`. The YAML reader is imported here, when a file is
    read: a report of a story named by id needs it only for the flags."""
    from branching.story.loader import load_story

    return load_story(path)


def _bundled_twin(story_id: str, chosen: list[Version]) -> Story | None:
    """The bundled story `story_id` when every chosen version is exactly it, else None.

    A story named by id has only its stored structure, without conditions, so
    the explorer cannot prove which choices make no difference. When the
    recordings are of a bundled story's very content (same content hash), its
    file is that proof's input: `stats signal` then flags as `stats
    stories/signal` does, and needs no replay of the sessions' states.
    """
    found = bundled_story(story_id)
    if found is None or not chosen:
        return None
    try:
        story = _load(found)
    except BranchingError:
        return None
    same = story.id == story_id and all(v.content_hash == story.content_hash for v in chosen)
    return story if same else None


_VERDICTS: dict[tuple[str, str, object], dict[tuple[str, str, str], ChoicePairVerdict]] = {}


def _twin_verdicts(
    story_id: str, chosen: list[Version]
) -> dict[tuple[str, str, str], ChoicePairVerdict] | None:
    """`_verdicts` of `_bundled_twin`: the answer kept on disk for the chosen version
    when the bundled file is that very version (`verdict_cache.twin`: its files
    hashed, no YAML read; 0.06 s of CPU less), else by loading the bundled file.
    (Not from this process's answers: those are by content hash, which only the
    file's own bytes prove.)"""
    found = bundled_story(story_id)
    hashes = {v.content_hash for v in chosen}
    if found is not None and len(hashes) == 1:
        from branching.analytics import verdict_cache

        root = found / "story.yaml" if found.is_dir() else found  # as the loader reads it
        known = verdict_cache.twin(story_id, next(iter(hashes)), root)
        if known is not None:
            return known
    return _verdicts(_bundled_twin(story_id, chosen))


def _verdicts(story: Story | None) -> dict[tuple[str, str, str], ChoicePairVerdict] | None:
    """The explorer's verdict on every pair of choices of `story` (None: no story file).

    Decided verdicts depend only on the story's content and the budget, so a
    process that reads the figures again (the dashboard's refresh) explores
    each version once, and a complete answer is kept on disk for the next
    process (`verdict_cache`).
    """
    if story is None:
        return None
    from branching.analytics import verdict_cache
    from branching.verify import choices as verify_choices

    key = (story.id, story.content_hash, verify_choices.CHECK_LIMITS)
    known = _VERDICTS.get(key) or verdict_cache.load(story)
    if known is not None:
        _VERDICTS[key] = known
        return known
    found = verify_choices.compare_choices(story, limits=verify_choices.CHECK_LIMITS)
    verdicts = {(v.scene, v.a, v.b): v for v in found}
    if verify_choices.repeatable(found):  # not one a Ctrl-C or memory cut short
        _VERDICTS[key] = verdicts
        verdict_cache.keep(story, verdicts)
    return verdicts
