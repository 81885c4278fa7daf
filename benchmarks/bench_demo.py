"""How long `branching demo` takes to show the dashboard with data, in a real terminal.

Runs the real `branching demo` (simulate 1,000 Signal sessions into a
temporary database, then open the dashboard) in a private tmux server at
100x30, and times from launching the command until the dashboard's header
shows the sessions line, polling the screen every 50 ms. Several runs; the
slowest is judged. Target (issue 12): under 5 s on this machine.

Usage: python benchmarks/bench_demo.py [--quick] [--runs N]
Writes benchmarks/results/demo.json (demo-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from _pairs import Verdicts, latency_summary, write_results  # noqa: E402


def tmux(socket: str, *args: str) -> str:
    done = subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True)
    return done.stdout


def one_run(n: int, home: Path) -> float:
    socket = f"bench-demo-{os.getpid()}-{n}"
    command = (
        f"cd {shlex.quote(str(ROOT))} && env XDG_DATA_HOME={shlex.quote(str(home))} "
        f"PYTHONPATH={shlex.quote(str(ROOT))} {shlex.quote(sys.executable)} -m branching demo; "
        "sleep 5"
    )
    started = time.perf_counter()
    subprocess.run(
        [
            "tmux",
            "-L",
            socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "demo",
            "-x",
            "100",
            "-y",
            "30",
            command,
        ],
        check=True,
    )
    try:
        deadline = started + 60
        while time.perf_counter() < deadline:
            if "sessions ·" in tmux(socket, "capture-pane", "-p", "-t", "demo"):
                return time.perf_counter() - started
            time.sleep(0.05)
        raise SystemExit("the dashboard never showed its figures within 60 s")
    finally:
        tmux(socket, "send-keys", "-t", "demo", "q")
        time.sleep(0.5)
        tmux(socket, "kill-server")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is not installed: nothing measured")
        return 1
    runs = args.runs or (2 if args.quick else 5)
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(runs):
            took = one_run(n, Path(tmp) / f"home{n}")
            seconds.append(took)
            print(f"run {n + 1}: dashboard with data after {took:.2f} s")
    summary = latency_summary([s * 1000 for s in seconds])
    verdicts = Verdicts()
    slowest = max(seconds)
    verdicts.judge(
        "branching demo shows data in under 5 s", slowest < 5.0, f"slowest {slowest:.2f} s"
    )
    write_results("demo", args.quick, {"seconds": seconds, "summary": summary}, verdicts)
    return verdicts.exit_code()


if __name__ == "__main__":
    raise SystemExit(main())
