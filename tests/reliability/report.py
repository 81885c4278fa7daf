"""The "reliability figures" of a run: gathered from test reports, printed once, kept in the cache.

Tests may run in this process or in pytest-xdist's workers (the suite is spread
over a few processes: tests/conftest.py). A worker cannot print to the run's
terminal, so everything the summary needs travels in the test reports, which
xdist sends back to the controller: conftest.py (this folder) puts each test's
title and figures into `report.user_properties` under `PROPERTY`, and the set
of collected tests into the worker's `workeroutput` under `COLLECTED_OUTPUT`.
`FiguresReport` reads them where the run's terminal is (the controller, or the
only process) and, at the end, prints every figure and merges them into
pytest's cache (`.pytest_cache/v/reliability/figures`), which
`python -m tests.reliability.figures` turns into the README's table.

tests/conftest.py loads this module as a plugin (it must be there before any
test is collected: under xdist the controller collects nothing).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from .figures import CACHE_KEY, group_entries, summary_lines

PROPERTY = "reliability-figures"
COLLECTED_OUTPUT = "reliability-collected"
# Every test of tests/reliability that this process (or its workers) collected, by key.
COLLECTED: pytest.StashKey[set[str]] = pytest.StashKey()


def ours(nodeid: str) -> bool:
    """True for a test of tests/reliability."""
    return "reliability/" in nodeid.replace("\\", "/")


def key_of(nodeid: str) -> str:
    """The test's id from this folder down (`test_x.py::test_y[case]`).

    Under `--dist loadgroup` xdist ends a grouped test's id with `@GROUP`
    (after any `[case]`, by its own rule): that is not part of the test's name.
    """
    if nodeid.rfind("@") > nodeid.rfind("]"):
        nodeid = nodeid[: nodeid.rfind("@")]
    return nodeid.replace("\\", "/").split("reliability/")[-1]


class FiguresReport:
    """Each reliability test's title, figures, result and time, from its reports."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.entries: dict[str, dict[str, Any]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        recorded = dict(report.user_properties).get(PROPERTY)
        if not ours(report.nodeid) or not isinstance(recorded, dict):
            return
        entry = self.entries.setdefault(
            report.nodeid, {"title": recorded["title"], "figures": [], "outcome": "not run"}
        )
        entry["figures"] = [list(f) for f in recorded["figures"]]
        if report.when == "call" or report.outcome != "passed":
            entry["outcome"] = "xfailed" if hasattr(report, "wasxfail") else report.outcome
        if report.when == "setup":
            entry["seconds"] = 0.0
        entry["seconds"] = round(entry.get("seconds", 0.0) + report.duration, 1)
        if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
            entry["reason"] = str(report.longrepr[2]).removeprefix("Skipped: ")

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """An xdist worker finished: add the tests it collected."""
        collected = getattr(node, "workeroutput", {}).get(COLLECTED_OUTPUT, [])
        self.config.stash.setdefault(COLLECTED, set()).update(collected)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Print every figure of this run, and keep them in the cache for the README table."""
        if not self.entries:
            return
        keyed = {key_of(nodeid): entry for nodeid, entry in self.entries.items()}
        terminalreporter.section("reliability figures")
        for line in summary_lines(group_entries(keyed)):
            terminalreporter.write_line(line)
        cache = getattr(self.config, "cache", None)
        if cache is None:
            return
        kept = cache.get(CACHE_KEY, {})
        if not isinstance(kept, dict):
            kept = {}
        # Forget tests that no longer exist in the files this run collected (renamed, removed).
        collected = self.config.stash.get(COLLECTED, set())
        files = {key.split("::")[0] for key in collected}
        for key in list(kept):
            if key.split("::")[0] in files and key not in collected:
                del kept[key]
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        for key, entry in keyed.items():
            if entry["outcome"] != "not run":
                kept[key] = {**entry, "when": stamp}
        cache.set(CACHE_KEY, kept)


def pytest_configure(config: pytest.Config) -> None:
    """Gather figures where the run's terminal is: not in an xdist worker."""
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(FiguresReport(config), "reliability-figures-report")
