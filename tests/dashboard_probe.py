"""What a dashboard reading process has loaded, asked from inside one (by name, as
`reading.ProcessReader(target=...)` calls a part's function). Imports nothing that
the reading process would not, so it says what the process itself imports."""

from __future__ import annotations

import sqlite3
import sys
from typing import Any


def probe(db: str, story: str, selection: Any, progress: Any, **how: Any) -> Any:
    """(the UI libraries loaded, SQLite's soft heap limit in bytes)."""
    loaded = sorted(m for m in ("textual", "rich") if m in sys.modules)
    conn = sqlite3.connect(":memory:")
    try:
        limit = conn.execute("PRAGMA soft_heap_limit").fetchone()[0]
    finally:
        conn.close()
    return loaded, limit
