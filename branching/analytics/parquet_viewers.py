"""The flowchart by viewers over the Parquet export, from the digests' lists, on DuckDB.

SQLite counts the flowchart by viewers from each session's digest
(`flow_viewers.py`): the codes of the edges it walked and of the scenes it
was shown (`reached`), of those the clock chose (`clocked`), how many times
it was shown a scene (`views`), and how it ended; each viewer's codes are the
union of their sessions'. The export carries the same lists in its sessions
(`reached`, `clocked`, `views`, written with the aggregates: only when they
agree with the exported events, `store.parquet_aggregates`) and what the
codes stand for (`digest_names`), so DuckDB reads one row per chosen session
(the same choice as the scan's, `filters.session_conditions`) and
`flow_viewers`' own tally counts them, the same figures as SQLite's, where
the scan joins 4.7 million events to their sessions at ten million.

None (the caller scans the events) for an export without the lists, or with
a chosen session that has none.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from branching.analytics.engines import DuckDbEngine, Row
from branching.analytics.filters import Filters, session_conditions
from branching.analytics.flow_viewers import _ViewerUnions
from branching.analytics.graph import Counts
from branching.analytics.source import Version

# `flow_viewers._READ` over the exported sessions: viewer, how it ended, views, lists
_READ = """SELECT s.viewer_id, s.outcome, s.ending_id, s.last_scene, s.views, s.reached, s.clocked
FROM sessions s WHERE {cond} ORDER BY s.viewer_id"""


class _NoLists(Exception):
    """A chosen session has no lists in the export: the events are scanned."""


def viewer_counts_exported(
    engine: DuckDbEngine, story_id: str, chosen: list[Version], filters: Filters
) -> Counts | None:
    """The flowchart's counts by viewers from the export's digests' lists, or None."""
    if not engine.digest_lists():
        return None
    cond, params = session_conditions(story_id, chosen, filters)
    tally = _ViewerUnions()
    try:
        tally.read(_ends(engine.stream(_READ.format(cond=cond), params)))
    except _NoLists:
        return None
    book = sqlite3.connect(":memory:")  # the names as the tally decodes them, from SQLite
    try:
        book.execute("CREATE TABLE digest_names (code INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        book.executemany(
            "INSERT INTO digest_names VALUES (?, ?)",
            engine.rows("SELECT code, name FROM digest_names"),
        )
        return tally.counts(book)
    finally:
        book.close()


def _ends(rows: Iterator[Row]) -> Iterator[Row]:
    """The rows as `flow_viewers._READ` gives them: how a session ended as one text."""
    for viewer, outcome, ending, last, views, reached, clocked in rows:
        if reached is None or clocked is None or views is None:
            raise _NoLists
        end: str | None
        if outcome == "ending":
            end = "+" + ("\0" if ending is None else ending)
        else:
            end = None if last is None else "-" + last
        yield viewer, end, views, reached, clocked
