"""The figures each attack proves: recorded by tests, printed after every run, kept for the README.

A test takes the `figure` fixture and calls `figure("events lost", 0)`; the
line is printed at once (shown with the test's output when it fails). At the
end of every run pytest prints, under "reliability figures", each test of this
folder with its result and figures (a parametrized test as one line: how many
of its cases passed, and which failed). The same is kept in pytest's cache
(`.pytest_cache/v/reliability/figures`, merged with earlier runs, so a partial
run updates only what it ran): `python -m tests.reliability.figures` prints
the README's table from there and `--write` puts it into README.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from .figures import CACHE_KEY, group_entries, summary_lines

_STASH: pytest.StashKey[dict[str, dict[str, Any]]] = pytest.StashKey()


def _ours(nodeid: str) -> bool:
    return "reliability/" in nodeid.replace("\\", "/")


def _entries(config: pytest.Config) -> dict[str, dict[str, Any]]:
    if _STASH not in config.stash:
        config.stash[_STASH] = {}
    return config.stash[_STASH]


def _entry(item: pytest.Item) -> dict[str, Any]:
    function = getattr(item, "function", None)
    doc = ((function.__doc__ if function else None) or item.name).strip().splitlines()[0]
    return _entries(item.config).setdefault(
        item.nodeid, {"title": doc.rstrip("."), "figures": [], "outcome": "not run"}
    )


_COLLECTED: pytest.StashKey[set[str]] = pytest.StashKey()


def _key(nodeid: str) -> str:
    return nodeid.replace("\\", "/").split("reliability/")[-1]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test of this folder carries the `reliability` marker (and still runs by default)."""
    collected = config.stash.setdefault(_COLLECTED, set())
    for item in items:
        if _ours(item.nodeid):
            item.add_marker(pytest.mark.reliability)
            collected.add(_key(item.nodeid))


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record one figure this test proves: `figure(name, value, unit="")`; also printed."""
    entry = _entry(request.node)

    def record(name: str, value: object, unit: str = "") -> None:
        if not isinstance(value, int | float | str):
            value = str(value)
        entry["figures"] = [f for f in entry["figures"] if f[0] != name]
        entry["figures"].append([name, value, unit])
        print(f"FIGURE {request.node.name}: {name} = {value}{unit}")

    return record


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each test's result (and time) beside its figures."""
    report = yield
    if not _ours(item.nodeid):
        return report
    entry = _entry(item)
    if report.when == "call" or report.outcome != "passed":
        entry["outcome"] = "xfailed" if hasattr(report, "wasxfail") else report.outcome
    if report.when == "setup":
        entry["seconds"] = 0.0
    entry["seconds"] = round(entry.get("seconds", 0.0) + report.duration, 1)
    if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
        entry["reason"] = str(report.longrepr[2]).removeprefix("Skipped: ")
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print every figure of this run, and keep them in the cache for the README table."""
    entries = _entries(config)
    if not entries:
        return
    keyed = {_key(nodeid): entry for nodeid, entry in entries.items()}
    terminalreporter.section("reliability figures")
    for line in summary_lines(group_entries(keyed)):
        terminalreporter.write_line(line)
    cache = getattr(config, "cache", None)
    if cache is None:
        return
    kept = cache.get(CACHE_KEY, {})
    if not isinstance(kept, dict):
        kept = {}
    # Forget tests that no longer exist in the files this run collected (renamed, removed).
    collected = config.stash.get(_COLLECTED, set())
    files = {key.split("::")[0] for key in collected}
    for key in list(kept):
        if key.split("::")[0] in files and key not in collected:
            del kept[key]
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for key, entry in keyed.items():
        if entry["outcome"] != "not run":
            kept[key] = {**entry, "when": stamp}
    cache.set(CACHE_KEY, kept)
