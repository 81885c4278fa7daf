"""Small events: the state stored as snapshots and patches, and everything that reads it.

Sessions of the showcase story are recorded through the real path
(`recording.StoreRecorder` on a `Store`) with random choices, timeouts,
pauses, going back and rewinds from endings, and compared with the engine's
own state at the same point: on resume, on export, after the upgrade of a
database written in the old format (the whole state in every event), after
`prune` and after a `merge` whose sessions clash.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from branching.play.engine import Playthrough
from branching.recording import StoreRecorder, resume_run
from branching.store import Store, StoryInfo, db
from branching.store.erase import prune
from branching.store.export import ExportFilter, iter_rows
from branching.store.merge import merge
from branching.store.migrations import migrate
from branching.store.states import StateChain, StateReader, diff, dumps, replay
from branching.story.loader import load_story
from branching.story.model import Story
from tests.conftest import ROOT

SIGNAL = ROOT / "stories" / "signal"


class Capturing(StoreRecorder):
    """The real recorder, also keeping every event with the engine's whole state."""

    def __init__(self, session: Any, log: list[tuple[str, dict[str, Any]]]) -> None:
        super().__init__(session)
        self.log = log

    def _put(self, kind: str, run: Playthrough, **fields: Any) -> None:
        self.log.append((kind, {**fields, "state": run.state.to_dict()}))
        super()._put(kind, run, **fields)


def _play(run: Playthrough, rec: StoreRecorder, rng: random.Random, steps: int) -> None:
    """Random choices, timeouts, pauses, going back and rewinds from endings."""
    rec.started(run)
    for _ in range(steps):
        view = run.view
        if view.ending is not None:
            if not view.offers:
                return
            offer = rng.choice(view.offers)
            run.rewind_to(offer.scene)
            rec.rewound(run, offer.scene, input="key")
            continue
        if view.stuck is not None:
            return
        if run.can_go_back and rng.random() < 0.15:
            run.back()
            rec.rewound(run, run.view.scene, input="key")
            continue
        if rng.random() < 0.1:
            rec.event("pause", run, scene=view.scene)
            rec.event("resume", run, scene=view.scene)
        timeout = view.default is not None and rng.random() < 0.2
        choice = view.default if timeout else rng.choice([c for c in view.choices if not c.locked])
        assert choice is not None
        scene = view.scene
        run.choose(choice.id)
        rec.chose(
            run,
            scene,
            choice.id,
            choice.target,
            decide_ms=None if timeout else 900,
            input="timeout" if timeout else "key",
            timeout=timeout,
        )
        rec.shown(run)


def _register(store: Store, story: Story) -> None:
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


def _record(
    path: Path, story: Story, seeds: list[int], steps: int = 40
) -> dict[str, tuple[Playthrough, list[tuple[str, dict[str, Any]]]]]:
    """Record one session per seed; session id -> (the engine's run, every event's state)."""
    out = {}
    with Store.open(path) as store:
        _register(store, story)
        for seed in seeds:
            session = store.start_session(
                story.id, story.content_hash, f"viewer-{seed}", seed=seed, attrs={"cohort": "a"}
            )
            log: list[tuple[str, dict[str, Any]]] = []
            run = Playthrough.start(story, seed)
            rec = Capturing(session, log)
            _play(run, rec, random.Random(seed), steps)
            rec.close()
            out[session.session_id] = (run, log)
    return out


def _stored_states(path: Path) -> dict[str, list[Any]]:
    conn = sqlite3.connect(path)
    try:
        by: dict[str, list[tuple[int, str | None]]] = {}
        for session_id, seq, state in conn.execute(
            "SELECT session_id, seq, state FROM events ORDER BY session_id, seq"
        ):
            by.setdefault(session_id, []).append((seq, state))
    finally:
        conn.close()
    return {k: replay(v) for k, v in by.items()}


def _exported(path: Path) -> dict[str, list[Any]]:
    conn = sqlite3.connect(path)
    try:
        by: dict[str, list[Any]] = {}
        for row in iter_rows(conn, ExportFilter()):
            by.setdefault(row["session_id"], []).append(row["state"])
    finally:
        conn.close()
    return by


@pytest.fixture(scope="module")
def signal() -> Story:
    return load_story(SIGNAL)


# -- the codec -----------------------------------------------------------------------


def test_a_patch_rebuilds_the_very_state_types_and_order_included() -> None:
    old = {"scene": "a", "vars": {"n": 1, "f": True, "x": 1.0}, "chosen": [["a", "b"]], "gone": 1}
    new = {"scene": "b", "vars": {"n": True, "f": True, "x": 1}, "chosen": [["a", "b"], ["b", "c"]]}
    chain, reader = StateChain(), StateReader()
    for seq, state in enumerate([old, new, new, old, None, new], start=1):
        stored = chain.encode(state)
        back = reader.read_text(seq, None if stored is None else dumps(stored))
        assert back == state and dumps(back) == dumps(state)
    assert diff(new, new) is None


def test_a_missing_event_makes_the_state_unknown_until_the_next_snapshot() -> None:
    chain = StateChain()
    big = {f"flag{i}": False for i in range(20)}
    stored = [chain.encode({"turns": n, "vars": big}) for n in range(3)]
    texts = [(seq, None if s is None else dumps(s)) for seq, s in enumerate(stored, start=1)]
    assert replay(texts)[2] == {"turns": 2, "vars": big}
    assert replay([texts[0], texts[2]])[1] is None  # seq 2 is lost: never guessed


# -- resume ---------------------------------------------------------------------------


def test_resume_restores_the_engines_exact_state_after_draws_rewinds_and_timeouts(
    tmp_path: Path, signal: Story
) -> None:
    path = tmp_path / "t.db"
    for seed in (3, 11, 29, 57):
        played = _record(path, signal, [seed], steps=6 + seed % 9)
        ((run, _log),) = played.values()
        if run.view.finished:
            continue
        with Store.open(path) as store:
            found = resume_run(store, signal, f"viewer-{seed}")
        assert found is not None
        resumed, _point = found
        assert resumed.state == run.state
        assert [f.state for f in resumed.frames] == [f.state for f in run.frames]


def test_every_stored_state_and_every_exported_state_is_the_engines(
    tmp_path: Path, signal: Story
) -> None:
    path = tmp_path / "t.db"
    played = _record(path, signal, [1, 2, 3, 4, 5, 6])
    rebuilt, exported = _stored_states(path), _exported(path)
    for session_id, (_run, log) in played.items():
        assert rebuilt[session_id] == [f["state"] for _, f in log]
        assert exported[session_id] == [f["state"] for _, f in log]


def test_a_realistic_signal_recording_takes_at_most_250_bytes_per_event(
    tmp_path: Path, signal: Story
) -> None:
    path = tmp_path / "t.db"
    _record(path, signal, list(range(40)), steps=60)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (events,) = conn.execute("SELECT COUNT(*) FROM events").fetchone()
    conn.close()
    assert events > 1000
    assert path.stat().st_size / events <= 250


# -- the old format ---------------------------------------------------------------------


def _old_database(path: Path, source: Path, played: dict[str, Any]) -> None:
    """`source`'s playthroughs as the old schema (m001-m006) stored them: full state each."""
    db.create_file(path)
    conn = db.connect(path)
    try:
        migrate(conn, path, stop_before="m007_small_events")
        conn.execute("ATTACH DATABASE ? AS n", [str(source)])
        with db.immediate(conn):
            old_columns = [row[1] for row in conn.execute("PRAGMA main.table_info(sessions)")]
            names = ", ".join(old_columns)
            conn.execute("INSERT INTO main.stories SELECT * FROM n.stories")
            conn.execute(f"INSERT INTO main.sessions ({names}) SELECT {names} FROM n.sessions")
            for table in ("session_attrs", "viewer_keys", "traversals", "session_ends"):
                conn.execute(f"INSERT INTO main.{table} SELECT * FROM n.{table}")
            for session_id, (_run, log) in played.items():
                conn.executemany(
                    "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            str(uuid.uuid4()),
                            session_id,
                            seq,
                            "2025-06-01T18:04:05.123Z",
                            kind,
                            f.get("scene"),
                            f.get("choice"),
                            f.get("target"),
                            f.get("decide_ms"),
                            f.get("input"),
                            json.dumps(f["state"], separators=(",", ":")),
                        )
                        for seq, (kind, f) in enumerate(log, start=1)
                    ],
                )
        conn.execute("DETACH DATABASE n")
    finally:
        conn.close()


def test_an_old_database_is_upgraded_and_still_resumes_and_exports_the_same_states(
    tmp_path: Path, signal: Story
) -> None:
    played = _record(tmp_path / "new.db", signal, [7, 8, 9], steps=7)
    old = tmp_path / "old.db"
    _old_database(old, tmp_path / "new.db", played)
    before = _events_bytes(old)
    with Store.open(old) as store:  # the upgrade runs here
        for seed, (run, _log) in zip((7, 8, 9), played.values(), strict=True):
            if run.view.finished:
                continue
            found = resume_run(store, signal, f"viewer-{seed}")
            assert found is not None and found[0].state == run.state
    exported = _exported(old)
    for session_id, (_run, log) in played.items():
        assert exported[session_id] == [f["state"] for _, f in log]
    conn = sqlite3.connect(old, isolation_level=None)
    conn.execute("VACUUM")
    conn.close()
    assert _events_bytes(old) < before  # the whole states became patches


def _events_bytes(path: Path) -> int:
    """The bytes the events table takes (later steps add tables of their own to the file)."""
    conn = sqlite3.connect(path)
    try:
        return int(
            conn.execute("SELECT SUM(pgsize) FROM dbstat WHERE name = 'events'").fetchone()[0]
        )
    finally:
        conn.close()


def test_an_old_spool_record_with_the_whole_state_still_loads(tmp_path: Path) -> None:
    from branching.store.ops import apply_op

    path = tmp_path / "t.db"
    with Store.open(path) as store:
        store.register_story(StoryInfo("s", "S", None, None, "h", {"scenes": []}))
        session = store.start_session("s", "h", "ann")
        session.close()
    record = {
        "v": 1,
        "op": "event",
        "event_id": str(uuid.uuid4()),
        "session_id": session.session_id,
        "story_id": "s",
        "content_hash": "h",
        "seq": 1,
        "ts": "2025-06-01T18:04:05.123Z",
        "type": "pause",
        "scene": None,
        "choice": None,
        "target": None,
        "decide_ms": None,
        "input": None,
        "state": '{"scene":"a","turns":2}',
    }
    conn = db.connect(path)
    with db.immediate(conn):
        assert apply_op(conn, record)
        assert not apply_op(conn, record)  # applied twice, kept once
    conn.close()
    assert _exported(path)[session.session_id] == [{"scene": "a", "turns": 2}]


# -- prune and merge ------------------------------------------------------------------------


def test_prune_keeps_every_remaining_state_readable(tmp_path: Path, signal: Story) -> None:
    path = tmp_path / "t.db"
    played = _record(path, signal, [21, 22], steps=12)
    conn = sqlite3.connect(path)
    with conn:  # the first five events of each session are older than the rest
        conn.execute("UPDATE events SET ts = '2020-01-01T00:00:00.000Z' WHERE seq <= 5")
    conn.close()
    assert prune(path, "2021-01-01").events == 10
    exported = _exported(path)
    for session_id, (_run, log) in played.items():
        assert exported[session_id] == [f["state"] for _, f in log[5:]]


def test_a_merge_after_a_clash_never_applies_a_patch_to_the_other_copys_state(
    tmp_path: Path, signal: Story
) -> None:
    kiosk = tmp_path / "kiosk.db"
    played = _record(kiosk, signal, [31], steps=3)
    ((session_id, (run, first)),) = played.items()
    copy = tmp_path / "copy.db"
    db.copy_database(kiosk, copy)
    assert not run.view.finished
    continued: dict[str, list[Any]] = {}
    for name, path, rng in (("a", kiosk, random.Random(1)), ("b", copy, random.Random(2))):
        replayed = Playthrough.from_json(signal, run.to_json())
        log: list[tuple[str, dict[str, Any]]] = []
        with Store.open(path) as store:
            rec = Capturing(store.resume_session(session_id), log)
            for _ in range(3 if name == "a" else 6):
                view = replayed.view
                if view.finished:
                    break
                choice = rng.choice([c for c in view.choices if not c.locked])
                replayed.choose(choice.id)
                rec.chose(replayed, view.scene, choice.id, choice.target, decide_ms=5, input="key")
                rec.shown(replayed)
            rec.close()
        continued[name] = [f["state"] for _, f in log]
    (result,) = merge(kiosk, [copy])
    states = _exported(kiosk)[session_id]
    assert result.conflicts > 0
    kiosk_events = len(first) + len(continued["a"])  # kept at every clash
    assert states[:kiosk_events] == [f["state"] for _, f in first] + continued["a"]
    copied = states[kiosk_events:]  # the copy's later events, after the clash
    assert copied and copied == continued["b"][len(continued["a"]) :]
