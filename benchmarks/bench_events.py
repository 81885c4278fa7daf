"""Bytes per recorded event: the old full-state rows against the current format.

Plays several hundred realistic playthroughs of two stories through the engine
(random choices, timeouts taking the default, pauses, going back, rewinds from
endings, some viewers quitting mid-story, session attributes) and records them

- "after": through the real recording path (`recording.StoreRecorder` on a
  `Store`), in the current schema;
- "before": the same playthroughs (same seeds, so the same events) written as
  the old schema stored them (schema steps up to m006: a UUID `event_id` with
  its index, `UNIQUE (session_id, seq)`, the index on `ts`, and the whole
  engine state as JSON in every event), with the same sessions, attributes and
  story rows.

Each file is VACUUMed; bytes per event = file size / events (indexes, sessions,
attributes, totals and the story structure included). Target: at most 250 on
both stories. Also times the upgrade (m007) of the old file.

Stories: the showcase `stories/signal`, and the 60-variable film story
(`tests/fixtures/film/` when it exists, else the one `_film60.py` generates).

Usage: python benchmarks/bench_events.py [--quick] [--sessions N]
Writes benchmarks/results/events.json (events-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _film60 import write_film  # noqa: E402
from _pairs import Verdicts, write_results  # noqa: E402

from branching.play.engine import Playthrough  # noqa: E402
from branching.recording import StoreRecorder  # noqa: E402
from branching.store import Store, StoryInfo, db  # noqa: E402
from branching.store.context import SessionContext  # noqa: E402
from branching.store.migrations import migrate, migration_names  # noqa: E402
from branching.story.loader import load_story  # noqa: E402
from branching.story.model import Story  # noqa: E402

TARGET = 250
CONTEXT = SessionContext("xterm-256color", "iTerm.app", 120, 40, "linux", "en_GB", 60, "0.1.0")
COHORTS = ("festival", "classroom", "online")


class CapturingRecorder(StoreRecorder):
    """A StoreRecorder that also keeps each event with the whole state (for "before")."""

    def __init__(self, session: Any, log: list[tuple[str, dict[str, Any]]]) -> None:
        super().__init__(session)
        self.log = log

    def _put(self, kind: str, run: Playthrough, **fields: Any) -> None:
        self.log.append((kind, {**fields, "state": run.state.to_dict()}))
        super()._put(kind, run, **fields)


def play(run: Playthrough, rec: StoreRecorder, rng: random.Random, most: int = 400) -> None:
    """One viewer's playthrough: the engine's steps, recorded as a player records them."""
    rec.started(run)
    for _ in range(most):
        view = run.view
        if view.ending is not None:
            if view.offers and rng.random() < 0.25:
                offer = rng.choice(view.offers)
                run.rewind_to(offer.scene)
                rec.rewound(run, offer.scene, input="key")
                continue
            break
        if view.stuck is not None:
            break
        if rng.random() < 0.04:
            rec.quit(run)
            return
        if run.can_go_back and rng.random() < 0.03:
            run.back()
            rec.rewound(run, run.view.scene, input="key")
            continue
        if rng.random() < 0.05:
            rec.event("pause", run, scene=view.scene)
            rec.event("resume", run, scene=view.scene)
        open_ = [c for c in view.choices if not c.locked]
        timeout = view.timer > 0 and rng.random() < 0.15 and view.default is not None
        choice = view.default if timeout else rng.choice(open_)
        assert choice is not None
        scene = view.scene
        run.choose(choice.id)
        rec.chose(
            run,
            scene,
            choice.id,
            choice.target,
            decide_ms=None if timeout else rng.randint(400, 9000),
            input="timeout" if timeout else rng.choice(("key", "key", "mouse")),
            timeout=timeout,
        )
        rec.shown(run)


def record_new(
    path: Path, story: Story, sessions: int
) -> tuple[list[dict[str, Any]], list[list[tuple[str, dict[str, Any]]]]]:
    """Record `sessions` playthroughs through the real path; return what the old rows need."""
    heads: list[dict[str, Any]] = []
    logs: list[list[tuple[str, dict[str, Any]]]] = []
    rng = random.Random(2024)
    with Store.open(path, viewer_key=path.parent / "viewer.key") as store:
        store.register_story(
            StoryInfo(
                story.id,
                story.title,
                story.author,
                story.version,
                story.content_hash,
                story.structure(),
            )
        )
        for i in range(sessions):
            attrs = {"cohort": COHORTS[i % 3], "age": str(18 + i % 40)}
            seed = rng.randrange(2**31)
            session = store.start_session(
                story.id,
                story.content_hash,
                f"viewer{i % 97}",
                attrs=attrs,
                context=CONTEXT,
                seed=seed,
            )
            log: list[tuple[str, dict[str, Any]]] = []
            rec = CapturingRecorder(session, log)
            play(Playthrough.start(story, seed), rec, rng)
            rec.close()
            heads.append({"session_id": session.session_id, "seed": seed, "attrs": attrs})
            logs.append(log)
        store.flush()
    return heads, logs


def write_old(path: Path, new_db: Path, heads: list[dict[str, Any]], logs: list[Any]) -> None:
    """The same playthroughs as the old schema (m001-m006) stored them: full state per event."""
    db.create_file(path)
    conn = db.connect(path)
    try:
        migrate(conn, path, stop_before="m007_small_events")
        conn.execute("ATTACH DATABASE ? AS n", [str(new_db)])
        with db.immediate(conn):
            old_columns = [row[1] for row in conn.execute("PRAGMA main.table_info(sessions)")]
            names = ", ".join(old_columns)
            conn.execute("INSERT INTO main.stories SELECT * FROM n.stories")
            conn.execute(f"INSERT INTO main.sessions ({names}) SELECT {names} FROM n.sessions")
            for table in ("session_attrs", "viewer_keys"):
                conn.execute(f"INSERT INTO main.{table} SELECT * FROM n.{table}")
            rows = []
            for head, log in zip(heads, logs, strict=True):
                for seq, (kind, f) in enumerate(log, start=1):
                    rows.append(
                        (
                            str(uuid.uuid4()),
                            head["session_id"],
                            seq,
                            "2025-06-01T18:04:05.123Z",
                            kind,
                            f.get("scene"),
                            f.get("choice"),
                            f.get("target"),
                            f.get("decide_ms"),
                            f.get("input"),
                            json.dumps(f["state"], separators=(",", ":"), ensure_ascii=False),
                        )
                    )
            conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            for table in ("traversals", "scene_views", "session_ends"):
                conn.execute(f"INSERT INTO main.{table} SELECT * FROM n.{table}")
        conn.commit()
        conn.execute("DETACH DATABASE n")
    finally:
        conn.close()


def per_event(path: Path) -> tuple[int, int, float]:
    """(file bytes after VACUUM, events, bytes per event)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    finally:
        conn.close()
    size = path.stat().st_size
    return size, events, size / max(events, 1)


def upgrade_seconds(old: Path, tmp: Path) -> float:
    """Seconds `migrate` takes to bring a copy of the old file to the current schema."""
    copy = tmp / f"upgrade-{old.stem}.db"
    db.copy_database(old, copy)
    conn = db.connect(copy)
    try:
        start = time.perf_counter()
        migrate(conn, copy)
        return time.perf_counter() - start
    finally:
        conn.close()


def measure(
    name: str, story: Story, sessions: int, tmp: Path, verdicts: Verdicts
) -> dict[str, Any]:
    new, old = tmp / f"{name}-new.db", tmp / f"{name}-old.db"
    heads, logs = record_new(new, story, sessions)
    write_old(old, new, heads, logs)
    seconds = upgrade_seconds(old, tmp)
    before, after = per_event(old), per_event(new)
    row = {
        "story": name,
        "sessions": sessions,
        "events": after[1],
        "before_bytes": before[0],
        "before_per_event": round(before[2], 1),
        "after_bytes": after[0],
        "after_per_event": round(after[2], 1),
        "upgrade_seconds": round(seconds, 3),
        "pass": verdicts.judge(
            f"bytes per event, {name}",
            after[2] <= TARGET,
            f"{after[2]:.1f} after (was {before[2]:.1f}); target <= {TARGET}",
        ),
    }
    print(
        f"{name:8} {sessions} sessions, {after[1]:,} events: before {before[2]:7.1f} B/event "
        f"({before[0]:,} B), after {after[2]:6.1f} B/event ({after[0]:,} B); "
        f"upgrading the old file {seconds:.2f} s",
        flush=True,
    )
    return row


def film_story(tmp: Path) -> Story:
    fixture = ROOT / "tests" / "fixtures" / "film"
    found = sorted(fixture.glob("*.yaml")) if fixture.is_dir() else []
    if (fixture / "story.yaml").exists():
        return load_story(fixture)
    if found:
        return load_story(found[0])
    return load_story(write_film(tmp))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer playthroughs")
    parser.add_argument("--sessions", type=int, default=None, help="playthroughs per story")
    args = parser.parse_args()
    sessions = args.sessions or (60 if args.quick else 400)
    assert "m007_small_events" in migration_names()
    verdicts = Verdicts()
    with tempfile.TemporaryDirectory(prefix="bench-events-") as name:
        tmp = Path(name)
        rows = [
            measure("signal", load_story(ROOT / "stories" / "signal"), sessions, tmp, verdicts),
            measure("film", film_story(tmp), sessions, tmp, verdicts),
        ]
    write_results("events", args.quick, {"results": rows}, verdicts)
    return verdicts.exit_code()


if __name__ == "__main__":
    sys.exit(main())
