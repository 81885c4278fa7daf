"""Merging kiosks' databases into one, idempotently by (session, sequence number).

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
target's event is kept (two events are the same when their time, type,
scene, choice and target agree). Events store the state as patches against
the event before (`states.py`), so a source event copied right after a clash
is given the whole state it had in the source as a snapshot (`_anchor`): a
patch never applies to another copy's state. Counts a source had pruned are not carried over: the
result flags such sources. Playthroughs `forget` deleted from the target are
not brought back by a source that still holds them, and the fingerprints of
the sources' viewer keys are copied with their viewers (see `viewers.py`).

Nothing is copied unvetted (see `vetting`): a source whose tables are not
exactly branching's (a view named `events`, other columns, triggers) is
refused whole, and every row is checked against the schema's types and
limits in the merge's own transaction; a playthrough or story version that
breaks a rule is left out, and the result says what and why.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from branching.store import db, states, totals, vetting
from branching.store.errors import DatabaseMissing, StoreError
from branching.store.migrations import check_ours, migrate, migration_names
from branching.store.records import MergeResult
from branching.store.store import Store

_SESSION_COLUMNS = (
    "session_id, story_id, content_hash, viewer_id, started_at, ended_at, outcome, ending_id, "
    "ending_kind, seed, last_scene, last_scene_seq, terminal, term_program, term_cols, "
    "term_rows, platform, locale, utc_offset_min, app_version, simulated"
)
_EVENT_COLUMNS = "session_id, seq, ts, type, scene, choice, target, decide_ms, input, state, label"
_SAME_EVENT = (
    "m.ts IS s.ts AND m.type IS s.type AND m.scene IS s.scene AND m.choice IS s.choice "
    "AND m.target IS s.target"
)
_FINISHED = "sessions.outcome = 'in_progress' AND excluded.outcome <> 'in_progress'"
_FURTHER = "excluded.last_scene_seq > sessions.last_scene_seq"
# playthroughs `forget` deleted from the target stay deleted; the keys' fingerprints come along
_NOT_FORGOTTEN = "session_id NOT IN (SELECT session_id FROM main.forgotten_sessions)"


def merge(target: Path, sources: list[Path]) -> list[MergeResult]:
    """Merge every source database into `target` (created if missing)."""
    for source in sources:
        if not source.exists():
            raise DatabaseMissing(f"there is no telemetry database at {source}")
    Store.open(target).close()
    for source in sources:
        if os.path.samefile(source, target):
            raise StoreError(f"{source} is the target itself; name it only once")
    # a foreign, damaged or hostile source stops the merge before it starts
    applied = {source: _check_source(source) for source in sources}
    return [_merge_one(target, source, applied[source]) for source in sources]


def _check_source(source: Path) -> list[str]:
    """The schema steps `source` has; refuses one that is not wholly ours (see `vetting`)."""
    db.check_header(source)
    conn = db.connect(source, readonly=True)
    try:
        applied = check_ours(conn, source)
        vetting.check_tables(conn, source, schema="main", applied=applied)
    except sqlite3.Error as exc:
        raise db.translate(exc, source) from None
    finally:
        conn.close()
    return applied


@contextlib.contextmanager
def _current(source: Path, applied: list[str]) -> Iterator[Path]:
    """`source` itself if its schema (`applied`, as checked) is current, else an upgraded copy."""
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


def _merge_one(target: Path, source: Path, applied: list[str]) -> MergeResult:
    with _current(source, applied) as readable:
        conn = db.connect(target)
        try:
            conn.execute("ATTACH DATABASE ? AS src", [db.uri(readable, "ro")])
            try:
                vetting.check_tables(conn, source)
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
    vetting.refuse(conn)
    refused = vetting.refused(conn)
    kept = vetting.SESSION_KEPT.format(alias="s")
    in_target = vetting.IN_TARGET.format(alias="s")
    before = {
        t: _count(conn, f"SELECT COUNT(*) FROM main.{t}") for t in ("stories", "sessions", "events")
    }
    conflicts = _count(
        conn,
        f"""SELECT COUNT(*) FROM src.events s JOIN main.events m
        ON m.session_id = s.session_id AND m.seq = s.seq AND NOT ({_SAME_EVENT})
        WHERE {kept}""",
    )
    before_copy = {
        session_id: {
            row[0]
            for row in conn.execute(
                "SELECT seq FROM main.events WHERE session_id = ?", [session_id]
            )
        }
        for (session_id,) in conn.execute(
            f"""SELECT DISTINCT s.session_id FROM src.events s JOIN main.events m
            ON m.session_id = s.session_id AND m.seq = s.seq AND NOT ({_SAME_EVENT})
            WHERE {kept}"""
        ).fetchall()
    }
    conn.execute(f"""INSERT INTO main.stories
        SELECT story_id, content_hash, title, author, version_label, structure, registered_at
        FROM src.stories WHERE {vetting.STORY_KEPT} ON CONFLICT DO NOTHING""")
    conn.execute(f"""INSERT INTO main.viewer_keys SELECT fingerprint, first_used
        FROM src.viewer_keys WHERE {vetting.KEY_KEPT} ON CONFLICT DO NOTHING""")
    moved = conn.execute(f"""INSERT INTO main.sessions ({_SESSION_COLUMNS})
        SELECT {_SESSION_COLUMNS} FROM src.sessions s WHERE {_NOT_FORGOTTEN} AND {kept}
        ON CONFLICT (session_id) DO UPDATE SET
          outcome = CASE WHEN {_FINISHED} THEN excluded.outcome ELSE outcome END,
          ending_id = CASE WHEN {_FINISHED} THEN excluded.ending_id ELSE ending_id END,
          ending_kind = CASE WHEN {_FINISHED} THEN excluded.ending_kind ELSE ending_kind END,
          ended_at = CASE WHEN {_FINISHED} THEN excluded.ended_at ELSE ended_at END,
          last_scene = CASE WHEN {_FURTHER} THEN excluded.last_scene ELSE last_scene END,
          last_scene_seq = MAX(last_scene_seq, excluded.last_scene_seq)
        WHERE {_FINISHED} OR {_FURTHER}""").rowcount
    conn.execute(f"""INSERT INTO main.session_attrs SELECT session_id, key, value
        FROM src.session_attrs s WHERE {_NOT_FORGOTTEN} AND {kept} AND {in_target}
        ON CONFLICT DO NOTHING""")
    conn.execute(f"""INSERT INTO main.events ({_EVENT_COLUMNS})
        SELECT {_EVENT_COLUMNS} FROM src.events s WHERE {_NOT_FORGOTTEN} AND {kept} AND {in_target}
        ON CONFLICT DO NOTHING""")
    _anchor(conn, before_copy)
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
        refused=refused,
    )


def _anchor(conn: sqlite3.Connection, before: dict[str, set[int]]) -> None:
    """Give the whole source state to each copied event that follows a clash.

    A copied event's stored state is a patch (or NULL: no change) against the
    event before it in the source. In the target that event is the same one
    (copied too, or already there and equal), except in a session that clashed
    (`before`: its seqs in the target before the copy): there each copied
    event whose event before was not copied gets a snapshot of its state.
    """
    fixes: list[tuple[str | None, str, int]] = []
    for session_id, had in sorted(before.items()):
        reader = states.StateReader()
        rows = conn.execute(
            "SELECT seq, state FROM src.events WHERE session_id = ? ORDER BY seq", [session_id]
        )
        for seq, stored in rows:
            state = reader.read_text(seq, stored)
            if seq not in had and seq - 1 in had:
                fixes.append((states.dumps(states.snapshot(state)), session_id, seq))
    conn.executemany("UPDATE main.events SET state = ? WHERE session_id = ? AND seq = ?", fixes)
