"""What the store has to tell the user, kept until the command that opened it ends.

A `Store` says things the user should know while it works (records kept in
the spool beside the database, records that could not be loaded and were moved
to `.rejected`, a refused link): each goes to the store's own `warnings` and,
through `tell`, here. Every command prints what is here once it has finished
(the CLI group's `invoke` calls `take`), so a warning is printed also after a
full-screen app has closed, and by commands whose store is opened deep inside
the library (`forget`, `prune`, `merge`). Messages are kept once each.
"""

from __future__ import annotations

import threading
from pathlib import Path

from branching.store import spool
from branching.store.paths import spool_path

_lock = threading.Lock()
_unshown: list[str] = []


def tell(message: str) -> None:
    """Keep `message` for the end of the command (once, however often it is told)."""
    with _lock:
        if message not in _unshown:
            _unshown.append(message)


def take() -> list[str]:
    """Every message told and not yet taken, oldest first; forgets them."""
    with _lock:
        messages = list(_unshown)
        _unshown.clear()
        return messages


def note_spool(db_path: Path) -> None:
    """Tell (once) what waits beside `db_path`: for commands that only read the database.

    They never load the spool, so what it holds is missing from their figures.
    """
    for message in spool.waiting(spool_path(db_path)):
        tell(message)
