"""Symlinks, FIFOs, /dev/zero and /dev/full given as every path option of every command.

Issue #10, findings 3 and 10. Each path option (a story, a database, a counts
file, a viewer key, an output, a merge target or source, the dashboard's
export folder, `BRANCHING_DB`, the viewer key in the config folder) is given
each kind of hostile path:

- a symbolic link that loops, and one that dangles;
- a FIFO, fed without end by another process when the command reads it
  (`yes`), drained by another process when the command writes it;
- /dev/zero (endless zeros to read) and /dev/full (every write fails with
  "no space left"). As root these are fresh device nodes with the same
  numbers in the test's folder, so nothing the command does (a -wal file
  beside the "database", a chmod) can touch the real /dev.

Every run must end within 30 s, under 2 GB of memory, with a documented exit
status and, when it fails, a message rather than a traceback. Separately: the
spool and its rejected file never follow a symbolic link (finding 3), and
integer options out of range are refused at the command line (findings 2, 10).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from ._support import (
    BREAKFAST,
    assert_handled,
    read_only,
    run_cli,
    run_in_pty,
    traceback_in,
)

# Its ~140 cases are independent and its module fixture is cheap: any worker takes any case.
pytestmark = [pytest.mark.slow, pytest.mark.spread]

KINDS = ["symlink-loop", "dangling-symlink", "fifo", "dev-zero", "dev-full"]
TIMEOUT = 30.0


@dataclass
class Place:
    """A recorded database and the environment the commands run in."""

    root: Path
    db: Path
    env: dict[str, str]

    def fresh_copy(self, name: str) -> Path:
        copy = self.root / f"{name}.db"
        shutil.copy(self.db, copy)
        return copy


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Place:
    root = tmp_path_factory.mktemp("paths")
    env = {
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_DATA_HOME": str(root / "data"),
    }
    db = root / "t.db"
    for choices in ("1", "2"):
        run = run_cli(
            "play", BREAKFAST, "--db", db, "--viewer", "ana", "--choices", choices, env=env
        )
        assert run.returncode == 0, run.describe()
    return Place(root, db, env)


def _device(folder: Path, name: str, minor: int) -> Path:
    """A character device like /dev/zero (1, 5) or /dev/full (1, 7), in `folder` when we can."""
    node = folder / name
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        try:
            os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, minor))
            return node
        except OSError:
            pass
    # Not root: the real device; nothing beside it can be created or chmodded by us anyway.
    return Path(f"/dev/{name}")


@contextlib.contextmanager
def hostile_path(folder: Path, kind: str, direction: str) -> Iterator[Path]:
    """A path of `kind`; for a FIFO, a process on its other end for as long as it is used."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "symlink-loop":
        path = folder / "loop"
        path.symlink_to("loop")
        yield path
    elif kind == "dangling-symlink":
        path = folder / "dangling"
        path.symlink_to(folder / "missing" / "nothing-here")
        yield path
    elif kind == "dev-zero":
        yield _device(folder, "zero", 5)
    elif kind == "dev-full":
        yield _device(folder, "full", 7)
    else:
        path = folder / "fifo"
        os.mkfifo(path)
        # The other end reopens for every opener, as a program on a pipe would.
        script = (
            'while :; do cat "$1" > /dev/null; done'
            if direction == "out"
            else 'while :; do yes "$2" > "$1"; done'
        )
        other = subprocess.Popen(
            ["sh", "-c", script, "sh", str(path), "scene,choice,target,count"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            yield path
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(other.pid, 9)
            other.wait()


Build = Callable[[Path, Place, Path], list[object]]

# option -> (direction of data through the path, the command line using it)
OPTIONS: dict[str, tuple[str, Build]] = {
    "play STORY": ("in", lambda p, w, t: ["play", p, "--no-telemetry", "--choices", "1"]),
    "play --db": (
        "db",
        lambda p, w, t: ["play", BREAKFAST, "--db", p, "--viewer", "ana", "--choices", "1"],
    ),
    "check STORIES": ("in", lambda p, w, t: ["check", p]),
    "explore STORY": ("in", lambda p, w, t: ["explore", p]),
    "schema -o": ("out", lambda p, w, t: ["schema", "-o", p]),
    "stats STORY": ("in", lambda p, w, t: ["stats", p, "--db", w.db]),
    "stats --db": ("db", lambda p, w, t: ["stats", "breakfast", "--db", p]),
    "stats -o": ("out", lambda p, w, t: ["stats", "breakfast", "--db", w.db, "-o", p]),
    "flowchart STORY": ("in", lambda p, w, t: ["flowchart", p, "--db", w.db]),
    "flowchart --db": ("db", lambda p, w, t: ["flowchart", "breakfast", "--db", p]),
    "flowchart --counts": ("in", lambda p, w, t: ["flowchart", BREAKFAST, "--counts", p]),
    "flowchart -o": (
        "out",
        lambda p, w, t: ["flowchart", "breakfast", "--db", w.db, "--format", "html", "-o", p],
    ),
    "export --db": ("db", lambda p, w, t: ["export", "--db", p]),
    "export --viewer-key": (
        "in",
        lambda p, w, t: ["export", "--db", w.db, "--viewer", "ana", "--viewer-key", p],
    ),
    "export -o": ("out", lambda p, w, t: ["export", "--db", w.db, "-o", p]),
    "merge TARGET": ("db", lambda p, w, t: ["merge", p, w.db]),
    "merge SOURCES": ("db", lambda p, w, t: ["merge", t / "target.db", p]),
    "forget --db": ("db", lambda p, w, t: ["forget", "ana", "--db", p]),
    "forget --viewer-key": (
        "in",
        lambda p, w, t: ["forget", "ana", "--db", w.fresh_copy(t.name), "--viewer-key", p],
    ),
    "prune --db": ("db", lambda p, w, t: ["prune", "--before", "2000-01-01", "--db", p]),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("option", list(OPTIONS))
def test_hostile_path_given_as_an_option(
    place: Place, tmp_path: Path, option: str, kind: str, figure: object
) -> None:
    """Every path option given a looping/dangling symlink, a FIFO, /dev/zero, /dev/full."""
    direction, build = OPTIONS[option]
    with hostile_path(tmp_path / "h", kind, direction) as path:
        run = run_cli(*build(path, place, tmp_path), env=place.env, timeout=TIMEOUT)
    figure("result", "hung" if run.timed_out else f"exit {run.returncode}, {run.seconds:.1f} s")
    assert_handled(run)
    if kind == "dev-full" and direction == "out":
        assert run.returncode != 0, (
            f"a write to a full device was reported as done: {run.describe()}"
        )


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_path_as_branching_db(
    place: Place, tmp_path: Path, kind: str, figure: object
) -> None:
    """BRANCHING_DB given each hostile path, read by export and written by play."""
    with hostile_path(tmp_path / "h", kind, "db") as path:
        env = {**place.env, "BRANCHING_DB": str(path)}
        runs = [
            run_cli("export", env=env, timeout=TIMEOUT),
            run_cli(
                "play", BREAKFAST, "--choices", "1", "--viewer", "ana", env=env, timeout=TIMEOUT
            ),
        ]
    figure("results", ", ".join("hung" if r.timed_out else f"exit {r.returncode}" for r in runs))
    for run in runs:
        assert_handled(run)


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_path_as_the_viewer_key(tmp_path: Path, kind: str, figure: object) -> None:
    """The viewer key in the config folder is a hostile path (finding 10: /dev/zero)."""
    config = tmp_path / "config"
    (config / "branching").mkdir(parents=True, mode=0o700)
    env = {"XDG_CONFIG_HOME": str(config), "XDG_DATA_HOME": str(tmp_path / "data")}
    with hostile_path(tmp_path / "h", kind, "in") as path:
        (config / "branching" / "viewer.key").symlink_to(path)
        run = run_cli(
            "play",
            BREAKFAST,
            "--db",
            tmp_path / "t.db",
            "--viewer",
            "ana",
            "--choices",
            "1",
            env=env,
            timeout=TIMEOUT,
        )
    figure("result", "hung" if run.timed_out else f"exit {run.returncode}")
    assert_handled(run)


# `q` again and again: a dashboard slow to start on a busy machine still gets one.
QUIT = [(t, b"q") for t in (3.5, 4.5, 6.0, 8.0, 11.0, 15.0, 20.0, 25.0)]

DASHBOARD: dict[str, Build] = {
    "dashboard STORY": lambda p, w, t: ["dashboard", p, "--db", w.db],
    "dashboard --db": lambda p, w, t: ["dashboard", "--db", p],
    "dashboard --export-dir": lambda p, w, t: [
        "dashboard",
        "breakfast",
        "--db",
        w.db,
        "--export-dir",
        p,
    ],
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("option", list(DASHBOARD))
def test_hostile_path_given_to_the_dashboard(
    place: Place, tmp_path: Path, option: str, kind: str, figure: object
) -> None:
    """The full-screen dashboard on a real terminal, given each hostile path (then `e`)."""
    with hostile_path(tmp_path / "h", kind, "out" if "export" in option else "in") as path:
        run = run_in_pty(
            *DASHBOARD[option](path, place, tmp_path),
            env=place.env,
            keys=[(2.5, b"e"), *QUIT],
            timeout=TIMEOUT,
        )
    figure("result", "hung" if run.timed_out else f"exit {run.returncode}")
    assert not run.timed_out, run.describe()
    assert not traceback_in(run), run.describe()


# -- a FIFO nobody writes to, where a database is expected -----------------------------------

DATABASE_OPTIONS: dict[str, Build] = {
    "play --db": lambda p, w, t: [
        "play",
        BREAKFAST,
        "--db",
        p,
        "--viewer",
        "ana",
        "--choices",
        "1",
    ],
    "stats --db": lambda p, w, t: ["stats", "breakfast", "--db", p],
    "flowchart --db": lambda p, w, t: ["flowchart", "breakfast", "--db", p],
    "export --db": lambda p, w, t: ["export", "--db", p],
    "merge TARGET": lambda p, w, t: ["merge", p, w.db],
    "merge SOURCES": lambda p, w, t: ["merge", t / "target.db", p],
    "forget --db": lambda p, w, t: ["forget", "ana", "--db", p],
    "prune --db": lambda p, w, t: ["prune", "--before", "2000-01-01", "--db", p],
}


def test_a_fifo_nobody_writes_to_is_never_waited_on_as_a_database(
    place: Place, tmp_path: Path, figure: object
) -> None:
    """A FIFO with no writer as a database (or BRANCHING_DB, or the spool): never waited on."""
    fifo = tmp_path / "fifo.db"
    os.mkfifo(fifo)
    jobs: dict[str, tuple[list[object], dict[str, str]]] = {
        name: (build(fifo, place, tmp_path), place.env) for name, build in DATABASE_OPTIONS.items()
    }
    jobs["BRANCHING_DB"] = (["export"], {**place.env, "BRANCHING_DB": str(fifo)})
    shared = tmp_path / "shared"
    shared.mkdir()
    db = place.fresh_copy("spool-fifo")
    spool_db = shared / "t.db"
    shutil.move(db, spool_db)
    os.mkfifo(shared / "t.db.spool")
    jobs["a FIFO as DB.spool"] = (
        ["play", BREAKFAST, "--db", spool_db, "--viewer", "ana", "--choices", "1"],
        place.env,
    )
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        runs = dict(
            zip(
                jobs,
                pool.map(lambda job: run_cli(*job[0], env=job[1], timeout=15), jobs.values()),
                strict=True,
            )
        )
    hung = [name for name, run in runs.items() if run.timed_out]
    figure("commands that waited forever on the FIFO", f"{len(hung)} of {len(runs)}")
    assert not hung, f"waited on a FIFO nobody writes to: {hung}"
    for run in runs.values():
        assert_handled(run)


# -- the spool never follows a link (finding 3) --------------------------------------------


def _secret(folder: Path) -> Path:
    secret = folder / "secret"
    secret.write_text("SECRET-CONTENT 0600\n", encoding="utf-8")
    secret.chmod(0o600)
    return secret


def test_a_spool_link_is_refused_and_nothing_is_copied_through_it(
    tmp_path: Path, figure: object
) -> None:
    """`DB.spool -> secret` and `DB.spool.rejected -> loot`: no secret is copied, links refused."""
    shared = tmp_path / "shared"
    shared.mkdir()
    db = shared / "t.db"
    first = run_cli("play", BREAKFAST, "--db", db, "--viewer", "ana", "--choices", "1")
    assert first.returncode == 0, first.describe()
    secret = _secret(tmp_path)
    public = tmp_path / "public"
    public.mkdir(mode=0o755)
    loot = public / "loot"
    (shared / "t.db.spool").symlink_to(secret)
    (shared / "t.db.spool.rejected").symlink_to(loot)
    run = run_cli("play", BREAKFAST, "--db", db, "--viewer", "ana", "--choices", "1")
    copied = loot.exists() and "SECRET" in loot.read_text(errors="replace")
    figure("secret bytes copied through the links", int(copied))
    assert_handled(run)
    assert not copied, f"the spool followed its links: {loot} holds the secret"
    assert secret.read_text(encoding="utf-8") == "SECRET-CONTENT 0600\n"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert "link" in run.err.lower(), f"no word of the refused link: {run.describe()}"


def test_a_planted_spool_link_is_never_appended_to(tmp_path: Path, figure: object) -> None:
    """With the database unwritable, nothing is appended to what a planted spool link names."""
    shared = tmp_path / "shared"
    shared.mkdir()
    db = shared / "t.db"
    first = run_cli("play", BREAKFAST, "--db", db, "--viewer", "ana", "--choices", "1")
    assert first.returncode == 0, first.describe()
    victim = tmp_path / "victim"
    victim.write_text("VICTIM\n", encoding="utf-8")
    (shared / "t.db.spool").symlink_to(victim)
    with read_only(db):
        run = run_cli("play", BREAKFAST, "--db", db, "--viewer", "ana", "--choices", "1")
    grown = victim.read_text(encoding="utf-8") != "VICTIM\n"
    figure("bytes appended through a planted spool link", int(grown))
    assert_handled(run)
    assert not grown, "events were appended to the file the planted spool link points at"
    assert "link" in run.err.lower(), f"no word of the refused link: {run.describe()}"


# -- integer options out of range (findings 2 and 10) ----------------------------------------

HUGE = "9" * 5000


@pytest.mark.parametrize(
    "args",
    [
        ["play", BREAKFAST, "--no-telemetry", "--choices", HUGE],
        ["play", BREAKFAST, "--seed", "99999999999999999999999", "--choices", "1"],
        ["play", BREAKFAST, "--seed", "-9223372036854775809", "--choices", "1"],
        ["play", BREAKFAST, "--seed", HUGE, "--choices", "1"],
        ["stats", "breakfast", "--min-count", HUGE],
        ["stats", "breakfast", "--top", HUGE],
        ["stats", "breakfast", "--flag-min", "99999999999999999999999"],
        ["flowchart", "breakfast", "--depth", HUGE],
        ["flowchart", "breakfast", "--width", HUGE],
        ["flowchart", "breakfast", "--min-share", HUGE],
        ["explore", BREAKFAST, "--max-states", HUGE],
        ["dashboard", "--refresh", HUGE],
    ],
    ids=lambda a: " ".join(str(x) for x in a if x != BREAKFAST)[:60],
)
def test_integer_options_out_of_range_are_refused_cleanly(
    place: Place, tmp_path: Path, args: list[object], figure: object
) -> None:
    """Integers SQLite or Python cannot hold are refused with a message, never a traceback."""
    with_db = [*args, "--db", tmp_path / "t.db"] if args[0] in ("play", "stats") else args
    if args[0] == "flowchart":
        with_db = [*args, "--db", place.db]
    if "--no-telemetry" in args:
        with_db = args
    run = run_cli(*with_db, env=place.env, timeout=TIMEOUT)
    figure("result", f"exit {run.returncode}")
    assert_handled(run)
    if "--seed" in args:
        assert run.returncode == 2, f"--seed not refused as a usage error: {run.describe()}"
    assert not list(tmp_path.glob("t.db.spool*")), "the value went to the spool"
