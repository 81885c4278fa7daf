"""Shared fixtures: paths to bundled and fixture stories, an isolated home; the run's workers.

The suite runs spread over `WORKERS` processes (pytest-xdist): many of its
long tests wait on subprocesses, terminals and timers rather than compute, so
two cores sit partly idle when they run one at a time. `pytest -n 0` (or
`-p no:xdist`) runs everything in this one process, as does `--pdb`; `-n N`
chooses another number.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

# tests/reliability's figures are gathered where the run's terminal is (report.py).
pytest_plugins = ["reliability.report"]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
STORIES = ROOT / "stories"

# Three processes on the two cores CI has: a third keeps the cores busy while
# another waits on a subprocess or a timer (measured: README, "Working on branching").
WORKERS = 3


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """`pytest` alone spreads the tests over `WORKERS` processes (before pytest-xdist reads -n)."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    if hasattr(config, "workerinput"):  # a worker runs this hook too: it must not spread again
        return
    if config.option.numprocesses is None and not (
        config.option.usepdb or config.option.collectonly
    ):
        config.option.numprocesses = WORKERS
    if config.option.numprocesses and config.option.dist == "no":
        config.option.dist = "loadgroup"  # `-n N` alone keeps the groups below too


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup`, a module's tests run in one worker, one after another.

    So each module-scoped fixture (a simulated audience, a recorded database) is
    built once, as in a single process. A module marked `spread` lets its cases go
    to any worker; one with its own `xdist_group` joins that group instead.
    """
    for item in items:
        if item.get_closest_marker("xdist_group") or item.get_closest_marker("spread"):
            continue
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


def _locked(path: Path, mode: int) -> IO[bytes]:
    handle = open(path, "ab")  # noqa: SIM115 - closed by the caller
    fcntl.flock(handle, mode)
    return handle


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """A test marked `solo` runs while no other worker runs a test.

    Its claim is timed (a writer killed every 200 ms, commits within a lock
    wait): it gets the machine a single-process run would give it. Every test
    holds `run.lock` shared, a solo one holds it exclusively; `gate.lock` makes a
    waiting solo test hold back new tests instead of waiting behind them forever.
    """
    basetemp = getattr(item.config.option, "basetemp", None)
    if not hasattr(item.config, "workerinput") or not basetemp:
        return (yield)  # one process: nothing else runs at the same time
    folder = Path(basetemp).parent  # the run's folder, above each worker's own
    solo = item.get_closest_marker("solo") is not None
    mode = fcntl.LOCK_EX if solo else fcntl.LOCK_SH
    with contextlib.ExitStack() as held:
        gate = held.enter_context(_locked(folder / "gate.lock", mode))
        held.enter_context(_locked(folder / "run.lock", mode))
        if not solo:
            gate.close()  # let the next test in; a solo test keeps the gate shut
        return (yield)


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
