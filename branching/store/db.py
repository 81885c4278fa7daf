"""Opening the database file: creation with 0600, pragmas, and clear errors.

The file is created by `os.open(O_CREAT | O_EXCL, 0o600)` before SQLite sees
it, and SQLite then opens it with `mode=rw` so it can never create it with the
process umask. SQLite gives its `-wal` and `-shm` files the permissions of the
database file (unixOpen/findCreateFileMode copy the main file's mode), so they
are 0600 too. We deliberately do not change the umask: it is process-wide and
the TUI runs other threads that create files.

Pragmas are set explicitly on every connection because Python builds ship
different defaults:

- `busy_timeout` 10 s (issue: at least 5 s): waiting writers queue behind each
  other instead of failing; the writer thread retries beyond it.
- `journal_mode=WAL`, set once at open, outside any transaction: readers never
  block the writer and one commit is one append to the log.
- `synchronous=FULL`: in WAL mode NORMAL may lose the last commits on power
  loss or an OS crash; the issue promises that nothing a viewer did is lost
  once the player has moved on, and FULL costs one fsync per commit, which is
  nothing at the pace of human choices (a few per minute per viewer).
- `secure_delete=ON`: deleted rows (forget, prune) are overwritten with zeros.
- `trusted_schema=OFF`: a database from elsewhere (merge) cannot make views or
  triggers call functions with side effects.
- `foreign_keys=ON`: events cannot point at a missing session.

Every write transaction starts with `BEGIN IMMEDIATE` (`immediate()` here): a
deferred transaction that reads and then writes fails at once with "database
is locked" under contention, whatever the busy timeout.

The store's writer grows its write-ahead log once when it connects
(`reserve_wal`), so that its commits overwrite the log instead of growing it
(a cheaper fsync on every commit of a play session; nothing in the database
changes).

Reading never writes: `reader()` (export) and every `mode=ro` connection
open an existing, non-empty file only (a 0-byte file is refused, never given
a schema). SQLite reads a WAL database through its `-shm` file, which it must
create when absent; in a folder this user cannot write, with no log waiting
to be read (no `-wal`, or an empty one), nobody can be writing to the file, so
`uri()` opens it `immutable=1` and SQLite reads the file alone.

Opening for writing keeps the files private: a database, `-wal`, `-shm` or
spool this user owns that group or others can read (an older version, a
copy made with `cp`) is made 0600 (`keep_private`). When SQLite cannot write,
`translate()` names the file that stops it (the database, its `-wal`, a stale
`-shm` left by another user, or the folder), not just "the database".

Errors are told apart by `classify()`, from SQLite's result code
(`sqlite_errorcode`), never from the message text: messages change between
SQLite versions and quote names and values from the query ("no such column:
locked", "malformed JSON"). A `KeyError`, `TypeError` or misuse of the sqlite3
API is a bug in the program, never a database or data problem.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from branching.store.errors import (
    CorruptDatabase,
    DatabaseMissing,
    InvalidInput,
    NotADatabase,
    StoreError,
)
from branching.store.paths import sidecar_paths, spool_path
from branching.store.spool import rejected_path

log = logging.getLogger("branching.store")

BUSY_TIMEOUT_MS = 10_000
SQLITE_MAGIC = b"SQLite format 3\x00"

WRITER_PRAGMAS: tuple[tuple[str, str], ...] = (
    ("synchronous", "FULL"),
    ("foreign_keys", "ON"),
    ("secure_delete", "ON"),
    ("trusted_schema", "OFF"),
)


def create_file(path: Path) -> bool:
    """Create an empty 0600 file at `path` unless one exists; True if created."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False
    except OSError as exc:
        raise StoreError(f"cannot create the telemetry database {path}: {exc.strerror}") from None
    os.close(fd)
    return True


def check_header(path: Path) -> None:
    """Refuse a file that is neither empty nor an SQLite database."""
    try:
        # O_NONBLOCK: a FIFO (or another special file) given as the database must be
        # refused, not waited on until some other program writes to it
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise DatabaseMissing(f"there is no telemetry database at {path}") from None
    except IsADirectoryError:
        raise NotADatabase(f"{path} is a folder, not a telemetry database") from None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise NotADatabase(f"{path} is a folder, not a telemetry database")
        if not stat.S_ISREG(mode):
            raise NotADatabase(
                f"{path} is not a telemetry database: it is a special file, not a regular one"
            )
        head = os.read(fd, len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if head and head != SQLITE_MAGIC:
        raise NotADatabase(
            f"{path} is not a telemetry database: it is not an SQLite file "
            "(check the --db path or BRANCHING_DB)"
        )


def require_recorded(path: Path) -> None:
    """Refuse, before anything opens it, a path with no database or an empty file.

    What reading commands (and `forget`, `prune`) check first: they must never
    create a database, nor give a 0-byte file a schema.
    """
    check_header(path)
    if path.stat().st_size == 0:
        raise DatabaseMissing(f"{path} is an empty file: nothing has been recorded to it yet")


def uri(path: Path, mode: str) -> str:
    """The `file:` URI SQLite opens `path` with, in `mode` (ro, rw).

    Read-only, in a folder this user cannot write and with no log to read,
    the file is opened `immutable=1` (see the module docstring).
    """
    target = path.resolve()
    extra = "&immutable=1" if mode == "ro" and _frozen(target) else ""
    return f"file:{quote(str(target))}?mode={mode}{extra}"


def _frozen(path: Path) -> bool:
    """Nobody can be writing `path`: its folder is not writable and it has no log to read."""
    if os.access(path.parent, os.W_OK):
        return False
    try:
        return sidecar_paths(path)[0].stat().st_size == 0
    except FileNotFoundError:
        return True
    except OSError:
        return False


def reader(path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """A query-only connection to the existing branching database at `path`.

    Never creates, migrates or changes anything, so it works on a database in
    a read-only folder; refuses a missing, empty, foreign or newer file.
    """
    from branching.store.migrations import check_ours  # sqlite-utils only when reading

    require_recorded(path)
    conn = connect(path, readonly=True, busy_timeout_ms=busy_timeout_ms)
    try:
        check_ours(conn, path)
    except sqlite3.Error as exc:
        conn.close()
        raise translate(exc, path) from None
    except BaseException:
        conn.close()
        raise
    return conn


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The columns `table` has: a reader may open a file an older branching wrote."""
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def connect(
    path: Path, *, readonly: bool = False, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> sqlite3.Connection:
    """Open `path` (which must exist) with every pragma set; readers get query_only."""
    try:
        conn = sqlite3.connect(
            uri(path, "ro" if readonly else "rw"),
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the telemetry database {path}: {exc}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if readonly:
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA trusted_schema = OFF")
        else:
            _writer_pragmas(conn, path, busy_timeout_ms)
            keep_private(path)
    except sqlite3.Error as exc:
        conn.close()
        raise translate(exc, path) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _writer_pragmas(conn: sqlite3.Connection, path: Path, busy_timeout_ms: int) -> None:
    mode = _to_wal(conn, busy_timeout_ms)
    if str(mode).lower() != "wal":
        raise StoreError(f"cannot switch {path} to write-ahead logging (journal mode {mode})")
    for name, value in WRITER_PRAGMAS:
        conn.execute(f"PRAGMA {name} = {value}")


def _to_wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> str:
    """`PRAGMA journal_mode = WAL`, tried again while the file is busy: the journal mode.

    When several programs open a new file at once (kiosks started together),
    the one switching it to write-ahead logging holds a lock that SQLite does
    not wait for here: the others got "database is locked" at once, whatever
    the busy timeout (16 of 320 openings in a test of 8 processes at once). So
    a busy answer is tried again, a little later each time, until the busy
    timeout has passed, as SQLite waits for any other lock.
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    pause = 0.002
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


_TOLD: set[Path] = set()


def keep_private(path: Path) -> list[Path]:
    """Make the database, its -wal, -shm and spool 0600 if group or others can read them.

    Only files this user owns are changed (SQLite gives new -wal and -shm
    files the database's mode, so they follow); any other is logged. Returns
    the files made private.
    """
    spooled = spool_path(path)
    changed: list[Path] = []
    for file in (
        path,
        *sidecar_paths(path),
        spooled,
        rejected_path(spooled),
    ):
        try:
            info = file.stat()
            mode = stat.S_IMODE(info.st_mode)
            if not stat.S_ISREG(info.st_mode) or not mode & 0o077:
                continue
            if info.st_uid != os.geteuid():
                if file not in _TOLD:  # once per process: a writer reconnects after faults
                    _TOLD.add(file)
                    log.warning(
                        "%s holds viewer data, and others can read it (mode %04o); it belongs "
                        "to another user, so only they can make it private",
                        file,
                        mode,
                    )
                continue
            os.chmod(file, mode & 0o600)
            changed.append(file)
        except OSError:
            continue  # gone meanwhile, or not ours to change
    if changed:
        log.info("made private (0600): %s", ", ".join(str(f) for f in changed))
    return changed


def read_pragmas(conn: sqlite3.Connection) -> dict[str, object]:
    """The pragmas the store relies on, as SQLite reports them."""
    names = (
        "journal_mode",
        "synchronous",
        "busy_timeout",
        "secure_delete",
        "trusted_schema",
        "foreign_keys",
    )
    return {name: conn.execute(f"PRAGMA {name}").fetchone()[0] for name in names}


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: `BEGIN IMMEDIATE`, commit on success, roll back on error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


WAL_SPARE_FRAMES = 64  # frames reserved beyond the autocheckpoint threshold
WAL_RESERVE_MIN_FREE = 64 << 20  # never grow the log into a disk's last 64 MiB


def reserve_wal(conn: sqlite3.Connection) -> bool:
    """Grow the (near empty) write-ahead log once to the size it reaches between two
    checkpoints, so that the commits that follow overwrite it instead of growing it.

    On ext4 and most file systems, an fsync of a file that grew must also commit the
    file's new size (a journal commit), one that overwrote it need not: a commit into
    a grown log costs about 110 us here against 160-200 us while it grows, and a
    fresh log grows for the first thousand frames (wal_autocheckpoint) of every
    opening, which is most of a play session. The log is grown by SQLite itself: a
    transaction too big for a 16-page cache spills its pages to the log as frames
    with no commit mark, and is rolled back; SQLite writes the next commit over them
    from the log's start (frames after the last commit are never read back, in
    recovery either), and nothing in the database changes. Then the log is fsynced,
    once, so no commit pays for its size. Best effort, on the writer's connection
    only: when the log is already that big, the database is locked (no waiting), the
    disk has less than `WAL_RESERVE_MIN_FREE` free (the last space of a nearly full
    disk is left to the records themselves and the spool), or anything fails, it
    does nothing and says False.
    """
    try:
        if conn.in_transaction:
            return False
        frames = int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        page = int(conn.execute("PRAGMA page_size").fetchone()[0])
        files = [row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"]
        if frames <= 0 or not files or not files[0]:
            return False
        wal = Path(files[0] + "-wal")
        want = frames + WAL_SPARE_FRAMES
        size = wal.stat().st_size if wal.exists() else 0
        needed = 32 + want * (page + 24)
        if size >= needed:
            return False
        disk = os.statvfs(wal.parent)
        if disk.f_bavail * disk.f_frsize < WAL_RESERVE_MIN_FREE + needed - size:
            return False
        busy = int(conn.execute("PRAGMA busy_timeout").fetchone()[0])
        cache = int(conn.execute("PRAGMA cache_size").fetchone()[0])
    except (sqlite3.Error, OSError, ValueError, TypeError):
        return False
    try:
        conn.execute("PRAGMA busy_timeout = 0")  # never wait for it: it only saves time
        conn.execute("PRAGMA cache_size = 16")
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE main.branching_wal_reserve (b BLOB)")
            conn.execute(
                """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                INSERT INTO main.branching_wal_reserve SELECT zeroblob(?) FROM n""",
                [want + 32, page - 200],  # one page each; the last 16 stay in the cache
            )
        finally:
            conn.execute("ROLLBACK")
        fd = os.open(wal, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except (sqlite3.Error, OSError):
        return False
    finally:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.execute(f"PRAGMA cache_size = {cache}")
            conn.execute(f"PRAGMA busy_timeout = {busy}")
        except sqlite3.Error:
            pass
    return True


class Fault(enum.Enum):
    """What a failed database operation says: about the file, the record, or the program."""

    BUSY = "busy"  # another connection holds the lock: wait, on the same connection
    READONLY = "readonly"  # the file or its folder cannot be written
    FULL = "full"  # the disk, or the page limit, is full
    IO = "io"  # the operating system failed a read or write, or the file cannot be opened
    CORRUPT = "corrupt"  # SQLite finds the file damaged
    NOT_A_DATABASE = "not a database"  # the file is not an SQLite database
    BAD_RECORD = "bad record"  # this record can never be written (a constraint, its size)
    OTHER = "other"  # any other database error (SQLITE_ERROR, SCHEMA, ABORT...)
    BUG = "bug"  # not a database problem: an error in the program itself


_FAULTS: dict[int, Fault] = {
    sqlite3.SQLITE_BUSY: Fault.BUSY,
    sqlite3.SQLITE_LOCKED: Fault.BUSY,
    sqlite3.SQLITE_READONLY: Fault.READONLY,
    sqlite3.SQLITE_PERM: Fault.READONLY,
    sqlite3.SQLITE_FULL: Fault.FULL,
    sqlite3.SQLITE_IOERR: Fault.IO,
    sqlite3.SQLITE_CANTOPEN: Fault.IO,
    sqlite3.SQLITE_PROTOCOL: Fault.IO,
    sqlite3.SQLITE_NOLFS: Fault.IO,
    sqlite3.SQLITE_CORRUPT: Fault.CORRUPT,
    sqlite3.SQLITE_NOTADB: Fault.NOT_A_DATABASE,
    sqlite3.SQLITE_CONSTRAINT: Fault.BAD_RECORD,
    sqlite3.SQLITE_MISMATCH: Fault.BAD_RECORD,
    sqlite3.SQLITE_TOOBIG: Fault.BAD_RECORD,
    sqlite3.SQLITE_MISUSE: Fault.BUG,
    sqlite3.SQLITE_RANGE: Fault.BUG,
}


def classify(exc: BaseException) -> Fault:
    """What `exc` says, from SQLite's result code, never from the message text.

    Extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_IOERR_WRITE, ...) count as their
    primary code. An sqlite3 error without a code was raised by the sqlite3
    module itself for a misuse of its API (wrong bindings, a closed
    connection): a bug, like any exception that is not about the database.
    Only SQLite's own verdict on a record, or `InvalidInput`, makes a bad record.
    """
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if not isinstance(code, int):
            return Fault.BUG
        return _FAULTS.get(code & 0xFF, Fault.OTHER)
    if isinstance(exc, InvalidInput):
        return Fault.BAD_RECORD
    if isinstance(exc, StoreError):  # the store's own report of a file it cannot use
        return Fault.OTHER
    if isinstance(exc, OSError):
        return Fault.IO
    if isinstance(exc, MemoryError):  # how the sqlite3 module reports SQLITE_NOMEM
        return Fault.OTHER
    return Fault.BUG


def translate(exc: sqlite3.Error, path: Path) -> StoreError:
    """A StoreError with a human message for an SQLite error met while opening `path`."""
    text = str(exc)
    fault = classify(exc)
    if fault is Fault.NOT_A_DATABASE:
        return NotADatabase(f"{path} is not a telemetry database: SQLite cannot read it")
    if fault is Fault.CORRUPT:
        return CorruptDatabase(
            f"{path} is damaged ({text}); restore a backup, or move it aside to start afresh"
        )
    if fault is Fault.BUSY:
        return StoreError(f"{path} is busy: another program holds it locked ({text})")
    code = getattr(exc, "sqlite_errorcode", 0)
    if fault is Fault.READONLY or (
        isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_CANTOPEN
    ):
        blocked = what_blocks(path)
        if blocked is not None:
            return StoreError(blocked)
    if fault is Fault.READONLY:
        return StoreError(f"{path} cannot be written ({text})")
    return StoreError(f"cannot use the telemetry database {path}: {text}")


_ADVICE = (
    ("the database", "make it writable for this user"),
    ("its write-ahead log", "make it writable for this user; never delete it: it holds records"),
    (
        "its shared-memory index, left by another program",
        "when no program has the database open, delete it (SQLite makes a new one), "
        "or make it writable for this user",
    ),
)


def what_blocks(path: Path) -> str | None:
    """Which file keeps SQLite from using `path`, in words; None when none seems to.

    SQLite's own message ("attempt to write a readonly database") blames the
    database even when the culprit is a stale `-shm` another user left, or
    the folder in which it must create the `-wal` and `-shm`.
    """
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f"{path} is on a read-only file system"
    except OSError:
        pass
    files = (path, *sidecar_paths(path))
    for file, (what, advice) in zip(files, _ADVICE, strict=True):
        if file.exists() and not os.access(file, os.W_OK):
            return (
                f"{file} ({what}; {_owner(file)}) cannot be written by this user"
                f"{_flagged(file)}: {advice}"
            )
    missing = [file.name for file in files[1:] if not file.exists()]
    if missing and not os.access(folder, os.W_OK):
        return (
            f"the folder {folder} cannot be written by this user, and SQLite needs to "
            f"create {' and '.join(missing)} there to use {path.name}: make the folder "
            "writable, or move the database"
        )
    return None


def _flagged(file: Path) -> str:
    """A hint when the mode allows writing but the system still refuses (`chattr +i`)."""
    try:
        info = file.stat()
    except OSError:
        return ""
    if info.st_uid == os.geteuid() and info.st_mode & stat.S_IWUSR:
        return " although its mode allows it (is it immutable? see `lsattr`)"
    return ""


def _owner(file: Path) -> str:
    try:
        info = file.stat()
    except OSError:
        return "gone meanwhile"
    try:
        import pwd

        name = pwd.getpwuid(info.st_uid).pw_name
    except (ImportError, KeyError):
        name = f"uid {info.st_uid}"
    return f"owned by {name}, mode {stat.S_IMODE(info.st_mode):04o}"


def integrity_check(conn: sqlite3.Connection) -> list[str]:
    """`PRAGMA integrity_check` rows: `['ok']` when the file is sound."""
    return [row[0] for row in conn.execute("PRAGMA integrity_check")]


def copy_database(source: Path, dest: Path) -> None:
    """Copy a possibly live database with SQLite's backup API into a new 0600 file.

    Copying the file itself would miss committed rows still in the -wal file.
    """
    if not create_file(dest):
        raise StoreError(f"{dest} already exists; choose a new file for the copy")
    src = connect(source, readonly=True)
    try:
        dst = sqlite3.connect(uri(dest, "rw"), uri=True, isolation_level=None)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def update_else_insert(
    conn: sqlite3.Connection, update: str, insert: str, rows: Iterable[Sequence[Any]]
) -> None:
    """Each row through `update` (numbered parameters, in the row's own order), and
    through `insert` (an upsert, with the same row) only where `update` found no row.

    For rows that almost always exist (a live session's digest): the UPDATE
    searches the key once where an upsert searches it twice (its INSERT meets
    the conflict, then its DO UPDATE runs). The rows end the same. Where rows
    are often new (a key press's aggregate rows under `in_progress`, made
    afresh by each session of a lone player) it costs more: not used there.
    """
    for row in rows:
        if conn.execute(update, row).rowcount == 0:
            conn.execute(insert, row)


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the database (not its TEMP schema) has a table `name`: a file read before
    the migration that adds it (read-only readers never migrate) has not."""
    found = conn.execute(
        "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = ?", [name]
    ).fetchone()
    return found is not None
