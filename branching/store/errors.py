"""The store's branch of the exception tree (`branching.errors.BranchingError`).

Every failure a user can cause or meet (a foreign file, a damaged database, a
missing viewer key, bad input) is one of these, with a message written for
people. The CLI turns them into click errors; the players show them. Write
failures during play never surface as exceptions: the writer keeps the event
and retries (see `writer.py`).
"""

from __future__ import annotations

from branching.errors import BranchingError, UsageProblem


class StoreError(BranchingError):
    """Base of every error the telemetry store raises."""

    title = "Telemetry database problem"


class DatabaseMissing(StoreError):
    """A command that reads a database was pointed at a path with no file."""

    title = "No telemetry database"


class NotADatabase(StoreError):
    """The file is not an SQLite database at all (a text file, an image...)."""

    title = "Not a telemetry database"


class ForeignDatabase(StoreError):
    """An SQLite database that branching did not create."""

    title = "Not a branching database"


class CorruptDatabase(StoreError):
    """SQLite reports the file as damaged."""

    title = "Damaged telemetry database"


class NewerSchema(StoreError):
    """The database was written by a newer branching with migrations we do not know."""

    title = "Database from a newer version"


class InvalidInput(StoreError, UsageProblem, ValueError):
    """A caller passed something the store cannot record (unknown event type, bad attr...)."""

    title = "Invalid telemetry input"


class UnknownSession(StoreError):
    """A session id that is not in the database."""

    title = "Unknown playthrough"


class ViewerKeyProblem(StoreError):
    """The viewer key file is missing (when it must exist) or damaged."""

    title = "Viewer key problem"


class UnsafeFile(StoreError):
    """A file the store writes beside the database is a link, not a plain file, or not ours."""

    title = "Unsafe telemetry file"
