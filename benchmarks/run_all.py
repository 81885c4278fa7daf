"""Run every benchmark script in this folder, one after another.

Each script prints its figures and writes them as JSON under
benchmarks/results/. Pass --quick to run the smaller sizes (scripts that have
them); any other arguments are passed on unchanged.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    args = sys.argv[1:]
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n=== {script.name} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *args], cwd=HERE.parent)
        print(f"({script.name}: {time.perf_counter() - started:.1f} s, exit {code})", flush=True)
        if code:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
