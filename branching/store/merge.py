"""Merging kiosks' databases into one, idempotently by event id.

Each source is attached read-only to the target's connection and copied in
one `BEGIN IMMEDIATE` transaction: stories and attributes once, sessions once
(a finished copy of a session finishes an in-progress one), events keyed by
their UUID, then the totals are rebuilt (pruned part + recount) if any row
was added or any session moved on (its ending, its last scene: that is what
`session_ends` counts). Merging the same source twice therefore changes
nothing the second time.

A source written by an older schema is first copied with SQLite's backup API
to a private temporary file and upgraded there, never changed in place. Two
different events with the same session and sequence number (the same session
continued on two copies of a database) are counted as conflicts and the
target's event is kept. Counts a source had pruned are not carried over: the
result flags such sources.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from branching.store import db, totals
from branching.store.errors import DatabaseMissing, StoreError
from branching.store.migrations import check_ours, migrate, migration_names
from branching.store.records import MergeResult
from branching.store.store import Store

_SESSION_COLUMNS = (
    "session_id, story_id, content_hash, viewer_id, started_at, ended_at, outcome, ending_id, "
    "ending_kind, seed, last_scene, last_scene_seq, terminal, term_program, term_cols, "
    "term_rows, platform, locale, utc_offset_min, app_version"
)
_EVENT_COLUMNS = (
    "event_id, session_id, seq, ts, type, scene, choice, target, decide_ms, input, state"
)
_FINISHED = "sessions.outcome = 'in_progress' AND excluded.outcome <> 'in_progress'"
_FURTHER = "excluded.last_scene_seq > sessions.last_scene_seq"


def merge(target: Path, sources: list[Path]) -> list[MergeResult]:
    """Merge every source database into `target` (created if missing)."""
    for source in sources:
        if not source.exists():
            raise DatabaseMissing(f"there is no telemetry database at {source}")
    Store.open(target).close()
    for source in sources:
        if os.path.samefile(source, target):
            raise StoreError(f"{source} is the target itself; name it only once")
    return [_merge_one(target, source) for source in sources]


@contextlib.contextmanager
def _current(source: Path) -> Iterator[Path]:
    """`source` itself if its schema is current, else an upgraded private copy."""
    db.check_header(source)
    conn = db.connect(source, readonly=True)
    try:
        applied = check_ours(conn, source)
    except sqlite3.Error as exc:
        raise db.translate(exc, source) from None
    finally:
        conn.close()
    if applied == migration_names():
        yield source
        return
    with tempfile.TemporaryDirectory(prefix="branching-merge-") as tmp:
        copy = Path(tmp) / "source.db"
        db.copy_database(source, copy)
        upgrade = db.connect(copy)
        try:
            migrate(upgrade, copy)
        finally:
            upgrade.close()
        yield copy


def _merge_one(target: Path, source: Path) -> MergeResult:
    with _current(source) as readable:
        conn = db.connect(target)
        try:
            conn.execute("ATTACH DATABASE ? AS src", [db.uri(readable, "ro")])
            try:
                with db.immediate(conn):
                    result = _copy_rows(conn, str(source))
            finally:
                conn.execute("DETACH DATABASE src")
        except sqlite3.Error as exc:
            raise db.translate(exc, source) from None
        finally:
            conn.close()
    return result


def _count(conn: sqlite3.Connection, sql: str) -> int:
    return int(conn.execute(sql).fetchone()[0])


def _copy_rows(conn: sqlite3.Connection, name: str) -> MergeResult:
    before = {
        t: _count(conn, f"SELECT COUNT(*) FROM main.{t}") for t in ("stories", "sessions", "events")
    }
    conflicts = _count(
        conn,
        """SELECT COUNT(*) FROM src.events s JOIN main.events m
        ON m.session_id = s.session_id AND m.seq = s.seq AND m.event_id <> s.event_id""",
    )
    conn.execute("""INSERT INTO main.stories
        SELECT story_id, content_hash, title, author, version_label, structure, registered_at
        FROM src.stories WHERE true ON CONFLICT DO NOTHING""")
    moved = conn.execute(f"""INSERT INTO main.sessions ({_SESSION_COLUMNS})
        SELECT {_SESSION_COLUMNS} FROM src.sessions WHERE true
        ON CONFLICT (session_id) DO UPDATE SET
          outcome = CASE WHEN {_FINISHED} THEN excluded.outcome ELSE outcome END,
          ending_id = CASE WHEN {_FINISHED} THEN excluded.ending_id ELSE ending_id END,
          ending_kind = CASE WHEN {_FINISHED} THEN excluded.ending_kind ELSE ending_kind END,
          ended_at = CASE WHEN {_FINISHED} THEN excluded.ended_at ELSE ended_at END,
          last_scene = CASE WHEN {_FURTHER} THEN excluded.last_scene ELSE last_scene END,
          last_scene_seq = MAX(last_scene_seq, excluded.last_scene_seq)
        WHERE {_FINISHED} OR {_FURTHER}""").rowcount
    conn.execute("""INSERT INTO main.session_attrs SELECT session_id, key, value
        FROM src.session_attrs WHERE true ON CONFLICT DO NOTHING""")
    conn.execute(f"""INSERT INTO main.events ({_EVENT_COLUMNS})
        SELECT {_EVENT_COLUMNS} FROM src.events WHERE true ON CONFLICT DO NOTHING""")
    after = {t: _count(conn, f"SELECT COUNT(*) FROM main.{t}") for t in before}
    if after != before or moved:  # `moved` counts sessions added or moved on
        totals.rebuild(conn)
    pruned = _count(
        conn,
        """SELECT EXISTS (SELECT 1 FROM src.pruned_traversals)
                             OR EXISTS (SELECT 1 FROM src.pruned_scene_views)""",
    )
    return MergeResult(
        source=name,
        stories=after["stories"] - before["stories"],
        sessions=after["sessions"] - before["sessions"],
        events=after["events"] - before["events"],
        conflicts=conflicts,
        source_pruned=bool(pruned),
    )
