"""Exporting to Parquet for analysts: events by story and day, incrementally, streaming.

`branching export --format parquet OUT/` writes five datasets that DuckDB,
Spark, pandas or pyarrow read as they are (the schema is in the README):

- `events/story_id=STORY/day=YYYY-MM-DD/part-RUN-N.parquet`: one row per
  event, Hive-partitioned by the story and the UTC day of the event. The
  columns match the JSON-lines export's (`event_id` is `SESSION_ID:SEQ`,
  `state` the whole engine state after the event as the same compact JSON
  text, `label`, `simulated`), with timestamps as UTC timestamps, and
  `session_key`, the session as an integer (engines join on it);
- `sessions/sessions.parquet`, `session_attrs/session_attrs.parquet`,
  `stories/stories.parquet`: the sessions (outcome, context...), their
  attributes and the story versions (with their structure), rewritten whole by
  every run, since a session's outcome changes when it ends. Each session
  carries its `path` and `depth` from the store's digests (`path_text`;
  layout 3), so an engine counts paths without reading the events, and
  (layout 4) its decisions `made` from the same digests (the breakdowns' mean
  choices without a pass over the events) and `viewer_key`, its viewer
  numbered 1, 2, 3... in id order among the exported sessions (an engine
  counts distinct viewers as bits of those numbers), and (layout 5) its digest
  lists once more as sets of bits (`parquet_bits`: `reached_bits`...), from
  which an engine counts each code's viewers; each attribute carries its
  session's `session_key`, so an engine reads them without joining ids;
- `choice_labels/choice_labels.parquet` (layout 4): the database's running
  total of the labels viewers saw (`Play "Low Tide"`), rewritten whole too,
  so a reader shows the labels SQLite shows without counting the events.

Running it again adds only the events recorded since: each session's key and
last exported `seq` are kept (`parquet_files`; a key is given once, at the
session's first export, and never changes), and a session that got more events
(resumed, or merged in later) gets them in new files, its state rebuilt from
its start. Nothing already written is rewritten, and a failed run leaves
nothing counted (`parquet_files.Commit`).

Memory stays constant in the number of events: sessions are read one at a
time in (started_at, session_id) order from the database and, alongside, from
the last run's high-water file; events are written through a few open
`ParquetWriter`s (the partitions of the days being read: sessions come in
start order, so days come one after another), each writing its own row groups
of `GROUP_ROWS` events (or `GROUP_BYTES` of long states), its waiting rows
kept as Arrow columns, all of them together near `BUFFER_BYTES`. pyarrow is
an optional extra: it is imported here, inside functions, and
`missing_pyarrow()` says how to install it.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from branching.store import db, digests
from branching.store.clock import now_ts
from branching.store.errors import InvalidInput
from branching.store.export import StateTexts, read_snapshot
from branching.store.parquet_aggregates import (
    AGGREGATE_COLUMNS,
    aggregate_copies,
    aggregate_file,
    digest_lists_agree,
    stale_aggregates,
)
from branching.store.parquet_bits import code_bits, listed_bits
from branching.store.parquet_files import (
    Commit,
    Manifest,
    database_identity,
    folder_errors,
    part_name,
    prepare,
    seqs_path,
)

INSTALL_HINT = "pip install 'branching[parquet]'"
OPEN_PARTITIONS = 12  # event files open at once (the most recent partitions)
GROUP_ROWS = 131_072  # events per row group at most
# ... or about this much data (one partition's row group): at 10 M events a day's file
# is cut by it. 32 MB put the export's peak at 224-237 MB; 16 MB: 191 MB (same CPU)
# (a group is then ~20,000 events at 10 M, the files 0.4% bigger; see docs/decisions.md)
GROUP_BYTES = 16 << 20
BUFFER_BYTES = 16 << 20  # rows waiting in all open event files together, at most
CHUNK_ROWS = 4096  # rows held as Python tuples before they become compact Arrow columns
TABLE_ROWS = 8192  # sessions, attributes, stories, high-water marks per row group

# name, type: "str", "int" (int64), "flag" (int8), "time" (timestamp[ms, UTC]),
# "words" (list of int64: a set of codes as bits, `code_bits`)
EVENT_COLUMNS = (
    ("event_id", "str"),
    ("session_id", "str"),
    ("session_key", "int"),
    ("seq", "int"),
    ("ts", "time"),
    ("type", "str"),
    ("scene", "str"),
    ("choice", "str"),
    ("target", "str"),
    ("decide_ms", "int"),
    ("input", "str"),
    ("state", "str"),
    ("label", "str"),
    ("content_hash", "str"),
    ("simulated", "flag"),
)
SESSION_COLUMNS = (
    ("session_id", "str"),
    ("session_key", "int"),
    ("story_id", "str"),
    ("content_hash", "str"),
    ("version_label", "str"),
    ("viewer_id", "str"),
    ("viewer_key", "int"),
    ("started_at", "time"),
    ("ended_at", "time"),
    ("outcome", "str"),
    ("ending_id", "str"),
    ("ending_kind", "str"),
    ("last_scene", "str"),
    ("seed", "int"),
    ("terminal", "str"),
    ("term_program", "str"),
    ("term_cols", "int"),
    ("term_rows", "int"),
    ("platform", "str"),
    ("locale", "str"),
    ("utc_offset_min", "int"),
    ("app_version", "str"),
    ("simulated", "flag"),
    ("path", "str"),
    ("depth", "int"),
    ("made", "int"),
    ("reached", "str"),
    ("clocked", "str"),
    ("views", "int"),
    ("reached_bits", "words"),
    ("clocked_bits", "words"),
    ("rewound_bits", "words"),
    ("paused_bits", "words"),
    ("skipped_bits", "words"),
)
ATTR_COLUMNS = (("session_id", "str"), ("session_key", "int"), ("key", "str"), ("value", "str"))
STORY_COLUMNS = (
    ("story_id", "str"),
    ("content_hash", "str"),
    ("title", "str"),
    ("author", "str"),
    ("version_label", "str"),
    ("structure", "str"),
    ("registered_at", "time"),
)
LABEL_COLUMNS = (
    ("story_id", "str"),
    ("content_hash", "str"),
    ("scene", "str"),
    ("choice", "str"),
    ("label", "str"),
    ("count", "int"),
)
SEQ_COLUMNS = (
    ("started_at", "str"),
    ("session_id", "str"),
    ("session_key", "int"),
    ("seq", "int"),
)

_SESSIONS = """
SELECT s.session_id, s.story_id, s.content_hash, st.version_label, s.viewer_id,
       DENSE_RANK() OVER (ORDER BY s.viewer_id) AS viewer_key, s.started_at,
       s.ended_at, s.outcome, s.ending_id, s.ending_kind, s.last_scene, s.seed, s.terminal,
       s.term_program, s.term_cols, s.term_rows, s.platform, s.locale, s.utc_offset_min,
       s.app_version, {simulated} AS simulated, {digest},
       (SELECT MAX(e.seq) FROM events e WHERE e.session_id = s.session_id) AS last_seq
FROM sessions s
LEFT JOIN stories st ON st.story_id = s.story_id AND st.content_hash = s.content_hash{digests}
ORDER BY s.started_at, s.session_id"""
_EVENTS = """
SELECT seq, ts, type, scene, choice, target, decide_ms, input, state, {label}
FROM events WHERE session_id = ? ORDER BY seq"""
# in the sessions' order (`_SESSIONS`), read alongside them: each gets its session's key
_ATTRS = """SELECT s.started_at, a.session_id, a.key, a.value FROM session_attrs a
JOIN sessions s ON s.session_id = a.session_id ORDER BY s.started_at, a.session_id, a.key"""
_STORIES = """SELECT story_id, content_hash, title, author, version_label, structure,
       registered_at FROM stories ORDER BY story_id, registered_at, rowid"""
_LABELS = """SELECT story_id, content_hash, scene, choice, label, count FROM choice_labels
ORDER BY story_id, content_hash, scene, choice, label"""


# a session's path in the sessions dataset: each step `scene,choice`, one space between
# steps. Story ids are letters, digits and `_.-` (`story.spec.ID_PATTERN`), all above
# the space and the comma, so the text sorts as the list of (scene, choice) pairs does
# (`analytics.walks` ranks paths by it) and splits back into them.
PATH_STEP, STEP_PART = " ", ","
_PLAIN = re.compile(r"[A-Za-z0-9_.-]+")


def _step_names(conn: sqlite3.Connection) -> dict[int, tuple[str, str]] | None:
    """Each step code of the digests (`store.digests`) -> (scene, choice); None when the
    database has no digests that hold every session (none yet, or `outdated`)."""
    if not db.has_table(conn, "session_digests") or digests.outdated(conn):
        return None
    return {code: name for code, name in digests.names(conn).items() if isinstance(name, tuple)}


def path_text(codes: str | None, steps: dict[int, tuple[str, str]]) -> str | None:
    """The `path` column of a session from its digest's path (JSON codes): None when it
    has none, or a step whose ids are not story ids (a hand-edited file), so that a
    reader walks that session's events instead."""
    try:
        pairs = [steps[code] for code in json.loads(codes)] if codes is not None else None
    except (ValueError, TypeError, KeyError):
        return None
    if pairs is None or not all(
        isinstance(s, str) and isinstance(c, str) and _PLAIN.fullmatch(s) and _PLAIN.fullmatch(c)
        for s, c in pairs
    ):
        return None
    return PATH_STEP.join(f"{s}{STEP_PART}{c}" for s, c in pairs)


@dataclass(frozen=True, slots=True)
class ParquetExport:
    """What one run did."""

    out: Path
    run: int
    events: int  # events added by this run
    sessions: int  # sessions in the database (the sessions dataset)
    sessions_with_new_events: int
    files: int  # event files added
    total_events: int  # events in OUT/ after the run
    gone: int  # sessions exported earlier that the database no longer has


def available() -> bool:
    """True when pyarrow is installed."""
    return importlib.util.find_spec("pyarrow") is not None


def missing_pyarrow() -> str:
    """The one line a user without pyarrow is told."""
    return f"--format parquet needs pyarrow, which is not installed: {INSTALL_HINT}"


def export_parquet(
    conn: sqlite3.Connection,
    out: Path,
    database: str,
    progress: Callable[[int], None] | None = None,
) -> ParquetExport:
    """Add the events recorded since the last run to the Parquet export in `out`."""
    if not available():
        raise InvalidInput(missing_pyarrow())
    _quiet_memory_pool()
    identity = database_identity(conn)
    manifest = prepare(out, identity, database)
    before = manifest.run if manifest else 0
    run = before + 1
    commit = Commit(out)
    try:
        with read_snapshot(conn), folder_errors(out):
            keys = manifest.session_keys if manifest else 0
            counts = _Run(conn, out, run, commit, progress, keys).write(
                seqs_path(out, before) if manifest else None
            )
            total = (manifest.events if manifest else 0) + counts.events
            commit.finish(
                Manifest(database, identity, run, total, counts.sessions, now_ts(), counts.keys),
                seqs_path(out, before) if manifest else None,
            )
    except BaseException:
        commit.abort()
        raise
    with folder_errors(out):  # the last run's aggregates, now that this run's count
        for stale in stale_aggregates(out, run):
            stale.unlink(missing_ok=True)
    return ParquetExport(
        out,
        run,
        counts.events,
        counts.sessions,
        counts.changed,
        counts.files,
        total,
        counts.gone,
    )


def _quiet_memory_pool() -> None:
    """Arrow's jemalloc pool where this pyarrow has it: it gives freed row groups back
    to the system, where the default (mimalloc) keeps tens of megabytes more."""
    import pyarrow as pa

    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except (NotImplementedError, pa.ArrowException):
        pass


def _schema(columns: tuple[tuple[str, str], ...]) -> Any:
    import pyarrow as pa

    types = {
        "str": pa.string(),
        "int": pa.int64(),
        "flag": pa.int8(),
        "time": pa.timestamp("ms", tz="UTC"),
        "words": pa.list_(pa.int64()),
    }
    return pa.schema([pa.field(name, types[kind]) for name, kind in columns])


def _table(schema: Any, rows: list[tuple[Any, ...]]) -> Any:
    """A pyarrow table of `rows` (tuples in the schema's column order)."""
    import pyarrow as pa

    arrays = []
    for field, values in zip(schema, zip(*rows, strict=True), strict=True):
        try:
            if pa.types.is_timestamp(field.type):
                arrays.append(pa.array(values, pa.string()).cast(field.type))
            else:
                arrays.append(pa.array(values, field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise InvalidInput(
                f"column {field.name} holds a value Parquet cannot store as "
                f"{field.type}: {str(exc).splitlines()[0]}"
            ) from None
    return pa.Table.from_arrays(arrays, schema=schema)


class _Buffered:
    """One Parquet file written a row group at a time.

    Rows wait as Python tuples only `CHUNK_ROWS` at a time: then they become
    Arrow columns (a few hundred bytes a row, where the tuples take a few
    kilobytes), so a row group of `group_rows` rows costs its data, not its
    objects. It is written when it has `group_rows` rows or about
    `group_bytes` bytes, whichever comes first.
    """

    def __init__(
        self,
        path: Path,
        schema: Any,
        group_rows: int | None = None,  # None: GROUP_ROWS
        group_bytes: int | None = None,  # None: GROUP_BYTES
    ) -> None:
        import pyarrow.parquet as pq

        self.schema = schema
        self.group_rows = group_rows or GROUP_ROWS
        self.group_bytes = group_bytes or GROUP_BYTES
        self.rows: list[tuple[Any, ...]] = []  # not yet Arrow columns
        self.chunks: list[Any] = []  # Arrow tables of this row group
        self.count = 0  # rows waiting, both kinds
        self.size = 0  # their bytes: the chunks' own, the tuples' estimated
        self._estimated = 0
        self._writer = pq.ParquetWriter(path, schema, compression="zstd")

    def add(self, row: tuple[Any, ...], size: int = 64) -> None:
        self.rows.append(row)
        self.count += 1
        self.size += size
        self._estimated += size
        if len(self.rows) >= CHUNK_ROWS:
            self._compact()
        if self.count >= self.group_rows or self.size >= self.group_bytes:
            self.flush()

    def _compact(self) -> None:
        chunk = _table(self.schema, self.rows)
        self.chunks.append(chunk)
        self.size += chunk.nbytes - self._estimated
        self.rows, self._estimated = [], 0

    def flush(self) -> None:
        """Write what waits as one row group."""
        if not self.count:
            return
        import pyarrow as pa

        if self.rows:
            self._compact()
        group = pa.concat_tables(self.chunks)
        self._writer.write_table(group, row_group_size=group.num_rows)
        self.chunks, self.count, self.size = [], 0, 0

    def close(self) -> None:
        self.flush()
        self._writer.close()


class _Partitions:
    """The event files of one run, a few open at a time (the least recently used closes).

    Each file writes its own row groups (`GROUP_ROWS` rows, or `GROUP_BYTES`
    when the states are long); the rows waiting in all of them together stay
    near `BUFFER_BYTES`: past it, the least recently used file holding rows
    writes them out (sessions come in start order, so that is a day the
    export has moved past, whose rows are its last).
    """

    def __init__(self, out: Path, run: int, commit: Commit) -> None:
        self._out, self._run, self._commit = out, run, commit
        self._schema = _schema(EVENT_COLUMNS)
        self._open: OrderedDict[tuple[str, str], _Buffered] = OrderedDict()
        self._last: _Buffered | None = None
        self._added = 0
        self.files = 0

    def add(self, story: str, day: str, row: tuple[Any, ...], size: int) -> None:
        part = self._last
        if part is None or self._open.get((story, day)) is not part:
            part = self._open.get((story, day))
            if part is None:
                part = self._start((story, day))
            else:
                self._open.move_to_end((story, day))
            self._last = part
        part.add(row, size)  # writes its own row group at GROUP_ROWS or GROUP_BYTES
        self._added += 1
        if self._added % 1024 == 0 and sum(p.size for p in self._open.values()) >= BUFFER_BYTES:
            next(p for p in self._open.values() if p.count).flush()

    def _start(self, key: tuple[str, str]) -> _Buffered:
        if len(self._open) >= OPEN_PARTITIONS:
            self._open.popitem(last=False)[1].close()
        self.files += 1
        story, day = key
        folder = self._out / "events" / f"story_id={_segment(story)}" / f"day={_segment(day)}"
        path = self._commit.temp(folder / part_name(self._run, self.files))
        part = self._open[key] = _Buffered(path, self._schema)
        return part

    def close(self) -> None:
        while self._open:
            self._open.popitem(last=False)[1].close()


def _segment(value: str) -> str:
    """A partition value as a path segment (story ids are `[A-Za-z0-9_.-]+`: unchanged)."""
    return quote(value, safe="") or "%00"


@dataclass
class _Counts:
    events: int = 0
    sessions: int = 0
    changed: int = 0
    files: int = 0
    gone: int = 0
    keys: int = 0  # session keys given out, all runs together


class _Run:
    """One run: the new events, then the sessions, attributes and stories whole."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        out: Path,
        run: int,
        commit: Commit,
        progress: Callable[[int], None] | None,
        keys: int = 0,
    ) -> None:
        self.conn, self.out, self.run, self.commit = conn, out, run, commit
        self.progress = progress
        self.counts = _Counts(keys=keys)

    def _dataset(
        self, name: str, columns: tuple[tuple[str, str], ...], final: Path | None = None
    ) -> _Buffered:
        path = self.commit.temp(final or self.out / name / f"{name}.parquet")
        return _Buffered(path, _schema(columns), TABLE_ROWS)

    def write(self, last_seqs: Path | None) -> _Counts:
        simulated = "s.simulated" if "simulated" in db.columns(self.conn, "sessions") else "0"
        steps = _step_names(self.conn)
        lists = steps is not None and digest_lists_agree(self.conn)  # by viewers (layout 4)
        sessions_sql = _SESSIONS.format(
            simulated=simulated,
            digest=("d.path, d.depth, d.made" if steps is not None else "NULL, NULL, NULL")
            + (
                ", d.reached, d.clocked, d.views, d.rewound, d.paused, d.skipped"
                if lists
                else ", NULL, NULL, NULL, NULL, NULL, NULL"
            ),
            digests="\nLEFT JOIN session_digests d ON d.session_id = s.session_id"
            if steps is not None
            else "",
        )
        label = "label" if "label" in db.columns(self.conn, "events") else "NULL"
        events_sql = _EVENTS.format(label=label)
        parts = _Partitions(self.out, self.run, self.commit)
        sessions = self._dataset("sessions", SESSION_COLUMNS)
        attrs = _Attrs(self.conn, self._dataset("session_attrs", ATTR_COLUMNS))
        seqs = _Buffered(  # a row per session: whole groups of them grew with the sessions
            self.commit.temp(seqs_path(self.out, self.run)), _schema(SEQ_COLUMNS), TABLE_ROWS
        )
        states = StateTexts()
        exported = _Marks(last_seqs)
        for row in self.conn.execute(sessions_sql):
            (
                *session,
                codes,
                depth,
                made,
                reached,
                clocked,
                views,
                rewound,
                paused,
                skipped,
                last,
            ) = row
            started, session_id = session[6], session[0]
            mark = exported.seq(started, session_id)
            if mark is None:  # a session new to the export: the next key
                self.counts.keys += 1
                key, done = self.counts.keys, None
            else:
                key, done = mark
            path = path_text(codes, steps) if steps is not None else None
            depth = depth if path is not None else None
            sessions.add(
                (
                    session_id,
                    key,
                    *session[1:],
                    path,
                    depth,
                    made,
                    reached,
                    clocked,
                    views,
                    code_bits(reached),
                    code_bits(clocked),
                    listed_bits(rewound),
                    listed_bits(paused),
                    listed_bits(skipped),
                )
            )
            attrs.add(started, session_id, key)
            self.counts.sessions += 1
            if last is not None and (done is None or last > done):
                events = self.conn.execute(events_sql, (session_id,)).fetchall()
                self._events(parts, states, session, key, events, done)
                self.counts.changed += 1
                done = last
            seqs.add((started, session_id, key, done))
            if self.progress is not None:
                self.progress(1)
        self.counts.gone = exported.rest()
        parts.close()
        self.counts.files = parts.files
        for closing in (sessions, seqs, attrs.table):
            closing.close()
        self._copy("stories", STORY_COLUMNS, _STORIES)
        if db.has_table(self.conn, "choice_labels"):
            self._copy("choice_labels", LABEL_COLUMNS, _LABELS)
        for name, sql in aggregate_copies(self.conn):  # the flowchart's sums, when they agree
            final = aggregate_file(self.out, name, self.run)
            self._copy(name, AGGREGATE_COLUMNS[name], sql, final)
        return self.counts

    def _events(
        self,
        parts: _Partitions,
        states: StateTexts,
        session: list[Any],
        key: int,
        events: list[tuple[Any, ...]],
        done: int | None,
    ) -> None:
        session_id, story, version, simulated = session[0], session[1], session[2], session[-1]
        states.start()
        for seq, ts, kind, scene, choice, target, decide, how, stored, label in events:
            state = states.read(seq, stored)
            if done is not None and seq <= done:
                continue  # exported by an earlier run: read for the state only
            row = (
                f"{session_id}:{seq}",
                session_id,
                key,
                seq,
                ts,
                kind,
                scene,
                choice,
                target,
                decide,
                how,
                None if state == "null" else state,
                label,
                version,
                simulated,
            )
            parts.add(story, str(ts)[:10], row, 160 + len(state))
            self.counts.events += 1

    def _copy(
        self, name: str, columns: tuple[tuple[str, str], ...], sql: str, final: Path | None = None
    ) -> None:
        table = self._dataset(name, columns, final)
        for row in self.conn.execute(sql):
            table.add(tuple(row), sum(len(v) for v in row if type(v) is str))
        table.close()


class _Attrs:
    """The sessions' attributes, written with each session's key (layout 5: an engine
    reads them by key, without joining their ids to the sessions'): read in the
    sessions' order alongside them, so nothing is held but the next row."""

    def __init__(self, conn: sqlite3.Connection, table: _Buffered) -> None:
        self.table = table
        self._rows = conn.execute(_ATTRS)
        self._next = self._rows.fetchone()

    def add(self, started: str, session_id: str, key: int) -> None:
        """Write the attributes of the session the export is at (each session comes once,
        in `_SESSIONS`' order; an attribute's session is always one of them)."""
        at = _key(started, session_id)  # (a start that is not text: the clear error)
        while self._next is not None and _key(self._next[0], self._next[1]) <= at:
            _, owner, name, value = row = self._next
            if owner == session_id:
                self.table.add(
                    (owner, key, name, value), sum(len(v) for v in row if type(v) is str)
                )
            self._next = self._rows.fetchone()


class _Marks:
    """The last run's high-water marks, read in export order alongside the database."""

    def __init__(self, path: Path | None) -> None:
        self._rows = _read_marks(path) if path is not None else iter(())
        self._next = next(self._rows, None)
        self._gone = 0

    def seq(self, started: Any, session_id: Any) -> tuple[int, int | None] | None:
        """This session's key and last exported seq (None: a session new to the export)."""
        wanted = _key(started, session_id)
        while self._next is not None and _key(self._next[0], self._next[1]) < wanted:
            self._next = next(self._rows, None)  # a session the database no longer has
            self._gone += 1
        if self._next is not None and _key(self._next[0], self._next[1]) == wanted:
            key, seq = int(self._next[2]), self._next[3]
            self._next = next(self._rows, None)
            return key, None if seq is None else int(seq)
        return None

    def rest(self) -> int:
        """How many marked sessions the database no longer has."""
        while self._next is not None:
            self._gone += 1
            self._next = next(self._rows, None)
        return self._gone


def _key(started: Any, session_id: Any) -> tuple[str, str]:
    if type(started) is not str or type(session_id) is not str:
        raise InvalidInput(
            f"session {session_id!r} has a start time that is not text ({started!r}); "
            "the Parquet export needs the stored form"
        )
    return started, session_id


def _read_marks(path: Path) -> Iterator[tuple[Any, ...]]:
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc}; export into a new folder") from None
    for batch in source.iter_batches(batch_size=TABLE_ROWS):  # as Python objects: few at once
        columns = batch.to_pydict()
        yield from zip(
            columns["started_at"],
            columns["session_id"],
            columns["session_key"],
            columns["seq"],
            strict=True,
        )
