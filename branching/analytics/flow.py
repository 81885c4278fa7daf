"""`flow_graph()`: the one call behind `branching flowchart`, whatever the source.

It decides where the figures come from: the running totals when nothing but a
version is chosen and the unit is `choices` (the fast path: no raw events are
read, so the flowchart of ten million choices takes milliseconds), raw events
otherwise, or a CSV of counts computed elsewhere. The story graph comes from
the YAML file when one is named, else from the structure stored in the
database.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from branching.analytics.filters import Filters, Unit, pick_sessions, settle_audience
from branching.analytics.graph import (
    Counts,
    EdgeKey,
    FlowGraph,
    assemble,
    derived_routes,
    event_counts,
    totals_counts,
)
from branching.analytics.shape import AnalyticsError, Shape
from branching.analytics.source import (
    Version,
    looks_like_path,
    open_readonly,
    resolve_versions,
    stored_shape,
    yaml_shape,
)


def flow_graph(
    story: str,
    *,
    db: str | Path | None,
    filters: Filters | None = None,
    unit: Unit = "choices",
    counts_csv: str | Path | None = None,
) -> FlowGraph:
    """The aggregated graph of `story` (a YAML path or a story id in the database)."""
    filters = filters or Filters()
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
            unit="choices",
            source=f"counts file {Path(counts_csv).name}",
            filters="as computed in the file",
            notes=notes,
        )
    if db is None:
        raise AnalyticsError("name the telemetry database with --db (or set BRANCHING_DB)")
    conn = open_readonly(db)
    try:
        return _from_db(conn, shape, story, filters, unit)
    finally:
        conn.close()


def _db_shape(db: str | Path | None, story_id: str) -> Shape:
    if db is None:
        raise AnalyticsError(f"'{story_id}' is not a story file; name the database with --db")
    conn = open_readonly(db)
    try:
        return stored_shape(conn, story_id, resolve_versions(conn, story_id, None))
    finally:
        conn.close()


def _from_db(
    conn: sqlite3.Connection, shape: Shape | None, story: str, filters: Filters, unit: Unit
) -> FlowGraph:
    story_id = shape.id if shape is not None else story
    chosen = resolve_versions(conn, story_id, filters.version)
    if shape is None:
        shape = stored_shape(conn, story_id, chosen)
    filters = settle_audience(conn, story_id, filters)
    fast = unit == "choices" and replace(filters, version=None, audience_note="").empty
    notes: list[str] = []
    if fast:
        hashes = [v.content_hash for v in chosen] if filters.version else None
        counts = totals_counts(conn, story_id, hashes)
        source = "running totals"
    else:
        pick_sessions(conn, story_id, chosen, filters)
        counts = event_counts(conn, unit, [s.id for s in shape.endings()])
        source = "raw events"
        notes += _pruned_note(conn, story_id)
    counts = _with_routes(conn, shape, story_id, chosen, filters, unit, counts, notes)
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
    conn: sqlite3.Connection,
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
        if counts.viewers is None:  # the fast path has not picked sessions yet
            pick_sessions(conn, story_id, chosen, Filters(version=filters.version))
        edges.update(derived_routes(conn, unit, unresolved))
        note += f" (read from the raw events for {', '.join(unresolved)})"
    notes.append(note)
    return Counts(
        {**counts.edges, **edges},
        counts.visits,
        counts.stopped,
        counts.sessions,
        counts.viewers,
        counts.completed,
    )


def _pruned_note(conn: sqlite3.Connection, story_id: str) -> list[str]:
    row = conn.execute(
        "SELECT COALESCE(SUM(count), 0) FROM pruned_traversals WHERE story_id = ?", [story_id]
    ).fetchone()
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
    choice and an empty target is the number who stopped at that scene.
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
    return Counts(edges, {}, left), notes


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
