"""Where the telemetry lives by default, and the files that sit beside a database.

The default database is in the user's data directory (platformdirs), because
telemetry is data the user owns and may want to back up; `BRANCHING_DB`
overrides it for kiosks and tests. The spool file (events that could not be
written) sits beside the database so that moving one moves the other.
"""

from __future__ import annotations

import os
from pathlib import Path

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
