"""Where analytics read from: a telemetry database opened read-only, and the story.

The database is opened with SQLite's `mode=ro` on a connection of our own
(never the writer's): a producer's report can run while players record. It is
not `query_only`, because `stats` builds TEMP tables of the chosen sessions,
and TEMP tables live outside the file. Before reading we check the file is a
branching database (same checks as the store).

A story is named either by a YAML path (the structure comes from the file) or
by its id in the database (the structure comes from the `stories` table, or
the export's `stories` dataset). The version queries are portable SQL: they
take a SQLite connection or any `engines.Engine` (DuckDB, Spark over Parquet).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from branching.analytics.engines import Queryable, query
from branching.analytics.shape import AnalyticsError, Shape, merge_shapes, shape_from_structure


@dataclass(frozen=True, slots=True)
class Version:
    """One recorded version of a story."""

    content_hash: str
    label: str | None
    registered_at: str

    def describe(self) -> str:
        short = self.content_hash[:8]
        return f"{self.label} ({short})" if self.label else short


def open_readonly(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to the telemetry database at `path` (checked to be ours).

    The store's checks are imported here, when a database is opened: a report
    over a Parquet export never needs them (nor sqlite-utils, which they bring).
    """
    from branching.store import db as store_db
    from branching.store import notices
    from branching.store.migrations import check_ours

    target = Path(path).expanduser()
    store_db.check_header(target)
    notices.note_spool(target)  # what waits in the spool is not in these figures
    if target.stat().st_size == 0:
        raise AnalyticsError(f"the telemetry database {target} is empty: nothing recorded yet")
    try:
        conn = sqlite3.connect(
            store_db.uri(target, "ro"), uri=True, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {store_db.BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA trusted_schema = OFF")
        check_ours(conn, target)
    except sqlite3.Error as exc:
        raise store_db.translate(exc, target) from None
    return conn


def story_ids(conn: Queryable) -> list[str]:
    """Every story recorded in the database."""
    return [r[0] for r in query(conn, "SELECT DISTINCT story_id FROM stories ORDER BY 1")]


def versions(conn: Queryable, story_id: str) -> list[Version]:
    """Recorded versions of `story_id`, newest first (`rowid`: the order registered in)."""
    rows = query(
        conn,
        """SELECT content_hash, version_label, registered_at FROM stories
        WHERE story_id = ? ORDER BY registered_at DESC, rowid DESC""",
        [story_id],
    )
    return [Version(*row) for row in rows]


def resolve_versions(conn: Queryable, story_id: str, wanted: str | None) -> list[Version]:
    """The versions a `--version` names: a content hash (or its prefix) or a version label."""
    known = versions(conn, story_id)
    if not known:
        ids = story_ids(conn)
        hint = f" (it holds: {', '.join(ids)})" if ids else " (it holds no story yet)"
        raise AnalyticsError(f"story '{story_id}' has no recordings in this database{hint}")
    if wanted is None:
        return known
    text = wanted.strip()
    picked = [v for v in known if v.content_hash == text or v.label == text]
    if not picked and len(text) >= 4:
        picked = [v for v in known if v.content_hash.startswith(text)]
    if not picked:
        listed = ", ".join(v.describe() for v in known)
        raise AnalyticsError(f"story '{story_id}' has no version '{wanted}'; recorded: {listed}")
    return picked


def stored_shape(conn: Queryable, story_id: str, chosen: list[Version]) -> Shape:
    """The story graph from the database: the newest chosen version over the older ones."""
    shapes = []
    for version in chosen:
        found = query(
            conn,
            "SELECT structure FROM stories WHERE story_id = ? AND content_hash = ?",
            [story_id, version.content_hash],
        )
        try:
            data = json.loads(found[0][0]) if found else None
        except ValueError:
            raise AnalyticsError(
                f"the stored structure of {story_id} {version.describe()} is not valid JSON"
            ) from None
        shapes.append(shape_from_structure(data))
    return merge_shapes(shapes)


def yaml_shape(path: str | Path) -> Shape:
    """The story graph of a story file or folder (problems raise the loader's errors)."""
    from branching.story.loader import load_story

    return shape_from_structure(load_story(str(path)).structure())


def looks_like_path(story: str) -> bool:
    """True when STORY names a file or folder rather than a story id."""
    return Path(story).exists() or story.endswith((".yaml", ".yml")) or "/" in story
