"""End-to-end: the real `branching play` in a real terminal (tmux), driven by keys.

Each test starts its own tmux server (a private socket), runs the installed
program in a detached 100x30 session, sends keys, reads the screen with
`capture-pane`, and checks the telemetry database afterwards. Waiting polls
the screen with a deadline; nothing here asserts how long anything took.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ROOT / "tests" / "fixtures" / "hostile" / "story.yaml"

pytestmark = [
    pytest.mark.tmux,
    # Keys typed against a real player: with other tests taking the cores, `?` came
    # before the telemetry store was open and the help said nothing is recorded
    # (3 of 4 runs under pytest-xdist on a loaded machine); alone, as in one process.
    pytest.mark.solo,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


class Tmux:
    """One private tmux server with one session running a command."""

    def __init__(self, tmp: Path, name: str) -> None:
        self.socket = f"branching-{os.getpid()}-{name}"
        self.target = name
        self.status = tmp / f"{name}.status"

    def tmux(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-u", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return out.stdout

    def start(
        self, argv: list[str], env: dict[str, str], size: tuple[int, int] = (100, 30)
    ) -> None:
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # COLUMNS/LINES may leak in from the test runner: the program must ask the pty.
        command = (
            f"cd {shlex.quote(str(ROOT))} && env -u COLUMNS -u LINES {exports} "
            f"{shlex.join(argv)}; echo $? > {shlex.quote(str(self.status))}"
        )
        subprocess.run(
            [
                "tmux",
                "-u",
                "-L",
                self.socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                self.target,
                "-x",
                str(size[0]),
                "-y",
                str(size[1]),
                command,
            ],
            check=True,
            timeout=10,
        )

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.target)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.target, *keys)

    def raw(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.target, "-l", text)

    def click(self, x: int, y: int) -> None:
        """A left click at 0-based cell (x, y), as an SGR mouse report."""
        self.raw(f"\x1b[<0;{x + 1};{y + 1}M\x1b[<0;{x + 1};{y + 1}m")

    def wait_for(self, *texts: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(t in screen for t in texts):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"never saw {texts!r} on screen:\n{screen}")

    def exit_status(self, timeout: float = 15.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status.exists() and self.status.read_text().strip():
                return int(self.status.read_text())
            time.sleep(0.05)
        raise AssertionError(f"the player did not exit; screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def tmux(tmp_path):
    sessions: list[Tmux] = []

    def make(name: str) -> Tmux:
        session = Tmux(tmp_path, name)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


def env_for(tmp: Path) -> dict[str, str]:
    return {
        "XDG_CONFIG_HOME": str(tmp / "config"),
        "XDG_DATA_HOME": str(tmp / "data"),
        "TERM": "xterm-256color",
        "PYTHONPATH": str(ROOT),
        "LANG": "C.UTF-8",
    }


def events(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT seq, type, scene, choice, target, input FROM events ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()


def test_play_the_tutorial_to_an_ending_and_find_it_recorded(tmux, tmp_path):
    db = tmp_path / "play.db"
    t = tmux("tutorial")
    t.start(
        [
            sys.executable,
            "-m",
            "branching",
            "play",
            "stories/tutorial",
            "--db",
            str(db),
            "--seed",
            "1",
        ],
        env_for(tmp_path),
    )
    # the first-run notice (a toast, over the right half of the choices)
    first = t.wait_for("The train sighs", "records your choices")
    assert "The Lantern Market — The Market" in first.splitlines()[0]
    t.keys("Space")  # show the whole text at once
    t.wait_for(" 1. Take the paper lantern")
    t.keys("1")
    t.wait_for("The market fills")
    t.keys("Space")
    t.wait_for(" 1. Walk down to the river", "🔒 Climb the moth tower")
    t.keys("4")  # locked: nothing happens but a notice
    t.wait_for("Choice 4 is locked")
    t.keys("1")
    t.wait_for("The River", "The river is wide")
    t.keys("Space")
    t.wait_for(" 1. Board the ferry (1 coin)")
    t.keys("1")
    t.wait_for("The ferry noses")
    t.keys("Space")
    end = t.wait_for("THE END", "Endings found: 1 of 4", " 2. ⏏ Quit")
    assert "Home by Lantern-light" in end and "a good ending" in end
    assert end.count("???") == 3
    t.keys("2")
    assert t.exit_status() == 0
    assert [e[1:] for e in events(db)] == [
        ("session_started", "platform", None, None, None),
        ("scene_shown", "platform", None, None, None),
        ("reveal_skipped", "platform", None, None, None),
        ("choice_made", "platform", "lantern", "market", "key"),
        ("scene_shown", "market", None, None, None),
        ("reveal_skipped", "market", None, None, None),
        ("choice_made", "market", "walk_down_to_the_river", "pier", "key"),
        ("scene_shown", "pier", None, None, None),
        ("reveal_skipped", "pier", None, None, None),
        ("choice_made", "pier", "board", "crossing", "key"),
        ("scene_shown", "crossing", None, None, None),
        ("route_taken", "crossing", None, "home", None),  # `next`: no choice of the viewer
        ("scene_shown", "home", None, None, None),
        ("ending_reached", "home", None, None, None),
    ]
    conn = sqlite3.connect(db)
    outcome = conn.execute("SELECT outcome, ending_id, ending_kind FROM sessions").fetchall()
    from branching.store.states import StateReader

    reader, state = StateReader(), None  # stored as a snapshot, then patches: read in order
    for seq, kind, scene, text in conn.execute(
        "SELECT seq, type, scene, state FROM events ORDER BY seq"
    ).fetchall():
        now = reader.read_text(seq, text)
        if kind == "choice_made" and scene == "pier":
            state = now
    conn.close()
    assert outcome == [("ending", "home", "good")]
    assert state is not None
    assert state["vars"]["lantern"] is True and state["vars"]["coins"] == 2


def test_a_hostile_story_cannot_touch_the_terminal(tmux, tmp_path):
    launcher = tmp_path / "launch.py"
    viewer = "[@click=app.quit]eve[/] \x1b]0;PWNED-VIEWER\x07"
    launcher.write_text(
        "import sys\nfrom branching.cli import cli\n"
        f"sys.argv = ['branching', 'play', {str(HOSTILE)!r}, '--db', "
        f"{str(tmp_path / 'h.db')!r}, '--no-timer', '--viewer', {viewer!r}]\ncli()\n"
    )
    shown = tmp_path / "config" / "branching" / "notice-shown"  # not the first run
    shown.parent.mkdir(parents=True)
    shown.write_text("seen\n")
    t = tmux("hostile")
    t.start([sys.executable, str(launcher)], env_for(tmp_path))
    title_before = t.tmux("display", "-p", "-t", t.target, "#{pane_title}")
    t.wait_for("HOSTILE-START")
    t.keys("Space")
    screen = t.wait_for("HOSTILE-END", " 1. [@click=app.quit]CLICK-LABEL[/]")
    lines = screen.splitlines()
    assert "[bold red]Hostile[/] ␛]0;PWNED-TITLE␇ story" in lines[0]  # the header, literal
    assert "q Quit" in lines[-1]  # the footer is still in its place
    assert "[bold]not bold[/bold] [/] [@click=app.quit]CLICK-TO-QUIT[/]" in screen
    assert "␛[2J␛[H ␛[?1049l" in screen
    assert t.tmux("display", "-p", "-t", t.target, "#{alternate_on}").strip() == "1"

    row = next(i for i, line in enumerate(lines) if "CLICK-TO-QUIT" in line)
    col = lines[row].index("[@click=app.quit]CLICK-TO-QUIT")
    for dx in (1, 5, 20, 30):  # on the injected "[@click=app.quit]" and its text
        t.click(col + dx, row)
    time.sleep(0.3)
    assert not t.status.exists()  # still running
    assert "HOSTILE-START" in t.screen()

    t.keys("?")
    t.wait_for("Your choices", "[@click=app.quit]eve[/]", "␛]0;PWNED-VIEWER␇")  # literal
    t.keys("Escape")
    t.wait_for("HOSTILE-END")

    row = next(i for i, line in enumerate(t.screen().splitlines()) if "CLICK-LABEL" in line)
    label_col = t.screen().splitlines()[row].index("CLICK-LABEL")
    t.click(label_col, row)  # a real click on the option: takes the choice, nothing more
    t.wait_for("You are in the hall. [@click=app.quit]NO-QUIT[/]")
    assert not t.status.exists()
    assert t.tmux("display", "-p", "-t", t.target, "#{pane_title}") == title_before
    t.keys("q")
    t.wait_for("Leave this story?")
    t.keys("y")
    assert t.exit_status() == 0
    kinds = [(e[1], e[3], e[5]) for e in events(tmp_path / "h.db")]
    assert ("choice_made", "quit_label", "mouse") in kinds
    assert kinds[-1][0] == "quit"


def test_a_three_screen_ending_can_be_read_line_by_line_with_the_keyboard(tmux, tmp_path):
    """At 80x24, every line of a long ending comes on screen with PageDown alone."""
    lines = [f"Closing line {n:02d} of the very long ending." for n in range(1, 61)]
    body = "\n\n".join("      " + line for line in lines)
    story = tmp_path / "long.yaml"
    story.write_text(
        "branching: 1\nid: long\ntitle: Long Goodbye\nauthor: Tests\nstart: door\n"
        "scenes:\n  door:\n    text: A door.\n    choices:\n"
        "      - {label: Open it, goto: end}\n"
        f"  end:\n    title: The End\n    text: |\n{body}\n"
        "    ending: {kind: good, title: Long Goodbye}\n",
        encoding="utf-8",
    )
    t = tmux("long")
    t.start(
        [sys.executable, "-m", "branching", "play", str(story), "--no-telemetry"],
        {"HOME": str(tmp_path), "TERM": "xterm-256color"},
        size=(80, 24),
    )
    t.wait_for("A door.", "Open it")
    t.keys("1")
    seen: set[str] = set()
    screen = t.wait_for("Closing line 01")
    t.keys("Space")  # the rest of the text at once
    screen = t.wait_for("Play again")
    for _ in range(40):
        seen |= {line for line in lines if line in screen}
        if "THE END" in screen and len(seen) == len(lines):
            break
        t.keys("PageDown")
        deadline = time.monotonic() + 10
        before = screen
        while screen == before and time.monotonic() < deadline:  # one page at a time
            time.sleep(0.05)
            screen = t.screen()
    assert seen == set(lines), sorted(set(lines) - seen)[:5]
    assert "THE END" in screen and "Long Goodbye" in screen
    assert "Play again" in screen  # the options stayed on screen all along
    t.keys("q")
    assert t.exit_status() == 0


def test_demo_opens_the_dashboard_on_a_simulated_audience(tmux, tmp_path):
    """`branching demo` in a real terminal: the dashboard with Signal's figures, then q."""
    keep = tmp_path / "demo.db"
    t = tmux("demo")
    argv = [sys.executable, "-m", "branching", "demo", "--sessions", "300", "--keep", str(keep)]
    t.start(argv, env_for(tmp_path), size=(80, 24))
    screen = t.wait_for("Signal", "300", timeout=60)
    assert "simulated" in screen.lower() or "Signal" in screen
    t.keys("q")
    assert t.exit_status() == 0
    conn = sqlite3.connect(keep)
    try:
        assert conn.execute("SELECT COUNT(*), MIN(simulated) FROM sessions").fetchone() == (300, 1)
    finally:
        conn.close()
