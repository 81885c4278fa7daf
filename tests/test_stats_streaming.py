"""`stats` at scale: percentiles read from a histogram, a walk that reads states only
when it must, and a story list that never reads the events.

The figures themselves are checked against plain-SQL recounts in
`test_consistency.py`; these tests pin what keeps them cheap without changing
them: the scan's percentiles are the sketch of the picked choices, within a
bucket of Python's `statistics` definitions on every count (ties, one value,
two), skipping the states when the explorer decided
every pair gives the same report, and the story list answers from the
sessions' indexes and the per-story aggregate with the events table locked
away, with real and simulated sessions apart.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
from pathlib import Path

import pytest

from branching.analytics import build_report, walks
from branching.analytics.metrics import decide_percentiles, median_p90
from branching.analytics.scan import ChosenSessions
from branching.analytics.stories import recorded_stories
from branching.store import sketch
from branching.tui.dashboard.data import list_stories
from branching.verify.choices import ChoicePairVerdict
from tests.test_analytics_data import heist_story
from tests.test_dashboard_data import copy_db, dashboard_db


def _decisions(conn: sqlite3.Connection, rows: list[tuple[str, int, str, str, int | None]]) -> None:
    conn.execute(
        """CREATE TABLE events (session_id TEXT, seq INTEGER, type TEXT, scene TEXT,
        decide_ms INTEGER, PRIMARY KEY (session_id, seq)) WITHOUT ROWID"""
    )
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)


def test_scan_percentiles_read_the_sketch_of_the_picked_choices() -> None:
    rng = random.Random(7)
    conn = sqlite3.connect(":memory:")
    rows: list[tuple[str, int, str, str, int | None]] = []
    expected: dict[str, tuple[float | None, float | None]] = {}
    exact: dict[str, tuple[float, float]] = {}
    for scene, n in (("one", 1), ("two", 2), ("seven", 7), ("ten", 10), ("ties", 31)):
        values = [rng.choice((500, 900, 900, 1500)) if scene == "ties" else rng.randrange(10**5)
                  for _ in range(n)]  # fmt: skip
        for i, ms in enumerate(values):
            rows.append((f"{scene}-{i}", 1, "choice_made", scene, ms))
        rows.append((f"{scene}-t", 1, "timeout_default", scene, 10_000))  # the clock chose
        rows.append((f"{scene}-n", 1, "choice_made", scene, None))  # no time recorded
        rows.append((f"{scene}-x", 1, "choice_made", scene, 1))  # not picked
        p90 = statistics.quantiles(values, n=10, method="inclusive")[8] if n > 1 else values[0]
        exact[scene] = (float(statistics.median(values)), float(p90))
        expected[scene] = median_p90(values)
    _decisions(conn, rows)
    picked = ChosenSessions(
        "picked AS (SELECT session_id, 'v' AS viewer_id FROM events "
        "WHERE session_id NOT LIKE '%-x')",
        (),
    )
    found = decide_percentiles(conn, picked)
    assert found == expected  # the picked viewers' own choices, read from the sketch
    for scene, (median, p90) in exact.items():  # within one bucket of the exact figures
        got_median, got_p90 = found[scene]
        assert got_median is not None and got_p90 is not None
        assert abs(got_median - median) <= sketch.width(sketch.bucket(median))
        assert abs(got_p90 - p90) <= sketch.width(sketch.bucket(p90))


def test_needs_observing_only_pairs_the_explorer_left_open() -> None:
    def verdict(word: str) -> ChoicePairVerdict:
        return ChoicePairVerdict("hall", "a", "b", word, 3, "why")  # type: ignore[arg-type]

    taken = [("hall", "a"), ("hall", "b"), ("door", "x")]
    assert walks.needs_observing(taken, None)  # a story named by id: nothing is proven
    assert not walks.needs_observing(taken, {("hall", "a", "b"): verdict("differs")})
    assert not walks.needs_observing(taken, {("hall", "b", "a"): verdict("same")})
    assert walks.needs_observing(taken, {("hall", "a", "b"): verdict("unknown")})
    assert walks.needs_observing([*taken, ("hall", "c")], {("hall", "a", "b"): verdict("same")})


def test_a_walk_without_states_gives_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = dashboard_db(tmp_path)
    story, _ = heist_story(tmp_path)
    skipped = build_report(str(story), db=db, flag_min=2)
    monkeypatch.setattr(walks, "needs_observing", lambda taken, verdicts: True)
    observed = build_report(str(story), db=db, flag_min=2)
    assert skipped == observed
    assert observed.paths and observed.progress


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dashboard_db(tmp_path_factory.mktemp("stories"))


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    return copy_db(template, tmp_path)


def _keep_activity(db: Path) -> None:
    """The per-story aggregate the store keeps (m011), filled here by a recount if absent."""
    conn = sqlite3.connect(db)
    try:
        conn.execute(
            """CREATE TABLE IF NOT EXISTS story_activity (story_id TEXT PRIMARY KEY NOT NULL,
            last_activity TEXT)"""
        )
        conn.execute(
            """INSERT OR REPLACE INTO story_activity (story_id, last_activity)
            SELECT s.story_id, MAX(MAX(s.started_at, COALESCE(s.ended_at, ''),
                   COALESCE((SELECT MAX(e.ts) FROM events e WHERE e.session_id = s.session_id),
                            '')))
            FROM sessions s GROUP BY 1"""
        )
        conn.commit()
    finally:
        conn.close()


def test_the_story_list_reads_no_event(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from branching.analytics import stories

    _keep_activity(db)
    opened = stories.open_readonly

    def no_events(path: str | Path) -> sqlite3.Connection:
        conn = opened(path)

        def deny(action: int, table: str | None, *_: object) -> int:
            return sqlite3.SQLITE_DENY if action == sqlite3.SQLITE_READ and table == "events" else 0

        conn.set_authorizer(deny)
        return conn

    monkeypatch.setattr(stories, "open_readonly", no_events)
    rows = {r.story_id: r for r in recorded_stories(db)}
    heist, ferry = rows["heist"], rows["ferry"]
    assert (heist.sessions, heist.viewers, heist.completed) == (6, 4, 4)
    assert (ferry.sessions, ferry.viewers, ferry.completed) == (2, 2, 1)
    assert ferry.last_activity is not None and ferry.last_activity > "2025-03-09T08:00:00"


def test_an_older_file_without_the_aggregate_lists_the_same(db: Path) -> None:
    _keep_activity(db)
    kept = recorded_stories(db)
    conn = sqlite3.connect(db)  # as a branching before m011 left it: no aggregates at all
    try:
        conn.execute("DELETE FROM _sqlite_migrations WHERE name >= 'm011'")  # and later steps
        for name in ("traversals", "scene_views", "session_ends"):  # tables before m020
            conn.execute(f"CREATE TEMP TABLE kept_{name} AS SELECT * FROM {name}")
            conn.execute(f"DROP VIEW {name}")
            conn.execute(f"CREATE TABLE {name} AS SELECT * FROM temp.kept_{name}")
        for (table,) in conn.execute(
            """SELECT name FROM sqlite_master WHERE type = 'table'
            AND (name LIKE 'agg%' OR name IN ('story_activity', 'session_digests',
                                               'digest_names'))"""
        ).fetchall():
            conn.execute(f"DROP TABLE {table}")
        conn.commit()
    finally:
        conn.close()
    assert recorded_stories(db) == kept


def test_the_dashboard_lists_what_stats_lists_with_real_and_simulated_apart(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute("UPDATE sessions SET simulated = 1 WHERE session_id = 'F1'")
        conn.commit()
    finally:
        conn.close()
    listed = list_stories(db)
    assert listed == recorded_stories(db)
    ferry = next(r for r in listed if r.story_id == "ferry")
    assert (ferry.real, ferry.simulated, ferry.sessions) == (1, 1, 2)
    assert ferry.completion_rate == pytest.approx(0.5)


def test_local_hour_and_weekday_are_sqlites_without_its_date_functions() -> None:
    """The portable arithmetic of `segments` gives the hour and day SQLite's own
    `strftime(datetime(started_at, offset || ' minutes'))` gives, on random stamps and
    offsets (whole hours or not, either side of midnight and of a year's end)."""
    from branching.analytics.segments import LOCAL_HOUR, LOCAL_WEEKDAY

    rng = random.Random(11)
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE sessions (started_at TEXT, utc_offset_min INTEGER)")
    rows = [
        (
            f"{rng.randrange(1901, 2100):04d}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
            f"T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.123Z",
            rng.choice((None, 0, 60, -60, 330, -210, 345, 840, -720, rng.randrange(-3000, 3000))),
        )
        for _ in range(3000)
    ]
    rows += [("2024-12-31T23:30:00.000Z", 45), ("2025-03-01T00:10:00.000Z", -15)]
    conn.executemany("INSERT INTO sessions VALUES (?, ?)", rows)
    local = "datetime(s.started_at, COALESCE(s.utc_offset_min, 0) || ' minutes')"
    found = conn.execute(
        f"""SELECT CAST(strftime('%H', {local}) AS INTEGER), {LOCAL_HOUR},
               CAST(strftime('%w', {local}) AS INTEGER), {LOCAL_WEEKDAY} FROM sessions s"""
    ).fetchall()
    assert len(found) == len(rows)
    for hour, ours, day, our_day in found:
        assert (ours, our_day) == (hour, day)
