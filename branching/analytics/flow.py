"""`flow_graph()`: the one call behind `branching flowchart`, whatever the source.

It decides where the figures come from: the running totals when nothing but a
version is chosen and the unit is `times` (the fast path: no raw events are
read, so the flowchart of ten million choices takes milliseconds); else the
aggregates (`rollup.py`: per version, day, first playthrough, audience,
outcome and attribute value, in sessions or times) whenever the filters and
unit are ones they are split by; raw events otherwise (`viewers`, a cut-off
with a time of day, several `--where`, an attribute with too many values: a
note says why), or a CSV of counts computed elsewhere. The story graph comes
from the YAML file when one is named, else from the structure stored in the
database.

`source` picks the engine (`engines.py`): SQLite at `db` (the default), or
the Parquet export through DuckDB (`parquet:OUT/`) or Spark (`spark:OUT/`).
The raw-event queries are one portable definition (`scan.py`) on every
engine; the running totals are SQLite's own accelerator, and the aggregates
are read on DuckDB too wherever the export holds them (`parquet_rollup.py`),
so the Parquet engines answer every other figure from the events, with the
same numbers.

With no database, or one that holds no recordings of the story, or when asked
(`story_map=True`), it is the **story map**: the structure alone (scenes,
choices with their conditions, endings, chapters), a `FlowGraph` with
`telemetry=False` whose counts are absent, not zero, so no renderer claims
"0 visits". The conditions come from the story file (the stored structure only
says that a choice has one).
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from branching.analytics import scan
from branching.analytics.engines import DuckDbEngine, Engine, open_engine
from branching.analytics.filters import Filters, Unit, settle_audience, unit_named
from branching.analytics.graph import Counts, EdgeKey, FlowGraph, assemble, totals_counts
from branching.analytics.parquet_rollup import parquet_counts
from branching.analytics.parquet_viewers import viewer_counts_exported
from branching.analytics.rollup import rollup_counts
from branching.analytics.shape import (
    AnalyticsError,
    Shape,
    apply_seen_labels,
    shape_from_structure,
)
from branching.analytics.source import (
    Version,
    looks_like_path,
    resolve_versions,
    stored_shape,
    versions,
    yaml_shape,
)

if TYPE_CHECKING:
    from branching.story.model import Story

USE_AGGREGATES = True  # False: filtered figures always scan the events (benchmarks compare)
# True: DuckDB counts the labels seen in the figures' pass (without --since); measured
# slower at 10M events than their own pass (docs/decisions.md), so off unless asked
FOLD_LABELS = False


def flow_graph(
    story: str,
    *,
    db: str | Path | None,
    filters: Filters | None = None,
    unit: Unit | str = "sessions",
    counts_csv: str | Path | None = None,
    story_map: bool = False,
    source: str | None = None,
) -> FlowGraph:
    """The aggregated graph of `story` (a YAML path or a story id in the database).

    `unit` is sessions (the default), viewers or times (`choices`, its old name,
    is accepted). With `db=None` (and no `counts_csv` nor `source`), or
    `story_map=True`, the story map. `source` (`parquet:OUT/`, `spark:OUT/`)
    reads a Parquet export instead of the database.
    """
    filters = filters or Filters()
    unit = unit_named(unit)
    if source and counts_csv is not None:
        raise AnalyticsError("--counts draws counts computed elsewhere: give it or --source")
    if story_map or (db is None and counts_csv is None and not source):
        if not filters.empty:
            raise AnalyticsError(
                "the story map has no recorded sessions to filter: drop --since, --until, "
                "--where, --first-only, --version and --audience"
                + ("" if story_map else ", or name the telemetry database with --db")
            )
        return story_map_graph(story, db=db, source=source)
    shape = yaml_shape(story) if looks_like_path(story) else None
    if counts_csv is not None:
        if not filters.empty:
            raise AnalyticsError("--counts draws counts computed elsewhere: filters do not apply")
        if shape is None:
            shape = _db_shape(db, story)
        counts, notes = read_counts(counts_csv, shape)
        return assemble(
            shape,
            counts,
            unit="times",
            source=f"counts file {Path(counts_csv).name}",
            filters="as computed in the file",
            notes=notes,
        )
    engine = open_engine(db, source)
    try:
        story_id = shape.id if shape is not None else story
        if not versions(engine, story_id) and (loaded := _load(story)) is not None:
            where = Path(db).name if not source and db is not None else source
            note = f"{where} holds no recordings of {story_id}: this is the story map"
            return _map_of(loaded, notes=(note,))
        return _from_db(engine, shape, story, filters, unit)
    finally:
        engine.close()


# -- the story map --------------------------------------------------------------------


def story_map_graph(
    story: str, *, db: str | Path | None = None, source: str | None = None
) -> FlowGraph:
    """The structure of `story` with no counts: a file or folder, a bundled story's name,
    or (with `db` or `source`) a story id whose structure the database holds."""
    loaded = _load(story)
    if loaded is not None:
        return _map_of(loaded)
    if db is None and not source:
        raise AnalyticsError(
            f"'{story}' is not a story file or folder, nor a bundled story "
            "(name a telemetry database with --db to draw a recorded story by its id)"
        )
    engine = open_engine(db, source)
    try:
        shape = stored_shape(engine, story, resolve_versions(engine, story, None))
    finally:
        engine.close()
    note = "conditions are not stored in the database: draw the story file to see them"
    return _mapped(shape, {}, (note,), source="the structure stored in the database")


def _load(story: str) -> Story | None:
    """The story `story` names (a path, or a bundled story's name), or None."""
    from branching.story.bundled import bundled_story
    from branching.story.loader import load_story

    if looks_like_path(story):
        return load_story(story)
    found = bundled_story(story)
    return load_story(str(found)) if found is not None else None


def _map_of(story: Story, notes: tuple[str, ...] = ()) -> FlowGraph:
    conditions: dict[EdgeKey, str] = {}
    for scene in story.scenes.values():
        for c in scene.choices:
            words = [f"if {c.condition.source}"] if c.condition is not None else []
            words += [f"requires {c.requires.source}"] if c.requires is not None else []
            words += ["once"] if c.once else []
            conditions[(scene.id, c.id, c.goto)] = "; ".join(words)
        for r in scene.routes:
            if r.condition is not None:
                key = (scene.id, "", r.goto)
                old = conditions.get(key)
                conditions[key] = (
                    f"{old} or {r.condition.source}" if old else f"if {r.condition.source}"
                )
    return _mapped(shape_from_structure(story.structure()), conditions, notes)


def _mapped(
    shape: Shape,
    conditions: dict[EdgeKey, str],
    notes: tuple[str, ...],
    *,
    source: str = "the story file",
) -> FlowGraph:
    graph = assemble(
        shape,
        Counts({}, {}, {}),
        unit="sessions",
        source=source,
        filters="no telemetry",
        notes=notes,
    )
    scenes = {
        sid: replace(
            scene,
            edges=tuple(
                replace(e, condition=conditions.get((sid, e.choice, e.target), ""))
                for e in scene.edges
            ),
        )
        for sid, scene in graph.scenes.items()
    }
    return replace(graph, scenes=scenes, telemetry=False)


def _db_shape(db: str | Path | None, story_id: str) -> Shape:
    if db is None:
        raise AnalyticsError(f"'{story_id}' is not a story file; name the database with --db")
    engine = open_engine(db, None)
    try:
        return stored_shape(engine, story_id, resolve_versions(engine, story_id, None))
    finally:
        engine.close()


def _from_db(
    engine: Engine, shape: Shape | None, story: str, filters: Filters, unit: Unit
) -> FlowGraph:
    story_id = shape.id if shape is not None else story
    chosen = resolve_versions(engine, story_id, filters.version)
    if shape is None:
        shape = stored_shape(engine, story_id, chosen)
    engine.scope(story_id)  # a Parquet engine reads the story's partition only
    filters = settle_audience(engine, story_id, filters)
    hashes = [v.content_hash for v in chosen]
    conn = engine.sqlite  # the accelerators are SQLite's: other engines read the events
    # the labels seen are read before the days are narrowed (or, with FOLD_LABELS, in
    # DuckDB's pass over the figures when that pass reads every day of the story)
    fold = FOLD_LABELS and engine.dialect == "duckdb" and not filters.since
    fold = fold and "choice_labels" in engine.tables()
    if not fold:
        shape = scan.seen_labels(engine, engine.tables(), shape, hashes)
    engine.scope(story_id, filters.since)  # the labels are read: only the chosen days now
    fast = unit == "times" and replace(filters, version=None, audience_note="").empty
    notes: list[str] = []
    if fast and conn is not None:
        counts = totals_counts(conn, story_id, hashes if filters.version else None)
        source = "running totals"
    else:
        rolled, why = (
            rollup_counts(conn, story_id, chosen, filters, unit)
            if USE_AGGREGATES and conn is not None
            else (None, "")
        )
        exported = None
        if USE_AGGREGATES and isinstance(engine, DuckDbEngine) and not fold:
            if unit == "viewers":
                exported = viewer_counts_exported(engine, story_id, chosen, filters)
            else:  # why not: the note SQLite gives for the same selection
                exported, why = parquet_counts(engine, story_id, chosen, filters, unit)
        if rolled is not None:
            counts, source = rolled, "aggregates"
        elif exported is not None:  # the export's copy of the aggregates (DuckDB)
            counts, source = exported, engine.label
        elif fold:
            picked = scan.picked(story_id, chosen, filters)
            counts, labels = scan.counts_and_labels(engine, picked, unit, hashes)
            shape = apply_seen_labels(shape, labels) if hashes else shape
            source = engine.label
        else:
            counts = scan.event_counts(engine, scan.picked(story_id, chosen, filters), unit)
            source = "raw events" if conn is not None else engine.label
            notes += [why] if why else []
        if not fast:
            notes += _pruned_note(engine, story_id)
    counts = _with_routes(engine, shape, story_id, chosen, filters, unit, counts, notes)
    return assemble(
        shape,
        counts,
        unit=unit,
        source=source,
        filters=filters.describe(chosen),
        notes=tuple(notes),
    )


def routes_from_visits(
    shape: Shape, counts: Counts
) -> tuple[dict[EdgeKey, tuple[int, int]], list[str]]:
    """Route edges worked out from visits, and the route scenes where that is not possible.

    A scene with one route passes everyone who reached it on, except those who
    got stuck there; a route whose target has no other way in carried exactly
    the target's visitors.
    """
    ways_in: dict[str, list[EdgeKey]] = {}
    for s in shape.scenes.values():
        for c in s.choices:
            ways_in.setdefault(c.goto, []).append((s.id, c.id, c.goto))
        for r in s.routes:
            ways_in.setdefault(r.goto, []).append((s.id, "", r.goto))
    edges: dict[EdgeKey, tuple[int, int]] = {}
    unresolved: list[str] = []
    for s in shape.scenes.values():
        if s.kind not in ("next", "random") or not s.routes:
            continue
        if len({r.goto for r in s.routes}) == 1:
            passed = counts.visits.get(s.id, 0) - counts.stopped.get(s.id, 0)
            edges[(s.id, "", s.routes[0].goto)] = (max(0, passed), 0)
        elif all(
            ways_in.get(r.goto) == [(s.id, "", r.goto)] and r.goto != shape.start for r in s.routes
        ):
            edges.update({(s.id, "", r.goto): (counts.visits.get(r.goto, 0), 0) for r in s.routes})
        else:
            unresolved.append(s.id)
    return edges, unresolved


def _with_routes(
    engine: Engine,
    shape: Shape,
    story_id: str,
    chosen: list[Version],
    filters: Filters,
    unit: Unit,
    counts: Counts,
    notes: list[str],
) -> Counts:
    """Add route edges when the recorder wrote no `route_taken` events."""
    if not counts.visits or any(not choice for (_, choice, _) in counts.edges):
        return counts  # nothing recorded yet, or the routes are counted already
    edges, unresolved = routes_from_visits(shape, counts)
    if not edges and not unresolved:
        return counts
    note = (
        "routes (next/random) worked out from scene visits: this database has no route_taken events"
    )
    if unresolved:
        chosen_sessions = scan.picked(story_id, chosen, filters)
        edges.update(scan.derived_routes(engine, chosen_sessions, unit, unresolved))
        note += f" (read from the raw events for {', '.join(unresolved)})"
    notes.append(note)
    return replace(counts, edges={**counts.edges, **edges})


def _pruned_note(engine: Engine, story_id: str) -> list[str]:
    if "pruned_traversals" not in engine.tables():  # an export holds the events still held
        return []
    row = engine.rows(
        "SELECT COALESCE(SUM(count), 0) FROM pruned_traversals WHERE story_id = ?", [story_id]
    )[0]
    if not row[0]:
        return []
    return [
        f"{row[0]:,} older choices were pruned from the raw events: filtered figures "
        "cover only the events still held (the unfiltered flowchart includes them)"
    ]


# -- counts computed elsewhere ------------------------------------------------------

COUNT_COLUMNS = ("scene", "choice", "target", "count")
COUNTS_MAX_BYTES = 10 * 1024 * 1024  # read no further (`--counts /dev/zero` is endless)


def _int(text: str, what: str, where: str) -> int:
    try:
        value = int(text.strip() or "0")
    except ValueError:
        raise AnalyticsError(f"{where}: {what} '{text}' is not a whole number") from None
    if value < 0:
        raise AnalyticsError(f"{where}: {what} {value} is negative")
    return value


def read_counts(path: str | Path, shape: Shape) -> tuple[Counts, tuple[str, ...]]:
    """Per-choice counts from CSV: columns scene,choice,target,count[,timeouts].

    A row with an empty choice is a route (`next`/`random`); a row with an empty
    choice and an empty target is the number who stopped at that scene (at an
    ending: who ended there).
    """
    name = Path(path).name
    try:
        with open(path, "rb") as raw:
            data = raw.read(COUNTS_MAX_BYTES + 1)
    except OSError as exc:
        raise AnalyticsError(f"cannot read the counts file {path}: {exc.strerror}") from None
    if len(data) > COUNTS_MAX_BYTES:
        raise AnalyticsError(f"{name} is over the limit of {COUNTS_MAX_BYTES:,} bytes")
    try:
        handle = io.StringIO(data.decode("utf-8-sig"), newline="")
        edges, left, unknown = _read_count_rows(handle, name, shape)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise AnalyticsError(f"{name} is not a UTF-8 CSV file of counts ({exc})") from None
    notes = (f"not in this version of the story: {', '.join(sorted(unknown))}",) if unknown else ()
    ended = {sid: n for sid, n in left.items() if shape.scenes[sid].kind == "ending"}
    stopped = {sid: n for sid, n in left.items() if sid not in ended}
    return Counts(edges, {}, stopped, ended=ended), notes


def _read_count_rows(
    handle: TextIO, name: str, shape: Shape
) -> tuple[dict[EdgeKey, tuple[int, int]], dict[str, int], set[str]]:
    """The edges, the stopped counts and the unknown choices of an open counts file."""
    edges: dict[EdgeKey, tuple[int, int]] = {}
    left: dict[str, int] = {}
    unknown: set[str] = set()
    reader = csv.DictReader(handle)
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in COUNT_COLUMNS if c not in header]
    if missing:
        raise AnalyticsError(
            f"{name}: the header lacks {', '.join(missing)} "
            f"(expected scene,choice,target,count[,timeouts])"
        )
    for row in reader:
        where = f"{name}:{reader.line_num}"
        clean = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        scene, choice, target = clean["scene"], clean["choice"], clean["target"]
        if scene not in shape.scenes:
            raise AnalyticsError(f"{where}: scene '{scene}' is not in story '{shape.id}'")
        count = _int(clean["count"], "count", where)
        timeouts = _int(clean.get("timeouts", ""), "timeouts", where)
        if not target:
            if choice:
                raise AnalyticsError(f"{where}: choice '{choice}' has no target")
            left[scene] = left.get(scene, 0) + count
            continue
        key = (scene, choice, target)
        if key in edges:
            raise AnalyticsError(f"{where}: {scene},{choice},{target} is given twice")
        if choice and shape.scenes[scene].choice(choice) is None:
            unknown.add(f"{scene}/{choice}")
        edges[key] = (count, timeouts)
    return edges, left, unknown
