"""The figures each attack proves: recorded by tests, printed after every run, kept for the README.

A test takes the `figure` fixture and calls `figure("events lost", 0)`; the
line is printed at once (shown with the test's output when it fails). At the
end of every run pytest prints, under "reliability figures", each test of this
folder with its result and figures (a parametrized test as one line: how many
of its cases passed, and which failed). The same is kept in pytest's cache
(`.pytest_cache/v/reliability/figures`, merged with earlier runs, so a partial
run updates only what it ran): `python -m tests.reliability.figures` prints
the README's table from there and `--write` puts it into README.md.

This file runs where the tests run (in pytest-xdist's workers when the suite
is spread over processes): it hands each test's title and figures on in its
reports, and report.py gathers, prints and keeps them where the terminal is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .report import COLLECTED, COLLECTED_OUTPUT, PROPERTY, key_of, ours

_FIGURES: pytest.StashKey[list[list[Any]]] = pytest.StashKey()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test of this folder carries the `reliability` marker (and still runs by default)."""
    collected = config.stash.setdefault(COLLECTED, set())
    for item in items:
        if ours(item.nodeid):
            item.add_marker(pytest.mark.reliability)
            collected.add(key_of(item.nodeid))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In an xdist worker: send the tests it collected to the controller (see report.py)."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        collected: set[str] = session.config.stash.get(COLLECTED, set())
        output[COLLECTED_OUTPUT] = sorted(collected)


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record one figure this test proves: `figure(name, value, unit="")`; also printed."""
    figures = request.node.stash.setdefault(_FIGURES, [])

    def record(name: str, value: object, unit: str = "") -> None:
        if not isinstance(value, int | float | str):
            value = str(value)
        figures[:] = [f for f in figures if f[0] != name]
        figures.append([name, value, unit])
        print(f"FIGURE {request.node.name}: {name} = {value}{unit}")

    return record


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Each report of a test here carries its title and the figures recorded so far."""
    report = yield
    if ours(item.nodeid):
        function = getattr(item, "function", None)
        doc = ((function.__doc__ if function else None) or item.name).strip().splitlines()[0]
        figures = [list(f) for f in item.stash.get(_FIGURES, [])]
        report.user_properties.append((PROPERTY, {"title": doc.rstrip("."), "figures": figures}))
    return report
