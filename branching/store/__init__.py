"""Telemetry: every choice of every viewer, recorded durably to SQLite.

The public API players use:

    store = Store.open(default_db_path())
    store.register_story(StoryInfo(...))
    session = store.start_session(story_id, content_hash, viewer_name, attrs=..., seed=...)
    session.record("choice_made", scene=..., choice=..., target=..., decide_ms=..., input="key",
                   state=engine_snapshot).result()   # True once committed
    session.finish("ending", ending="home", ending_kind="good")
    session.close(); store.close()

Modules: `db` (file creation, pragmas, errors), `migrations` (schema),
`ops` (the four writes), `writer` (background thread, retry), `spool`
(unwritable events, kept on disk), `replay` (loading the spool back),
`notices` (warnings every command prints), `session`, `store`, `reads`,
`viewers` (HMAC ids), `context`, `totals`, `export`, `merge`, `erase`
(forget, prune).

The names below are imported when first used, so a read-only command pays
only for the modules it reads with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from branching.lazy import exports

if TYPE_CHECKING:
    from branching.store.context import SessionContext, parse_attrs, session_context
    from branching.store.errors import (
        CorruptDatabase,
        DatabaseMissing,
        ForeignDatabase,
        InvalidInput,
        NewerSchema,
        NotADatabase,
        StoreError,
        UnknownSession,
        ViewerKeyProblem,
    )
    from branching.store.paths import default_db_path
    from branching.store.records import ResumePoint, StoryInfo
    from branching.store.session import SessionWriter
    from branching.store.store import Store

# name -> the module that defines it, imported on first use (PEP 562): a command that
# only reads (`stats`, `flowchart`) imports `branching.store.db` or `.aggregates`,
# and with them this package, but never the writer, the ops or the session code
# (about 15 ms of every read-only command's start)
_LAZY = {
    "SessionContext": "context",
    "parse_attrs": "context",
    "session_context": "context",
    "CorruptDatabase": "errors",
    "DatabaseMissing": "errors",
    "ForeignDatabase": "errors",
    "InvalidInput": "errors",
    "NewerSchema": "errors",
    "NotADatabase": "errors",
    "StoreError": "errors",
    "UnknownSession": "errors",
    "ViewerKeyProblem": "errors",
    "default_db_path": "paths",
    "ResumePoint": "records",
    "StoryInfo": "records",
    "SessionWriter": "session",
    "Store": "store",
}


__getattr__, __dir__ = exports(__name__, _LAZY)


__all__ = [
    "CorruptDatabase",
    "DatabaseMissing",
    "ForeignDatabase",
    "InvalidInput",
    "NewerSchema",
    "NotADatabase",
    "ResumePoint",
    "SessionContext",
    "SessionWriter",
    "Store",
    "StoreError",
    "StoryInfo",
    "UnknownSession",
    "ViewerKeyProblem",
    "default_db_path",
    "parse_attrs",
    "session_context",
]
