"""Shared fixtures: paths to bundled and fixture stories, an isolated home."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
STORIES = ROOT / "stories"


@pytest.fixture(scope="session")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One user cache for the whole run, as on a user's machine (the explorer's
    verdicts, kept per story version: `analytics/verdict_cache.py`)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def isolated_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, cache_home: Path
) -> None:
    """Keep config (viewer secret, first-run marker), data and cache out of the real home."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.delenv("BRANCHING_DB", raising=False)


@pytest.fixture
def breakfast() -> Path:
    return FIXTURES / "good" / "breakfast.yaml"
