"""Time `branching explore` on the film-sized story, against a plain breadth-first search.

The story is tests/fixtures/film (benchmarks/film.py, seed 1: 313 scenes, 60
variables, about 27 million full (scene, state) pairs). Two measurements:

1. The whole command, as a user runs it: `branching explore FILM --format
   json` in a fresh process (merged search, proofs, doomed states, then the
   count of full states). Targets: it completes (both counts finish), in
   under 60 s wall-clock, under 2 GiB peak resident memory (the child's
   ru_maxrss).
2. States per second against the plain search (branching/verify/plain.py: a
   dict of `space.Key` tuples, every condition evaluated per state, what
   `explore` did before), over the same states in the same run, in paired
   rounds: each round runs both with the same cap on states, alternating
   which goes first, for the merged states and for the full states. The
   plain search cannot hold 27 million states (about a kilobyte each), so it
   is capped and its rate per state is what is compared; the time and memory
   it would need for the whole film are extrapolated from that rate and its
   memory per state, and labelled as extrapolated.
3. The memory limit honoured: the whole command again, with the full count,
   under `--max-memory 300M` and `1G` (300M only with `--quick`), where it
   stops early or only just fits;
   target: the child's own peak resident memory within the limit plus 5%
   (the margin README.md states).

`--quick`: the whole command without the full count, and smaller caps.
Writes benchmarks/results/explore.json (explore-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _pairs import Verdicts, child_env, fmt_ratio, python, ratio_summary, write_results  # noqa: E402

from branching.story.loader import load_story  # noqa: E402
from branching.verify.explore import explore  # noqa: E402
from branching.verify.packed import Moves  # noqa: E402
from branching.verify.plain import plain_search  # noqa: E402
from branching.verify.space import StateSpace  # noqa: E402
from branching.verify.sweep import count_raw  # noqa: E402

FILM = ROOT / "tests" / "fixtures" / "film"
GIB = 1 << 30


# Runs its arguments as a child and prints the child's own peak resident size (os.wait4).
# It sits between this script and the explorer because Linux counts a forked child's pages
# before its exec in ru_maxrss: forked from this script once it has grown (the rounds
# below), the explorer would inherit its peak; forked from this small one, only this one's.
MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(child.pid, 0)
sys.stderr.write(f"\\npeak {usage.ru_maxrss * 1024}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def whole_command(quick: bool, *more: str) -> tuple[dict, float, int]:  # type: ignore[type-arg]
    """Run the command once in a fresh process: its JSON, wall seconds and peak RSS."""
    argv = [python(), "-m", "branching", "explore", str(FILM), "--format", "json", *more]
    if quick:
        argv.append("--no-raw")
    started = time.perf_counter()
    proc = subprocess.run(
        [python(), "-c", MEASURE, *argv], cwd=ROOT, env=child_env(), capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1, 3):
        print(proc.stderr, file=sys.stderr)
        raise SystemExit(f"explore failed with exit status {proc.returncode}")
    return json.loads(proc.stdout), wall, int(proc.stderr.rsplit("peak ", 1)[1])


def limit_honoured(quick: bool, figures: dict[str, object], verdicts: Verdicts) -> None:
    """The whole command under a small memory limit: its peak against the limit."""
    honoured: dict[str, object] = {}
    for limit in ("300M",) if quick else ("300M", "1G"):
        data, wall, peak = whole_command(False, "--max-memory", limit)
        size = int(limit[:-1]) << (20 if limit[-1] == "M" else 30)
        print(
            f"--max-memory {limit}: peak RSS {peak / (1 << 20):,.0f} MiB "
            f"({peak / size:.0%} of the limit), {wall:.1f} s; merged states "
            f"{data['states']:,} (complete {data['complete']}), full states "
            f"{data['raw_states'] or 0:,} (complete {data['raw_complete']}); stopped: "
            f"{data['stopped']}",
            flush=True,
        )
        honoured[limit] = {
            "peak_rss_bytes": peak,
            "wall_s": round(wall, 2),
            "raw_states": data["raw_states"],
            "stopped": data["stopped"],
        }
        verdicts.judge(
            f"--max-memory {limit} honoured",
            peak <= size * 1.05,
            f"peak {peak / (1 << 20):,.0f} MiB, limit plus 5% {size * 1.05 / (1 << 20):,.0f} MiB",
        )
    figures["memory_limit"] = honoured


def packed_rate(story: object, raw: bool, cap: int) -> tuple[float, int]:
    """States per second of the packed sweep, capped at about `cap` states."""
    gc.collect()
    started = time.perf_counter()
    if raw:
        from branching.verify.limits import Limits, Watch

        # the count of full states has no cap on states: a few seconds of it instead
        watch = Watch(Limits(None, 3.0, None))
        n, _ = count_raw(Moves(StateSpace(story, raw=True)), watch)  # type: ignore[arg-type]
    else:
        n = explore(story, max_states=cap).states  # type: ignore[arg-type]
    return n / (time.perf_counter() - started), n


def plain_rate(story: object, raw: bool, cap: int) -> tuple[float, int]:
    """States per second of the plain search capped at `cap`."""
    gc.collect()
    started = time.perf_counter()
    found = plain_search(story, raw=raw, max_states=cap)  # type: ignore[arg-type]
    return found.states / (time.perf_counter() - started), found.states


def plain_bytes_per_state(story: object, raw: bool, cap: int = 20_000) -> float:
    """Peak bytes the plain search allocates per state it holds (tracemalloc, untimed)."""
    gc.collect()
    tracemalloc.start()
    found = plain_search(story, raw=raw, max_states=cap)  # type: ignore[arg-type]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / max(1, found.states)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="no full count, smaller caps")
    parser.add_argument("--rounds", type=int, default=None, help="paired rounds (default 3)")
    args = parser.parse_args()
    quick = args.quick
    rounds = args.rounds or (2 if quick else 3)
    cap = 20_000 if quick else 200_000
    verdicts = Verdicts()

    data, wall, peak = whole_command(quick)
    full = "not counted" if data["raw_states"] is None else f"{data['raw_states']:,}"
    print(
        f"branching explore (whole command): {wall:.1f} s wall, peak RSS {peak / GIB:.2f} GiB; "
        f"merged states {data['states']:,} ({data['states_per_second']:,}/s); "
        f"full states {full} ({data['raw_states_per_second']:,}/s); complete {data['complete']}, "
        f"full count complete {data['raw_complete']}",
        flush=True,
    )
    story = load_story(FILM)
    figures: dict[str, object] = {
        "story": str(FILM.relative_to(ROOT)),
        "whole_command": {
            "wall_s": round(wall, 2),
            "peak_rss_bytes": peak,
            "result": {
                k: data[k]
                for k in (
                    "states",
                    "raw_states",
                    "complete",
                    "raw_complete",
                    "seconds",
                    "states_per_second",
                    "raw_seconds",
                    "raw_states_per_second",
                    "stopped",
                )
            },
        },
    }
    for raw in (False, True):
        kind = "full" if raw else "merged"
        ratios: list[float] = []
        rates: list[tuple[float, float]] = []
        for r in range(rounds):
            order = (0, 1) if r % 2 == 0 else (1, 0)
            got: dict[int, float] = {}
            for side in order:
                if side == 0:
                    got[0], _n = packed_rate(story, raw, cap)
                else:
                    got[1], _m = plain_rate(story, raw, cap)
            ratios.append(got[0] / got[1])
            rates.append((got[0], got[1]))
        summary = ratio_summary(ratios)
        per_state = plain_bytes_per_state(story, raw)
        plain_per_s = sorted(p for _, p in rates)[len(rates) // 2]
        total = data["raw_states"] if raw else data["states"]
        line = (
            f"{kind} states: packed / plain states per second = {fmt_ratio(summary)}; "
            f"plain: {plain_per_s:,.0f}/s over its first {cap:,} states, "
            f"{per_state:,.0f} bytes per state"
        )
        if total:
            line += (
                f"; the whole film ({total:,} states) would take it about "
                f"{total / plain_per_s:,.0f} s and {total * per_state / GIB:,.1f} GiB"
                " (extrapolated)"
            )
        print(line, flush=True)
        figures[f"{kind}_vs_plain"] = {
            "ratio": summary,
            "cap": cap,
            "rates_per_round": [[round(a), round(b)] for a, b in rates],
            "plain_bytes_per_state": round(per_state),
            "plain_extrapolated_seconds": round(total / plain_per_s) if total else None,
        }

    limit_honoured(quick, figures, verdicts)
    verdicts.judge("explore completes", bool(data["complete"]), f"stopped: {data['stopped']}")
    if not quick:
        verdicts.judge(
            "full count completes",
            bool(data["raw_complete"]) and (data["raw_states"] or 0) >= 20_000_000,
            f"{data['raw_states']:,} full states",
        )
        verdicts.judge("under 60 s", wall < 60, f"{wall:.1f} s wall-clock")
        verdicts.judge("under 2 GiB", peak < 2 * GIB, f"peak RSS {peak / GIB:.2f} GiB")
    write_results("explore", quick, figures, verdicts)
    return verdicts.exit_code()


if __name__ == "__main__":
    sys.exit(main())
