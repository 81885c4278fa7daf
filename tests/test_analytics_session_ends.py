"""The fast path reads where sessions stopped from `session_ends`, or from the sessions.

A database written before the store kept `session_ends` and not reopened by a
`Store` since (analytics open it read-only, so they never upgrade it) must
draw the same flowchart as an upgraded one.
"""

from __future__ import annotations

from pathlib import Path

from branching.analytics import flow_graph, make_filters
from branching.store import Store
from branching.store import db as store_db
from tests.test_analytics_data import known_db


def _as_before_session_ends(path: Path) -> None:
    """Turn `path` into the database an older branching left: no session_ends, no step
    (and the running totals tables, as they were before m020)."""
    conn = store_db.connect(path)
    try:
        with store_db.immediate(conn):
            conn.execute("DROP VIEW session_ends")  # a view of the aggregates since m020
            for name in ("traversals", "scene_views"):  # tables then, with the same rows
                conn.execute(f"CREATE TEMP TABLE kept_{name} AS SELECT * FROM {name}")
                conn.execute(f"DROP VIEW {name}")
                conn.execute(f"CREATE TABLE {name} AS SELECT * FROM temp.kept_{name}")
            conn.execute(
                "DELETE FROM _sqlite_migrations WHERE name IN "
                "('m004_session_end_totals', 'm020_running_totals_from_the_aggregates')"
            )
    finally:
        conn.close()


def test_an_older_database_draws_the_same_flowchart_before_and_after_its_upgrade(
    tmp_path: Path,
) -> None:
    path, _ = known_db(tmp_path)
    old = tmp_path / "old.db"
    store_db.copy_database(path, old)
    _as_before_session_ends(old)
    version = make_filters(version="2")

    current = flow_graph("heist", db=path, unit="times")  # the running totals
    assert (current.source, current.sessions, current.completed) == ("running totals", 6, 4)
    assert (current.scenes["briefing"].left, current.scenes["vault"].left) == (1, 1)
    assert flow_graph("heist", db=old, unit="times") == current
    assert flow_graph("heist", db=old, filters=version, unit="times") == flow_graph(
        "heist", db=path, filters=version, unit="times"
    )

    Store.open(old).close()  # the store upgrades it: session_ends is backfilled

    store_conn = store_db.connect(old, readonly=True)
    try:
        assert store_conn.execute("SELECT SUM(count) FROM session_ends").fetchone() == (6,)
    finally:
        store_conn.close()
    assert flow_graph("heist", db=old, unit="times") == current
