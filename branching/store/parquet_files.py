"""The Parquet export's folder: its layout, its manifest, and runs that commit whole.

`branching export --format parquet OUT/` adds to OUT/ on every run, so OUT/
must always say exactly which events it holds, even after a run that failed
half-way (a full disk, Ctrl-C, a killed process):

- Every file of a run is written under a hidden temporary name (`.NAME.tmp`,
  which pyarrow, DuckDB and Spark all skip), flushed to disk, and renamed to
  its final name only when the whole run has been written.
- Event files are named by their run (`part-RUN-N.parquet`) and never
  rewritten. The manifest (`_branching_export.json`) names the last committed
  run; it is replaced last, atomically (`os.replace`), so a run counts exactly
  when its manifest is in place. Before writing, a run deletes what a failed
  run left: temporary files, event files of a run after the committed one,
  high-water files of other runs. So an event file is counted once or not at
  all.
- How far each session has been exported is a high-water file per run
  (`_branching_export/seqs-RUN.parquet`: started_at, session_id, its
  session_key, last seq, one row per session), in export order, so the next
  run reads it alongside the database in constant memory. A session keeps the
  integer `session_key` it was first given (the manifest counts the keys given
  out), so events written by different runs join on it.
- The manifest records which database the folder exports (the moment its
  schema was created, from its first migration: a copy of the file is the same
  database, a merge target is another); a folder holding another database's
  export, or other files and no manifest, is refused rather than mixed up.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from branching.store.errors import StoreError
from branching.store.parquet_aggregates import AGGREGATE_DATASETS, AGGREGATE_FILE

MANIFEST = "_branching_export.json"
BOOKS = "_branching_export"  # the high-water files; `_` keeps query engines out
KIND = "branching-parquet-export"
# 2: session_key in events, sessions and the high-water files; 3: sessions' path;
# 4: sessions' `made` and the `choice_labels` dataset; 5: the sessions' five digest lists
# as bits (`parquet_bits.BITS_LISTS`) and `session_attrs.session_key`
LAYOUT = 5
CONTINUES = (2, 3, 4, LAYOUT)  # layouts a run adds to (sessions, labels rewritten whole each run)
DATASETS = ("events", "sessions", "session_attrs", "stories", "choice_labels", *AGGREGATE_DATASETS)
PART = re.compile(r"part-(\d+)-\d+\.parquet")  # an event file: part-RUN-N.parquet
_PART = PART
_SEQS = re.compile(r"seqs-(\d+)\.parquet")


class ExportFolderError(StoreError):
    """The folder given to the Parquet export cannot hold this database's export."""

    title = "Export folder problem"


@dataclass(frozen=True, slots=True)
class Manifest:
    """What OUT/ holds: whose export it is and the last run that counts."""

    database: str  # the path it was exported from, for messages
    identity: str  # when that database was created (see `database_identity`)
    run: int
    events: int  # events exported, all runs together
    sessions: int  # sessions in the database at the last run
    exported_at: str
    session_keys: int = 0  # session keys given out so far: the next session gets one more
    kind: str = KIND
    layout: int = LAYOUT


def database_identity(conn: sqlite3.Connection) -> str:
    """The database's identity: when its first schema step was applied."""
    row = conn.execute(
        "SELECT applied_at FROM _sqlite_migrations WHERE name = 'm001_raw_tables' "
        "ORDER BY id LIMIT 1"
    ).fetchone()
    return f"created {row[0]}" if row else "created (unknown)"


def seqs_path(out: Path, run: int) -> Path:
    """The high-water file of `run`."""
    return out / BOOKS / f"seqs-{run:06d}.parquet"


def part_name(run: int, number: int) -> str:
    """The name of an event file: its run, then its number within the run."""
    return f"part-{run:06d}-{number:05d}.parquet"


def read_manifest(out: Path) -> Manifest | None:
    """The manifest in `out`, None when there is none; a damaged one is an error."""
    path = out / MANIFEST
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportFolderError(f"cannot read {path}: {_reason(exc)}") from None
    try:
        data = json.loads(raw)
        if data.get("kind") != KIND:
            raise ValueError("not ours")
        if data.get("layout") not in CONTINUES:
            raise ExportFolderError(
                f"{path} is from another version of branching (layout {data.get('layout')}, "
                f"this one writes {LAYOUT}): export again into a new folder"
            )
        manifest = Manifest(**data)
        if type(manifest.run) is not int or manifest.run < 1:
            raise ValueError("bad run")
    except (ValueError, TypeError, AttributeError):
        raise ExportFolderError(
            f"{path} is not a branching export manifest (damaged?); "
            "export into a new folder, or delete the folder and export again"
        ) from None
    return manifest


def prepare(out: Path, identity: str, database: str) -> Manifest | None:
    """Check `out` can take this database's export and clear a failed run's leftovers."""
    if out.exists() and not out.is_dir():
        raise ExportFolderError(f"{out} is a file; give a folder for the Parquet export")
    with folder_errors(out):
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".branching-probe-{os.getpid()}.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    manifest = read_manifest(out)
    if manifest is None:
        if any(p.name not in (*DATASETS, BOOKS) for p in out.iterdir()):
            raise ExportFolderError(
                f"{out} holds other files and no {MANIFEST}; export into a new or empty folder"
            )
    elif manifest.identity != identity:
        raise ExportFolderError(
            f"{out} holds the export of another database ({manifest.database}, "
            f"{manifest.identity}); export {database} into another folder"
        )
    with folder_errors(out):
        _clean(out, manifest.run if manifest else 0)
    return manifest


def _clean(out: Path, run: int) -> None:
    """Delete what runs after `run` left: temporary, uncounted and stale files."""
    for dataset in (*DATASETS, BOOKS):
        for folder, _, names in os.walk(out / dataset):
            for name in names:
                part = _PART.fullmatch(name)
                seqs = _SEQS.fullmatch(name)
                rolled = AGGREGATE_FILE.fullmatch(name)
                stale = (
                    (name.startswith(".") and name.endswith(".tmp"))
                    or (part is not None and int(part.group(1)) > run)
                    or (seqs is not None and int(seqs.group(1)) != run)
                    or (rolled is not None and int(rolled.group(2)) != run)
                )
                if stale:
                    os.unlink(os.path.join(folder, name))


class Commit:
    """The files of one run, written under temporary names and made visible together."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._pending: list[tuple[Path, Path]] = []

    def temp(self, final: Path) -> Path:
        """Where to write what will become `final` (its folder is created)."""
        final.parent.mkdir(parents=True, exist_ok=True)
        temp = final.with_name(f".{final.name}.tmp")
        self._pending.append((temp, final))
        return temp

    def abort(self) -> None:
        """Delete every temporary file of the run (nothing of it was counted)."""
        for temp, _ in self._pending:
            temp.unlink(missing_ok=True)
        self._pending.clear()

    def finish(self, manifest: Manifest, stale: Path | None) -> None:
        """Flush, rename every file into place, then the manifest; `stale` goes last."""
        folders: set[Path] = set()
        for temp, _ in self._pending:
            _fsync(temp)
        for temp, final in self._pending:
            os.replace(temp, final)
            folders.add(final.parent)
        self._pending.clear()
        for folder in folders:
            _fsync(folder)
        temp = self.out / f".{MANIFEST}.tmp"
        temp.write_text(json.dumps(asdict(manifest), indent=1) + "\n", encoding="utf-8")
        _fsync(temp)
        os.replace(temp, self.out / MANIFEST)
        _fsync(self.out)
        if stale is not None:
            stale.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def folder_errors(out: Path) -> Iterator[None]:
    """An operating-system error while writing `out` as one line naming the file."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or out
        raise ExportFolderError(f"cannot write {where}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__
