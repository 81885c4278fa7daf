"""`Store`: the telemetry database a player records to, and what it reads back.

`Store.open()` creates the file (0600), checks it is ours, applies pending
migrations, replays any spool and starts the writer thread: all before the
first event, never lazily. Writes go through the writer (one `BEGIN IMMEDIATE`
transaction per event, totals updated in the same transaction); reads open
their own read-only connection on the calling thread (STYLE: one writer
connection, readers on their own).

What the user should know (records kept in the spool, records that could not
be loaded, refused files) is collected in `warnings` and also handed to
`notices`, from which every command prints it when it ends. `notify`, when a
player sets it, hears at once when the writer starts or stops keeping events
beside the database (called on the writer thread).
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

from branching.store import db, notices, spool
from branching.store.clock import now_ts
from branching.store.context import SessionContext, check_attrs
from branching.store.errors import DatabaseMissing, InvalidInput, StoreError, UnknownSession
from branching.store.ops import SPOOL_VERSION, Op, to_json
from branching.store.paths import spool_path
from branching.store.reads import endings_found, resume_point, unfinished_sessions
from branching.store.records import ResumePoint, StoryInfo
from branching.store.replay import apply_batch, probe
from branching.store.session import SessionWriter
from branching.store.viewers import load_key, recording_key, viewer_id
from branching.store.writer import Mode, Notify, Writer, spool_warnings

log = logging.getLogger("branching.store")

RETRY_WINDOW = 1.0  # seconds a write may wait for the database before it is spooled
SQLITE_INT = (-(2**63), 2**63 - 1)  # what an SQLite INTEGER holds


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
        self.notify: Notify | None = None  # see the module docstring
        self._key_path = viewer_key
        self._create_key = create_key
        self._key: bytes | None = None
        self._busy_ms = busy_timeout_ms
        self._closed = False
        self.spooled_in = 0
        waiting = self._load_spool(min(busy_timeout_ms, max(1, int(retry_window * 1000))))
        self._writer = Writer(
            self._connect_writer,
            busy_timeout_ms=busy_timeout_ms,
            retry_window=retry_window,
            spool_path=self.spool_path,
            db_path=path,
            notify=self._tell,
            warn=self._warn,
            spooling=waiting,  # what waits in the spool goes in before anything newer
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
        from branching.store import digests
        from branching.store.migrations import check_ours, migrate, migration_names

        conn = db.connect(target, busy_timeout_ms=busy_timeout_ms)
        try:
            try:  # up to date: no write lock needed, so a locked database opens at once
                current = check_ours(conn, target) == migration_names()
                current = current and not digests.outdated(conn)  # m012 changed in place
            except sqlite3.Error as exc:
                raise db.translate(exc, target) from None
            if not current:
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
        return viewer_id(self.load_viewer_key(), name)

    def load_viewer_key(self) -> bytes:
        """The viewer key, loaded once; a recording store checks it against the database.

        With `create_key` (players) this is `viewers.recording_key`: a missing
        or different key for a database that holds viewers is a
        `ViewerKeyProblem`, so players call it right after opening.
        """
        if self._key is None:
            if self._create_key:
                self._key = recording_key(self.path, self._key_path, busy_timeout_ms=self._busy_ms)
            else:
                self._key = load_key(self._key_path, create=False)
        return self._key

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
        if seed is not None and (
            type(seed) is not int or not SQLITE_INT[0] <= seed <= SQLITE_INT[1]
        ):
            raise InvalidInput(
                f"the seed {seed!r} cannot be recorded: it must be a whole number from "
                f"{SQLITE_INT[0]} to {SQLITE_INT[1]}"
            )
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
        return SessionWriter(
            self._writer.submit,
            self._spill,
            ids,
            next_seq=1,
            submit_group=self._writer.submit_group,
        )

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
        return SessionWriter(
            self._writer.submit,
            self._spill,
            ids,
            next_seq=row[3] + 1,
            submit_group=self._writer.submit_group,
        )

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for queued writes; True when everything so far is committed."""
        return self._writer.flush(timeout)

    @property
    def pending(self) -> int:
        """Events and records kept (in the spool or in memory) because they could not be
        written yet."""
        return self._writer.pending

    @property
    def keeping(self) -> bool:
        """True while events go to the spool (or memory) because the database cannot be
        written."""
        return self._writer.mode is not Mode.DIRECT

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
        try:
            self._spool(left)
        finally:
            self._summarize()

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
            self._writer.spill()  # a barrier: kept events are already in the spool

    def _spool(self, ops: list[Op]) -> None:
        """Append ops the writer held in memory to the spool, at close."""
        if not ops:
            return
        try:
            spool.append(self.spool_path, ops)
        except (OSError, StoreError) as exc:
            text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            log.critical("cannot write the telemetry spool %s: %s", self.spool_path, exc)
            raise StoreError(
                f"{len(ops)} telemetry events could not be written to {self.path} "
                f"nor to {self.spool_path} ({text})"
            ) from None
        self._warn(f"{len(ops)} telemetry records kept in {self.spool_path} for the next run")

    def _summarize(self) -> None:
        """At close: say what is still kept in the spool, and why (loaded back: nothing)."""
        writer = self._writer
        if writer.reason is None or not writer.pending:
            return  # nothing kept, all loaded back, or only refused records (said already)
        self._warn(
            f"the telemetry database could not be written ({writer.reason}): "
            f"{writer.pending} record(s) are kept in {self.spool_path} and are loaded "
            "the next time the database is opened"
        )

    def _warn(self, message: str) -> None:
        """Tell the user `message` (once): in `warnings`, and when the command ends."""
        if message in self.warnings:
            return
        self.warnings.append(message)
        notices.tell(message)
        log.info("%s", message)  # printed by the command when it ends (see `notices`)

    def _tell(self, message: str, severity: str) -> None:
        """Pass a writer's news to the player that asked for it (on the writer thread)."""
        if self.notify is None:
            return
        try:
            self.notify(message, severity)
        except Exception:  # a player's callback must never stop the writer
            log.exception("telemetry notice callback failed")

    def _load_spool(self, busy_ms: int) -> str | None:
        """Load what earlier runs spooled, record by record; why the rest waits, or None."""
        if not spool.exists(self.spool_path):
            return None
        try:
            conn = db.connect(self.path, busy_timeout_ms=busy_ms)
        except StoreError as exc:
            self._warn(f"spooled telemetry not loaded yet ({exc}); it stays in {self.spool_path}")
            return str(exc)
        try:
            result = spool.load(
                self.spool_path,
                lambda records: apply_batch(conn, records),
                ready=lambda: probe(conn),
            )
        except (OSError, StoreError) as exc:  # the spool stays where it is for the next open
            self._warn(f"cannot read the telemetry spool {self.spool_path}: {exc}")
            return None
        finally:
            conn.close()
        self.spooled_in = result.written
        for message in spool_warnings(self.spool_path, result):
            self._warn(message)
        if result.blocked is not None:
            self._warn(
                f"spooled telemetry not loaded yet ({result.blocked}); it stays in "
                f"{self.spool_path} and is loaded as soon as the database can be written"
            )
        return result.blocked


def _close_at_exit(ref: weakref.ReferenceType[Store]) -> None:
    store = ref()
    if store is not None:
        try:
            store.close()
        except StoreError as exc:
            log.critical("%s", exc)
