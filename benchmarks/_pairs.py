"""What every benchmark here shares: paired rounds, honest summaries, verdicts, results.

The rules the scripts follow (so that no figure flatters):

- Compare like with like: whole process against whole process (or the same
  work under the same conditions), run in *paired rounds*. Each round runs A
  and B back to back, alternating which goes first, so drift and noise on a
  shared machine hit both sides alike.
- Quote the *median of the per-round ratios*, with their min and max and the
  number of rounds; never a ratio of pooled totals or of two medians.
- Judge latency on its p95 (nearest rank), printing the median beside it.
- Print one `PASS:` or `FAIL:` line per target and exit non-zero when any
  target is missed.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PYCACHE = ROOT / "benchmarks" / "data" / "pycache"  # gitignored, like all of benchmarks/data


def p95(values: Sequence[float]) -> float:
    """The 95th percentile by nearest rank: a value that was actually measured."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def ratio_summary(ratios: Sequence[float]) -> dict[str, Any]:
    """Median, min and max of per-round ratios, and how many rounds."""
    return {
        "median": round(statistics.median(ratios), 3),
        "min": round(min(ratios), 3),
        "max": round(max(ratios), 3),
        "rounds": len(ratios),
        "all": [round(r, 3) for r in ratios],
    }


def latency_summary(ms: Sequence[float]) -> dict[str, Any]:
    """Median, p95 and max of latencies in milliseconds, and how many samples."""
    return {
        "median_ms": round(statistics.median(ms), 2),
        "p95_ms": round(p95(ms), 2),
        "max_ms": round(max(ms), 2),
        "samples": len(ms),
    }


def paired(
    a: Callable[[], float], b: Callable[[], float], rounds: int
) -> tuple[list[float], list[float]]:
    """Run `a` and `b` once per round, alternating which goes first; their measurements."""
    out_a: list[float] = []
    out_b: list[float] = []
    for r in range(rounds):
        if r % 2 == 0:
            out_a.append(a())
            out_b.append(b())
        else:
            out_b.append(b())
            out_a.append(a())
    return out_a, out_b


@dataclass
class Timed:
    """One whole process: wall-clock and CPU (user + system) seconds, its workers
    included, its exit code, its peak memory (the largest of its processes) and the
    machine's load when it ended."""

    wall_s: float
    cpu_s: float
    code: int
    peak_mb: float = 0.0
    load: float = 0.0


def run_process(argv: Sequence[str], env: dict[str, str] | None = None) -> Timed:
    """Run `argv` in a fresh process from the repository root, output discarded; its
    own resource use from `wait4`."""
    started = time.perf_counter()
    child = subprocess.Popen(
        list(argv), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = code = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return Timed(wall, cpu, code, usage.ru_maxrss / 1024, os.getloadavg()[0])


def child_env(**extra: str) -> dict[str, str]:
    """The environment every measured process gets: this one, the repository importable.

    Python may write bytecode, into a cache of our own (PYTHONPYCACHEPREFIX),
    as it does for a user's installed packages: a shell that sets
    PYTHONDONTWRITEBYTECODE would otherwise make every run of `branching`
    compile its own modules afresh while the libraries it is compared with
    (yaml, textual) load from their installed bytecode. The warm-up runs fill
    the cache, so every measured run, on both sides, loads bytecode.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env.update(extra)
    return env


@dataclass
class Verdicts:
    """The targets a script judges: one PASS/FAIL line each, and the exit code."""

    lines: list[dict[str, Any]] = field(default_factory=list)

    def judge(self, name: str, ok: bool, detail: str) -> bool:
        word = "PASS" if ok else "FAIL"
        print(f"{word}: {name}: {detail}", flush=True)
        self.lines.append({"target": name, "pass": bool(ok), "detail": detail})
        return ok

    @property
    def ok(self) -> bool:
        return all(line["pass"] for line in self.lines)

    def exit_code(self) -> int:
        return 0 if self.ok else 1


def figures_cells(got: dict[str, Any], base: dict[str, Any] | None) -> str:
    """A measured case's wall seconds, CPU seconds and peak MB as table cells, then its
    baseline's when it was paired with one."""
    cells = f" {got['wall_s']:7.2f} {got['cpu_s']:6.2f} {got['peak_mb']:6.1f}"
    if base is not None:
        cells += f" {base['wall_s']:8.2f} {base['cpu_s']:7.2f} {base['peak_mb']:6.1f}"
    return cells


def fmt_ratio(s: dict[str, Any]) -> str:
    """`1.23 (min 1.10, max 1.40, 15 paired rounds)`."""
    return (
        f"{s['median']:.2f} (min {s['min']:.2f}, max {s['max']:.2f}, {s['rounds']} paired rounds)"
    )


def write_results(name: str, quick: bool, data: dict[str, Any], verdicts: Verdicts) -> Path:
    """Write `data` and the verdicts to benchmarks/results/NAME[-quick].json."""
    data = {
        **data,
        "quick": quick,
        "targets": verdicts.lines,
        "all_targets_met": verdicts.ok,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / (f"{name}-quick.json" if quick else f"{name}.json")
    out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}", flush=True)
    return out


def python() -> str:
    """The interpreter every child process runs: the one running this script."""
    return sys.executable
