"""`explore --max-memory` is honoured: the process stops *before* it passes the limit.

Given a small story built to blow up its state space, when it is explored
in a fresh process with a small `--max-memory`, then the process's own peak
resident size (its `ru_maxrss`, from `os.wait4` in a small go-between) stays within the limit plus
the stated margin (5%), the exit status is 3 (incomplete) and the report
names the memory limit and keeps what was proven. Both searches are covered:
the merged search (a loop whose every state differs in what a condition
reads) and the count of full states (a chain whose states are wide ints and
triple at every scene: one scene's successors once took 75% more than the
limit). Also: the size estimates behind it never undershoot CPython's real
growth, and the default limit follows the memory available.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from branching.verify import limits
from tests.conftest import ROOT

MARGIN = 0.05  # README.md, `branching explore`: the peak stays within the limit plus 5%
MIB = 1 << 20

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="os.wait4 is POSIX")


def loop_story(folder: Path) -> Path:
    """One scene choosing forever which of four counters to raise; a condition reads
    all four exactly (a sum), so every state is distinct to the merged search."""
    path = folder / "loop.yaml"
    path.write_text(
        "branching: 1\nid: blowup\nstart: hub\nstate: {a: 0, b: 0, c: 0, d: 0}\nscenes:\n"
        "  hub:\n    text: Round and round.\n    choices:\n"
        "      - {label: A, goto: hub, add: {a: 1}}\n"
        "      - {label: B, goto: hub, add: {b: 1}}\n"
        "      - {label: C, goto: hub, add: {c: 1}}\n"
        "      - {label: D, goto: hub, add: {d: 1}}\n"
        '      - {label: Leave, goto: out, if: "a + b * 2 + c * 3 + d * 5 == 7"}\n'
        "  out:\n    text: Done.\n    ending: {kind: good, title: Out}\n",
        encoding="utf-8",
    )
    return path


def wide_story(folder: Path) -> Path:
    """A chain of scenes, three choices each raising a different one of 120 counters that
    nothing reads: one merged state per scene, but 3**i full states at scene i, each a
    wide int."""
    lines = ["branching: 1", "id: wide", "start: s0", "state:"]
    lines += [f"  v{v}: 0" for v in range(120)]
    lines.append("scenes:")
    for i in range(16):
        lines += [f"  s{i}:", "    text: On."]
        if i == 15:
            lines.append("    ending: {kind: good, title: End}")
            continue
        lines.append("    choices:")
        lines += [
            f"      - {{label: Option {c}, goto: s{i + 1}, add: {{v{i * 3 + c}: 1}}}}"
            for c in range(3)
        ]
    path = folder / "wide.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# Runs its arguments as a child and reports the child's peak resident size. It sits between
# the test and the explorer because Linux counts a forked child's pages before its exec in
# ru_maxrss: forked straight from a test process that has grown, the explorer would inherit
# that process's peak; forked from this small one, it only inherits this one's.
MEASURE = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(child.pid, 0)
scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, else KiB
sys.stderr.write(f"\\npeak {usage.ru_maxrss * scale}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def explore_measured(story: Path, limit: str) -> tuple[int, dict, int]:  # type: ignore[type-arg]
    """Run `branching explore STORY --max-memory LIMIT --format json` in a fresh process:
    its exit status, its JSON, and its own peak resident size in bytes."""
    argv = [sys.executable, "-m", "branching", "explore", str(story)]
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, *argv, "--max-memory", limit, "--format", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    peak = int(proc.stderr.rsplit("peak ", 1)[1])
    return proc.returncode, json.loads(proc.stdout), peak


def test_the_merged_search_stops_before_the_memory_limit(tmp_path: Path) -> None:
    status, found, peak = explore_measured(loop_story(tmp_path), "64M")
    assert peak <= 64 * MIB * (1 + MARGIN), f"peak {peak / MIB:.1f} MiB over 64 MiB"
    assert status == 3
    assert found["complete"] is False and "memory limit of 64.0 MiB" in found["stopped"]
    assert found["states"] > 10_000  # it did search up to the limit
    assert found["scenes"]["reached"] == ["hub", "out"]  # what was proven is kept
    assert [e["scene"] for e in found["endings"]] == ["out"]


def test_the_count_of_full_states_stops_before_the_memory_limit(tmp_path: Path) -> None:
    status, found, peak = explore_measured(wide_story(tmp_path), "100M")
    assert peak <= 100 * MIB * (1 + MARGIN), f"peak {peak / MIB:.1f} MiB over 100 MiB"
    assert status == 3
    assert found["complete"] is True  # the proofs finished; only the count stopped
    assert found["raw_complete"] is False and "memory limit of 100.0 MiB" in found["stopped"]
    assert found["raw_states"] > 3**9
    assert [e["scene"] for e in found["endings"]] == ["s15"]


def test_table_growth_never_undershoots_what_cpython_allocates() -> None:
    """The estimate the limit relies on, checked against the interpreter running it."""
    for container in (set(), {}):
        for i in range(120_000):
            predicted = limits.table_growth(container, 1)
            before = sys.getsizeof(container)
            if isinstance(container, set):
                container.add(i)
            else:
                container[i * 7] = i
            after = sys.getsizeof(container)
            if after > before:
                assert predicted >= after - sys.getsizeof(type(container)()), (i, predicted)
    assert limits.int_bytes(750) >= sys.getsizeof((1 << 750) - 1)


def test_the_default_limit_is_half_the_available_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    def machine(available: int | None, physical: int | None) -> int:
        monkeypatch.setattr(limits, "available_memory", lambda: available)
        monkeypatch.setattr(limits, "physical_memory", lambda: physical)
        return limits.default_max_memory()

    gib = 1 << 30
    assert machine(6 * gib, 16 * gib) == 3 * gib  # a busy 16 GB laptop: not 8 GiB
    assert machine(22 * gib, 24 * gib) == 8 * gib  # at most 8 GiB
    assert machine(None, 8 * gib) == 4 * gib  # no MemAvailable: half of physical memory
    assert machine(100 * MIB, 8 * gib) == 256 * MIB  # a floor to start with
    assert machine(None, None) == 2 * gib
    assert limits.available_memory() is None or limits.available_memory() > 0


def test_the_passes_after_a_complete_search_ask_for_their_memory_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search finishes, but the sets that find doomed states would not fit: the result
    says so (incomplete, and why) instead of going over the limit."""
    from branching.story.loader import load_story
    from branching.verify import sweep
    from branching.verify.explore import explore

    story = tmp_path / "d.yaml"
    story.write_text(
        "branching: 1\nstart: a\nscenes:\n  a:\n    choices:\n"
        "      - {label: Out, goto: z}\n      - {label: Loop, goto: b}\n"
        "  b:\n    choices:\n      - {label: Again, goto: b}\n  z:\n    ending: true\n",
        encoding="utf-8",
    )
    loaded = load_story(story)
    assert explore(loaded, max_memory=1 << 30).doomed  # found when it fits
    monkeypatch.setattr(sweep, "_AFTER_BYTES", 1 << 40)  # a terabyte per state: never fits
    found = explore(loaded, max_memory=1 << 30)
    assert not found.complete and not found.doomed
    assert found.stopped is not None and "memory limit of 1.0 GiB" in found.stopped
    assert "no way to an ending" in found.stopped
    assert [e.scene for e in found.endings] == ["z"]  # what was proven is kept
    assert "INCOMPLETE" in found.report()
