"""How soon the dashboard draws on a big database: the story list, each tab, the whole read.

Drives the real app headless (`App.run_test`) over a database it only reads
(default /tmp/big/10m.db, story `signal`; `--db`, `--story`) and prints, from
opening the app: the story list drawn; the story screen's stage 1 drawn (the
totals and every tab the graph answers); each tab shown; a filter change's
stage 1; and stage 2 (every event read) done, with the peak memory of the
process. Verdicts against the 1-second target of issue 14. Writes JSON with
`--json FILE`.

    python benchmarks/bench_dashboard.py [--db /tmp/big/10m.db] [--story signal]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from typing import Any

from textual.widgets import Static

from branching.tui.dashboard import Selection, build_dashboard
from branching.tui.dashboard.screens.story import TABS, StoryScreen

TARGET = 1.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def until(pilot: Any, condition: Any, limit: float = 900) -> float:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > limit:
            raise TimeoutError("the dashboard did not get there")
        await pilot.pause(0.005)
    return time.perf_counter()


async def measure(db: str, story: str, full: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    app = build_dashboard(db)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one("#stories")
        out["story list"] = await until(pilot, lambda: table.display) - t0
        t1 = time.perf_counter()
        app.open_story(story)
        await until(pilot, lambda: isinstance(app.screen, StoryScreen))
        screen = app.screen
        assert isinstance(screen, StoryScreen)
        out["stage 1 (totals and graph tabs)"] = (
            await until(pilot, lambda: screen.view is not None) - t1
        )
        for n, (tab, name) in enumerate(TABS, start=1):
            t = time.perf_counter()
            await pilot.press(str(n))
            body = screen.query_one(f"#{tab}-body", Static)
            await until(pilot, lambda b=body: b.region.height > 0)
            out[f"tab {name} shown"] = time.perf_counter() - t
        t = time.perf_counter()
        before = screen.shown_read
        screen._filtered(Selection(first_only=True))
        out["filter change: stage 1"] = await until(pilot, lambda: screen.shown_read > before) - t
        if full:
            t = time.perf_counter()
            out["stage 2 (every event read)"] = (
                await until(pilot, lambda: screen.whole is not None) - t
            )
    out["peak memory MB"] = peak_mb()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="/tmp/big/10m.db")
    parser.add_argument("--story", default="signal")
    parser.add_argument("--quick", action="store_true", help="skip waiting for stage 2")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.db, args.story, not args.quick))
    for name, value in figures.items():
        if name.startswith("peak"):
            print(f"{name:40} {value:10.0f}")
        elif name.startswith("stage 2"):
            print(f"{name:40} {value:10.2f} s   (scans every event; shows its progress)")
        else:
            verdict = "under 1 s" if value < TARGET else "OVER 1 s"
            print(f"{name:40} {value:10.3f} s   {verdict}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=2)


if __name__ == "__main__":
    main()
