"""The producer's dashboard driven with Pilot: what a producer sees and can do.

Every app comes from `build_dashboard`, the factory the CLI uses, over the
hand-checked database of `tests/test_dashboard_data.py` (six heist
playthroughs and two of the ferry), with a `ManualClock` for the refresh and
a fixed time for 'updated' stamps and export names. Figures are read from
what the widgets display, rendered as plain text.
"""

from __future__ import annotations

import contextlib
import io
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from rich.console import Console
from textual import events
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Input, Select, Static, TabbedContent
from textual.worker import WorkerFailed

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
        # A worker that fails (an export to a file that is not a folder) is the app's to
        # report, which the tests check; waiting on one must not raise its error here.
        # (A worker still running at the check above is routine on a busy machine.)
        with contextlib.suppress(WorkerFailed):
            await app.workers.wait_for_complete()
    raise AssertionError("the dashboard is still busy")


def shown(app: DashboardApp, selector: str) -> str:
    """What a Static on the current screen shows, as plain text."""
    widget = app.screen.query_one(selector, Static)
    console = Console(width=max(widget.size.width, 40), file=io.StringIO(), color_system=None)
    console.print(getattr(widget.content, "renderable", widget.content))  # (not through ByWidth,
    # whose one kept drawing would then be this console's, drawn again for the app)
    return " ".join(console.file.getvalue().split())  # type: ignore[attr-defined]


def said(app: DashboardApp) -> str:
    """The status line above the keys, as one string ('' when hidden)."""
    line = app.screen.query_one("#status", Static)
    return str(line.content) if line.display else ""


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
        assert listed["heist"] == ["The Heist", "heist", "6 real", "4", "66.7%", "2025-03-07 12:00"]
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


async def test_keys_typed_fast_reach_the_story_list_in_order(db: Path) -> None:
    app = make(db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.focused is app.screen.query_one("#stories", DataTable)
        for key, char in (("down", None), ("enter", "\r")):  # one burst, as a paste sends
            app.post_message(events.Key(key, char))
        await settle(pilot)
        assert isinstance(app.screen, StoryScreen) and app.screen.story == "heist"


async def test_an_empty_database_says_nothing_is_recorded_yet(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    Store.open(empty).close()
    app = make(empty)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        message = shown(app, "#list-message")
        assert "Nothing recorded yet" in message and "branching play STORY" in message
        assert not app.screen.query_one("#stories").display


async def test_a_missing_database_is_said_once_in_the_body(tmp_path: Path) -> None:
    app = make(tmp_path / "nowhere.db")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "No telemetry database: " in shown(app, "#list-message")
        assert "no telemetry database" in shown(app, "#list-message")
        assert said(app) == ""  # not said twice
        assert notes(app) == []  # nothing pops up over the screen


async def test_refresh_on_the_list_counts_sessions_recorded_since(db: Path, tmp_path: Path) -> None:
    app = make(db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        record_heist(db, tmp_path, "S7", "v7", "2025-03-10T09:00:00Z")
        await pilot.press("r")
        await settle(pilot)
        assert list(rows(app)) == ["heist", "ferry"]
        assert rows(app)["heist"][2:5] == ["7 real", "5", "71.4%"]


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
        assert "8 decisions · clock chose 1 (12.5%) · median 1.6 s · p90 4.8 s" in choices
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
    real = story_module.load_figures

    def slow(*args: Any) -> Any:
        calls.append(args)
        release.wait(10)  # held until the test lets it go
        return real(*args)

    clock = ManualClock()
    app = make(db, "heist", refresh=5, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        monkeypatch.setattr(story_module, "load_figures", slow)
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
        status = said(app)
    [page] = out.glob("*.html")
    assert page.name == "heist-dashboard-20250310-093000.html"
    assert "The Heist" in page.read_text(encoding="utf-8")
    assert status == f"Exported {page} · 09:30:00"
    assert notes(app) == []


async def test_an_export_that_cannot_be_written_is_a_notification(db: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    app = make(db, "heist", export_dir=blocker)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, StoryScreen)
        assert said(app).startswith("Cannot read or write a file: ")
        assert "6 sessions" in shown(app, "#totals")  # the figures stay
    assert notes(app) == []


async def test_an_unknown_story_says_which_stories_there_are(db: Path) -> None:
    app = make(db, "nosuchstory")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        message = shown(app, "#story-message")
        assert "story 'nosuchstory' has no recordings" in message
        assert "ferry, heist" in message and "Esc" in message
        assert not app.screen.query_one("#tabs").display
        assert message.startswith("Cannot compute analytics: ")
        assert said(app) == "" and notes(app) == []
        bindings = app.screen.active_bindings
        assert "left" not in bindings and "1" not in bindings  # no tabs to switch to
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, StoryListScreen)
        assert app.focused is app.screen.query_one("#stories", DataTable)


async def test_help_opens_and_closes(db: Path) -> None:
    app = make(db, "heist", refresh=15)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, DashboardHelp)
        await pilot.press("escape")
        assert isinstance(app.screen, StoryScreen)
        assert app.focused is flowchart(app)  # back where the producer was
        await pilot.press("f", "escape")
        assert app.focused is flowchart(app)


# -- keys and focus: the keys act on what is shown, at once ---------------------------------

SMALL = (80, 24)  # the heist flowchart is taller than its tab here


def flowchart(app: DashboardApp) -> Widget:
    """The scrolling container of the flowchart tab."""
    body = app.screen.query_one("#flowchart-body").parent
    assert isinstance(body, Widget)
    return body


@pytest.mark.parametrize("key", ["down", "pagedown", "end"])
async def test_the_scroll_keys_move_the_flowchart_as_soon_as_it_shows(db: Path, key: str) -> None:
    app = make(db, "heist")
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        body = flowchart(app)
        assert body.max_scroll_y > 0 and body.scroll_y == 0
        await pilot.press(key)
        assert body.scroll_y == (1 if key == "down" else body.max_scroll_y)
        assert app.focused is body
        await pilot.press("home")
        assert body.scroll_y == 0


async def test_a_story_opened_from_the_list_scrolls_at_once(db: Path) -> None:
    app = make(db)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        assert app.focused is app.screen.query_one("#stories", DataTable)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, StoryScreen)
        await pilot.press("pagedown")
        assert flowchart(app).scroll_y == flowchart(app).max_scroll_y > 0
        await pilot.press("escape")
        await settle(pilot)
        table = app.screen.query_one("#stories", DataTable)
        assert app.focused is table and table.cursor_row == 1  # still on the heist


async def test_arrows_numbers_and_clicks_switch_tabs_and_the_focus_follows(db: Path) -> None:
    app = make(db, "heist")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tabs = app.screen.query_one(TabbedContent)

        def focused_tab() -> str | None:
            return app.focused.id if app.focused is not None else None

        await pilot.press("right")
        assert tabs.active == "choices" and focused_tab() == "choices-scroll"
        await pilot.press("down")  # scrolls the choices, does not leave the tab
        assert tabs.active == "choices"
        await pilot.press("left", "left")  # round the start
        assert tabs.active == "flags" and focused_tab() == "flags-scroll"
        await pilot.press("3")
        assert tabs.active == "endings" and focused_tab() == "endings-scroll"
        await pilot.click("#--content-tab-paths")
        await pilot.pause()
        assert tabs.active == "paths" and focused_tab() == "paths-scroll"
        await pilot.press("tab")  # the tab bar never takes the focus away from the figures
        assert focused_tab() == "paths-scroll"


async def test_the_key_bar_says_how_to_scroll_and_switch_tabs(db: Path) -> None:
    app = make(db, "heist")
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        shown_keys = {
            (b.binding.group.description if b.binding.group else b.binding.description)
            for b in app.screen.active_bindings.values()
            if b.binding.show
        }
        assert {"Scroll", "Tabs", "Filters", "Export", "Stories", "Help"} <= shown_keys


# -- the status line: news that covers nothing ----------------------------------------------


def covering(app: DashboardApp, region: Region) -> set[Widget]:
    """The topmost widget at each cell of `region` on the screen shown."""
    return {
        app.screen.get_widget_at(x, y)[0]
        for y in range(region.y, region.bottom)
        for x in range(region.x, region.right)
    }


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_an_export_never_covers_the_help(
    db: Path, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = make(db, "heist", export_dir=tmp_path / "out")
    async with app.run_test(size=size, notifications=True) as pilot:  # toasts would show
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, DashboardHelp)
        dialog = app.screen.query_one(".dialog")
        assert all(dialog in w.ancestors_with_self for w in covering(app, dialog.region))
        await pilot.press("escape")
        await pilot.pause()
        assert said(app).startswith("Exported ")
        status = app.screen.query_one("#status")
        assert covering(app, status.region) == {status}  # nothing sits on the status either
    assert notes(app) == []


async def test_a_failed_refresh_keeps_the_figures_until_a_read_succeeds(
    db: Path, monkeypatch: Any
) -> None:
    from branching.tui.dashboard.screens import story as story_module

    real = story_module.load_figures

    def locked(*args: Any) -> Any:
        raise sqlite3.OperationalError("database is locked")

    app = make(db, "heist")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        monkeypatch.setattr(story_module, "load_figures", locked)
        await pilot.press("r")
        await settle(pilot)
        assert said(app) == (
            "Telemetry database problem: SQLite says: database is locked · 09:30:00"
        )
        assert "6 sessions" in shown(app, "#totals")
        monkeypatch.setattr(story_module, "load_figures", real)
        await pilot.press("r")
        await settle(pilot)
        assert said(app) == ""
    assert notes(app) == []


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
