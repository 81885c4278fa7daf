"""The real player, a real lock, real signals: nothing the viewer has moved past is lost.

Another connection holds the database's write lock (`BEGIN IMMEDIATE`, as a
long `prune`, `forget` or `sqlite3 DB 'BEGIN IMMEDIATE; ...'` does) while the
line-mode player (`--plain`, choices on a pipe) or the full-screen player (in a
pseudo-terminal) is played. Each step must be on disk before the next scene is
shown: killed with SIGKILL, every event of every scene the viewer saw is found
afterwards (in the spool, loaded at the next open). SIGTERM and SIGHUP end the
player as ctrl+c does: the store is closed, its warning printed, and the exit
status is 128 + the signal, not a death by signal.
"""

from __future__ import annotations

import fcntl
import os
import pty
import queue
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

from branching.store import Store
from tests.conftest import ROOT
from tests.test_store_sigkill import CORRIDOR, SEED

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

WAIT = 30.0  # the most any step may take before the test gives up (they take about 1 s)


@contextmanager
def write_lock(path: Path) -> Iterator[None]:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


class Output:
    """What a child process writes, read in a thread so the test can wait for text."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.text = b""
        self._chunks: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self._chunks.put(line)

    def wait_for(self, marker: str, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + WAIT
        while marker.encode() not in self.text:
            assert time.monotonic() < deadline, f"never saw {marker!r}; got {self.text[-500:]!r}"
            try:
                self.text += self._chunks.get(timeout=0.1)
            except queue.Empty:
                assert proc.poll() is None, f"the player exited: {self.text[-500:]!r}"


def _prepare(db: Path, tmp_path: Path) -> Path:
    """A database with its viewer key noted (so opening it needs no write), and the story."""
    with Store.open(db) as store:
        store.load_viewer_key()
    story = tmp_path / "corridor.yaml"
    story.write_text(CORRIDOR, encoding="utf-8")
    return story


def _argv(story: Path, db: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "branching",
        "play",
        str(story),
        "--db",
        str(db),
        "--viewer",
        "kim",
        "--seed",
        str(SEED),
        *extra,
    ]


def _steps(db: Path) -> list[tuple[str, str | None, str | None]]:
    """What was recorded (the input device aside: a script says `scripted`)."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT type, scene, choice FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()


def _reference(
    story: Path, tmp_path: Path, answers: list[str]
) -> list[tuple[str, str | None, str | None]]:
    """The events an undisturbed run of the same choices records."""
    db = tmp_path / "reference.db"
    done = subprocess.run(
        _argv(story, db, "--plain", "--choices", ",".join(answers)),
        capture_output=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return _steps(db)


def _line_player(story: Path, db: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        _argv(story, db, "--plain"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )


def _choose(proc: subprocess.Popen[bytes], out: Output, answer: str, next_scene: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(f"{answer}\n".encode())
    proc.stdin.flush()
    out.wait_for(next_scene, proc)


def test_killed_while_the_database_is_locked_every_step_seen_is_kept(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    story = _prepare(db, tmp_path)
    with write_lock(db):
        proc = _line_player(story, db)
        assert proc.stdout is not None and proc.stderr is not None
        out = Output(proc.stdout)
        started = time.monotonic()
        out.wait_for("room one", proc)
        for answer, scene in [("1", "room two"), ("2", "room three"), ("1", "room four")]:
            _choose(proc, out, answer, scene)
        took = time.monotonic() - started
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=WAIT)
        assert proc.stdin is not None
        proc.stdin.close()
        told = proc.stderr.read().decode()
        assert _steps(db) == []  # nothing could reach the database itself
    assert proc.returncode == -signal.SIGKILL
    with Store.open(db) as store:  # the spool loads
        assert store.spooled_in > 0
    assert _steps(db) == _reference(story, tmp_path, ["1", "2", "1"])
    assert "kept beside it" in told and "locked" in told  # the viewer was told, once
    assert told.count("kept beside it") == 1
    assert took < 10, f"three choices took {took:.1f} s with the database locked"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_close_the_line_player_like_ctrl_c(tmp_path: Path, signum: int) -> None:
    db = tmp_path / "t.db"
    story = _prepare(db, tmp_path)
    with write_lock(db):
        proc = _line_player(story, db)
        assert proc.stdout is not None and proc.stderr is not None
        out = Output(proc.stdout)
        out.wait_for("room one", proc)
        _choose(proc, out, "1", "room two")
        proc.send_signal(signum)
        proc.wait(timeout=WAIT)
        told = proc.stderr.read().decode()
    assert proc.returncode == 128 + signum, told  # it ended itself: the store was closed
    assert "warning: the telemetry database could not be written" in told
    assert "kept in" in told and "t.db.spool" in told
    Store.open(db).close()
    assert _steps(db) == _reference(story, tmp_path, ["1"])


def _pty_player(story: Path, db: Path) -> tuple[subprocess.Popen[bytes], int]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        _argv(story, db),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    return proc, master


class Screen:
    """Everything the full-screen player drew (escape codes and all)."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.data = b""

    def pump(self, seconds: float = 0.1) -> None:
        ready, _, _ = select.select([self.master], [], [], seconds)
        if ready:
            try:
                self.data += os.read(self.master, 1 << 16)
            except OSError:  # the child closed its side
                time.sleep(seconds)

    def wait_for(self, marker: bytes, proc: subprocess.Popen[bytes], start: int = 0) -> None:
        deadline = time.monotonic() + WAIT
        while marker not in self.data[start:]:
            assert time.monotonic() < deadline, f"never saw {marker!r}"
            assert proc.poll() is None, f"the player exited: {self.data[-800:]!r}"
            self.pump()

    def until_exit(self, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + WAIT
        while proc.poll() is None:
            assert time.monotonic() < deadline, "the player did not exit"
            self.pump()
        for _ in range(5):
            self.pump(0.05)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_close_the_full_screen_player(tmp_path: Path, signum: int) -> None:
    db = tmp_path / "t.db"
    story = _prepare(db, tmp_path)
    with write_lock(db):
        proc, master = _pty_player(story, db)
        screen = Screen(master)
        try:
            screen.wait_for(b"room one", proc)
            screen.wait_for(b"kept beside", proc)  # the notice bar: the lock is not hidden
            mark = len(screen.data)
            deadline = time.monotonic() + WAIT
            while b"room two" not in screen.data[mark:]:  # a key may first finish the reveal
                assert time.monotonic() < deadline, "the choice was never shown taken"
                os.write(master, b"1")
                for _ in range(5):
                    screen.pump()
            proc.send_signal(signum)
            screen.until_exit(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(master)
    assert proc.returncode == 128 + signum
    # the store's warning, printed once the app had closed (not lost with the screen)
    assert b"warning: the telemetry database could not be written" in screen.data
    Store.open(db).close()
    steps = _steps(db)
    assert ("choice_made", "room1", "left") in steps
    assert ("scene_shown", "room2", None) in steps
