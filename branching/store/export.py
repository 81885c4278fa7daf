"""Exporting recorded playthroughs as JSON lines or CSV, streaming.

One row per event, joined with its session (story, version, viewer id,
outcome, context, attributes), in playthrough order. Rows are read from a
cursor and written one at a time, so memory stays constant however large the
database. Sessions that have no event left (pruned) appear once with empty
event fields unless a time window is given, so `--viewer NAME` returns all of
that viewer's data. Filters are bound parameters; the query text only varies
by which fixed fragments are included.

Events store the engine state as snapshots and patches (`states.py`); the
`state` column gives the whole state at each event, rebuilt while streaming,
one session at a time (the rows come in session and sequence order). So a
time window still reads each matching session from its first event, and
writes only the events inside the window. `event_id` is `SESSION_ID:SEQ`,
the key events are stored under (unique, and the same in every merged copy).

Everything here was recorded from someone else (attributes, `TERM`, story
titles, and whatever `merge` copied in), so each format writes it through
`branching.escape`: JSON lines keep every value exactly, with the characters
that could drive a terminal written as `\\uXXXX` (`json_text`); CSV is for
spreadsheets, so each text cell has its control characters made visible and,
when it would start a formula (`=`, `+`, `-`, `@`, tab, CR...), a leading `'`
(`csv_cell`, OWASP's advice).
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from branching.escape import csv_cell, json_text
from branching.store import db
from branching.store.errors import InvalidInput
from branching.store.states import StateReader, dumps

FORMATS = ("jsonl", "csv")
COLUMNS = (
    "event_id",
    "session_id",
    "seq",
    "ts",
    "type",
    "scene",
    "choice",
    "target",
    "decide_ms",
    "input",
    "state",
    "story_id",
    "content_hash",
    "version_label",
    "viewer_id",
    "started_at",
    "ended_at",
    "outcome",
    "ending_id",
    "ending_kind",
    "seed",
    "terminal",
    "term_program",
    "term_cols",
    "term_rows",
    "platform",
    "locale",
    "utc_offset_min",
    "app_version",
    "attrs",
    "label",  # the choice's label as the viewer saw it, where it differs from the template
    "simulated",  # 1 for a session `branching simulate` played
)
_SELECT = """
SELECT s.session_id, e.seq, e.ts, e.type, e.scene, e.choice, e.target, e.decide_ms,
       e.input, e.state, s.story_id, s.content_hash, st.version_label, s.viewer_id, s.started_at,
       s.ended_at, s.outcome, s.ending_id, s.ending_kind, s.seed, s.terminal, s.term_program,
       s.term_cols, s.term_rows, s.platform, s.locale, s.utc_offset_min, s.app_version,
       (SELECT json_group_object(a.key, a.value) FROM session_attrs a
        WHERE a.session_id = s.session_id) AS attrs,
       {label} AS label, {simulated} AS simulated, {inside} AS inside
FROM sessions s
LEFT JOIN events e ON e.session_id = s.session_id
LEFT JOIN stories st ON st.story_id = s.story_id AND st.content_hash = s.content_hash"""
_ORDER = " ORDER BY s.started_at, s.session_id, e.seq"
_FRAGMENTS = (
    ("story", "s.story_id = :story"),
    ("since", "e.ts >= :since"),
    ("until", "e.ts < :until"),
    ("viewer_id", "s.viewer_id = :viewer_id"),
)
_WINDOW = ("since", "until")


@dataclass(frozen=True, slots=True)
class ExportFilter:
    """Which rows to export; `since`/`until` are stored-format timestamps."""

    story: str | None = None
    since: str | None = None
    until: str | None = None
    viewer_id: str | None = None

    def where(self) -> tuple[str, dict[str, str]]:
        """The WHERE clause (fixed fragments) and its parameters."""
        parts: list[str] = []
        params: dict[str, str] = {}
        for name, fragment in _FRAGMENTS:
            value = getattr(self, name)
            if value is not None:
                parts.append(fragment)
                params[name] = value
        return (" WHERE " + " AND ".join(parts) if parts else ""), params

    def sessions(self) -> tuple[str, str, dict[str, str]]:
        """(WHERE picking whole sessions, the test of an event inside the window, params).

        The state at an event is rebuilt from the session's earlier events, so
        every event of a session with one in the window is read; `inside` says
        which are written.
        """
        parts: list[str] = []
        window: list[str] = []
        params: dict[str, str] = {}
        for name, fragment in _FRAGMENTS:
            value = getattr(self, name)
            if value is None:
                continue
            params[name] = value
            (window if name in _WINDOW else parts).append(fragment)
        inside = " AND ".join(window) if window else "1"
        if window:
            parts.append(
                "EXISTS (SELECT 1 FROM events e WHERE e.session_id = s.session_id AND "
                + inside
                + ")"
            )
        return (" WHERE " + " AND ".join(parts) if parts else ""), inside, params


def count_rows(conn: sqlite3.Connection, filt: ExportFilter) -> int:
    """How many rows `iter_rows` will yield (for a progress bar)."""
    where, params = filt.where()
    sql = f"""SELECT COUNT(*) FROM sessions s
              LEFT JOIN events e ON e.session_id = s.session_id{where}"""
    return int(conn.execute(sql, params).fetchone()[0])


def iter_rows(
    conn: sqlite3.Connection, filt: ExportFilter, *, decode: bool = True
) -> Iterator[dict[str, Any]]:
    """Export rows one at a time; `decode` turns the JSON columns into objects.

    Without `decode` they are compact JSON text (as CSV writes them).
    """
    where, inside, params = filt.sessions()
    windowed = inside != "1"
    # read as it is: an older file has neither column
    label = "e.label" if "label" in db.columns(conn, "events") else "NULL"
    simulated = "s.simulated" if "simulated" in db.columns(conn, "sessions") else "0"
    sql = _SELECT.format(inside=inside, label=label, simulated=simulated) + where + _ORDER
    cursor = conn.execute(sql, params)
    reader = StateReader()
    session: str | None = None
    for row in cursor:
        session_id, seq = row[0], row[1]
        if session_id != session:
            session, reader = session_id, StateReader()
        state = None if seq is None else reader.read_text(seq, row[9])
        if windowed and not row[-1]:
            continue  # before or after the window: read for the state, not written
        attrs = row[-4]
        record = dict(
            zip(
                COLUMNS,
                (
                    None if seq is None else f"{session_id}:{seq}",
                    *row[:9],
                    state if decode or state is None else dumps(state),
                    *row[10:-4],
                    json.loads(attrs) if decode and attrs is not None else attrs,
                    row[-3],
                    row[-2],
                ),
                strict=True,
            )
        )
        yield record


def write_export(
    conn: sqlite3.Connection,
    out: TextIO,
    fmt: str,
    filt: ExportFilter,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every matching row to `out` as `fmt`; returns the number of rows."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}; use {' or '.join(FORMATS)}")
    write = _csv_writer(out) if fmt == "csv" else _jsonl_writer(out)
    count = 0
    for record in iter_rows(conn, filt, decode=fmt == "jsonl"):
        write(record)
        count += 1
        if progress is not None and count % 1000 == 0:
            progress(1000)
    if progress is not None:
        progress(count % 1000)
    return count


def _jsonl_writer(out: TextIO) -> Callable[[dict[str, Any]], None]:
    def write(record: dict[str, Any]) -> None:
        out.write(json_text(record, compact=True) + "\n")

    return write


def _csv_writer(out: TextIO) -> Callable[[dict[str, Any]], None]:
    writer = csv.writer(out)
    writer.writerow(COLUMNS)

    def write(record: dict[str, Any]) -> None:
        writer.writerow(csv_cell(record[c]) for c in COLUMNS)

    return write
