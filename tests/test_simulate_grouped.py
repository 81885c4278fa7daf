"""The bulk writer's aggregates summed a group of sessions at a time (`aggregates.add_grouped`).

A dense audience (hundreds of sessions a day, as 100,000 sessions over three
months are) puts many sessions in each group of one class and attribute
set; the rows must be exactly those the set-based SQL recount
(`aggregates.rebuild`, what `branching` uses to rebuild the aggregates from the
events) gives from the same sessions and events.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

from branching.simulate.audience import Audience
from branching.simulate.run import simulate_prepared
from branching.store import aggregates
from branching.store.bulk import BulkWriter
from branching.story.loader import load_story

SIGNAL = Path(__file__).resolve().parent.parent / "stories" / "signal"


AGGREGATES = (
    *aggregates.TABLES,
    "agg_decide",
    "agg_acts",
    "agg_firsts",
    "agg_attr_keys",
    "agg_attr_values",
    "story_activity",
)


def aggregate_rows(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every aggregate table's rows, sorted (a recount may store them in another order)."""
    return {name: sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall()) for name in AGGREGATES}


def test_grouped_sums_give_the_rows_of_a_recount_from_the_events(tmp_path: Path) -> None:
    story = load_story(SIGNAL)
    # two days, a small pool of viewers: many sessions share a class and attributes,
    # some finish late (abandoned), some are a viewer's first, some are not
    audience = Audience(
        sessions=500,
        viewers=120,
        seed=5,
        start=date(2026, 1, 1),
        end=date(2026, 1, 2),
        attrs={"region": {"NL": 0.5, "UK": 0.5}, "device": {"ssh": 0.3, "tv": 0.7}},
    )
    path = tmp_path / "simulated.db"
    with BulkWriter(path, batch=4_000) as writer:  # several batches
        for ops in simulate_prepared(story, audience):
            writer.add(ops)
    conn = sqlite3.connect(path)
    try:
        grouped = aggregate_rows(conn)
        with conn:
            aggregates.rebuild(conn)
        recounted = aggregate_rows(conn)
    finally:
        conn.close()
    assert grouped["agg_edges"] and grouped["agg_decide"] and grouped["agg_sessions"]
    assert len({row[4] for row in grouped["agg_edges"]}) == 2  # both days
    for name in AGGREGATES:
        assert grouped[name] == recounted[name], name
