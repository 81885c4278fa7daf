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
from contextlib import contextmanager
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, TextIO

from branching.escape import csv_cell, json_text
from branching.store import db
from branching.store.errors import InvalidInput
from branching.store.states import State, StateReader, dumps, next_state, parse_stored

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
_SESSIONS = """
SELECT s.session_id, s.story_id, s.content_hash, st.version_label, s.viewer_id, s.started_at,
       s.ended_at, s.outcome, s.ending_id, s.ending_kind, s.seed, s.terminal, s.term_program,
       s.term_cols, s.term_rows, s.platform, s.locale, s.utc_offset_min, s.app_version,
       (SELECT json_group_object(a.key, a.value) FROM session_attrs a
        WHERE a.session_id = s.session_id) AS attrs,
       {simulated} AS simulated
FROM sessions s
LEFT JOIN stories st ON st.story_id = s.story_id AND st.content_hash = s.content_hash
{where} ORDER BY s.started_at, s.session_id"""
_EVENTS = """
SELECT e.seq, e.ts, e.type, e.scene, e.choice, e.target, e.decide_ms, e.input, e.state,
       {label} AS label, {inside} AS inside
FROM events e WHERE e.session_id = :session ORDER BY e.seq"""
# The same rows as one statement, for the `sqlite3` command line (benchmarks/bench_export.py)
ONE_QUERY = """
SELECT s.session_id, e.seq, e.ts, e.type, e.scene, e.choice, e.target, e.decide_ms,
       e.input, e.state, s.story_id, s.content_hash, st.version_label, s.viewer_id, s.started_at,
       s.ended_at, s.outcome, s.ending_id, s.ending_kind, s.seed, s.terminal, s.term_program,
       s.term_cols, s.term_rows, s.platform, s.locale, s.utc_offset_min, s.app_version,
       (SELECT json_group_object(a.key, a.value) FROM session_attrs a
        WHERE a.session_id = s.session_id) AS attrs, e.label, s.simulated
FROM sessions s
LEFT JOIN events e ON e.session_id = s.session_id
LEFT JOIN stories st ON st.story_id = s.story_id AND st.content_hash = s.content_hash
ORDER BY s.started_at, s.session_id, e.seq"""
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


SessionRow = tuple[Any, ...]  # _SESSIONS' columns
EventRow = tuple[Any, ...]  # _EVENTS' columns


@contextmanager
def read_snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction: every per-session query sees the same database."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def _sessions(
    conn: sqlite3.Connection, filt: ExportFilter
) -> Iterator[tuple[SessionRow, list[EventRow], bool]]:
    """Each matching session in export order, with its events in `seq` order.

    The third value says whether a time window applies (`inside`, the last
    column of an event row, then says which events are written). One query
    per session keeps the rows narrow: the session's columns are read once,
    not once per event.
    """
    where, inside, params = filt.sessions()
    # read as it is: an older file has neither column
    label = "e.label" if "label" in db.columns(conn, "events") else "NULL"
    simulated = "s.simulated" if "simulated" in db.columns(conn, "sessions") else "0"
    sessions_sql = _SESSIONS.format(where=where, simulated=simulated)
    events_sql = _EVENTS.format(label=label, inside=inside)
    windowed = inside != "1"
    with read_snapshot(conn):
        for session in conn.execute(sessions_sql, params):
            events = conn.execute(events_sql, {**params, "session": session[0]}).fetchall()
            yield session, events, windowed


def iter_rows(
    conn: sqlite3.Connection, filt: ExportFilter, *, decode: bool = True
) -> Iterator[dict[str, Any]]:
    """Export rows one at a time; `decode` turns the JSON columns into objects.

    Without `decode` they are compact JSON text (as CSV writes them). A
    session with no event left (pruned) is one row with empty event fields,
    unless a time window is given.
    """
    for session, events, windowed in _sessions(conn, filt):
        session_id, attrs = session[0], session[-2]
        attrs_value = json.loads(attrs) if decode and attrs is not None else attrs
        heads = (*session[1:-2], attrs_value)
        if not events and not windowed:
            events = [(None,) * 10 + (1,)]
        reader = StateReader()
        for seq, *event, stored, label, inside in events:
            state = None if seq is None else reader.read_text(seq, stored)
            if not inside:
                continue  # before or after the window: read for the state, not written
            yield dict(
                zip(
                    COLUMNS,
                    (
                        None if seq is None else f"{session_id}:{seq}",
                        session_id,
                        seq,
                        *event,
                        state if decode or state is None else dumps(state),
                        *heads,
                        label,
                        session[-1],
                    ),
                    strict=True,
                )
            )


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
    if fmt == "jsonl":
        return _write_jsonl(conn, out, filt, progress)
    write = _csv_writer(out)
    count = 0
    for record in iter_rows(conn, filt, decode=False):
        write(record)
        count += 1
        if progress is not None and count % 1000 == 0:
            progress(1000)
    if progress is not None:
        progress(count % 1000)
    return count


# -- JSON lines, fast ----------------------------------------------------------------------
#
# Each line is exactly `json_text(record, compact=True)` of the record `iter_rows` yields,
# built from pieces instead: the session's columns are encoded once per session, the state
# once per change (the reader hands the same object on while it does not change, which is
# most events), the few distinct values of `type`, `scene`, `choice`... once each, and the
# lines are written in chunks. Every piece is what `json_text` makes of the value, so the
# bytes are the same (tests/test_export_jsonl.py compares them on hostile values).

_SESSION_COLUMNS = COLUMNS[COLUMNS.index("story_id") : COLUMNS.index("attrs") + 1]
_NO_EVENT = (
    ',"seq":null,"ts":null,"type":null,"scene":null,"choice":null,"target":null,'
    '"decide_ms":null,"input":null,"state":null'
)
_CHUNK = 500  # lines per write (about 0.7 MB: in cache, unlike a bigger block)
_CACHE_LIMIT = 50_000  # distinct short values remembered, so memory stays bounded
_MEMO_LIMIT = 2048  # patch outcomes remembered (a few KB each)


def value_json(value: Any) -> str:
    """`json_text(value, compact=True)`, faster for the values a column holds."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is str:
        if value.isascii() and "\x7f" not in value:  # nothing `json_text` escapes on top
            return encode_basestring(value)
        return json_text(value, compact=True)
    if kind is int:
        return int.__repr__(value)
    return json_text(value, compact=True)


class _Texts(dict[Any, str]):
    """JSON text of short, repeating strings (scene ids, event types), remembered.

    Only `str` keys are stored (and None): `1`, `1.0` and `True` are equal
    dict keys but different JSON.
    """

    def __missing__(self, value: Any) -> str:
        if type(value) is not str:
            return value_json(value)
        if len(self) >= _CACHE_LIMIT:
            self.clear()
            self[None] = "null"
        text = self[value] = value_json(value)
        return text


class StateTexts:
    """The whole state at each event as compact JSON text, one session after another.

    The state is rebuilt as `StateReader` does (`next_state`); its JSON text
    is made once per change (most events store NULL: nothing changed, and the
    text before is handed on without a call). Viewers of one story walk the
    same paths, so the same patch meets the same state again and again: the
    outcome of a stored text is remembered by (the state before as JSON, or
    None after a gap, the stored text), a pure function of the two, in a
    bounded memo of two generations.
    """

    def __init__(self, limit: int = _MEMO_LIMIT) -> None:
        self._memo: dict[tuple[str | None, str], tuple[State | None, str]] = {}
        self._older = self._memo
        self._limit = limit
        self.start()

    def start(self) -> None:
        """A new session begins."""
        self._state: State | None = None
        self._json = "null"
        self._seq: Any = None

    def read(self, seq: Any, stored: str | None) -> str:
        """The state at event `seq` (stored as `stored`) as JSON text."""
        before, self._seq = self._seq, seq
        return self.read_next(
            stored, type(seq) is int and type(before) is int and seq == before + 1
        )

    def read_next(self, stored: str | None, follows: bool) -> str:
        """`read` where the caller knows whether the event before (`seq - 1`) was read last.

        Then an event that stores NULL after the one before needs no call:
        its state is the text this returned last.
        """
        if stored is None:
            if not follows:
                self._state, self._json = None, "null"
            return self._json
        key = (self._json if follows else None, stored)
        known = self._memo.get(key)
        if known is None:
            known = self._older.get(key)
            if known is None:
                now = next_state(self._state, parse_stored(stored), follows)
                known = (now, state_json(now))
            if len(self._memo) >= self._limit:  # two generations: the outcomes in use stay
                self._older, self._memo = self._memo, {}
            self._memo[key] = known
        self._state, self._json = known
        return self._json


_encode = getattr(json.encoder, "c_make_encoder", None)
# `json.dumps(value, ensure_ascii=False, separators=(",", ":"))` made once, not per call
_compact: Callable[[Any, int], Any] = (
    _encode(None, None, encode_basestring, None, ":", ",", False, False, True)
    if _encode is not None
    else lambda value, _: (json.dumps(value, ensure_ascii=False, separators=(",", ":")),)
)


def state_json(state: State | None) -> str:
    """`json_text(state, compact=True)`, faster: the escapes on top only when needed."""
    if state is None:
        return "null"
    text = "".join(_compact(state, 0))
    if text.isascii() and "\x7f" not in text:  # nothing `json_text` escapes on top
        return text
    return json_text(state, compact=True)


def _session_json(session: SessionRow) -> str:
    """The session's columns of a line, `story_id` to `attrs`, without the braces."""
    attrs = session[-2]
    values = (*session[1:-2], None if attrs is None else json.loads(attrs))
    return json_text(dict(zip(_SESSION_COLUMNS, values, strict=True)), compact=True)[1:-1]


def _write_jsonl(
    conn: sqlite3.Connection,
    out: TextIO,
    filt: ExportFilter,
    progress: Callable[[int], None] | None,
) -> int:
    text = _Texts({None: "null"})
    states = StateTexts()
    read_next = states.read_next
    chunk: list[str] = []
    append = chunk.append
    count = 0
    for session, events, windowed in _sessions(conn, filt):
        sid = value_json(session[0])
        id_start = sid[:-1] + ":"  # JSON escapes character by character: "SESSION + ":SEQ"
        head = ',"session_id":' + sid
        tail = "," + _session_json(session) + ',"label":'
        end = ',"simulated":' + value_json(session[-1]) + "}\n"
        if not events and not windowed:
            chunk.append('{"event_id":null' + head + _NO_EVENT + tail + "null" + end)
        states.start()
        state = "null"
        after: int | None = None  # the seq that follows the event before
        last_ts: Any = None
        when = "null"
        for seq, ts, kind, scene, choice, target, decide, how, stored, label, inside in events:
            if type(seq) is int:
                follows = seq == after
                after = seq + 1
                number = int.__repr__(seq)
                event_id = id_start + number + '"'
            else:
                follows, after = False, None
                number, event_id = value_json(seq), value_json(f"{session[0]}:{seq}")
            if stored is not None or not follows:
                state = read_next(stored, follows)
            if not inside:
                continue  # before or after the window: read for the state, not written
            if ts != last_ts or type(ts) is not str:  # an action's events share their time
                last_ts, when = ts, value_json(ts)
            append(
                f'{{"event_id":{event_id}{head},"seq":{number},"ts":{when},'
                f'"type":{text[kind]},"scene":{text[scene]},"choice":{text[choice]},'
                f'"target":{text[target]},'
                f'"decide_ms":{"null" if decide is None else value_json(decide)},'
                f'"input":{text[how]},"state":{state}{tail}{text[label]}{end}'
            )
        if len(chunk) >= _CHUNK:
            out.write("".join(chunk))
            count += len(chunk)
            if progress is not None:
                progress(len(chunk))
            chunk.clear()
    out.write("".join(chunk))
    count += len(chunk)
    if progress is not None:
        progress(len(chunk))
    return count


def _csv_writer(out: TextIO) -> Callable[[dict[str, Any]], None]:
    writer = csv.writer(out)
    writer.writerow(COLUMNS)

    def write(record: dict[str, Any]) -> None:
        writer.writerow(csv_cell(record[c]) for c in COLUMNS)

    return write
