"""Four processes record 10,000 choice events each into one database, all at once.

Each writer (writer.py) awaits every event as a player does and logs it the
moment `result()` returns. Afterwards every acknowledged event must be in the
database exactly once, none may have been merely "kept for later", and no
caller may have met "database is locked" (nor any other exception).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ._support import HERE, child_env, sqlite_rows

# With the other CPU-heavy attacks (concurrent writers, kill soak, fuzzing) in one
# pytest-xdist worker, one after another: none of them runs while another does.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cpu-heavy")]

WRITERS = 4
EVENTS = 10_000
PER_SESSION = 100


def _parse(log: Path) -> tuple[list[tuple[str, int, int, int]], list[str], list[str]]:
    acks: list[tuple[str, int, int, int]] = []
    errors: list[str] = []
    other: list[str] = []
    for line in log.read_text(encoding="utf-8").splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "ACK":
            session, seq, committed, micros = rest.split()
            acks.append((session, int(seq), int(committed), int(micros)))
        elif kind == "ERR":
            errors.append(rest)
        else:
            other.append(line)
    return acks, errors, other


@pytest.mark.solo  # every commit within its lock wait: no other test takes the cores
def test_four_writers_ten_thousand_choices_each_lose_and_double_nothing(
    tmp_path: Path, figure: object
) -> None:
    """4 processes x 10,000 choice events at once: 0 lost, 0 duplicated, no lock errors."""
    db = tmp_path / "shared.db"
    go = tmp_path / "go"
    logs = [tmp_path / f"w{n}.log" for n in range(WRITERS)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(HERE / "writer.py"),
                str(db),
                str(log),
                "--tag",
                f"w{n}",
                "--events",
                str(EVENTS),
                "--per-session",
                str(PER_SESSION),
                "--go",
                str(go),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=child_env(),
        )
        for n, log in enumerate(logs)
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(log.exists() and "READY" in log.read_text() for log in logs):
            assert all(p.poll() is None for p in procs), "a writer died before it was ready"
            assert time.monotonic() < deadline, "the writers never became ready"
            time.sleep(0.02)
        started = time.monotonic()
        go.touch()
        stderr = [p.communicate(timeout=300)[1].decode("utf-8", "replace") for p in procs]
        wall = time.monotonic() - started
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    acks: list[tuple[str, int, int, int]] = []
    errors: list[str] = []
    for log in logs:
        got, errs, _ = _parse(log)
        acks += got
        errors += errs
    kept = sum(1 for a in acks if not a[2])
    latencies_ms = sorted(a[3] / 1000 for a in acks)
    locked_seen = sum(text.lower().count("database is locked") for text in [*stderr, *errors])

    stored = {
        (s, q): n
        for s, q, n in sqlite_rows(
            db,
            "SELECT session_id, seq, COUNT(*) FROM events WHERE type = 'choice_made' "
            "GROUP BY session_id, seq",
        )
    }
    by_content = [(writer, n, count) for (writer, n), count in _written(db).items() if count > 1]
    lost = sum(1 for s, q, _, _ in acks if (s, q) not in stored)
    duplicated = sum(n - 1 for n in stored.values()) + sum(int(r[2]) - 1 for r in by_content)
    (total,) = sqlite_rows(db, "SELECT COUNT(*) FROM events WHERE type = 'choice_made'")[0]
    (counted,) = sqlite_rows(db, "SELECT COALESCE(SUM(count), 0) FROM traversals")[0]
    p99 = statistics.quantiles(latencies_ms, n=100)[98] if len(latencies_ms) > 1 else 0.0

    figure("events acknowledged", len(acks))
    figure("events lost", lost)
    figure("events duplicated", duplicated)
    figure("'database is locked' reaching a caller", locked_seen)
    figure("events per second (4 writers together)", round(len(acks) / wall))
    figure("p99 commit time", round(p99, 1), " ms")
    figure("max commit time", round(latencies_ms[-1] if latencies_ms else 0.0, 1), " ms")
    print(json.dumps({"wall_s": round(wall, 1), "kept_not_committed": kept}))

    assert errors == [], f"callers saw exceptions: {errors[:5]}"
    assert locked_seen == 0, "'database is locked' reached a caller: " + " | ".join(stderr)[-2000:]
    assert len(acks) == WRITERS * EVENTS, f"only {len(acks)} of {WRITERS * EVENTS} acknowledged"
    assert kept == 0, f"{kept} events were kept for later instead of committed"
    assert lost == 0 and duplicated == 0
    assert total == WRITERS * EVENTS
    assert counted == WRITERS * EVENTS, "the running totals disagree with the events"
    assert sqlite_rows(db, "PRAGMA integrity_check") == [("ok",)]


def _written(db: Path) -> dict[tuple[object, object], int]:
    """How often each (writer, n) the writers put in the state was stored as a choice.

    The state is stored as a snapshot then patches (`states.py`), so it is read
    back the way export reads it: session by session, in sequence order.
    """
    from collections import Counter

    from branching.store.states import StateReader

    seen: Counter[tuple[object, object]] = Counter()
    session, reader = None, StateReader()
    for sid, seq, kind, text in sqlite_rows(
        db, "SELECT session_id, seq, type, state FROM events ORDER BY session_id, seq"
    ):
        if sid != session:
            session, reader = sid, StateReader()
        state = reader.read_text(seq, text)
        if kind == "choice_made":
            seen[(state or {}).get("writer"), (state or {}).get("n")] += 1
    return dict(seen)
