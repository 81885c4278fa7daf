"""Viewer ids: a keyed hash (HMAC-SHA256) of the viewer's name, never the name.

The key is 32 random bytes kept outside the database, in the user's config
dir (`viewer.key`, 0600), so a database copied elsewhere cannot be searched
for a name: anyone holding only the database cannot test a guess. `forget`
and `export --viewer` hash the name with the same key to find the rows.
Several kiosks have different keys (so the same name gets different ids on
each) unless the key file is shared; `--viewer-key` points at another one.

The key file is created atomically: written to a private temporary file, then
hard-linked into place, so processes starting at once agree on one key. The
config folder that holds it is kept 0700.

A lost key must never quietly become a new identity: a player that finds no
key would make a new one, record the same people under new ids, and `forget`
and `export --viewer` would then miss everything recorded before. So the
database remembers which keys recorded its viewers, as fingerprints (table
`viewer_keys`: HMAC-SHA256 of a fixed label under the key, which says nothing
about the key or any viewer). `recording_key()` is what a player uses: it
creates a key only for a database that holds no viewers yet, and refuses a
missing key, or a key whose fingerprint the database does not list, for one
that does (the way out is `--viewer-key`). A database recorded before
fingerprints existed adopts the first key that records to it. `lookup_id()` is
what `forget` and `export --viewer` use: a name that matches nothing under a
key that recorded none of the database's viewers is an error, not "nothing
found". `merge` carries the fingerprints over with the viewers.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import sqlite3
from hashlib import sha256
from pathlib import Path

from branching.store import db
from branching.store.clock import now_ts
from branching.store.errors import InvalidInput, StoreError, ViewerKeyProblem
from branching.store.paths import default_config_dir, private_dir

log = logging.getLogger("branching.store")

KEY_FILENAME = "viewer.key"
KEY_BYTES = 32
KEY_FILE_MAX = 512  # bytes read from a key file at most (the key is 64 hex digits and a newline)


def default_key_path() -> Path:
    """`viewer.key` in the user's config dir for branching."""
    return default_config_dir() / KEY_FILENAME


def load_key(path: Path | None = None, *, create: bool = True) -> bytes:
    """The viewer key at `path` (default: the user's), creating it 0600 if asked."""
    path = path or default_key_path()
    if not path.exists():
        if not create:
            raise ViewerKeyProblem(
                f"there is no viewer key at {path}, so no viewer was recorded with it "
                "(give --viewer-key with the key file of the machine that recorded)"
            )
        _create_key(path)
    return _read_key(path)


def _create_key(path: Path) -> None:
    if path.parent == default_config_dir():
        private_dir(path.parent)  # ours: keep it 0700
    else:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        os.write(fd, (secrets.token_hex(KEY_BYTES) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process created it first: use theirs
    except OSError as exc:
        raise ViewerKeyProblem(f"cannot create the viewer key {path}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _read_key(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:  # bounded: a key is 65 bytes, /dev/zero is endless
            text = handle.read(KEY_FILE_MAX + 1).decode("ascii").strip()
        mode = path.stat().st_mode & 0o777
    except (OSError, UnicodeDecodeError) as exc:
        raise ViewerKeyProblem(f"cannot read the viewer key {path}: {exc}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise ViewerKeyProblem(
            f"the viewer key {path} is damaged (expected {KEY_BYTES * 2} hex digits); "
            "restore it from a backup: a new key would give every viewer a new id"
        )
    if mode & 0o077:
        os.chmod(path, 0o600)  # a key others can read defeats its purpose
    return key


def viewer_id(key: bytes, name: str) -> str:
    """The id stored for viewer `name`: hex HMAC-SHA256 of the name under `key`."""
    cleaned = name.strip()
    if not cleaned:
        raise InvalidInput("a viewer name cannot be empty")
    return hmac.new(key, cleaned.encode("utf-8"), sha256).hexdigest()


FINGERPRINT_LABEL = b"branching viewer key fingerprint"


def fingerprint(key: bytes) -> str:
    """What the database keeps to recognise `key`: HMAC-SHA256 of a fixed label, 32 hex."""
    return hmac.new(key, FINGERPRINT_LABEL, sha256).hexdigest()[:32]


def _known(conn: sqlite3.Connection) -> tuple[set[str], bool]:
    """The fingerprints the database lists, and whether it holds any viewer."""
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'viewer_keys'"
    ).fetchone()
    known = (
        {row[0] for row in conn.execute("SELECT fingerprint FROM viewer_keys")}
        if has_table
        else set()
    )
    simulated = "simulated" in db.columns(conn, "sessions")
    real = "WHERE simulated = 0" if simulated else ""  # simulated viewers need no key
    sessions = conn.execute(f"SELECT EXISTS (SELECT 1 FROM sessions {real})").fetchone()[0]
    return known, bool(known) or bool(sessions)


def recording_key(
    db_path: Path, key_path: Path | None = None, *, busy_timeout_ms: int = db.BUSY_TIMEOUT_MS
) -> bytes:
    """The key a player records viewers in `db_path` with; see the module docstring.

    Creates the key only when the database holds no viewer yet; refuses
    (`ViewerKeyProblem`) a missing key, or a key other than the ones that
    recorded the database's viewers, when it does. Remembers the key's
    fingerprint in the database (best effort: a database that cannot be
    written now learns it next time).
    """
    path = key_path or default_key_path()
    conn = db.connect(db_path, readonly=True, busy_timeout_ms=busy_timeout_ms)
    try:
        known, has_viewers = _known(conn)
    except sqlite3.Error as exc:
        raise db.translate(exc, db_path) from None
    finally:
        conn.close()
    if not path.exists():
        if has_viewers:
            raise ViewerKeyProblem(
                f"there is no viewer key at {path}, but {db_path} already holds viewers "
                "recorded with one: a new key would record the same people under new ids "
                "that `forget` and `export --viewer` cannot find. Give --viewer-key with the "
                f"key file that recorded them (or restore {path} from a backup), "
                "or record to another database with --db"
            )
        _create_key(path)
    key = _read_key(path)
    mine = fingerprint(key)
    if known and mine not in known:
        raise ViewerKeyProblem(
            f"the viewer key {path} is not the one the viewers in {db_path} were recorded "
            "with: the same people would get new ids that `forget` and `export --viewer` "
            "cannot match. Give --viewer-key with the key file that recorded them, "
            "or record to another database with --db"
        )
    if mine not in known:
        _remember(db_path, mine, busy_timeout_ms)
    return key


def _remember(db_path: Path, mark: str, busy_timeout_ms: int) -> None:
    try:
        conn = db.connect(db_path, busy_timeout_ms=busy_timeout_ms)
    except StoreError as exc:
        log.info("cannot note the viewer key in %s yet: %s", db_path, exc)
        return
    try:
        with db.immediate(conn):
            conn.execute(
                "INSERT INTO viewer_keys (fingerprint, first_used) VALUES (?, ?) "
                "ON CONFLICT DO NOTHING",
                [mark, now_ts()],
            )
    except sqlite3.Error as exc:  # unwritable now: the next open notes it
        log.info("cannot note the viewer key in %s yet: %s", db_path, exc)
    finally:
        conn.close()


def lookup_id(conn: sqlite3.Connection, db_path: Path, name: str, key_path: Path | None) -> str:
    """The id of viewer `name` in the database open on `conn`, for `forget` and export.

    Never creates a key. A name that matches no playthrough under a key that
    recorded none of the database's viewers (its fingerprint is not listed,
    and others are) is an error naming the way out, not an empty result.
    """
    path = key_path or default_key_path()
    key = load_key(path, create=False)
    vid = viewer_id(key, name)
    try:
        known, _ = _known(conn)
        found = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM sessions WHERE viewer_id = ?)", [vid]
        ).fetchone()[0]
    except sqlite3.Error as exc:
        raise db.translate(exc, db_path) from None
    if not found and known and fingerprint(key) not in known:
        raise ViewerKeyProblem(
            f"no viewer {name!r} is recorded in {db_path} with the viewer key {path}, "
            "and that key recorded none of its viewers; give --viewer-key with the key "
            "file of the machine that recorded them"
        )
    return vid
