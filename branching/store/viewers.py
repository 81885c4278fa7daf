"""Viewer ids: a keyed hash (HMAC-SHA256) of the viewer's name, never the name.

The key is 32 random bytes kept outside the database, in the user's config
dir (`viewer.key`, 0600), so a database copied elsewhere cannot be searched
for a name: anyone holding only the database cannot test a guess. `forget`
and `export --viewer` hash the name with the same key to find the rows.
Several kiosks have different keys (so the same name gets different ids on
each) unless the key file is shared; `--viewer-key` points at another one.

The key file is created atomically: written to a private temporary file, then
hard-linked into place, so processes starting at once agree on one key.
"""

from __future__ import annotations

import hmac
import os
import secrets
from hashlib import sha256
from pathlib import Path

from branching.store.errors import InvalidInput, ViewerKeyProblem
from branching.store.paths import default_config_dir

KEY_FILENAME = "viewer.key"
KEY_BYTES = 32


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
        text = path.read_text(encoding="ascii").strip()
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
