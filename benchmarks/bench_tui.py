"""The full-screen player's speed, measured on a real pseudo-terminal.

(a) Launch to first scene, whole process against whole process: from starting
    `python -m branching play stories/tutorial` (telemetry on, to a fresh
    database) until the first words of the start scene are written to the
    terminal, against starting a minimal Textual app (one Static) until its
    text is written. Paired rounds in the same run, alternating which goes
    first; the ratio of a round is player / minimal app. Target: median of the
    paired ratios at most 1.5 (min and max printed).
(b) Key press to next scene: with the player running, the time from writing
    the choice's key to the pty until the first words of the next scene are
    written, over a loop of the tutorial (platform -> market -> pier -> an
    ending -> play again ...). Each step is recorded to the database
    (committed, synchronous=FULL) before the scene is shown, so this includes
    the commit. Half the steps of the loop are endings and "play again",
    the heaviest ones (a new screen, a new session): every step counts, and
    the figures per next scene are printed too. The viewer reads the first
    scene for FIRST_READ_S (the player opens telemetry meanwhile; launch is
    (a)) and looks at the options for READ_S before each key. Target: p95
    under 50 ms (median and max printed beside it). For context, the
    blocking part alone (engine + store commits, no UI) is timed in-process.

The scene counts as on screen when its first words are written: the reveal
shows the first `LEAD` cells in the scene's first frame and lets the rest
flow in after it.

Every target prints a PASS/FAIL line; the exit status is 1 when any is missed.

Usage: python benchmarks/bench_tui.py [--quick]
Writes benchmarks/results/tui.json (tui-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _pairs import (  # noqa: E402
    Verdicts,
    child_env,
    fmt_ratio,
    latency_summary,
    paired,
    ratio_summary,
    write_results,
)

from branching.play.engine import Playthrough  # noqa: E402
from branching.story.loader import load_story  # noqa: E402
from branching.tui.common.text import paragraphs  # noqa: E402
from branching.tui.player.widgets.scene_text import LEAD  # noqa: E402

COLS, ROWS = 100, 30
FIRST_READ_S = 1.0  # how long the viewer reads the first scene before the first step
READ_S = 0.1  # how long the viewer looks at the options before pressing a key
MINIMAL_APP = """\
from textual.app import App
from textual.widgets import Static


class Minimal(App):
    def compose(self):
        yield Static("minimal app ready")


Minimal().run()
"""


class NeverSaw(RuntimeError):
    """The program never wrote what a step waited for."""


class Pty:
    """A program running on a pseudo-terminal of COLS x ROWS.

    A reader thread drains the terminal all the time (as a real terminal
    does: a full pty buffer would block the program's writes) and keeps the
    output with the time each chunk arrived.
    """

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=ROOT,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)
        self.master = master
        self.chunks: list[tuple[float, bytes]] = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.05)
                if ready:
                    chunk = os.read(self.master, 65536)
                    if not chunk:
                        return
                    with self.lock:
                        self.chunks.append((time.perf_counter(), chunk))
            except (OSError, ValueError):
                return

    def mark(self) -> int:
        """A position in the output: `wait_for` looks only at what comes after it."""
        with self.lock:
            return len(self.chunks)

    def wait_for(self, text: str, since: int = 0, timeout: float = 20.0) -> float:
        """When `text` was first written after position `since` (perf_counter seconds)."""
        needle = text.encode()
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                chunks = self.chunks[since:]
            tail = b""
            for at, chunk in chunks:
                tail = tail[-len(needle) :] + chunk
                if needle in tail:
                    return at
            time.sleep(0.002)
        raise NeverSaw(f"never saw {text!r}; the screen ended with: {self.screen_tail()!r}")

    def screen_tail(self, chars: int = 300) -> str:
        """The last words written, escape sequences removed (for a failure message)."""
        with self.lock:
            raw = b"".join(chunk for _, chunk in self.chunks[-50:]).decode("utf-8", "replace")
        text = re.sub(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b.", " ", raw)
        return " ".join(text.split())[-chars:]

    def send(self, keys: str) -> tuple[float, int]:
        """Write `keys`; the time they were written and the output position then."""
        since = self.mark()
        at = time.perf_counter()
        os.write(self.master, keys.encode())
        return at, since

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.reader.join(1)
        os.close(self.master)


def environment(tmp: Path) -> dict[str, str]:
    """Both programs' environment: a clean terminal; config, data, state and cache in `tmp`."""
    env = child_env(
        TERM="xterm-256color",
        LANG="C.UTF-8",
        XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_DATA_HOME=str(tmp / "data"),
        XDG_STATE_HOME=str(tmp / "state"),  # a crash log, if any, stays in tmp too
        XDG_CACHE_HOME=str(tmp / "cache"),
    )
    for name in ("COLUMNS", "LINES", "TEXTUAL_FPS", "BRANCHING_DB"):
        env.pop(name, None)
    return env


def marker(text: str) -> str:
    """The first words of a passage: what the player shows in the scene's first frame.

    The reveal starts with `LEAD` cells visible, so these words are on screen
    from the first frame of the new scene; the rest flows in after it.
    """
    words = paragraphs(text)[0].replace("*", "").split()
    out = words[0]
    for word in words[1:]:
        if len(out) + 1 + len(word) > LEAD:
            break
        out += " " + word
    return out


def player_argv(db: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "branching",
        "play",
        "stories/tutorial",
        "--db",
        str(db),
        "--seed",
        "1",
    ]


def launch_once(argv: list[str], env: dict[str, str], text: str) -> float:
    pty = Pty(argv, env)
    try:
        return pty.wait_for(text) - pty.started
    finally:
        pty.stop()


def bench_launch(tmp: Path, rounds: int, first: str) -> dict[str, object]:
    env = environment(tmp)
    minimal = tmp / "minimal.py"
    minimal.write_text(MINIMAL_APP)
    minimal_argv = [sys.executable, str(minimal)]
    # Warm both (first-run notice, viewer key, bytecode and page caches).
    launch_once(player_argv(tmp / "warm.db"), env, first)
    launch_once(minimal_argv, env, "minimal app ready")
    count = iter(range(rounds))
    mins, players = paired(
        lambda: launch_once(minimal_argv, env, "minimal app ready"),
        lambda: launch_once(player_argv(tmp / f"launch{next(count)}.db"), env, first),
        rounds,
    )
    return {
        "minimal_median_ms": round(statistics.median(mins) * 1000, 1),
        "player_median_ms": round(statistics.median(players) * 1000, 1),
        "ratio_player_over_minimal": ratio_summary(
            [p / m for m, p in zip(mins, players, strict=True)]
        ),
        "target_ratio": 1.5,
        "minimal_all_ms": [round(x * 1000, 1) for x in mins],
        "player_all_ms": [round(x * 1000, 1) for x in players],
    }


def tutorial_loop(steps: int) -> list[tuple[str, str, str]]:
    """(text showing the options are live, key to press, words the next scene starts with).

    Follows the engine: choice 1 at every choice point, "play again" at endings.
    """
    story = load_story(ROOT / "stories" / "tutorial")
    run = Playthrough.start(story, 1)
    plan = []
    while len(plan) < steps:
        view = run.view
        if view.finished:
            ready, key = "Play again", str(len(view.offers) + 1)
            run = Playthrough.start(story, 1)
        else:
            ready, key = view.choices[0].label, "1"
            run.choose_number(1)
        plan.append((ready, key, marker(run.view.passages[0].text)))
    return plan


def bench_steps(tmp: Path, steps: int, first: str) -> dict[str, object]:
    env = environment(tmp)
    pty = Pty(player_argv(tmp / "steps.db"), env)
    times: list[float] = []
    by_scene: dict[str, list[float]] = {}
    try:
        pty.wait_for(first)
        # The viewer reads the first scene: meanwhile the player opens telemetry
        # and records the playthrough's start (a key pressed before that is
        # taken once it is done; launch speed is measured in (a)).
        time.sleep(FIRST_READ_S)
        for ready, key, words in tutorial_loop(steps):
            _, since = pty.send(" ")  # complete the reveal: the options appear
            pty.wait_for(ready, since)
            time.sleep(READ_S)  # the viewer reads the options
            pressed, since = pty.send(key)
            took = (pty.wait_for(words, since) - pressed) * 1000
            times.append(took)
            by_scene.setdefault(words, []).append(took)
    finally:
        pty.stop()
    return {
        **latency_summary(times),
        "by_next_scene": {words: latency_summary(ms) for words, ms in by_scene.items()},
        "all_ms": [round(t, 1) for t in times],
        "target_p95_ms": 50,
    }


def bench_recording(tmp: Path, steps: int) -> dict[str, object]:
    """The blocking part of a step alone: engine + the store's commits, no UI."""
    from branching.play.stepper import Playing
    from branching.recording import PlayOptions, StoreServices
    from branching.store import Store

    db = tmp / "record.db"
    services = StoreServices(lambda: (Store.open(db), str(db)), PlayOptions(db=str(db)), "bench")
    story = load_story(ROOT / "stories" / "tutorial")
    playing = Playing(story, services, seed=1)
    playing.begin()
    times = []
    try:
        for _ in range(steps):
            run = playing.run
            assert run is not None
            view = run.view
            started = time.perf_counter()
            if view.finished:
                playing.again()
            else:
                choice = view.choices[0]
                playing.choose(choice, scene=view.scene, decide_ms=0, how="key")
            times.append(time.perf_counter() - started)
    finally:
        playing.close()
        services.close()
    return latency_summary([t * 1000 for t in times])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps")
    args = parser.parse_args()
    rounds, steps = (4, 20) if args.quick else (15, 120)
    story = load_story(ROOT / "stories" / "tutorial")
    first = marker(Playthrough.start(story, 1).view.passages[0].text)
    verdicts = Verdicts()
    result: dict[str, object] = {"terminal": f"{COLS}x{ROWS}"}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            launch = result["launch"] = bench_launch(Path(tmp), rounds, first)
        except NeverSaw as exc:
            verdicts.judge("launch to first scene vs a minimal Textual app", False, str(exc))
        else:
            ratio = launch["ratio_player_over_minimal"]
            print(
                f"launch to first scene: player median {launch['player_median_ms']} ms, "
                f"minimal Textual app median {launch['minimal_median_ms']} ms"
            )
            print(f"  paired ratio player / minimal: {fmt_ratio(ratio)}")
            verdicts.judge(
                "launch to first scene vs a minimal Textual app, whole processes",
                ratio["median"] <= 1.5,
                f"median paired ratio {fmt_ratio(ratio)}, target <= 1.5",
            )
        try:
            step = result["step"] = bench_steps(Path(tmp), steps, first)
        except NeverSaw as exc:
            verdicts.judge("key press to next scene", False, str(exc))
        else:
            print(
                f"key press to next scene: median {step['median_ms']} ms, p95 {step['p95_ms']} "
                f"ms, max {step['max_ms']} ms over {step['samples']} steps"
            )
            for words, row in step["by_next_scene"].items():
                print(
                    f"  to {words!r}: median {row['median_ms']} ms, p95 {row['p95_ms']} ms "
                    f"({row['samples']} steps)"
                )
            recording = result["recording_only"] = bench_recording(Path(tmp), steps)
            print(
                f"  of which recording (engine + store commits, no UI): median "
                f"{recording['median_ms']} ms, p95 {recording['p95_ms']} ms"
            )
            verdicts.judge(
                "key press to next scene",
                step["p95_ms"] < 50,
                f"p95 {step['p95_ms']} ms (median {step['median_ms']} ms, {step['samples']} "
                "steps), target p95 < 50 ms",
            )
    write_results("tui", args.quick, result, verdicts)
    return verdicts.exit_code()


if __name__ == "__main__":
    sys.exit(main())
