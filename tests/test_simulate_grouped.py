"""The bulk writer's aggregates summed a group of sessions at a time (`aggregates.add_grouped`).

A dense audience (hundreds of sessions a day, as 100,000 sessions over three
months are) puts many sessions in each group of one class and attribute
set; the rows must be exactly those of summing each session into each of its
slices (`aggregates.add_tallied`), in every table, and the digests too.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from branching.simulate.audience import Audience
from branching.simulate.run import simulate_prepared
from branching.store import aggregates
from branching.store.bulk import BulkWriter
from branching.story.loader import load_story

SIGNAL = Path(__file__).resolve().parent.parent / "stories" / "signal"


def every_row(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table but the migrations' log (its times differ), in stored order."""
    conn = sqlite3.connect(path)
    try:
        names = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
            if name != "_sqlite_migrations"
        ]
        return {name: conn.execute(f'SELECT * FROM "{name}"').fetchall() for name in names}
    finally:
        conn.close()


def test_grouped_sums_give_the_rows_of_session_by_session_sums(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
    written = {}
    for name, add in (
        ("grouped.db", aggregates.add_grouped),
        ("tallied.db", aggregates.add_tallied),
    ):
        monkeypatch.setattr(aggregates, "add_grouped", add)
        with BulkWriter(tmp_path / name, batch=4_000) as writer:  # several batches
            for ops in simulate_prepared(story, audience):
                writer.add(ops)
        written[name] = every_row(tmp_path / name)
    grouped, tallied = written["grouped.db"], written["tallied.db"]
    assert grouped["agg_edges"] and grouped["agg_decide"] and grouped["agg_sessions"]
    assert len({row[4] for row in grouped["agg_edges"]}) == 2  # both days
    assert grouped == tallied
