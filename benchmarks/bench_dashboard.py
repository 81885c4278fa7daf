"""How soon the dashboard draws on a big database: the story list, each tab, the whole read.

Drives the real app headless (`App.run_test`) over a database it only reads
(default /tmp/big/10m.db, story `signal`; `--db`, `--story`) and prints, from
opening the app: the story list drawn; the story screen's stage 1 drawn (the
totals and every tab the graph answers); each tab shown; a filter change's
stage 1; stage 2 (every event read) done; then, for each tab that waits for
stage 2, from a fresh screen switched to it as soon as stage 1 shows, how soon
its own figures are in (stage 2 reads the tab on show first); with the peak
memory of the app's process and of each reading process, their sum (every
peak as if at once) and the most they held at once (sampled every 20 ms).
Verdicts against the 1-second and 200 MB targets of issue 14. Writes JSON
with `--json FILE`.

    python benchmarks/bench_dashboard.py [--db /tmp/big/10m.db] [--story signal]

`--quick` (as `run_all.py --quick` passes it) does not wait for stage 2, and
without `--db` simulates 3,000 sessions for the run: a smoke run of the same
code, whose figures say nothing of issue 14's size.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.widgets import Static

from branching.tui.dashboard import Selection, build_dashboard
from branching.tui.dashboard.screens.story import StoryScreen
from branching.tui.dashboard.tabs import SCAN_TABS, TABS

TARGET = 1.0
BIG_DB = "/tmp/big/10m.db"  # 10 million events: issue 14's size
QUICK_SESSIONS = 3_000


MEMORY_TARGET = 200.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def status_kib(pid: int | str, key: str = "VmRSS") -> int:
    """`key` of /proc/PID/status in KiB (VmRSS: held now, VmHWM: its peak); 0: gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(key))
    except (OSError, StopIteration):
        return 0


class Sampler(threading.Thread):
    """The most the app and its reading processes held at once, sampled."""

    def __init__(self, reader: Any) -> None:
        super().__init__(daemon=True)
        self.reader, self.most, self.done = reader, 0, False

    def run(self) -> None:
        while not self.done:
            pids = [p.process.pid for p in getattr(self.reader, "pool", [])]
            self.most = max(self.most, status_kib("self") + sum(status_kib(p) for p in pids))
            time.sleep(0.02)


POLL = 0.005  # seconds between two looks at what the app shows


async def until(pilot: Any, condition: Any, limit: float = 900, *, laid_out: bool = False) -> float:
    """When `condition()` first holds, looked at every `POLL` seconds while the app runs.

    Only a condition on the layout (`laid_out`: a widget's region) makes the app lay its
    screen out at each look (`pilot.pause`). Every other condition is set by the app's
    own handlers as they run, so the probe only sleeps: `pilot.pause` queues a call on
    every widget of the screen and waits for each, and lays the screen out, a third of
    a core at 200 looks a second. On the two cores the reading processes share with
    the app, that made the tabs that wait for them measure the probe as well (Segments'
    own figures at load 6: 3.8-5.6 s polled so, 1.8-2.1 s (one 4.2) asleep, the same
    code).
    """
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > limit:
            raise TimeoutError("the dashboard did not get there")
        if laid_out:
            await pilot.pause(POLL)
        else:
            await asyncio.sleep(POLL)
    return time.perf_counter()


async def measure(db: str, story: str, full: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    app = build_dashboard(db)
    sampler = Sampler(app.reader)
    sampler.start()
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
            await until(pilot, lambda b=body: b.region.height > 0, laid_out=True)
            out[f"tab {name} shown"] = time.perf_counter() - t
        t = time.perf_counter()
        figures = screen.figures  # what is read and on show (`tui.dashboard.tabs`)
        before = figures.shown_read
        screen._filtered(Selection(first_only=True))
        out["filter change: stage 1"] = await until(pilot, lambda: figures.shown_read > before) - t
        if full:
            t = time.perf_counter()
            out["stage 2 (every event read)"] = (
                await until(
                    pilot,
                    lambda: figures.whole is not None and figures.whole.read >= figures.shown_read,
                )
                - t
            )
            stops: list[float] = []
            for tab in ("choices", *SCAN_TABS):  # each from a fresh screen: its own figures
                out[f"tab {dict(TABS)[tab]}: own figures in"] = await own_figures(
                    app, pilot, story, tab, stops
                )
            out["leaving a story: its read stopped in (worst)"] = max(stops)
        pids = [p.process.pid for p in getattr(app.reader, "pool", [])]
        readers = [kib for pid in pids if (kib := status_kib(pid, "VmHWM"))]
    sampler.done = True
    out["peak memory MB"] = peak_mb()
    for n, kib in enumerate(readers, start=1):  # (`tui.dashboard.reading`)
        out[f"peak memory of reading process {n} MB"] = kib / 1024
    out["peak memory, app + readers, summed MB"] = peak_mb() + sum(readers) / 1024
    out["peak memory, app + readers, at once MB"] = sampler.most / 1024
    return out


async def own_figures(app: Any, pilot: Any, story: str, tab: str, stops: list[float]) -> float:
    """Open the story afresh, switch to `tab` as soon as stage 1 shows: the seconds
    until the tab's own stage-2 figures replace "reading every event". Leaving the
    screen before stops its read; how long that takes goes in `stops`."""
    t = time.perf_counter()
    app.show_stories()
    await until(pilot, lambda: not isinstance(app.screen, StoryScreen))
    stops.append(await until(pilot, lambda: all(w.is_finished for w in app.workers)) - t)
    app.open_story(story)
    await until(pilot, lambda: isinstance(app.screen, StoryScreen))
    screen = app.screen
    await until(pilot, lambda: screen.view is not None)
    # the first frame, as a viewer sees it before pressing a key (the figures take the
    # focus then: a switch within that very frame would be undone by it)
    await pilot.pause(0.01)
    t = time.perf_counter()
    screen.action_tab(tab)
    body = screen.query_one(f"#{tab}-body", Static)
    await until(pilot, lambda: "reading every event" not in plain(body).lower())
    return time.perf_counter() - t


_PLAIN: dict[str, tuple[object, str]] = {}  # widget id -> (the content, its text)


def plain(widget: Static) -> str:
    """The widget's content as text, rendered once per content (the probe must not be
    what keeps the UI thread busy: a big tab takes a tenth of a second to render)."""
    content = widget.content
    key = widget.id or ""
    seen = _PLAIN.get(key)
    if seen is not None and seen[0] is content:
        return seen[1]
    console = Console(width=120, file=io.StringIO(), color_system=None)
    console.print(getattr(content, "renderable", content))  # (ByWidth keeps the app's drawing)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    _PLAIN[key] = (content, text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db",
        default=None,
        help=f"the database (default {BIG_DB}; with --quick, without --db, an audience "
        f"of {QUICK_SESSIONS:,} sessions simulated for the run: a smoke run)",
    )
    parser.add_argument("--story", default="signal")
    parser.add_argument("--quick", action="store_true", help="skip waiting for stage 2")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or BIG_DB
        if args.db is None and args.quick:
            db = str(Path(tmp) / "quick.db")
            subprocess.run(
                [sys.executable, "-m", "branching", "simulate", args.story, "--sessions",
                 str(QUICK_SESSIONS), "--seed", "1", "--db", db],
                check=True,
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            print(f"a smoke run on {QUICK_SESSIONS:,} simulated sessions (--db for real size)")
        if not Path(db).is_file():  # the dashboard would wait for a story that never comes
            raise SystemExit(
                f"no database at {db}: make one with `branching simulate signal --sessions "
                "180000 --seed 1 --db PATH` (10 million events) and pass --db PATH"
            )
        figures = asyncio.run(measure(db, args.story, not args.quick))
    for name, value in figures.items():
        if name.startswith("peak memory, app"):
            verdict = "under 200 MB" if value < MEMORY_TARGET else "OVER 200 MB"
            print(f"{name:40} {value:10.0f}     {verdict}")
        elif name.startswith("peak"):
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
