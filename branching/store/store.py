"""`Store`: the telemetry database a player records to, and what it reads back.

`Store.open()` creates the file (0600), checks it is ours, applies pending
migrations, replays any spool and starts the writer thread: all before the
first event, never lazily. Writes go through the writer (one `BEGIN IMMEDIATE`
transaction per event, totals updated in the same transaction); reads open
their own read-only connection on the calling thread (STYLE: one writer
connection, readers on their own).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import sqlite3
import uuid
import weakref
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from branching.store import db, spool
from branching.store.clock import now_ts
from branching.store.context import SessionContext, check_attrs
from branching.store.errors import DatabaseMissing, StoreError, UnknownSession
from branching.store.ops import SPOOL_VERSION, Op, apply_op, to_json
from branching.store.paths import spool_path
from branching.store.reads import endings_found, resume_point, unfinished_sessions
from branching.store.records import ResumePoint, StoryInfo
from branching.store.session import SessionWriter
from branching.store.viewers import load_key, viewer_id
from branching.store.writer import Writer, is_permanent

log = logging.getLogger("branching.store")

RETRY_WINDOW = 2.0


class Store:
    """An open telemetry database. Use `Store.open(path)`; close it (or use `with`)."""

    def __init__(
        self,
        path: Path,
        *,
        viewer_key: Path | None,
        create_key: bool,
        busy_timeout_ms: int,
        retry_window: float,
    ) -> None:
        self.path = path
        self.spool_path = spool_path(path)
        self.warnings: list[str] = []
        self._key_path = viewer_key
        self._create_key = create_key
        self._key: bytes | None = None
        self._busy_ms = busy_timeout_ms
        self._closed = False
        self.spooled_in = 0
        try:
            self.spooled_in = spool.load(self.spool_path, self._apply_spooled)
        except OSError as exc:  # the spool stays where it is for the next open
            self.warnings.append(f"cannot read the telemetry spool {self.spool_path}: {exc}")
        self._writer = Writer(
            self._connect_writer, busy_timeout_ms=busy_timeout_ms, retry_window=retry_window
        )
        atexit.register(_close_at_exit, weakref.ref(self))

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        create: bool = True,
        viewer_key: Path | None = None,
        create_key: bool = True,
        busy_timeout_ms: int = db.BUSY_TIMEOUT_MS,
        retry_window: float = RETRY_WINDOW,
    ) -> Store:
        """Open (creating if `create`) and migrate the database at `path`.

        Raises a StoreError subclass with a human message for a missing file
        (when not `create`), a foreign or damaged file, or a newer schema.
        `viewer_key` is the key file for viewer ids (default: the user's).
        """
        target = Path(path).expanduser()
        if create:
            db.create_file(target)
        elif not target.exists():
            raise DatabaseMissing(f"there is no telemetry database at {target}")
        db.check_header(target)
        from branching.store.migrations import migrate  # sqlite-utils only when opening

        conn = db.connect(target, busy_timeout_ms=busy_timeout_ms)
        try:
            migrate(conn, target)
        finally:
            conn.close()
        return cls(
            target,
            viewer_key=viewer_key,
            create_key=create_key,
            busy_timeout_ms=busy_timeout_ms,
            retry_window=retry_window,
        )

    # -- viewers --------------------------------------------------------------------

    def viewer_id(self, name: str) -> str:
        """The keyed hash stored for viewer `name`."""
        if self._key is None:
            self._key = load_key(self._key_path, create=self._create_key)
        return viewer_id(self._key, name)

    # -- writing --------------------------------------------------------------------

    def register_story(self, info: StoryInfo) -> Future[bool]:
        """Record a story version (once per id and content hash) with its structure."""
        self._check_open()
        return self._writer.submit(
            {
                "v": SPOOL_VERSION,
                "op": "story",
                "story_id": info.id,
                "content_hash": info.content_hash,
                "title": info.title,
                "author": info.author,
                "version_label": info.version_label,
                "structure": to_json(info.structure, "the story structure"),
                "registered_at": now_ts(),
            }
        )

    def start_session(
        self,
        story_id: str,
        content_hash: str,
        viewer: str,
        *,
        attrs: dict[str, str] | None = None,
        context: SessionContext | None = None,
        seed: int | None = None,
    ) -> SessionWriter:
        """Begin a playthrough of a registered story by `viewer` (stored only as its hash)."""
        self._check_open()
        ids = {"session_id": str(uuid.uuid4()), "story_id": story_id, "content_hash": content_hash}
        ctx = context or SessionContext.detect()
        self._writer.submit(
            {
                "v": SPOOL_VERSION,
                "op": "session",
                **ids,
                "viewer_id": self.viewer_id(viewer),
                "started_at": now_ts(),
                "seed": seed,
                "attrs": check_attrs(attrs or {}),
                "context": dataclasses.asdict(ctx),
            }
        )
        return SessionWriter(self._writer.submit, self._spill, ids, next_seq=1)

    def resume_session(self, session_id: str) -> SessionWriter:
        """Continue recording an unfinished session; sequence numbers carry on."""
        self._check_open()
        with self.reader() as conn:
            row = conn.execute(
                """SELECT story_id, content_hash, outcome,
                          (SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = s.session_id)
                   FROM sessions s WHERE session_id = ?""",
                [session_id],
            ).fetchone()
        if row is None:
            raise UnknownSession(f"there is no playthrough {session_id} in {self.path}")
        if row[2] != "in_progress":
            raise StoreError(f"playthrough {session_id} is finished ({row[2]}); start a new one")
        ids = {"session_id": session_id, "story_id": row[0], "content_hash": row[1]}
        return SessionWriter(self._writer.submit, self._spill, ids, next_seq=row[3] + 1)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for queued writes; True when everything so far is committed."""
        return self._writer.flush(timeout)

    @property
    def pending(self) -> int:
        """Events and records kept in memory because they could not be written yet."""
        return self._writer.pending

    # -- reading --------------------------------------------------------------------

    @contextlib.contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection of the caller's own, closed afterwards."""
        conn = db.connect(self.path, readonly=True, busy_timeout_ms=self._busy_ms)
        try:
            yield conn
        finally:
            conn.close()

    def unfinished_session(self, story_id: str, viewer: str) -> ResumePoint | None:
        """The viewer's latest in-progress playthrough of `story_id` that can resume.

        See `reads.resume_point` for how the frames are rebuilt from the events.
        """
        with self.reader() as conn:
            for session_id in unfinished_sessions(conn, story_id, self.viewer_id(viewer)):
                point = resume_point(conn, session_id)
                if point is not None:
                    return point
        return None

    def endings_found(self, story_id: str, viewer: str) -> set[str]:
        """Ids of the endings `viewer` has reached in any version of `story_id`."""
        with self.reader() as conn:
            return endings_found(conn, story_id, self.viewer_id(viewer))

    def integrity_check(self) -> list[str]:
        """`['ok']` when SQLite finds the file sound, else its complaints."""
        with self.reader() as conn:
            return db.integrity_check(conn)

    # -- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        """Finish queued writes; spool whatever is still unwritable; stop the writer."""
        if self._closed:
            return
        self._closed = True
        left = self._writer.close()
        self._spool(left)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"the telemetry database {self.path} is closed")

    def _connect_writer(self, busy_ms: int) -> sqlite3.Connection:
        return db.connect(self.path, busy_timeout_ms=busy_ms)

    def _spill(self) -> None:
        if not self._closed:
            self._spool(self._writer.spill())

    def _spool(self, ops: list[Op]) -> None:
        if not ops:
            return
        try:
            spool.append(self.spool_path, ops)
        except OSError as exc:
            log.critical("cannot write the telemetry spool %s: %s", self.spool_path, exc)
            raise StoreError(
                f"{len(ops)} telemetry events could not be written to {self.path} "
                f"nor to {self.spool_path} ({exc.strerror})"
            ) from None
        message = f"{len(ops)} telemetry records kept in {self.spool_path} for the next run"
        self.warnings.append(message)
        log.warning(message)

    def _apply_spooled(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write spooled records in one transaction; return those that failed."""
        if not records:
            return []
        left: list[dict[str, Any]] = []
        try:
            conn = db.connect(self.path, busy_timeout_ms=self._busy_ms)
        except StoreError:
            return records
        try:
            with db.immediate(conn):
                for record in records:
                    left.extend(_apply_one(conn, record))
        except Exception as exc:  # the database is unwritable now: keep the spool for later
            self.warnings.append(f"spooled telemetry not loaded yet: {exc}")
            return records
        finally:
            conn.close()
        if left:
            self.warnings.append(f"{len(left)} spooled telemetry records could not be loaded")
        return left


def _apply_one(conn: sqlite3.Connection, record: dict[str, Any]) -> list[dict[str, Any]]:
    if record.get("v", SPOOL_VERSION) > SPOOL_VERSION:
        return [record]  # written by a newer branching: keep it for that version
    conn.execute("SAVEPOINT spooled")
    try:
        apply_op(conn, record)
    except Exception as exc:
        conn.execute("ROLLBACK TO spooled")
        conn.execute("RELEASE spooled")
        if not is_permanent(exc):
            raise
        log.error("spooled telemetry record refused: %s", exc)
        return [record]
    conn.execute("RELEASE spooled")
    return []


def _close_at_exit(ref: weakref.ReferenceType[Store]) -> None:
    store = ref()
    if store is not None:
        try:
            store.close()
        except StoreError as exc:
            log.critical("%s", exc)
