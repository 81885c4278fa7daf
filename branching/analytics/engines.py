"""Where the figures' rows come from: SQLite, DuckDB over Parquet, or Spark over Parquet.

Every query the flowchart needs is written once, in portable SQL (`scan.py`:
plain SELECTs, CTEs, `?` parameters, no SQLite-only function, no TEMP
table), and an `Engine` runs it unchanged:
- `SqliteEngine`: the telemetry database opened read-only (the default). It
  also hands out its connection (`sqlite`) to the SQLite-only accelerators:
  the running totals and the aggregates (`graph.totals_counts`, `rollup.py`);
- `DuckDbEngine` (`--source parquet:OUT/`): an in-memory DuckDB whose views
  are named like the SQLite tables and read the Parquet export in OUT/
  (`branching export --format parquet`), events with Hive partitioning;
- `SparkEngine` (`--source spark:OUT/`): the same views as Spark temporary
  views over the same files, in local mode here, the same code on a cluster.

The views are the contract between the export's layout and the queries: they
expose the columns the queries read, with SQLite's types (timestamps as the
stored text, flags as integers), so the SQL never knows which engine runs it.
`choice_labels`, a running total in SQLite, is a view over the events on the
Parquet engines. Values always go in as parameters; a path goes to Spark's
reader as a path, and into DuckDB's view of its files as a quoted string
literal (`_literal`: a view takes no parameter; a story id is in it only as
the export's percent-escaped folder name). Idioms are translated on DuckDB:
over an export with `session_key`, a distinct count of sessions becomes a
count of bits (`DuckDbEngine._bitmaps`), the same figure in a fifth of the
time; a choice of sessions by a subquery is worked out once per engine
(`duckdb_chosen.ChosenOnce`). `keep` holds a query's rows for the queries after it (the walk's
`walked`): a TEMP table, or a temporary view on Spark.

DuckDB and pyspark are optional extras (`pip install 'branching[duckdb]'`,
`'branching[spark]'`): without them the source says in one line which to install.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote

from branching.analytics.duckdb_chosen import ChosenOnce
from branching.analytics.shape import AnalyticsError
from branching.store.parquet_aggregates import current_aggregates
from branching.store.parquet_bits import BITS_LISTS
from branching.store.parquet_files import MANIFEST, PART

Row = tuple[Any, ...]
SOURCE_KINDS = ("sqlite", "parquet", "spark")
_LOG4J = "spark-log4j2.properties"  # errors only: Spark is chatty by default


class MissingExtra(AnalyticsError):
    """An optional engine is asked for but not installed (the CLI exits 2)."""


class Engine(Protocol):
    """Runs portable SQL over tables named like the telemetry database's."""

    label: str  # where the figures came from, in words ("DuckDB over Parquet in OUT")
    dialect: str  # "sqlite", "duckdb" or "spark": which SQL beyond the portable it takes

    @property
    def sqlite(self) -> sqlite3.Connection | None:
        """The SQLite connection for the accelerators (totals, aggregates); None elsewhere."""
        ...

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Every row of `sql` with `params` bound to its `?` marks."""
        ...

    def stream(self, sql: str, params: Sequence[object] = ()) -> Iterator[Row]:
        """The rows of `sql` one at a time, never all held at once (the walk reads
        every event of the chosen sessions this way); other queries may run while
        it is read."""
        ...

    def tables(self) -> frozenset[str]:
        """The tables (or views) this source holds."""
        ...

    def columns(self, table: str) -> frozenset[str]:
        """The columns of `table` (a file an older branching wrote may lack some)."""
        ...

    def keep(self, name: str, sql: str, params: Sequence[object] = ()) -> None:
        """The rows of `sql` as the table (or view) `name` for the queries that follow
        (`name` is the caller's own, never a user's text)."""
        ...

    def scope(self, story_id: str, since: str | None = None) -> None:
        """From now on, `events` may hold only `story_id`'s events, from the UTC day of
        `since` on (a cut-off as `Filters` holds it): what a reader of the Parquet
        export need not open. Every query must still say what it wants; SQLite's
        indexes do this already, so it does nothing there."""
        ...

    def close(self) -> None: ...


Queryable = sqlite3.Connection | Engine


def query(src: Queryable, sql: str, params: Sequence[object] = ()) -> list[Row]:
    """Rows of `sql` from a SQLite connection or any engine (the callers take both)."""
    if isinstance(src, sqlite3.Connection):
        return src.execute(sql, list(params)).fetchall()
    return src.rows(sql, params)


def stream(src: Queryable, sql: str, params: Sequence[object] = ()) -> Iterator[Row]:
    """Rows of `sql` one at a time from a SQLite connection or any engine."""
    if isinstance(src, sqlite3.Connection):
        return iter(src.execute(sql, list(params)))
    return src.stream(sql, params)


def columns_of(src: Queryable, table: str) -> frozenset[str]:
    """The columns `table` has, on a SQLite connection or any engine."""
    if isinstance(src, sqlite3.Connection):
        return frozenset(row[1] for row in src.execute(f"PRAGMA table_info({table})"))
    return src.columns(table)


class SqliteEngine:
    """The telemetry database, opened read-only by `source.open_readonly`."""

    def __init__(self, conn: sqlite3.Connection, path: str | Path) -> None:
        self._conn = conn
        self.label = f"SQLite {Path(path).name}"
        self.dialect = "sqlite"

    @property
    def sqlite(self) -> sqlite3.Connection | None:
        return self._conn

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return self._conn.execute(sql, list(params)).fetchall()

    def stream(self, sql: str, params: Sequence[object] = ()) -> Iterator[Row]:
        return iter(self._conn.execute(sql, list(params)))

    def tables(self) -> frozenset[str]:
        found = self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return frozenset(r[0] for r in found)

    def columns(self, table: str) -> frozenset[str]:
        return columns_of(self._conn, table)

    def keep(self, name: str, sql: str, params: Sequence[object] = ()) -> None:
        self._conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
        self._conn.execute(f"CREATE TEMP TABLE {name} AS {sql}", list(params))

    def scope(self, story_id: str, since: str | None = None) -> None:
        """Nothing to do: the indexes on story and session read only what a query asks."""

    def close(self) -> None:
        self._conn.close()


# -- the Parquet export, as views named like the SQLite tables ----------------------------

# dataset folder in OUT -> (view, columns the queries read: name -> SQL type)
DATASETS: dict[str, tuple[str, dict[str, str]]] = {
    "events": (
        "events",
        {
            "session_id": "VARCHAR",
            "session_key": "BIGINT",
            "seq": "BIGINT",
            "ts": "VARCHAR",
            "type": "VARCHAR",
            "scene": "VARCHAR",
            "choice": "VARCHAR",
            "target": "VARCHAR",
            "decide_ms": "BIGINT",
            "input": "VARCHAR",
            "label": "VARCHAR",
            "content_hash": "VARCHAR",
            "state": "VARCHAR",
        },
    ),
    "sessions": (
        "sessions",
        {
            "session_id": "VARCHAR",
            "session_key": "BIGINT",
            "story_id": "VARCHAR",
            "content_hash": "VARCHAR",
            "viewer_id": "VARCHAR",
            "started_at": "VARCHAR",
            "ended_at": "VARCHAR",
            "outcome": "VARCHAR",
            "ending_id": "VARCHAR",
            "ending_kind": "VARCHAR",
            "last_scene": "VARCHAR",
            "simulated": "INTEGER",
            "terminal": "VARCHAR",
            "term_program": "VARCHAR",
            "term_cols": "INTEGER",
            "platform": "VARCHAR",
            "utc_offset_min": "INTEGER",
            "path": "VARCHAR",
            "depth": "BIGINT",
            "made": "BIGINT",
            "reached": "VARCHAR",  # the digests' lists (`parquet_viewers`)
            "clocked": "VARCHAR",
            "views": "BIGINT",
        },
    ),
    "session_attrs": (
        "session_attrs",
        {"session_id": "VARCHAR", "key": "VARCHAR", "value": "VARCHAR"},
    ),
    "stories": (
        "stories",
        {
            "story_id": "VARCHAR",
            "content_hash": "VARCHAR",
            "title": "VARCHAR",
            "version_label": "VARCHAR",
            "structure": "VARCHAR",
            "registered_at": "VARCHAR",
        },
    ),
    # the database's running total `choice_labels`, copied whole by each run (layout 4)
    "choice_labels": (
        "choice_labels",
        {
            "story_id": "VARCHAR",
            "content_hash": "VARCHAR",
            "scene": "VARCHAR",
            "choice": "VARCHAR",
            "label": "VARCHAR",
            "count": "BIGINT",
        },
    ),
}
REQUIRED = ("events", "sessions", "session_attrs", "stories")  # datasets of every layout
# what the running total `choice_labels` holds, counted from the events (an export of
# layout 3 or older, which has no `choice_labels` dataset)
CHOICE_LABELS = """
SELECT s.story_id, s.content_hash, e.scene, e.choice, e.label, COUNT(*) AS count
FROM events e JOIN sessions s ON s.session_id = e.session_id
WHERE e.label IS NOT NULL AND e.choice IS NOT NULL
  AND e.type IN ('choice_made', 'timeout_default')
GROUP BY s.story_id, s.content_hash, e.scene, e.choice, e.label"""


def parquet_folder(text: str) -> Path:
    """The export folder a `--source` names, checked to hold the datasets the views read."""
    folder = Path(text).expanduser()
    if not folder.is_dir():
        raise AnalyticsError(
            f"{folder} is not a folder: name the one `branching export --format parquet` wrote"
        )
    missing = [name for name in REQUIRED if not any((folder / name).glob("**/*.parquet"))]
    if "events" in missing or "sessions" in missing or "stories" in missing:
        raise AnalyticsError(
            f"{folder} holds no Parquet export of branching (no {', '.join(missing)} dataset): "
            "write one with `branching export --format parquet`"
        )
    return folder


# how each engine writes a UTC timestamp as the database stores it: 2026-01-31T09:05:00.123Z
_STAMP = {
    "duckdb": "strftime({col}, '%Y-%m-%dT%H:%M:%S.%gZ')",
    "spark": "date_format({col}, \"yyyy-MM-dd'T'HH:mm:ss.SSS'Z'\")",
}
_TYPES = {"spark": {"VARCHAR": "STRING", "INTEGER": "INT"}}


def _view_select(raw: str, have: dict[str, str], wanted: dict[str, str], dialect: str) -> str:
    """SELECT over the raw dataset `raw` giving each wanted column with SQLite's type.

    `have` maps the file's columns to their types: a timestamp becomes the
    text SQLite stores (so cut-offs compare as they do there), a boolean flag
    an integer; a column the file lacks is NULL.
    """
    parts = []
    for name, kind in wanted.items():
        typed = _TYPES.get(dialect, {}).get(kind, kind)
        found = have.get(name)
        if found is None:
            parts.append(f"CAST(NULL AS {typed}) AS {name}")
        elif "timestamp" in found.lower():
            parts.append(_STAMP[dialect].format(col=name) + f" AS {name}")
        elif name == "simulated":  # a boolean or an integer in the file: 1 or 0 here
            parts.append(f"CAST(CAST({name} AS INT) AS {typed}) AS {name}")
        else:
            parts.append(f"CAST({name} AS {typed}) AS {name}")
    return f"SELECT {', '.join(parts)} FROM {raw}"


# `sessions.last_scene` worked out from the events, for an export without the column
_LAST_SCENE = """(SELECT session_id AS ls_session, scene AS ls_scene FROM (
    SELECT session_id, scene, ROW_NUMBER() OVER (PARTITION BY session_id ORDER BY seq DESC) AS n
    FROM events WHERE type = 'scene_shown') last_shown WHERE n = 1) ls"""


def _dataset_view(name: str, raw: str, have: dict[str, str], dialect: str) -> tuple[str, str]:
    """(view name, its SELECT) of dataset `name` read as `raw` with the columns `have`."""
    view, wanted = DATASETS[name]
    select = _view_select(raw, have, wanted, dialect)
    if name == "stories":  # rowid: the order the versions are in the file
        select = select.replace(" FROM ", ", file_row_number AS rowid FROM ", 1)
    if name == "sessions" and "last_scene" not in have:
        typed = _TYPES.get(dialect, {}).get("VARCHAR", "VARCHAR")
        select = select.replace(f"CAST(NULL AS {typed}) AS last_scene", "ls_scene AS last_scene")
        select += f" LEFT JOIN {_LAST_SCENE} ON ls_session = session_id"
    return view, select


_VIEW_COLUMNS = {
    **{view: frozenset(wanted) for view, wanted in DATASETS.values()},
    "stories": frozenset(DATASETS["stories"][1]) | {"rowid"},
    "choice_labels": frozenset({"story_id", "content_hash", "scene", "choice", "label", "count"}),
    "session_digests": frozenset({"session_id", "made"}),
}


def partition_value(value: str) -> str:
    """A Hive partition value as the export writes it in a folder name (`story_id=...`).

    The same quoting as `store.parquet` (percent-escaping everything but
    letters, digits and `_.-~`), so a hostile story id is one plain folder name
    and never a path or a pattern.
    """
    return quote(value, safe="") or "%00"


def partition_files(events: Path, story_id: str, since: str | None) -> list[Path]:
    """The event files of `story_id`'s partition, from the UTC day of `since` on.

    A session that started on or after `since` has every event on that day or
    later (an event's day is the UTC day of its timestamp), so earlier days
    hold none of its events. A folder whose day does not read as a date is kept.
    """
    first = since[:10] if since else ""
    found = []
    for day in sorted((events / f"story_id={partition_value(story_id)}").glob("*")):
        name, sep, value = day.name.partition("=")
        when = unquote(value)
        if first and sep and name == "day" and _is_day(when) and when < first:
            continue
        found += sorted(day.glob("**/*.parquet") if day.is_dir() else [])
    return found


def _is_day(text: str) -> bool:
    try:
        return len(text) == 10 and bool(date.fromisoformat(text))
    except ValueError:
        return False


# the attributes by session key (the export writes them by session id only)
_KEYED_ATTRS = """SELECT s.session_key AS session_id, CAST(a.key AS VARCHAR) AS key,
    CAST(a.value AS VARCHAR) AS value
FROM raw_session_attrs a JOIN raw_sessions s ON s.session_id = a.session_id"""
# ... and as an export of layout 5 writes them, with the key (no join on the ids)
_OWN_KEYED_ATTRS = """SELECT session_key AS session_id, CAST(key AS VARCHAR) AS key,
    CAST(value AS VARCHAR) AS value FROM raw_session_attrs"""
# the sessions' digest lists as bits of their codes (`store.parquet_bits`, layout 5)
_BITS = frozenset(f"{name}_bits" for name in BITS_LISTS)
# each session's decisions, as SQLite's `session_digests` holds them (`segments._seg`)
_DIGESTS = "SELECT session_key AS session_id, CAST(made AS BIGINT) AS made FROM raw_sessions"
# a distinct count of sessions or viewers, as the portable queries write it (`filters.tally`)
_DISTINCT_SESSIONS = re.compile(
    r"COUNT\(DISTINCT (?:CASE WHEN (?P<cond>(?:(?!\bTHEN\b).)+) THEN )?"
    r"(?P<col>\b[a-z_]+\.(?P<what>session_id|viewer_id))"
    r"(?(cond) END)\)",
    re.S,
)
# ... and of the breakdowns' viewer numbers (`DuckDbEngine._viewer_numbers`)
_DISTINCT_NUMBERS = re.compile(
    r"COUNT\(DISTINCT (?:CASE WHEN (?P<cond>(?:(?!\bTHEN\b)[^()])+) THEN )?seg\.w(?(cond) END)\)"
)
BITMAP_KEYS = 1 << 21  # the widest range of keys counted in a bitmap (256 KB a group)
# each viewer id of the sessions numbered 1, 2, 3... in id order (`DuckDbEngine._view`): a
# table of the engine's private in-memory database, not TEMP, which `stream`'s cursor would not see
_VIEWER_KEYS = """CREATE OR REPLACE TABLE viewer_keys AS
SELECT viewer_id AS viewer_text,
       CAST(ROW_NUMBER() OVER (ORDER BY viewer_id) AS BIGINT) AS viewer_key
FROM (SELECT DISTINCT viewer_id FROM raw_sessions WHERE viewer_id IS NOT NULL) known"""
DUCKDB_MEMORY = "100MB"  # DuckDB's own buffers; the process (Python ~80 MB too) under 200 MB
DUCKDB_THREADS = 2  # at most: more threads hold more buffers each
STREAM_ROWS = 2048  # rows fetched at a time by `DuckDbEngine.stream`


# `--first-only`'s order of a viewer's sessions (`DuckDbEngine._first_order`)
_FIRST_ORDER = "PARTITION BY viewer_id ORDER BY started_at, session_id)"
_FIRST_LAST = re.compile(r"\b(MIN|MAX)\(s\.started_at\)")  # `DuckDbEngine._first_last`


def duckdb_core() -> Any:
    """DuckDB's compiled engine, `_duckdb`, which the `duckdb` package re-exports.

    The package wraps it in a Python layer of relations and expressions (and reads
    its own version through `importlib.metadata`) that this engine never uses: its
    import took 0.12-0.15 s of CPU, at the start of every command over an export,
    against 0.02 s for the engine alone. The connection, `execute`, the cursors and
    the exceptions are the engine's own. A DuckDB whose package has no `_duckdb`
    is imported whole. Neither installed: `MissingExtra`.
    """
    try:
        return importlib.import_module("_duckdb")
    except ImportError:
        pass
    try:
        return importlib.import_module("duckdb")
    except ImportError:
        raise MissingExtra(
            "--source parquet: needs DuckDB: pip install 'branching[duckdb]'"
        ) from None


def _out_of_memory(exc: Exception) -> AnalyticsError:
    """DuckDB's out of memory as one line with how to allow it more."""
    return AnalyticsError(
        f"DuckDB ran out of memory: {str(exc).strip().splitlines()[0]} "
        "(allow it more with BRANCHING_DUCKDB_MEMORY, e.g. 1GB)"
    )


def _literal(text: str) -> str:
    """`text` as an SQL string literal (quotes doubled; DuckDB reads backslashes as is)."""
    return "'" + text.replace("'", "''") + "'"


def _manifest_number(folder: Path, field: str) -> int | None:
    """A positive whole number the manifest of the export in `folder` holds, else None."""
    try:
        given = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get(field)
    except (OSError, ValueError, AttributeError):
        return None
    return given if type(given) is int and given > 0 else None


def _stat_of(path: Path) -> tuple[int, int, int, int] | None:
    """What tells one file at `path` from another put there since (None: no file)."""
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)


def _keys_given(folder: Path) -> int | None:
    """How many session keys the export in `folder` gave out (its manifest's
    `session_keys`: every key is 1 to that), None when its manifest does not say."""
    return _manifest_number(folder, "session_keys")


class DuckDbEngine:
    """An in-memory DuckDB over the Parquet export in `folder`.

    Threads: `BRANCHING_DUCKDB_THREADS`, else the cores up to two; memory:
    `BRANCHING_DUCKDB_MEMORY` (a DuckDB size such as 500MB), else 100 MB,
    beyond which it spills to a private temporary folder removed on `close`.
    No query relies on the order rows are read in (every order is an ORDER
    BY), so DuckDB need not keep it.
    """

    def __init__(self, folder: Path) -> None:
        duckdb = duckdb_core()
        self.label = f"DuckDB over the Parquet export {folder.name}/"
        self.dialect = "duckdb"
        self._folder = folder
        self._manifest = _stat_of(folder / MANIFEST)  # taken first: a later change shows
        self._run = _manifest_number(folder, "run")  # which run's files the views read
        self._spill = tempfile.TemporaryDirectory(prefix="branching-duckdb-")
        threads = os.environ.get("BRANCHING_DUCKDB_THREADS", "")
        memory = os.environ.get("BRANCHING_DUCKDB_MEMORY", "") or DUCKDB_MEMORY
        try:
            self._con = duckdb.connect(
                ":memory:",
                config={
                    "threads": int(threads)
                    if threads
                    else min(os.cpu_count() or 1, DUCKDB_THREADS),
                    "memory_limit": memory,
                    "preserve_insertion_order": False,
                    "temp_directory": self._spill.name,
                },
            )
        except (ValueError, duckdb.Error) as exc:
            self._spill.cleanup()
            raise AnalyticsError(
                f"BRANCHING_DUCKDB_THREADS={threads!r} / BRANCHING_DUCKDB_MEMORY={memory!r}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'not accepted'}"
            ) from None
        self._con.execute("SET TimeZone = 'UTC'")
        self._views: set[str] = set()
        self._events: dict[str, str] = {}  # the events files' columns -> types
        self._keyed: dict[str, bool] = {}  # dataset -> its files have `session_key`
        self._have: dict[str, dict[str, str]] = {}  # dataset -> its files' columns -> types
        self._key_range: tuple[int, int] | None = None  # the session keys (`_bitmaps`)
        self._started_ts = False  # the sessions view has `started_ts` (`_local_time`)
        # the highest viewer number (`_view`), 0: none; None: not read yet (layout 4)
        self._viewer_keys: int | None = 0
        found = {
            name: sorted(str(p) for p in (folder / name).glob("**/*.parquet")) for name in DATASETS
        }
        for name, files in found.items():
            if files:
                self._raw(name, files)
        for name, files in found.items():
            if files:
                self._view(name)
        if "choice_labels" not in self._views:  # an export of layout 3 or older
            self._con.execute(f"CREATE VIEW choice_labels AS {CHOICE_LABELS}")
            self._views.add("choice_labels")
        self._made: bool | None = None  # the sessions carry their decisions (`stored_made`)
        self._rolled: bool | None = None  # views over the export's aggregates (`aggregates`)
        self._lists = False  # ... and its `digest_names` (`digest_lists`)
        self._aggregate_views: frozenset[str] = frozenset()  # their names (`aggregate_views`)
        self._chosen_once = ChosenOnce(self._con, self._translate)  # choices of sessions kept

    def _raw(self, name: str, files: list[str]) -> None:
        """The view `raw_<name>` over `files`, as the files have it (DuckDB's reader
        takes no parameter in a view: each file's name is a quoted literal, `_literal`)."""
        listed = ", ".join(_literal(f) for f in files)
        numbered = ", file_row_number = true" if name == "stories" else ""
        self._con.execute(
            f"CREATE OR REPLACE VIEW raw_{name} AS SELECT * FROM "
            f"read_parquet([{listed}], hive_partitioning = false{numbered})"
        )
        self._key_range = None
        have = {str(r[0]): str(r[1]) for r in self._con.execute(f"DESCRIBE raw_{name}").fetchall()}
        self._have[name] = have
        self._keyed[name] = "session_key" in have
        if name == "events":
            self._events = have

    def _read(self, name: str, files: list[str]) -> None:
        """(Re)make the view of dataset `name` over `files` (none: an empty events view)."""
        if files:
            self._raw(name, files)
            self._view(name)
            return
        # the story has no events there (or none from that day): no file to read
        view, wanted = DATASETS[name]
        if self.keyed and name == "events":
            wanted = {**wanted, "session_id": "BIGINT"}
        select = _view_select("raw", {}, wanted, "duckdb").replace(" FROM raw", " WHERE 1 = 0")
        self._con.execute(f"CREATE OR REPLACE VIEW {view} AS {select}")
        self._views.add(view)

    def _view(self, name: str) -> None:
        """The view named like the SQLite table over `raw_<name>` (`_raw`).

        On an export with `session_key`, `session_id` in the events, sessions
        and attributes views IS that key (an integer, one to one with the
        session's id): every join and distinct count over sessions then hashes
        integers. At ten million events a join on the 36-character ids held
        ~25 MB of DuckDB's memory each, and the stats breakdowns, a few of
        them in one query, did not fit in 160 MB. No query shows a session id.
        The same for viewers: the sessions' `viewer_id` is the viewer's number
        in `viewer_keys` (1, 2, 3... in id order, made once per engine; an
        export of layout 4 carries that number, `viewer_key`, and the table is
        not made: 0.07 s at 180,000 sessions), so a count of distinct viewers
        is a count of bits too (`_bitmaps`); counting tags by viewers over the
        ids ran out of the 100 MB. No query shows a viewer id either.
        """
        have = self._have[name]
        view, select = _dataset_view(name, f"raw_{name}", have, "duckdb")
        if self.keyed and name in ("events", "sessions"):
            select = select.replace(
                "CAST(session_id AS VARCHAR) AS session_id", "session_key AS session_id", 1
            )
        if self.keyed and name == "sessions" and "viewer_key" in have:  # layout 4
            self._viewer_keys = None  # the highest, read when a bitmap needs it (`_bitmaps`)
            select = select.replace(
                "CAST(viewer_id AS VARCHAR) AS viewer_id", "viewer_key AS viewer_id", 1
            )
        elif self.keyed and name == "sessions":
            self._con.execute(_VIEWER_KEYS)
            (known,) = self._con.execute("SELECT COUNT(*) FROM viewer_keys").fetchall()[0]
            self._viewer_keys = int(known)
            select = select.replace(
                "CAST(viewer_id AS VARCHAR) AS viewer_id", "vk.viewer_key AS viewer_id", 1
            )
            select += " LEFT JOIN viewer_keys vk ON vk.viewer_text = raw_sessions.viewer_id"
        elif self.keyed and name == "session_attrs" and "session_key" in have:  # layout 5
            select = _OWN_KEYED_ATTRS
        elif self.keyed and name == "session_attrs":
            select = _KEYED_ATTRS
        if name == "sessions" and _BITS <= set(have):  # layout 5: the lists as bits
            listed = ", ".join(f"raw_sessions.{c} AS {c}" for c in sorted(_BITS))
            select = select.replace(" FROM raw_sessions", f", {listed} FROM raw_sessions", 1)
        if name == "sessions":  # the start as the timestamp it is, for `_local_time`
            self._started_ts = "timestamp" in have.get("started_at", "").lower()
            if self._started_ts:
                select = select.replace(
                    " FROM raw_sessions",
                    ", raw_sessions.started_at AS started_ts FROM raw_sessions",
                    1,
                )
        self._con.execute(f"CREATE OR REPLACE VIEW {view} AS {select}")
        self._views.add(view)
        if self.keyed and name == "sessions" and "made" in have:  # as SQLite's digests
            self._con.execute(f"CREATE OR REPLACE VIEW session_digests AS {_DIGESTS}")
            self._views.add("session_digests")

    @property
    def sqlite(self) -> sqlite3.Connection | None:
        return None

    @property
    def stored_paths(self) -> bool:
        """True when the sessions carry their `path` and `depth` (export layout 3)."""
        return {"path", "depth"} <= set(self._have.get("sessions", {}))

    @property
    def stored_bits(self) -> bool:
        """True when the sessions carry their digests' lists as bits (`reached_bits`,
        `clocked_bits`, `rewound_bits`, `paused_bits`, `skipped_bits`: layout 5), which
        the sessions view then has too (DuckDB only)."""
        return _BITS <= set(self._have.get("sessions", {}))

    @property
    def stored_labels(self) -> bool:
        """True when the export holds the database's `choice_labels` (layout 4): the
        labels viewers saw are read from it, as on SQLite, not counted from the events."""
        return "choice_labels" in self._have

    @property
    def stored_made(self) -> bool:
        """True when the sessions carry their decisions (`made`, from the database's
        digests: layout 4), read as SQLite reads its digests (view `session_digests`).

        An export written while the database's digests were out of date has no
        `made` (NULL in every session): the events are counted then.
        """
        if self._made is None:
            self._made = "session_digests" in self._views and bool(
                self._con.execute("SELECT COUNT(made) > 0 FROM raw_sessions").fetchall()[0][0]
            )
        return self._made

    def aggregates(self) -> bool:
        """True when the export holds the database's aggregates of its last run
        (`store.parquet_aggregates`), now views named like the SQLite tables
        (`agg_edges`, `agg_scenes`, `agg_sessions`, `agg_attr_keys`); False for an
        export without them (older, or of a pruned database), or with an older run's."""
        if self._rolled is None:
            self._unchanged()  # the aggregates of the run whose events the views list
            run = self._run
            files = current_aggregates(self._folder, run) if run is not None else None
            if files is not None and run is not None and not self._settled(run):
                files = None  # a run cut off while its files were renamed: scan instead
            for name, path in (files or {}).items():
                self._con.execute(
                    f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM "
                    f"read_parquet({_literal(str(path))}, hive_partitioning = false)"
                )
            self._rolled = files is not None
            self._lists = "digest_names" in (files or {})
            self._aggregate_views = frozenset(files or {})
        return self._rolled

    def _settled(self, run: int) -> bool:
        """Whether the events and sessions in the folder are those of the manifest's run
        `run`, which its aggregates agree with. A run renames its files into place one
        by one and the manifest last: one cut off halfway leaves its sessions and some
        event parts beside the last run's manifest and aggregates (the next run's start
        deletes them, `parquet_files._clean`). Its parts are named by their run, and the
        manifest says how many sessions the last run wrote."""
        events = self._folder / "events"
        for _, _, names in os.walk(events):
            for name in names:
                part = PART.fullmatch(name)
                if part is not None and int(part.group(1)) > run:
                    return False
        sessions = _manifest_number(self._folder, "sessions")
        if sessions is None or "sessions" not in self._views:
            return False
        ((written,),) = self._con.execute("SELECT COUNT(*) FROM raw_sessions").fetchall()
        return int(written) == sessions

    def aggregate_views(self) -> frozenset[str]:
        """The names of the aggregate views `aggregates` made (`agg_decide` and `agg_acts`
        only from an export that holds them); empty without aggregates."""
        return self._aggregate_views if self.aggregates() else frozenset()

    def digest_lists(self) -> bool:
        """True when the export holds, beside `aggregates`, the digests' names
        (`digest_names`) that the sessions' `reached` and `clocked` are codes of."""
        return self.aggregates() and self._lists

    @property
    def keyed(self) -> bool:
        """True when events and sessions carry the integer `session_key` (an export
        written before it had none: the queries join on `session_id` there)."""
        return self._keyed.get("events", True) and self._keyed.get("sessions", False)

    def _translate(self, sql: str) -> str:
        """`sql` as DuckDB runs it fastest: distinct counts as bits (`_bitmaps`), the
        local hour and weekday by DuckDB's own date functions (`_local_time`)."""
        sql = self._first_order(self._local_time(self._viewer_numbers(self._bitmaps(sql))))
        return self._first_last(sql)

    def _first_last(self, sql: str) -> str:
        """`sql` with the first and last start of the chosen sessions (`MIN(s.started_at)`,
        `MAX(...)`: the overview, read by every report) as the text of the earliest and
        latest timestamp (`started_ts`): the same text (fixed width, UTC, as `_first_order`
        says), written twice instead of for every session of the story (0.10 -> 0.04 s
        of CPU at 180,000 sessions)."""
        if "(s.started_at)" not in sql or not self._started_ts:
            return sql
        return _FIRST_LAST.sub(lambda m: _STAMP["duckdb"].format(col=f"{m[1]}(s.started_ts)"), sql)

    def _first_order(self, sql: str) -> str:
        """`sql` with `--first-only`'s numbering of each viewer's sessions
        (`filters.session_conditions`: by start, then session) ordered by the start as
        the timestamp it is (`started_ts`) rather than the view's text of it: the same
        order (the text is the UTC timestamp to the millisecond, fixed width, as the
        file stores it), without the text worked out for every session of the story
        (0.13 -> 0.06 s of CPU at 180,000 sessions, in each query that chooses them)."""
        if _FIRST_ORDER not in sql or not self._started_ts:
            return sql
        return sql.replace(_FIRST_ORDER, _FIRST_ORDER.replace("started_at", "started_ts"))

    def _viewer_numbers(self, sql: str) -> str:
        """`sql` with the breakdowns' viewers (`segments._seg`'s `w`, each viewer
        numbered by a window over the chosen sessions so that they count as integers)
        as the numbers they are already on a keyed export (`_view`), and their
        distinct count as a count of bits (`_bitmaps`): the same figures without
        the window and the hash of every breakdown's viewers (1.4 s -> 0.5 s for the
        breakdowns by viewers at 180,000 sessions)."""
        if not self.keyed or "seg.w" not in sql:
            return sql
        from branching.analytics.segments import _VIEWER

        if _VIEWER not in sql:
            return sql
        high = self._viewers_high()
        if high >= BITMAP_KEYS:
            return sql

        def bits(m: re.Match[str]) -> str:
            counted = f"CASE WHEN {m['cond']} THEN seg.w END" if m["cond"] else "seg.w"
            return f"COALESCE(bit_count(bitstring_agg({counted}, 1, {max(high, 1)})), 0)"

        return _DISTINCT_NUMBERS.sub(bits, sql.replace(_VIEWER, "p.viewer_id"))

    def _viewers_high(self) -> int:
        """The highest viewer number (`_view`: 0 when no session has a viewer)."""
        if self._viewer_keys is None:
            (top,) = self._con.execute("SELECT MAX(viewer_key) FROM raw_sessions").fetchall()[0]
            self._viewer_keys = int(top or 0)
        return self._viewer_keys

    def _local_time(self, sql: str) -> str:
        """`sql` with the breakdowns' local hour and weekday (`segments.LOCAL_HOUR`,
        `LOCAL_WEEKDAY`: integer arithmetic on the parts of the stored text, which
        any engine computes alike) as `hour` and `dayofweek` of the session's start
        shifted by its UTC offset. The same figures (a shift by whole minutes moves the
        hour and the day as the arithmetic does; the view's text is written in UTC, as
        DuckDB reads the timestamp here), but the text is the view's `strftime` of the
        timestamp, worked out again at each of the dozen places the arithmetic reads
        it: 0.3 s of the breakdowns' 0.7 at 180,000 sessions. Only where the export
        stores the start as a timestamp (`started_ts` in the sessions view). Whether
        the text has a time (`segments.STAMP`) is asked of the timestamp too: a year
        of four digits writes one, any other year is asked of the text as before
        (0.05 s of CPU less at 180,000 sessions, the text not written at all).
        """
        if "utc_offset_min" not in sql or not self._started_ts:
            return sql
        from branching.analytics.segments import LOCAL_HOUR, LOCAL_WEEKDAY, STAMP

        stamped = (
            "CASE WHEN s.started_ts IS NULL THEN false "
            f"WHEN year(s.started_ts) BETWEEN 1000 AND 9999 THEN true ELSE {STAMP} END"
        )
        shifted = "(s.started_ts + to_minutes(CAST(COALESCE(s.utc_offset_min, 0) AS BIGINT)))"
        sql = sql.replace(LOCAL_HOUR, f"CASE WHEN {stamped} THEN hour({shifted}) END")
        return sql.replace(LOCAL_WEEKDAY, f"CASE WHEN {stamped} THEN dayofweek({shifted}) END")

    def _bitmaps(self, sql: str) -> str:
        """`sql` with each distinct count of sessions (or viewers) made a count of bits.

        `COUNT(DISTINCT e.session_id)` (or of `CASE WHEN c THEN e.session_id
        END`) hashes every distinct session of every group: 2.4 s for the
        scenes' counts at ten million events. On an export with `session_key`
        the session ids here are those integer keys, in a known range, so
        DuckDB's `bitstring_agg` sets one bit per session instead and
        `bit_count` counts them: the same figure, a fifth of the time. A range
        wider than `BITMAP_KEYS` keeps the portable count.
        """
        if "COUNT(DISTINCT" not in sql or not self.keyed:
            return sql
        if self._key_range is None:
            self._key_range = self._keys()
        ranges = {"session_id": self._key_range, "viewer_id": (1, max(self._viewers_high(), 1))}

        def bits(m: re.Match[str]) -> str:
            low, high = ranges[m["what"]]
            if high - low >= BITMAP_KEYS:
                return m[0]
            counted = f"CASE WHEN {m['cond']} THEN {m['col']} END" if m["cond"] else m["col"]
            return f"COALESCE(bit_count(bitstring_agg({counted}, {low}, {high})), 0)"

        return _DISTINCT_SESSIONS.sub(bits, sql)

    def _keys(self) -> tuple[int, int]:
        """The range of session keys the sessions and the events hold.

        The export gives keys 1, 2, 3... and its manifest says how many it gave
        (`session_keys`), so the events' keys need no reading (a scan of one
        column of ten million events, 0.08 s); an export without that figure
        (or whose sessions hold a bigger key) has its events' keys read.
        """
        low, high = self._con.execute(
            "SELECT MIN(session_key), MAX(session_key) FROM raw_sessions"
        ).fetchall()[0]
        given = _keys_given(self._folder)
        if given is not None and (high is None or (low >= 1 and high <= given)):
            return 1, given
        elow, ehigh = self._con.execute(
            "SELECT MIN(session_key), MAX(session_key) FROM raw_events"
        ).fetchall()[0]
        ends = [n for n in (low, high, elow, ehigh) if n is not None]
        return (min(ends), max(ends)) if ends else (0, 0)

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """All the rows of `sql`. Out of memory with several threads, it runs again on
        one (each thread holds buffers of its own; a failed statement changed nothing,
        and nothing of it was handed over) and the engine stays on one; out of memory
        on one, the command stops with how to allow DuckDB more."""
        try:
            try:
                found = self._fetch_all(sql, params)
            except duckdb_core().OutOfMemoryException:
                if not self._one_thread():
                    raise
                found = self._fetch_all(sql, params)
        except duckdb_core().OutOfMemoryException as exc:  # one line, never a trace
            raise _out_of_memory(exc) from None
        except duckdb_core().IOException as exc:
            self._unchanged(exc)
            raise
        self._unchanged()
        return found

    def _fetch_all(self, sql: str, params: Sequence[object]) -> list[Row]:
        sql, bound = self._chosen_once(sql, params)  # (it may run a query: retried too)
        found: list[Row] = self._con.execute(self._translate(sql), bound).fetchall()
        return found

    def _one_thread(self) -> bool:
        """Run on one thread from now on; False when it already did."""
        (threads,) = self._con.execute("SELECT current_setting('threads')").fetchone() or (1,)
        if int(threads) <= 1:
            return False
        self._con.execute("SET threads = 1")
        return True

    def _unchanged(self, exc: Exception | None = None) -> None:
        """Raise AnalyticsError when the export changed since this engine listed its files.

        A run of `branching export` into the folder while a command reads it
        replaces the sessions and the aggregates (and deletes the last run's
        aggregate files once its own count): a view then names a file that is gone
        (DuckDB's "No files found", `exc`) or the manifest names a newer run. The
        figures would mix two runs: the command stops and says to run it again.
        """
        gone = exc is not None and "No files found" in str(exc)
        if not gone and _stat_of(self._folder / MANIFEST) == self._manifest:
            return  # the very file read at the start (a run writes a new one and renames it)
        if gone or _manifest_number(self._folder, "run") != self._run:
            raise AnalyticsError(
                f"the export in {self._folder} changed while it was read (a `branching "
                "export` run replaced its files): run the command again"
            ) from None

    def keep(self, name: str, sql: str, params: Sequence[object] = ()) -> None:
        self.rows(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}", params)

    def stream(self, sql: str, params: Sequence[object] = ()) -> Iterator[Row]:
        """DuckDB hands the result over in batches of `STREAM_ROWS` (`fetchmany`), on a
        cursor of its own, so other queries may run while it is read. Out of memory
        before the first batch, it runs again on one thread (as `rows`); after, the
        command stops with the advice."""
        cursor = self._con.cursor()
        try:
            cursor.execute("SET TimeZone = 'UTC'")  # the views write timestamps in UTC
            try:
                result = self._stream_start(cursor, sql, params)
            except duckdb_core().OutOfMemoryException:
                if not self._one_thread():
                    raise
                cursor.execute("SET threads = 1")
                result = self._stream_start(cursor, sql, params)
            while batch := result.fetchmany(STREAM_ROWS):
                yield from batch
        except duckdb_core().OutOfMemoryException as exc:
            raise _out_of_memory(exc) from None
        except duckdb_core().IOException as exc:
            self._unchanged(exc)
            raise
        finally:
            cursor.close()
        self._unchanged()

    def _stream_start(self, cursor: Any, sql: str, params: Sequence[object]) -> Any:
        sql, bound = self._chosen_once(sql, params)
        return cursor.execute(self._translate(sql), bound)

    def tables(self) -> frozenset[str]:
        return frozenset(self._views)

    def columns(self, table: str) -> frozenset[str]:
        return _VIEW_COLUMNS[table] if table in self._views else frozenset()

    def scope(self, story_id: str, since: str | None = None) -> None:
        """`events` over the files of `story_id`'s partition only, from `since`'s day on.

        The files are listed here (the story's folder as the export quotes it,
        `partition_value`) and named in the view as quoted literals (`_raw`).
        """
        if "events" in self._views:
            files = partition_files(self._folder / "events", story_id, since)
            self._read("events", [str(f) for f in files])

    def close(self) -> None:
        self._con.close()
        self._spill.cleanup()


# folder -> (its files' stamp, the session, the views made there): Spark takes seconds to
# list and read the schema of an export, so a process that reads it again (the tests,
# the benchmark) makes the views once
_SPARK_VIEWS: dict[str, tuple[tuple[int, float], Any, set[str], bool]] = {}


def _export_stamp(folder: Path) -> tuple[int, float]:
    """How many Parquet files the export holds and the newest change among them."""
    files = list(folder.glob("*/**/*.parquet"))
    return len(files), max((f.stat().st_mtime for f in files), default=0.0)


class SparkEngine:
    """Spark SQL over the Parquet export in `folder` (local mode unless told otherwise).

    The session comes from `SparkSession.builder.getOrCreate()`: on a cluster,
    `spark-submit` sets the master; here `BRANCHING_SPARK_MASTER` (default
    `local[2]`). Spark's own logging is kept to errors.
    """

    def __init__(self, folder: Path, session: Any = None) -> None:
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise MissingExtra(
                "--source spark: needs pyspark (and Java 17+): pip install 'branching[spark]'"
            ) from None
        self.label = f"Spark over the Parquet export {folder.name}/"
        self.dialect = "spark"
        if session is None:
            logging.getLogger("py4j").setLevel(logging.ERROR)
            master = os.environ.get("BRANCHING_SPARK_MASTER", "local[2]")
            quiet = f"-Dlog4j2.configurationFile={Path(__file__).with_name(_LOG4J)}"
            try:
                session = (
                    SparkSession.builder.master(master)
                    .appName("branching")
                    .config("spark.ui.enabled", "false")
                    .config("spark.ui.showConsoleProgress", "false")
                    .config("spark.sql.shuffle.partitions", "4")
                    .config("spark.driver.extraJavaOptions", quiet)
                    .getOrCreate()
                )
            except Exception as exc:  # no Java, a bad master: one line, not a JVM trace
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise AnalyticsError(f"Spark did not start: {first}") from None
        self._spark = session
        session.conf.set("spark.sql.session.timeZone", "UTC")
        stamp = _export_stamp(folder)
        self._views: set[str]
        known = _SPARK_VIEWS.get(str(folder))
        if known is not None and known[0] == stamp and known[1] is session:
            self._views, self._stored_paths = known[2], known[3]  # the same export, again
            return
        self._views = set()
        self._stored_paths = False
        for name in DATASETS:
            root = folder / name
            if not any(root.glob("**/*.parquet")):
                continue
            raw = session.read.option("basePath", str(root)).parquet(str(root))
            if name == "stories":  # the order the versions are in (one file, read in order)
                from pyspark.sql.functions import monotonically_increasing_id

                raw = raw.withColumn("file_row_number", monotonically_increasing_id())
            raw.createOrReplaceTempView(f"raw_{name}")
            if name == "sessions":
                self._stored_paths = {"path", "depth"} <= set(dict(raw.dtypes))
            view, select = _dataset_view(name, f"raw_{name}", dict(raw.dtypes), "spark")
            session.sql(f"CREATE OR REPLACE TEMP VIEW {view} AS {select}")
            self._views.add(view)
        if "choice_labels" not in self._views:  # an export of layout 3 or older
            session.sql(f"CREATE OR REPLACE TEMP VIEW choice_labels AS {CHOICE_LABELS}")
            self._views.add("choice_labels")
        _SPARK_VIEWS.clear()  # the views are the session's: one export's at a time
        _SPARK_VIEWS[str(folder)] = (stamp, session, self._views, self._stored_paths)

    @property
    def sqlite(self) -> sqlite3.Connection | None:
        return None

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return [tuple(r) for r in self._spark.sql(sql, args=list(params)).collect()]

    def keep(self, name: str, sql: str, params: Sequence[object] = ()) -> None:
        """A temporary view of the query (Spark takes no parameters in a view's text)."""
        self._spark.sql(sql, args=list(params)).createOrReplaceTempView(name)

    @property
    def stored_paths(self) -> bool:
        """True when the sessions carry their `path` and `depth` (export layout 3)."""
        return self._stored_paths

    def stream(self, sql: str, params: Sequence[object] = ()) -> Iterator[Row]:
        """Spark sends one partition of the result at a time (`toLocalIterator`)."""
        for r in self._spark.sql(sql, args=list(params)).toLocalIterator():
            yield tuple(r)

    def tables(self) -> frozenset[str]:
        return frozenset(self._views)

    def columns(self, table: str) -> frozenset[str]:
        return _VIEW_COLUMNS[table] if table in self._views else frozenset()

    def scope(self, story_id: str, since: str | None = None) -> None:
        """Nothing yet: the views are made once per process and export (`_SPARK_VIEWS`),
        so Spark lists every story's partitions (the queries still choose the story's)."""

    def close(self) -> None:
        """The session stays (starting Spark takes seconds; the process ends it)."""


def check_source(source: str) -> tuple[str, str]:
    """(kind, where) of a `--source`; MissingExtra when its engine is not installed."""
    kind, sep, where = source.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in SOURCE_KINDS or not where.strip():
        raise AnalyticsError(
            f"--source {source!r}: give parquet:OUT/ or spark:OUT/ "
            "(a folder `branching export --format parquet` wrote), or sqlite:FILE"
        )
    module, extra = {"parquet": ("duckdb", "duckdb"), "spark": ("pyspark", "spark")}.get(
        kind, ("", "")
    )
    if module and importlib.util.find_spec(module) is None:
        raise MissingExtra(
            f"--source {kind}: needs {module}: pip install 'branching[{extra}]'"
            + (" (and Java 17 or later)" if kind == "spark" else "")
        )
    return kind, where.strip()


def open_engine(db: str | Path | None, source: str | None) -> Engine:
    """The engine a `--source` names (`parquet:OUT/`, `spark:OUT/`), else SQLite at `db`."""
    if source:
        kind, where = check_source(source)
        if kind == "parquet":
            return DuckDbEngine(parquet_folder(where))
        if kind == "spark":
            return SparkEngine(parquet_folder(where))
        db = where
    if db is None:
        raise AnalyticsError("name the telemetry database with --db (or set BRANCHING_DB)")
    from branching.analytics.source import open_readonly

    return SqliteEngine(open_readonly(db), db)
