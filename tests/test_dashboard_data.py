"""The dashboard's reads, without an app, on a database whose figures are known by hand.

`dashboard_db(folder)` is the database every dashboard test uses: the six
playthroughs of "The Heist" that the analytics tests check by hand (see
`tests/test_analytics_data.py`), plus a second story, "ferry", whose title and
labels look like Rich markup (they must be shown literally), with two
sessions: one finished, one still in progress (its last event is the latest
activity in the database). Everything is recorded through the real engine, the
real recorder and the store's own write operations, with our clock.

Hand counts for the story list:
  heist: 6 sessions, 4 viewers, 4 reached an ending (66.7%), last activity
         S6 (started 2025-03-07 12:00:00, its events every second after).
  ferry: 2 sessions by 2 viewers, 1 ending (50.0%); F2 started 2025-03-09 08:00,
         one choice made at 08:00:0x, still in progress -> listed first.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from branching.analytics import AnalyticsError
from branching.cli.main import cli
from branching.store import db as store_db
from branching.story.loader import load_story
from branching.story.model import Story
from branching.tui.dashboard.data import (
    Selection,
    export_html,
    list_stories,
)
from branching.tui.dashboard.data import (
    load_story as load_view,
)
from tests.test_analytics_data import heist_story, known_db, play, register

FERRY = """\
branching: 1
id: ferry
title: "The [bold]Night[/bold] Ferry"
start: dock
scenes:
  dock:
    title: "[red]Dock"
    text: The last ferry is leaving.
    choices:
      - id: buy
        label: "Buy a [link=x]ticket"
        goto: cabin
      - id: sneak
        label: Sneak aboard
        goto: deck
  deck:
    title: Deck
    text: Cold spray.
    choices:
      - id: stay
        label: Stay on deck
        goto: cabin
  cabin:
    title: Cabin
    text: Warm at last.
    ending: {kind: good, title: Safe Harbour}
"""


def ferry_story(folder: Path) -> Story:
    path = folder / "ferry.yaml"
    path.write_text(FERRY, encoding="utf-8")
    return load_story(str(path))


def dashboard_db(folder: Path) -> Path:
    """The heist database plus the ferry story; returns the database path."""
    db_path, _ = known_db(folder)
    ferry = ferry_story(folder)
    conn = store_db.connect(db_path)
    try:
        register(conn, ferry)
        play(
            conn,
            ferry,
            [("choose", "buy", 1200)],
            session_id="F1",
            viewer="v1",
            started="2025-03-08T09:00:00Z",
        )
        play(
            conn,
            ferry,
            [("choose", "sneak", 900)],
            session_id="F2",
            viewer="v9",
            started="2025-03-09T08:00:00Z",
        )
    finally:
        conn.close()
    return db_path


def simulated_db(folder: Path, seed: int) -> Path:
    """`dashboard_db` with 40 simulated playthroughs of Signal (seeded) added."""
    db = dashboard_db(folder)
    signal = Path(__file__).parent.parent / "stories" / "signal"
    result = CliRunner().invoke(
        cli, ["simulate", str(signal), "--sessions", "40", "--seed", str(seed), "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    return db


def copy_db(template: Path, folder: Path) -> Path:
    """A copy of the database at `template` in `folder` (SQLite's backup: WAL included)."""
    target = folder / template.name
    source, copy = sqlite3.connect(template), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()
    return target


def record_heist(db_path: Path, folder: Path, session_id: str, viewer: str, started: str) -> None:
    """One more complete playthrough of the heist (quiet, left: a clean getaway)."""
    _, story = heist_story(folder)
    conn = store_db.connect(db_path)
    try:
        play(
            conn,
            story,
            [("choose", "quiet", 1000), ("choose", "left", 1000)],
            session_id=session_id,
            viewer=viewer,
            started=started,
        )
    finally:
        conn.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dashboard_db(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    return copy_db(template, tmp_path)


def test_story_list_counts_sessions_viewers_completion_and_last_activity(db: Path) -> None:
    rows = {r.story_id: r for r in list_stories(db)}
    heist, ferry = rows["heist"], rows["ferry"]
    assert (heist.title, heist.sessions, heist.viewers, heist.completed) == ("The Heist", 6, 4, 4)
    assert heist.completion_rate == pytest.approx(4 / 6)
    assert heist.last_activity is not None and heist.last_activity.startswith("2025-03-07T12:00")
    assert (ferry.title, ferry.sessions, ferry.viewers, ferry.completed) == (
        "The [bold]Night[/bold] Ferry",
        2,
        2,
        1,
    )
    # F2 has not finished: its last event is its activity, a second after it started
    assert ferry.last_activity is not None and ferry.last_activity > "2025-03-09T08:00:00"


def test_story_list_puts_the_latest_activity_first(db: Path) -> None:
    assert [r.story_id for r in list_stories(db)] == ["ferry", "heist"]


def test_a_registered_story_nobody_played_is_listed_with_zeros(tmp_path: Path) -> None:
    from branching.store import Store

    db_path = tmp_path / "t.db"
    Store.open(db_path).close()
    conn = store_db.connect(db_path)
    try:
        register(conn, ferry_story(tmp_path))
    finally:
        conn.close()
    [row] = list_stories(db_path)
    assert (row.story_id, row.sessions, row.completion_rate, row.last_activity) == (
        "ferry",
        0,
        None,
        None,
    )


def test_story_view_holds_the_report_graph_and_versions(db: Path) -> None:
    view = load_view(db, "heist", Selection())
    assert view.report.overview.sessions == 6
    assert view.graph.story_id == "heist"
    assert view.endings_found == (2, 2)
    assert [label for _, label in view.versions] == [view.report.overview.versions[0]]


def test_selection_filters_and_unit_reach_the_figures(db: Path) -> None:
    nl = load_view(db, "heist", Selection(where=("region=NL",)))
    assert nl.report.overview.sessions == 2
    viewers = load_view(db, "heist", Selection(unit="viewers"))
    assert (viewers.report.overview.started, viewers.graph.unit) == (4, "viewers")


@pytest.mark.parametrize(
    "selection",
    [
        Selection(since="yesterday"),
        Selection(where=("region",)),
        Selection(since="2025-03-05", until="2025-03-01"),
        Selection(min_share=2.0),
        Selection(depth=-1),
    ],
)
def test_a_bad_selection_is_refused_in_words(selection: Selection) -> None:
    with pytest.raises(AnalyticsError):
        selection.filters()


def test_an_unknown_story_names_the_stories_the_database_holds(db: Path) -> None:
    with pytest.raises(AnalyticsError, match="heist"):
        load_view(db, "nosuchstory", Selection())


def test_export_writes_one_self_contained_page_and_never_overwrites(
    db: Path, tmp_path: Path
) -> None:
    view = load_view(db, "ferry", Selection())
    when = datetime(2025, 3, 9, 12, 30, 5, tzinfo=UTC)
    first = export_html(view, tmp_path / "out", when)
    second = export_html(view, tmp_path / "out", when)
    assert first.name == "ferry-dashboard-20250309-123005.html"
    assert second != first and second.exists()
    page = first.read_text(encoding="utf-8")
    assert "The [bold]Night[/bold] Ferry" in page
    # our own two scripts only (the figures as JSON, the pan/zoom/search code), nothing loaded
    assert page.count("<script") == 2 and "src=" not in page and "http://" not in page
