"""Snapshot tests: what the producer's dashboard looks like at 80x24 and 120x40.

The database is the hand-checked one of `tests/test_dashboard_data.py`
(recorded with our clock, so every date is fixed), named by a relative path
so the story list's title does not depend on the temporary folder; the
'updated' time is frozen, the refresh is off, animations are off and nothing
blinks. Read the snapshot report before updating:
`pytest tests/test_dashboard_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from branching.tui.common.clock import ManualClock
from branching.tui.dashboard import DashboardApp, build_dashboard
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
    app = build_dashboard(db, story, clock=ManualClock(), now=lambda: NOW)
    app.animation_level = "none"
    return app


async def settled(pilot: Any) -> None:
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_story_list(snap_compare: Any, in_folder: Path, size: tuple[int, int]) -> None:
    assert snap_compare(make(in_folder), terminal_size=size, run_before=settled)


@pytest.mark.parametrize("size", SIZES)
def test_flowchart_tab(snap_compare: Any, in_folder: Path, size: tuple[int, int]) -> None:
    assert snap_compare(make(in_folder, "heist"), terminal_size=size, run_before=settled)
