"""The README's table of reliability figures, from the last pytest run.

    python -m tests.reliability.figures            # print the table
    python -m tests.reliability.figures --write    # put it into README.md
    python -m tests.reliability.figures --run      # run the suite first (pytest tests/reliability)

Every pytest run that includes tests/reliability keeps each test's result
and figures in pytest's cache (see conftest.py); this reads them from
`.pytest_cache/v/reliability/figures`. In README.md the table sits between
the markers `<!-- reliability-figures:start -->` and `<!-- reliability-figures:end -->`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CACHE_KEY = "reliability/figures"
CACHE_FILE = ROOT / ".pytest_cache" / "v" / "reliability" / "figures"
README = ROOT / "README.md"
START = "<!-- reliability-figures:start -->"
END = "<!-- reliability-figures:end -->"

# The attacks, in its order, by the file that holds them.
ATTACKS = {
    "test_concurrent_writers.py": "Concurrent writers",
    "test_kill_soak.py": "Kill soak",
    "test_disk_faults.py": "Full disk, read-only files",
    "test_hostile_everywhere.py": "Hostile data in every output",
    "test_properties.py": "Property-based tests (Hypothesis)",
    "test_fuzz.py": "Coverage-guided fuzzing (atheris)",
    "test_path_options.py": "Hostile paths as every path option",
}
SHOWN_CASES = 6
MAX_CELL = 120


def _cell(value: object, unit: str = "") -> str:
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, float):
        text = f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    text = f"{text}{unit}".replace("\n", " ")
    if len(text) > MAX_CELL:
        text = text[: MAX_CELL - 1] + "\u2026"
    return text.replace("|", "\\|")


def group_entries(entries: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One group per test function (a parametrized test's cases together), in the issue's order."""
    groups: dict[str, dict[str, Any]] = {}
    for key, entry in entries.items():
        base, _, case = key.partition("[")
        group = groups.setdefault(
            base,
            {
                "key": base,
                "file": base.split("::")[0].split("/")[-1],
                "title": entry["title"],
                "cases": [],
                "figures": [],
                "seconds": 0.0,
                "when": entry.get("when"),
                "reasons": set(),
            },
        )
        group["cases"].append((case.rstrip("]"), entry["outcome"]))
        group["seconds"] += float(entry.get("seconds") or 0.0)
        if entry.get("reason"):
            group["reasons"].add(entry["reason"])
        if not case:
            group["figures"] = entry.get("figures", [])
        if entry.get("when") and (group["when"] or "") < entry["when"]:
            group["when"] = entry["when"]
    order = list(ATTACKS)
    return sorted(
        groups.values(),
        key=lambda g: (order.index(g["file"]) if g["file"] in order else len(order), g["key"]),
    )


def result(group: dict[str, Any]) -> str:
    """`pass`, `FAIL`, `skipped (why)`, or `N of M cases pass` for a parametrized test."""
    cases = group["cases"]
    if len(cases) == 1 and not cases[0][0]:
        outcome = cases[0][1]
        if outcome == "skipped":
            return "skipped: " + "; ".join(sorted(group["reasons"]))
        return {"passed": "pass", "failed": "FAIL"}.get(outcome, outcome)
    passed = sum(1 for _, outcome in cases if outcome == "passed")
    return f"{passed} of {len(cases)} cases pass"


def failing(group: dict[str, Any]) -> list[str]:
    return [case for case, outcome in group["cases"] if case and outcome == "failed"]


def summary_lines(groups: Iterable[dict[str, Any]]) -> list[str]:
    """What pytest prints at the end of a run."""
    lines = []
    for group in groups:
        lines.append(f"{result(group)} - {group['key'].split('::')[-1]}: {group['title']}")
        for name, value, unit in group["figures"]:
            lines.append(f"      {name}: {_cell(value, unit)}")
        bad = failing(group)
        if bad:
            shown = ", ".join(bad[:SHOWN_CASES]) + (
                f" and {len(bad) - SHOWN_CASES} more" if len(bad) > SHOWN_CASES else ""
            )
            lines.append(f"      failing: {shown}")
    return lines


def markdown(groups: list[dict[str, Any]]) -> str:
    """The README table: one row per figure, under its test and its result."""
    stamps = sorted(g["when"] for g in groups if g["when"])
    rows = [
        f"Latest run: {stamps[-1] if stamps else 'unknown'}; the tests took "
        f"{sum(g['seconds'] for g in groups):,.0f} s on two cores.",
        "",
        "| attack | test | result | figure | latest |",
        "|---|---|---|---|---|",
    ]
    seen: set[str] = set()
    for group in groups:
        attack = ATTACKS.get(group["file"], group["file"])
        shown_attack = "" if attack in seen else attack
        seen.add(attack)
        figures = [(name, _cell(value, unit)) for name, value, unit in group["figures"]]
        bad = failing(group)
        if bad:
            more = f" and {len(bad) - SHOWN_CASES} more" if len(bad) > SHOWN_CASES else ""
            figures.append(("failing cases", ", ".join(f"`{b}`" for b in bad[:SHOWN_CASES]) + more))
        if not figures:
            figures = [("", "")]
        for n, (name, value) in enumerate(figures):
            first = n == 0
            rows.append(
                f"| {shown_attack if first else ''} | {_cell(group['title']) if first else ''} "
                f"| {result(group) if first else ''} | {_cell(name)} | {value} |"
            )
            shown_attack = ""
    return "\n".join(rows) + "\n"


def load() -> dict[str, dict[str, Any]]:
    if not CACHE_FILE.exists():
        return {}
    data = json.loads(CACHE_FILE.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def write_readme(table: str) -> bool:
    """Replace the table between the markers in README.md; False when the markers are missing."""
    text = README.read_text(encoding="utf-8")
    if START not in text or END not in text:
        return False
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{table}{END}{tail}", encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="run pytest tests/reliability first")
    parser.add_argument("--write", action="store_true", help="put the table into README.md")
    args = parser.parse_args(argv)
    if args.run:
        subprocess.run([sys.executable, "-m", "pytest", "tests/reliability"], cwd=ROOT)
    entries = load()
    if not entries:
        print("no figures yet: run `pytest tests/reliability` (or the whole suite) first")
        return 1
    table = markdown(group_entries(entries))
    if args.write:
        if not write_readme(table):
            print(f"README.md has no {START} ... {END} markers", file=sys.stderr)
            return 1
        print(f"README.md: reliability table updated ({len(entries)} tests)")
    else:
        print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
