"""Snapshot tests: what the producer's dashboard looks like at 80x24 and 120x40.

Every screen: the story list, each of a story's seven tabs, the help and the
filter dialogs, and the status line after an export. The database is the
hand-checked one of `tests/test_dashboard_data.py` (recorded with our clock,
so every date is fixed), named by a relative path so the story list's title
does not depend on the temporary folder (the export folder is relative too);
the 'updated' time is frozen, the refresh is off, animations are off and
nothing blinks. Read the snapshot report, and look at the new pictures at
80x24, before updating: `pytest tests/test_dashboard_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from branching.tui.common.clock import ManualClock
from branching.tui.dashboard import DashboardApp, build_dashboard
from branching.tui.dashboard.tabs import TABS
from tests.test_dashboard import settle
from tests.test_dashboard_data import copy_db, dashboard_db

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
NOW = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dashboard_db(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture
def in_folder(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = copy_db(template, tmp_path)
    monkeypatch.chdir(tmp_path)
    return Path(copy.name)  # relative: the title shows "known.db"


def make(db: Path, story: str | None = None) -> DashboardApp:
    app = build_dashboard(db, story, clock=ManualClock(), now=lambda: NOW, export_dir="exports")
    app.animation_level = "none"
    return app


async def settled(pilot: Any) -> None:
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_story_list(snap_compare: Any, in_folder: Path, size: tuple[int, int]) -> None:
    assert snap_compare(make(in_folder), terminal_size=size, run_before=settled)


def pressing(*keys: str) -> Any:
    """A `run_before` that waits for the figures, presses `keys`, and waits again."""

    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "tab", [pytest.param(n, id=tab) for n, (tab, _) in enumerate(TABS, start=1)]
)
def test_story_tab(snap_compare: Any, in_folder: Path, tab: int, size: tuple[int, int]) -> None:
    app = make(in_folder, "heist")
    assert snap_compare(app, terminal_size=size, run_before=pressing(str(tab)))


@pytest.mark.parametrize("size", SIZES)
def test_help_dialog(snap_compare: Any, in_folder: Path, size: tuple[int, int]) -> None:
    app = make(in_folder, "heist")
    assert snap_compare(app, terminal_size=size, run_before=pressing("question_mark"))


@pytest.mark.parametrize("size", SIZES)
def test_filters_dialog(snap_compare: Any, in_folder: Path, size: tuple[int, int]) -> None:
    app = make(in_folder, "heist")
    assert snap_compare(app, terminal_size=size, run_before=pressing("f"))


@pytest.mark.parametrize("size", SIZES)
def test_status_line_after_an_export(
    snap_compare: Any, in_folder: Path, size: tuple[int, int]
) -> None:
    app = make(in_folder, "heist")
    assert snap_compare(app, terminal_size=size, run_before=pressing("e"))
