"""The producer's dashboard driven with Pilot: what a producer sees and can do.

Every app comes from `build_dashboard`, the factory the CLI uses, over the
hand-checked database of `tests/test_dashboard_data.py` (six heist
playthroughs and two of the ferry), with a `ManualClock` for the refresh and
a fixed time for 'updated' stamps and export names. Figures are read from
what the widgets display, rendered as plain text.
"""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, Static, TabbedContent

from branching.cli.main import cli
from branching.store import Store
from branching.tui.common.clock import ManualClock
from branching.tui.dashboard import DashboardApp, Selection, build_dashboard
from branching.tui.dashboard.screens.filters import FilterScreen
from branching.tui.dashboard.screens.help import DashboardHelp
from branching.tui.dashboard.screens.stories import StoryListScreen
from branching.tui.dashboard.screens.story import StoryScreen
from tests.test_dashboard_data import copy_db, dashboard_db, record_heist

NOW = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
SIZE = (100, 30)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dashboard_db(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    return copy_db(template, tmp_path)


def make(db: Path | str, story: str | None = None, **options: Any) -> DashboardApp:
    options.setdefault("clock", ManualClock())
    app = build_dashboard(db, story, now=lambda: NOW, **options)
    app.animation_level = "none"  # tab underlines jump instead of sliding
    return app


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until every worker has finished and its message has been handled."""
    app = pilot.app
    for _ in range(50):
        await pilot.pause()
        if all(w.is_finished for w in app.workers):
            await pilot.pause()
            return
        await app.workers.wait_for_complete()
    raise AssertionError("the dashboard is still busy")


def shown(app: DashboardApp, selector: str) -> str:
    """What a Static on the current screen shows, as plain text."""
    widget = app.screen.query_one(selector, Static)
    console = Console(width=max(widget.size.width, 40), file=io.StringIO(), color_system=None)
    console.print(widget.content)
    return " ".join(console.file.getvalue().split())  # type: ignore[attr-defined]


def notes(app: DashboardApp) -> list[tuple[str, str, str]]:
    return [(n.title, n.message, n.severity) for n in app._notifications]


def rows(app: DashboardApp) -> dict[str, list[str]]:
    table = app.screen.query_one("#stories", DataTable)
    return {str(key.value): [cell.plain for cell in table.get_row(key)] for key in table.rows}


# -- the story list -----------------------------------------------------------------------


async def test_story_list_shows_each_story_and_opens_one(db: Path) -> None:
    app = make(db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, StoryListScreen)
        listed = rows(app)
        assert list(listed) == ["ferry", "heist"]  # latest activity first
        assert listed["heist"] == ["The Heist", "heist", "6", "4", "66.7%", "2025-03-07 12:00"]
        assert listed["ferry"][0] == "The [bold]Night[/bold] Ferry"  # literally
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, StoryScreen)
        totals = shown(app, "#totals")
        assert "The Heist (heist)" in totals
        assert "6 sessions · 4 viewers · 66.7% completed (4 of 6) · 2 of 2 endings found" in totals
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, StoryListScreen)


async def test_an_empty_database_says_nothing_is_recorded_yet(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    Store.open(empty).close()
    app = make(empty)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        message = shown(app, "#list-message")
        assert "Nothing recorded yet" in message and "branching play STORY" in message
        assert not app.screen.query_one("#stories").display


async def test_a_missing_database_is_a_message_and_a_notification(tmp_path: Path) -> None:
    app = make(tmp_path / "nowhere.db")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "no telemetry database" in shown(app, "#list-message")
        assert [(t, s) for t, _, s in notes(app)] == [("No telemetry database", "error")]


async def test_refresh_on_the_list_counts_sessions_recorded_since(db: Path, tmp_path: Path) -> None:
    app = make(db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        record_heist(db, tmp_path, "S7", "v7", "2025-03-10T09:00:00Z")
        await pilot.press("r")
        await settle(pilot)
        assert list(rows(app)) == ["heist", "ferry"]
        assert rows(app)["heist"][2:5] == ["7", "5", "71.4%"]


# -- one story ------------------------------------------------------------------------------


async def test_tabs_switch_with_number_keys_and_show_their_figures(db: Path) -> None:
    app = make(db, "heist")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tabs = app.screen.query_one(TabbedContent)
        assert tabs.active == "flowchart"
        chart = shown(app, "#flowchart-body")
        assert "■ Briefing · 6 sessions" in chart and "Go in quietly" in chart
        await pilot.press("2")
        assert tabs.active == "choices"
        choices = shown(app, "#choices-body")
        assert "8 decisions · clock chose 1 (12.5%) · median 1.5 s · p90 4.8 s" in choices
        assert "Go in quietly The Vault █████▍ 66.7% 4" in choices
        await pilot.press("3")
        assert "Clean getaway good 3 ████ 50.0%" in shown(app, "#endings-body")
        await pilot.press("4")
        assert "The Vault 5 1 █▋ 20.0% 0" in shown(app, "#dropoff-body")
        await pilot.press("6")
        assert "By region" in shown(app, "#segments-body")
        await pilot.press("7")
        assert tabs.active == "flags"
        assert "no-difference The Vault" in shown(app, "#flags-body")


async def test_story_text_is_shown_literally_never_as_markup(db: Path) -> None:
    app = make(db, "ferry")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "The [bold]Night[/bold] Ferry (ferry)" in shown(app, "#totals")
        assert "■ [red]Dock" in shown(app, "#flowchart-body")
        await pilot.press("2")
        assert "Buy a [link=x]ticket" in shown(app, "#choices-body")


async def test_applying_a_filter_reads_the_figures_again(db: Path) -> None:
    app = make(db, "heist")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f")
        assert isinstance(app.screen, FilterScreen)
        app.screen.query_one("#where", Input).value = "region=NL"
        await pilot.click("#apply")
        await settle(pilot)
        assert isinstance(app.screen, StoryScreen)
        totals = shown(app, "#totals")
        assert "2 sessions · 1 viewer · 100.0% completed (2 of 2)" in totals
        assert "region=NL" in totals
        await pilot.press("f")
        app.screen.query_one("#unit", Select).value = "viewers"
        await pilot.click("#apply")
        await settle(pilot)
        assert "counted in unique viewers" in shown(app, "#totals")
        assert "■ Briefing · 1 viewer" in shown(app, "#flowchart-body")


async def test_a_bad_filter_is_explained_in_the_dialog(db: Path) -> None:
    app = make(db, "heist")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f")
        app.screen.query_one("#since", Input).value = "last week"
        app.screen.query_one("#since", Input).focus()
        await pilot.press("enter")
        assert isinstance(app.screen, FilterScreen)
        assert "Cannot apply" in shown(app, "#filter-error")
        assert "last week" in shown(app, "#filter-error")
        await pilot.press("escape")
        await settle(pilot)
        assert "6 sessions" in shown(app, "#totals")


async def test_refresh_picks_up_sessions_recorded_after_launch(db: Path, tmp_path: Path) -> None:
    clock = ManualClock()
    app = make(db, "heist", refresh=30, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "6 sessions" in shown(app, "#totals")
        record_heist(db, tmp_path, "S7", "v7", "2025-03-10T09:00:00Z")
        await pilot.press("r")
        await settle(pilot)
        assert "7 sessions · 5 viewers" in shown(app, "#totals")
        record_heist(db, tmp_path, "S8", "v8", "2025-03-10T09:10:00Z")
        clock.advance(30)  # the auto-refresh, as --refresh 30 does
        await settle(pilot)
        assert "8 sessions · 6 viewers" in shown(app, "#totals")


async def test_the_auto_refresh_lets_a_slow_read_finish(db: Path, monkeypatch: Any) -> None:
    from branching.tui.dashboard.screens import story as story_module

    release, calls = threading.Event(), []
    real = story_module.load_story

    def slow(*args: Any) -> Any:
        calls.append(args)
        release.wait(10)  # held until the test lets it go
        return real(*args)

    clock = ManualClock()
    app = make(db, "heist", refresh=5, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        monkeypatch.setattr(story_module, "load_story", slow)
        clock.advance(5)  # starts a read that does not finish...
        await pilot.pause()
        clock.advance(5)  # ...so this tick leaves it alone instead of starting over
        await pilot.pause()
        release.set()
        await settle(pilot)
        assert len(calls) == 1
        assert "6 sessions" in shown(app, "#totals")


async def test_export_writes_an_html_file_and_says_where(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "exports"
    app = make(db, "heist", export_dir=out)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
    [page] = out.glob("*.html")
    assert page.name == "heist-dashboard-20250310-093000.html"
    assert "The Heist" in page.read_text(encoding="utf-8")
    assert ("Exported", f"Saved {page}", "information") in notes(app)


async def test_an_export_that_cannot_be_written_is_a_notification(db: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    app = make(db, "heist", export_dir=blocker)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, StoryScreen)
    assert [(t, s) for t, _, s in notes(app)] == [("Cannot read or write a file", "error")]


async def test_an_unknown_story_says_which_stories_there_are(db: Path) -> None:
    app = make(db, "nosuchstory")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        message = shown(app, "#story-message")
        assert "story 'nosuchstory' has no recordings" in message
        assert "ferry, heist" in message and "Esc" in message
        assert not app.screen.query_one("#tabs").display
        assert [(t, s) for t, _, s in notes(app)] == [("Cannot compute analytics", "error")]
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, StoryListScreen)


async def test_help_opens_and_closes(db: Path) -> None:
    app = make(db, "heist", refresh=15)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, DashboardHelp)
        await pilot.press("escape")
        assert isinstance(app.screen, StoryScreen)


# -- the command --------------------------------------------------------------------------


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["dashboard", *args])


def test_every_dashboard_option_has_help() -> None:
    result = run("--help")
    assert result.exit_code == 0 and "Browse what viewers chose" in result.output
    command = cli.get_command(click.Context(cli), "dashboard")
    assert command is not None and command.help
    assert all(p.help for p in command.params if isinstance(p, click.Option))


def test_the_command_builds_the_app_with_the_options(db: Path, monkeypatch: Any) -> None:
    seen: list[DashboardApp] = []
    monkeypatch.setattr(DashboardApp, "run", lambda self: seen.append(self))
    monkeypatch.setattr("branching.cli.dashboard.interactive", lambda: True)
    result = run(
        "heist",
        "--db",
        str(db),
        "--where",
        "region=NL",
        "--by",
        "viewers",
        "--min-share",
        "5",
        "--refresh",
        "10",
    )
    assert result.exit_code == 0, result.output
    [app] = seen
    assert (app.db_path, app.story, app.refresh_every) == (db, "heist", 10.0)
    assert app.selection == Selection(where=("region=NL",), unit="viewers", min_share=0.05)


def test_without_a_terminal_the_dashboard_points_to_text_outputs(db: Path) -> None:
    result = run("--db", str(db))  # CliRunner's streams are not terminals
    assert result.exit_code == 1
    assert "needs a terminal" in result.output and "branching stats" in result.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--since", "soon"], "soon"),
        (["--where", "region"], "KEY=VALUE"),
        (["--refresh", "0"], "--refresh"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path: Path, args: list[str], says: str) -> None:
    result = run("--db", str(tmp_path / "t.db"), *args)
    assert result.exit_code == 2 and says in result.output


def test_a_missing_database_is_refused_before_the_screen_clears(tmp_path: Path) -> None:
    result = run("--db", str(tmp_path / "none.db"))
    assert result.exit_code == 1 and "there is no telemetry database" in result.output
