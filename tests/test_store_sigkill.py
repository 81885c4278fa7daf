"""Killing the real player with SIGKILL loses nothing committed, and --resume continues.

The line-mode player reads choices from a pipe; after N choices are committed
(seen from another connection) it is killed with SIGKILL. Exactly N choice
events must be in the database, SQLite must find the file sound, and
`play --resume` must continue at the scene the viewer had reached, with the
state an uninterrupted run of the engine has there.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from branching.play.engine import Playthrough
from branching.store import Store
from branching.store.states import replay
from branching.story.loader import load_story
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

CORRIDOR = """\
branching: 1
id: corridor
title: The Corridor
start: room1
state:
  lefts: 0
  last: none
scenes:
  room1:
    text: You stand in room one.
    choices:
      - {id: left, label: Left door, goto: hall1, add: {lefts: 1}, set: {last: left1}}
      - {id: right, label: Right door, goto: room2, set: {last: right1}}
  hall1:
    text: A narrow hall.
    next: room2
  room2:
    text: You stand in room two.
    choices:
      - {id: left, label: Left door, goto: room3, add: {lefts: 1}, set: {last: left2}}
      - {id: right, label: Right door, goto: room3, set: {last: right2}}
  room3:
    text: You stand in room three.
    choices:
      - {id: left, label: Left door, goto: room4, add: {lefts: 1}, set: {last: left3}}
      - {id: right, label: Right door, goto: room4, set: {last: right3}}
  room4:
    text: You stand in room four.
    choices:
      - {id: left, label: Left door, goto: out, add: {lefts: 1}, set: {last: left4}}
      - {id: right, label: Right door, goto: out, set: {last: right4}}
  out:
    text: Daylight.
    ending: {kind: good, title: Outside}
"""
BEFORE_KILL = ["1", "2"]
AFTER_RESUME = ["1", "2"]
SEED = 5


def _player(story: Path, db: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "branching",
        "play",
        str(story),
        "--plain",
        "--db",
        str(db),
        "--viewer",
        "kim",
        "--seed",
        str(SEED),
        *extra,
    ]


def _committed_choices(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return 0
    try:
        return conn.execute("SELECT COUNT(*) FROM events WHERE type = 'choice_made'").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        conn.close()


def _wait_for_choices(db: Path, count: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while _committed_choices(db) < count:
        assert proc.poll() is None, "the player exited before it was killed"
        assert time.monotonic() < deadline, f"choice {count} was never committed"
        time.sleep(0.01)


def _reference(story: Path, answers: list[str]) -> Playthrough:
    run = Playthrough.start(load_story(str(story)), SEED)
    for answer in answers:
        run.choose_number(int(answer))
    return run


def test_sigkill_after_n_choices_then_resume(tmp_path: Path) -> None:
    story, db = tmp_path / "corridor.yaml", tmp_path / "t.db"
    story.write_text(CORRIDOR, encoding="utf-8")
    proc = subprocess.Popen(
        _player(story, db),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    assert proc.stdin is not None
    for n, answer in enumerate(BEFORE_KILL, start=1):
        proc.stdin.write(f"{answer}\n".encode())
        proc.stdin.flush()
        _wait_for_choices(db, n, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdin.close()
    assert proc.returncode == -signal.SIGKILL

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("SELECT COUNT(*) FROM events WHERE type = 'choice_made'").fetchone() == (
        len(BEFORE_KILL),
    )
    conn.close()

    reached = _reference(story, BEFORE_KILL)
    with Store.open(db) as store:
        point = store.unfinished_session("corridor", "kim")
    assert point is not None
    assert point.scene == reached.state.scene == "room3"
    assert point.frames[-1] == reached.state.to_dict()

    resumed = subprocess.run(
        _player(story, db, "--resume", "--choices", ",".join(AFTER_RESUME)),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "room one" not in resumed.stdout and "room two" not in resumed.stdout
    assert resumed.stdout.index("room three") < resumed.stdout.index("room four")
    assert "Outside" in resumed.stdout

    finished = _reference(story, BEFORE_KILL + AFTER_RESUME)
    conn = sqlite3.connect(db)
    sessions = conn.execute("SELECT session_id, outcome, ending_id FROM sessions").fetchall()
    seqs = [s for (s,) in conn.execute("SELECT seq FROM events ORDER BY seq")]
    choices = conn.execute(
        "SELECT scene, choice FROM events WHERE type = 'choice_made' ORDER BY seq"
    ).fetchall()
    stored = conn.execute("SELECT seq, state FROM events ORDER BY seq").fetchall()
    conn.close()
    assert [(outcome, ending) for _, outcome, ending in sessions] == [("ending", "out")]
    assert seqs == list(range(1, len(seqs) + 1))  # one playthrough, continued without gaps
    assert choices == [("room1", "left"), ("room2", "right"), ("room3", "left"), ("room4", "right")]
    assert replay(stored)[-1] == finished.state.to_dict()  # snapshots and patches rebuilt
