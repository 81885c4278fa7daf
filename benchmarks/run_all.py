"""Run every benchmark script in this folder, one after another; fail if any target is missed.

Each script compares like with like in paired rounds, prints one `PASS:` or
`FAIL:` line per target and writes its figures as JSON under
benchmarks/results/. This runner streams their output, then repeats every
verdict in a summary, and exits 1 when any script exits non-zero (a target
missed, or the script failed). Pass --quick for the smoke-run sizes; any other
argument is passed on unchanged. `--only NAME` (repeatable) runs only the
scripts whose name contains NAME.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    args = sys.argv[1:]
    only: list[str] = []
    while "--only" in args:
        at = args.index("--only")
        only.append(args[at + 1])
        del args[at : at + 2]
    scripts = [
        s for s in sorted(HERE.glob("bench_*.py")) if not only or any(o in s.name for o in only)
    ]
    verdicts: list[tuple[str, str]] = []
    failed: list[str] = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, str(script), *args],
            cwd=HERE.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            if line.startswith(("PASS:", "FAIL:")):
                verdicts.append((script.name, line.strip()))
        code = proc.wait()
        print(f"({script.name}: {time.perf_counter() - started:.1f} s, exit {code})", flush=True)
        if code:
            failed.append(f"{script.name} (exit {code})")
    print("\n=== summary ===")
    for name, line in verdicts:
        print(f"{name:22} {line}")
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
        return 1
    print("\nall targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
