"""Coverage-guided fuzz targets (atheris, libFuzzer) for what reads files others wrote.

    python fuzz_targets.py loader|counts|spool WORKDIR [libFuzzer options] [CORPUS...]

- `loader`: the bytes are a story file; `load_story` may only raise
  branching's own errors (`BranchingError`).
- `counts`: the bytes are a `--counts` CSV for the breakfast fixture story;
  `flow_graph(..., counts_csv=...)` may only raise `BranchingError`.
- `spool`: the bytes are the spool beside a database; `Store.open` replays it
  and must not raise (a bad line goes to the rejected file), except a
  `BranchingError` about the database itself.

Anything else (a `KeyError`, `RecursionError`, `MemoryError`, a hang past
libFuzzer's `-timeout`, memory past `-rss_limit_mb`) is a crash: libFuzzer
stops, prints the input and exits non-zero. The package is instrumented for
coverage; the standard library and C extensions (libyaml, sqlite3) are not.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import atheris

TARGET = sys.argv.pop(1)
WORK = Path(sys.argv.pop(1))
BREAKFAST = Path(__file__).resolve().parents[1] / "fixtures" / "good" / "breakfast.yaml"

with atheris.instrument_imports(include=["branching"]):
    from branching.analytics import flow_graph
    from branching.errors import BranchingError
    from branching.store import Store
    from branching.story.loader import load_story


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)


def fuzz_loader(data: bytes) -> None:
    path = WORK / "story.yaml"
    _write(path, data)
    try:
        load_story(path)
    except BranchingError:
        pass


def fuzz_counts(data: bytes) -> None:
    path = WORK / "counts.csv"
    _write(path, data)
    try:
        flow_graph(str(BREAKFAST), db=None, counts_csv=path)
    except BranchingError:
        pass


DB = WORK / "fuzz.db"


def fuzz_spool(data: bytes) -> None:
    spool = DB.with_name(DB.name + ".spool")
    _write(spool, data)
    try:
        store = Store.open(DB, busy_timeout_ms=1000, retry_window=0.2)
    except BranchingError:
        return
    store.close()
    for left in DB.parent.glob(DB.name + ".spool*"):  # keep the folder small between inputs
        os.unlink(left)


TARGETS = {"loader": fuzz_loader, "counts": fuzz_counts, "spool": fuzz_spool}

if __name__ == "__main__":
    if TARGET == "spool":
        Store.open(DB).close()
    atheris.Setup(sys.argv, TARGETS[TARGET])
    atheris.Fuzz()
