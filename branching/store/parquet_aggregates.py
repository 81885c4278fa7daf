"""The aggregates the flowchart sums, copied into the Parquet export beside the events.

SQLite answers a filtered flowchart in sessions or times from its aggregate
tables (`aggregates.py`, read by `analytics/rollup.py`), never from the
events; a reader of the export (DuckDB, `analytics/parquet_rollup.py`) does
the same with these copies: ~300,000 rows at ten million events, where the
events are 4.7 million rows of text to decode and join. Each run of
`branching export --format parquet` rewrites them whole, inside the read
transaction that exports the events, so they hold exactly what the database
held when the events were exported:

- `agg_edges/agg_edges-RUN.parquet`, `agg_scenes/...`, `agg_sessions/...`:
  the tables as they are, in their key order (story, attribute key and
  value, version, day...: a reader skips the row groups of other slices);
- `agg_attr_keys/agg_attr_keys-RUN.parquet`: which attribute keys the
  aggregates keep (a `--where` on one they dropped reads the events);
- `agg_decide/...`, `agg_acts/...`: the times to decide (the sketch's
  buckets, packed as m014 keeps them) and the rewinds, pauses and skipped
  reveals per scene (`decide_acts`), which `stats --table timing` and
  `--table interactions` sum (`analytics/parquet_stats.py`); only from a
  database that keeps them packed (`decide_acts_agree`): without them (an
  older export, an older file) those tables read the events, as before;
- `digest_names/digest_names-RUN.parquet`: what the codes of the digests'
  lists stand for (a scene, an edge...), when `parquet.py` writes those
  lists (`reached`, `clocked`, `views`) in the sessions: the flowchart by
  viewers (`analytics/parquet_viewers.py`) counts them as SQLite does.

A file counts only when its RUN is the manifest's run (`MANIFEST`): a run
that writes none (see below) leaves the last run's files behind until the
next `prepare` deletes them (`parquet_files._clean`), and a reader takes
them for stale, and scans the events as before.

They agree with the exported events only while the export holds every event
the aggregates count and no other: the event files are never rewritten, so
an event pruned after an earlier run is still in them while the aggregates
no longer count it. A database that was ever pruned (`pruned_traversals`,
`pruned_scene_views`) is exported without them; so is a file from before
the aggregates (m011), which a read-only reader does not upgrade. The lists
are written only with the aggregates, and only from digests that hold them
up to date (m018, not `digests.outdated`).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from branching.store import db, decide_acts, digests

_CLASS = (
    ("story_id", "str"),
    ("attr_key", "str"),
    ("attr_value", "str"),
    ("content_hash", "str"),
    ("day", "str"),
    ("first_play", "int"),
    ("simulated", "int"),
    ("outcome", "str"),
)
# dataset (= the SQLite table) -> its columns (name, `parquet._schema` type), key first
AGGREGATE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "agg_edges": (
        *_CLASS,
        ("scene", "str"),
        ("choice", "str"),
        ("target", "str"),
        ("times", "int"),
        ("timeouts", "int"),
        ("sessions", "int"),
        ("sessions_timed_out", "int"),
    ),
    "agg_scenes": (
        *_CLASS,
        ("scene", "str"),
        ("views", "int"),
        ("sessions", "int"),
        ("sessions_timed_out", "int"),
    ),
    "agg_sessions": (*_CLASS, ("last_scene", "str"), ("ending_id", "str"), ("sessions", "int")),
    "agg_attr_keys": (("story_id", "str"), ("key", "str"), ("kept", "int")),
    # what `stats --table timing` and `--table interactions` sum (`decide_acts`, m013/m014):
    # the aggregates' class without its outcome
    "agg_decide": (*_CLASS[:7], ("scene", "str"), ("buckets", "str")),
    "agg_acts": (
        *_CLASS[:7],
        ("scene", "str"),
        ("kind", "str"),
        ("times", "int"),
        ("sessions", "int"),
    ),
    # what the codes of the sessions' `reached` and `clocked` stand for (by viewers)
    "digest_names": (("code", "int"), ("name", "str")),
}
AGGREGATE_DATASETS = tuple(AGGREGATE_COLUMNS)
REQUIRED = ("agg_edges", "agg_scenes", "agg_sessions", "agg_attr_keys")
AGGREGATE_FILE = re.compile(r"(agg_[a-z_]+|digest_names)-(\d+)\.parquet")
_CLASS_KEY = ", ".join(name for name, _ in _CLASS)
_UNSPLIT_KEY = ", ".join(name for name, _ in _CLASS[:7])  # `decide_acts.COLUMNS`
_ORDER = {  # dataset -> its key, the order a copy is written in
    "agg_edges": f"{_CLASS_KEY}, scene, choice, target",
    "agg_scenes": f"{_CLASS_KEY}, scene",
    "agg_sessions": f"{_CLASS_KEY}, last_scene, ending_id",
    "agg_attr_keys": "story_id, key",
    "agg_decide": f"{_UNSPLIT_KEY}, scene",
    "agg_acts": f"{_UNSPLIT_KEY}, scene, kind",
    "digest_names": "code",
}
_PRUNED = ("pruned_traversals", "pruned_scene_views")


def aggregate_file(out: Path, name: str, run: int) -> Path:
    """Where run `run` writes the dataset `name`."""
    return out / name / f"{name}-{run:06d}.parquet"


def aggregate_copies(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(dataset, the SELECT copying it in key order) for each aggregate table to export:
    none when the database has no aggregates or was ever pruned (see the docstring)."""
    if not _agree(conn):
        return []
    copies = []
    for name, columns in AGGREGATE_COLUMNS.items():
        if name == "digest_names" and not digest_lists_agree(conn):
            continue
        if name in decide_acts.TABLES and not decide_acts_agree(conn):
            continue
        names = ", ".join(c for c, _ in columns)
        copies.append((name, f"SELECT {names} FROM {name} ORDER BY {_ORDER[name]}"))
    return copies


def _agree(conn: sqlite3.Connection) -> bool:
    """The database has the aggregates and was never pruned (see the docstring)."""
    if not all(db.has_table(conn, name) for name in REQUIRED):
        return False
    for table in _PRUNED:
        if db.has_table(conn, table) and conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
            return False
    return True


def digest_lists_agree(conn: sqlite3.Connection) -> bool:
    """The sessions' digests hold the lists the flowchart by viewers reads (m018: `reached`,
    `clocked`, `views`), up to date, in a database whose aggregates `_agree`."""
    return (
        _agree(conn)
        and db.has_table(conn, "session_digests")
        and db.has_table(conn, "digest_names")
        and not digests.outdated(conn)
        and digests.has_edges(conn)
    )


def decide_acts_agree(conn: sqlite3.Connection) -> bool:
    """The database keeps `agg_decide` with packed buckets (m014) and `agg_acts` (m013),
    in a database whose aggregates `_agree`: a reader sums them as SQLite's stats do."""
    return (
        _agree(conn)
        and all(db.has_table(conn, name) for name in decide_acts.TABLES)
        and decide_acts.packed(conn)
    )


def stale_aggregates(out: Path, run: int) -> list[Path]:
    """The aggregate files in `out` of a run other than `run` (the manifest's)."""
    found = []
    for name in AGGREGATE_DATASETS:
        folder = out / name
        for path in folder.glob("*.parquet") if folder.is_dir() else ():
            match = AGGREGATE_FILE.fullmatch(path.name)
            if match is not None and match.group(1) == name and int(match.group(2)) != run:
                found.append(path)
    return found


def current_aggregates(out: Path, run: int) -> dict[str, Path] | None:
    """Dataset -> its file of run `run`, when the export holds the four aggregates (and
    `agg_decide`, `agg_acts`, `digest_names` when it holds those too); else None."""
    files = {name: aggregate_file(out, name, run) for name in AGGREGATE_DATASETS}
    if not all(files[name].is_file() for name in REQUIRED):
        return None
    return {name: path for name, path in files.items() if path.is_file()}
