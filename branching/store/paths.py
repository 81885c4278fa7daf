"""Where the telemetry lives by default, and the files that sit beside a database.

The default database is in the user's data directory (platformdirs), because
telemetry is data the user owns and may want to back up; `BRANCHING_DB`
overrides it for kiosks and tests. The spool file (events that could not be
written) sits beside the database so that moving one moves the other.

Files that hold viewer data stay private: `private_output()` is how every
command writes one (an export, a report, a flowchart, the dashboard's HTML),
and `private_dir()` makes the config folder that holds the viewer key.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

import platformdirs

APP_NAME = "branching"
DB_ENV = "BRANCHING_DB"
DB_FILENAME = "telemetry.db"


def default_db_path() -> Path:
    """The database players record to: `$BRANCHING_DB`, else the user data dir."""
    env = os.environ.get(DB_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return platformdirs.user_data_path(APP_NAME) / DB_FILENAME


def db_path(given: str | Path | None) -> Path:
    """The database a command uses: `given` (`--db`), else `BRANCHING_DB`, else the default."""
    return Path(given).expanduser() if given else default_db_path()


def default_config_dir() -> Path:
    """The user's config dir for branching (holds the viewer key)."""
    return platformdirs.user_config_path(APP_NAME)


def spool_path(db_path: Path) -> Path:
    """The JSONL spool beside `db_path` holding events not yet written."""
    return db_path.with_name(db_path.name + ".spool")


def sidecar_paths(db_path: Path) -> list[Path]:
    """SQLite's -wal and -shm files for `db_path`."""
    return [db_path.with_name(db_path.name + suffix) for suffix in ("-wal", "-shm")]


PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> Path:
    """Make the folder `path` (and its parents) and leave it 0700; returns it.

    For branching's own folders (the config folder): one found wider than
    0700 is tightened when this user owns it. Parents made here get the
    process umask, as any folder would.
    """
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    try:
        info = path.stat()
        if stat.S_IMODE(info.st_mode) & 0o077 and info.st_uid == os.geteuid():
            os.chmod(path, stat.S_IMODE(info.st_mode) & PRIVATE_DIR)
    except OSError:
        pass  # not ours to change: the files inside are 0600 anyway
    return path


def private_output(path: str | Path, *, exclusive: bool = False) -> BinaryIO:
    """Open `path` to write a file that holds viewer data: created 0600, never wider.

    The file is opened with `O_NOFOLLOW` (a symbolic link there is refused,
    so nobody can point the output at a file of their choosing) and `O_CREAT`
    with mode 0600 (`exclusive` adds `O_EXCL`: an existing file is an error,
    `FileExistsError`; otherwise it is truncated). A regular file that already
    exists keeps its mode minus any group or other bits: 0644 becomes 0600,
    0400 stays 0400, and nothing is ever widened. Devices and pipes
    (`/dev/null`, a FIFO) are written as they are, their mode untouched.
    Errors are `OSError`s whose `strerror` says what is wrong in words.
    """
    target = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= os.O_EXCL if exclusive else 0
    try:
        fd = os.open(target, flags, PRIVATE_FILE)
    except OSError as exc:
        if exc.errno == errno.ELOOP and target.is_symlink():
            raise OSError(
                errno.ELOOP, "it is a symbolic link; name the file itself", str(target)
            ) from None
        raise
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            mode = stat.S_IMODE(info.st_mode)
            if mode & 0o077:
                try:
                    os.fchmod(fd, mode & PRIVATE_FILE)
                except PermissionError:
                    raise OSError(
                        errno.EPERM,
                        f"it belongs to another user and others can read it (mode {mode:04o}); "
                        "choose another file",
                        str(target),
                    ) from None
            if not exclusive:
                os.ftruncate(fd, 0)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise
