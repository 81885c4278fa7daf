"""What the attack tests share: the real CLI in a subprocess, real faults, what "clean" means.

- `run_cli` runs `python -m branching ...` (through `runpy`, exactly as `-m`
  does) in its own process group, with a memory limit and a deadline, and
  never raises: a hang or a crash is a result the test asserts on.
- `run_in_pty` does the same on a pseudo-terminal, for what only happens on
  one (the dashboard, styled terminal output), typing keys on a schedule.
- `read_only`, `small_disk`, `fill` make real faults: an immutable file or
  folder (`chattr +i`, since the tests run as root and root ignores modes;
  `chmod` for other users), a small tmpfs, a disk filled to the last byte.
- `require` skips a test whose tool is missing here, and fails it in CI
  (`CI=true`), where `.ci/run` installs every tool the suite needs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
STORIES = ROOT / "stories"
FIXTURES = ROOT / "tests" / "fixtures"
BREAKFAST = FIXTURES / "good" / "breakfast.yaml"

MEMORY_LIMIT = 2 * 1024**3  # a bounded read never needs more; /dev/zero read whole would
DEFAULT_TIMEOUT = 60.0

# Characters that make a terminal do something (C0 codes but newline and tab, DEL, the
# C1 codes including the 8-bit CSI and OSC, the bidirectional overrides and isolates).
TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

# Launches the CLI exactly as `python -m branching` does, under a memory limit.
_LAUNCH = (
    "import resource, runpy, sys\n"
    "limit = int(sys.argv.pop(1))\n"
    "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
    "sys.argv[0] = 'branching'\n"
    "runpy.run_module('branching', run_name='__main__', alter_sys=True)\n"
)


def in_ci() -> bool:
    """True in CI, where a missing tool is a failure, not a reason to skip."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require(ok: object, reason: str) -> None:
    """Skip (here) or fail (in CI) unless `ok`: a tool or privilege the test needs."""
    if ok:
        return
    if in_ci():
        pytest.fail(f"{reason}; CI must provide it (.ci/run installs the suite's tools)")
    pytest.skip(reason)


@dataclass
class Run:
    """One run of the CLI: what it printed, how it ended."""

    argv: list[str]
    returncode: int | None  # None: it hung and was killed
    stdout: bytes
    stderr: bytes
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    @staticmethod
    def _clip(text: str) -> str:
        if len(text) <= 2400:
            return f"\n{text}"
        return f" (first and last 1200 chars)\n{text[:1200]}\n[...]\n{text[-1200:]}"

    def describe(self) -> str:
        status = "hung (killed)" if self.timed_out else f"exit {self.returncode}"
        return (
            f"`{' '.join(self.argv)}`: {status} after {self.seconds:.1f}s\n"
            f"--- stdout{self._clip(self.out)}\n"
            f"--- stderr (last 3000 chars)\n{self.err[-3000:]}"
        )


def cli_argv(*args: object, memory_limit: int = MEMORY_LIMIT) -> list[str]:
    """The command line that runs `branching ARGS` under a memory limit."""
    return [sys.executable, "-c", _LAUNCH, str(memory_limit), *(str(a) for a in args)]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment (the isolated XDG folders included), wide and colourless."""
    env = dict(os.environ)
    env.setdefault("COLUMNS", "160")
    env.pop("BRANCHING_DB", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)


def run_cli(
    *args: object,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cwd: Path | None = None,
    memory_limit: int = MEMORY_LIMIT,
) -> Run:
    """Run `branching ARGS`; a run past `timeout` is killed and reported as hung."""
    argv = cli_argv(*args, memory_limit=memory_limit)
    shown = ["branching", *(str(a) for a in args)]
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(env),
        cwd=cwd or ROOT,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        code = None
    return Run(shown, code, out, err, time.monotonic() - start)


def run_in_pty(
    *args: object,
    env: Mapping[str, str] | None = None,
    keys: Sequence[tuple[float, bytes]] = (),
    timeout: float = DEFAULT_TIMEOUT,
    size: tuple[int, int] = (120, 40),
    cwd: Path | None = None,
) -> Run:
    """Run `branching ARGS` on a pseudo-terminal, typing each key at its time (seconds).

    What the program wrote to the terminal comes back as `stdout`.
    """
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    cols, rows = size
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    environ = child_env({"TERM": "xterm-256color", **(env or {})})
    environ.pop("COLUMNS", None)
    environ.pop("LINES", None)
    argv = cli_argv(*args)
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=environ,
        cwd=cwd or ROOT,
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    pending = sorted(keys)
    chunks: list[bytes] = []
    code: int | None = None
    closed = False  # the program's side of the terminal is closed: nothing more to read
    try:
        while True:
            now = time.monotonic() - start
            while pending and pending[0][0] <= now:
                with contextlib.suppress(OSError):
                    os.write(master, pending.pop(0)[1])
            if now > timeout:
                _kill_group(proc)  # hung: reported with returncode None
                break
            if not closed:
                ready, _, _ = select.select([master], [], [], 0.05)
                if ready:
                    try:
                        data = os.read(master, 65536)
                    except OSError as exc:  # EIO: every holder of the terminal closed it
                        if exc.errno != errno.EIO:
                            raise
                        data = b""
                    if data:
                        chunks.append(data)
                        continue
                    closed = True
            else:
                time.sleep(0.05)
            if proc.poll() is not None:
                code = proc.returncode
                if not closed:  # drain what is left
                    with contextlib.suppress(OSError):
                        while select.select([master], [], [], 0.1)[0]:
                            data = os.read(master, 65536)
                            if not data:
                                break
                            chunks.append(data)
                break
    finally:
        os.close(master)
        if proc.poll() is None:
            _kill_group(proc)
    shown = ["branching", *(str(a) for a in args)]
    return Run(shown, code, b"".join(chunks), b"", time.monotonic() - start)


def traceback_in(run: Run) -> bool:
    """True when a Python traceback (plain or Rich's) reached the user."""
    text = run.out + run.err
    return "Traceback (most recent call last)" in text or "Traceback " in text


def assert_handled(run: Run, *, statuses: Sequence[int] = (0, 1, 2)) -> None:
    """The command ended in time, with a documented status, and no traceback."""
    assert not run.timed_out, f"hung: {run.describe()}"
    assert not traceback_in(run), f"traceback: {run.describe()}"
    assert run.returncode in statuses, f"unexpected status: {run.describe()}"
    if run.returncode not in (0, None):
        last = (run.out.strip().splitlines() or [""])[-1].lower()
        explained = run.err.strip() or "error" in last  # the line player reports on stdout
        assert explained, f"failed without saying why: {run.describe()}"


def said(text: str, pattern: re.Pattern[str] | None = None) -> str:
    """The line of `text` that matches `pattern` (else the last), paths shortened to names."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    chosen = next((line for line in lines if pattern and pattern.search(line)), None)
    line = chosen or (lines[-1] if lines else "(nothing)")
    return re.sub(r"(/[^\s/:'\"()]+)+/([^\s/:'\"()]+)", r"\2", line)[:200]


def unsafe_characters(text: str, *, csv: bool = False) -> list[str]:
    """The terminal control characters in `text` (CSV's own CRLF line ends allowed)."""
    if csv:
        text = text.replace("\r\n", "\n")
    return sorted({repr(m.group()) for m in TERMINAL_UNSAFE.finditer(text)})


def decode_strict(data: bytes, what: str) -> str:
    """`data` as UTF-8; a stray byte (a raw C1 code, say) is itself a finding."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AssertionError(f"{what} is not valid UTF-8 ({exc})") from None


# -- real faults ----------------------------------------------------------------------


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@contextlib.contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Make files or folders unwritable for this user, root included, then restore them.

    As root (which ignores file modes) that is `chattr +i`: an immutable file
    cannot be opened for writing, an immutable folder gains no new files.
    """
    done: list[tuple[Path, int]] = []
    try:
        for path in paths:
            mode = path.stat().st_mode & 0o7777
            if _is_root():
                ok = shutil.which("chattr") is not None
                result = (
                    subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
                    if ok
                    else None
                )
                require(
                    result is not None and result.returncode == 0,
                    f"cannot make {path} immutable as root (chattr +i: "
                    f"{result.stderr.strip() if result else 'chattr missing'})",
                )
            else:
                os.chmod(path, mode & ~0o222)
            done.append((path, mode))
        yield
    finally:
        for path, mode in reversed(done):
            if _is_root():
                subprocess.run(["chattr", "-i", str(path)], capture_output=True)
            else:
                os.chmod(path, mode)


@contextlib.contextmanager
def small_disk(path: Path, size: str = "2m") -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` (needs root); unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    result = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        if _is_root() and shutil.which("mount")
        else None
    )
    require(
        result is not None and result.returncode == 0,
        "cannot mount a small tmpfs to fill (needs root and mount): "
        + (result.stderr.strip() if result else "not root"),
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path) -> Path:
    """Fill the disk holding `folder` to the last byte; returns the filler file."""
    filler = folder / "filler"
    block = b"\0" * 65536
    with open(filler, "wb", buffering=0) as handle:
        for size in (65536, 4096, 512, 1):
            chunk = block[:size]
            while True:
                try:
                    handle.write(chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return filler


def sqlite_rows(
    db: Path, sql: str, params: Sequence[object] = (), *, immutable: bool = False
) -> list[tuple[object, ...]]:
    """Rows of `sql` read from `db` on a read-only connection of our own.

    `immutable`: read the main file alone, touching nothing beside it (no -shm
    is made, so it works on a full disk; rows still only in the -wal are not seen).
    """
    import sqlite3
    from urllib.parse import quote

    flags = "mode=ro&immutable=1" if immutable else "mode=ro"
    conn = sqlite3.connect(f"file:{quote(str(db))}?{flags}", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def story_yaml(doc: Mapping[str, object]) -> str:
    """A story document as YAML (control characters written as double-quoted escapes)."""
    import yaml

    return yaml.safe_dump(dict(doc), allow_unicode=True, sort_keys=False, width=1000)
