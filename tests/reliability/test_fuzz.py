"""Coverage-guided fuzzing (atheris) of the story loader, the `--counts` reader, the spool reader.

The three targets (fuzz_targets.py) run at once, each in its own process, for
a bounded time from a seed corpus of real inputs (the bundled stories and
fixtures, a counts file, a spool the store really wrote), with libFuzzer
watching for any exception other than branching's own errors, an input that
takes more than 20 s, or memory beyond 2 GB.
"""

from __future__ import annotations

import importlib.util
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from branching.store import Store, StoryInfo
from branching.story.loader import load_story

from ._support import BREAKFAST, FIXTURES, HERE, STORIES, child_env, in_ci

# With the other CPU-heavy attacks (concurrent writers, kill soak, fuzzing) in one
# pytest-xdist worker, one after another: none of them runs while another does.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cpu-heavy")]

SECONDS = 20  # per target; the three run side by side
TARGETS = ["loader", "counts", "spool"]


def _atheris_or_skip() -> None:
    if importlib.util.find_spec("atheris") is not None:
        return
    wheel_here = (
        platform.system() == "Linux"
        and platform.machine() == "x86_64"
        and sys.version_info < (3, 15)
    )
    reason = (
        f"atheris is not installed for Python {platform.python_version()} on "
        f"{platform.system()} {platform.machine()}: it ships wheels only for Linux x86-64, "
        "CPython 3.11-3.14 (building it needs clang and libFuzzer)"
    )
    if in_ci() and wheel_here:
        pytest.fail(reason + "; here a wheel exists, so `pip install -e '.[test]'` should have it")
    pytest.skip(reason)


LOADER_DICT = [
    "branching: 1",
    "scenes:",
    "choices:",
    "goto:",
    "next:",
    "random:",
    "ending:",
    "label:",
    "if:",
    "requires:",
    "set:",
    "add:",
    "include:",
    "state:",
    "start:",
    "timer:",
    "rewind:",
    "weight:",
    "default: true",
    "once: true",
    "on_enter:",
    "text:",
    "title:",
    "kind:",
    "&a",
    "*a",
    "<<:",
    "{",
    "}",
    "[",
    "]",
    "- ",
    ": ",
    '"\\e',
    "visited(",
    "chosen(",
    "turns()",
]
SPOOL_DICT = [
    '"op":"event"',
    '"op":"session"',
    '"op":"story"',
    '"op":"finish"',
    '"v":1',
    '"seq":',
    '"session_id":',
    '"event_id":',
    '"type":"choice_made"',
    '"scene":',
    '"state":',
    "null",
    "99999999999999999999999",
    "-9223372036854775809",
    "\n",
]
COUNTS_DICT = [
    "scene,choice,target,count,timeouts",
    "kitchen",
    "puffs",
    "bus",
    "office",
    ",",
    "\r\n",
]


def _dictionary(path: Path, tokens: list[str]) -> Path:
    """A libFuzzer dictionary: one quoted token a line, other bytes as \\xHH."""

    def quoted(token: str) -> str:
        return "".join(
            chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\x{b:02X}"
            for b in token.encode("utf-8")
        )

    path.write_text("".join(f'"{quoted(t)}"\n' for t in tokens), encoding="utf-8")
    return path


def _real_spool(folder: Path) -> bytes:
    """A spool the store itself wrote: events recorded while another program held the lock."""
    db = folder / "seed.db"
    story = load_story(BREAKFAST)
    store = Store.open(db, busy_timeout_ms=50, retry_window=0.1)
    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
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
        session = store.start_session(story.id, story.content_hash, "ana", seed=7)
        session.record("scene_shown", scene="kitchen").result()
        session.record(
            "choice_made",
            scene="kitchen",
            choice="puffs",
            target="bus",
            decide_ms=5,
            input="key",
            state={"n": 1},
        ).result()
        session.finish("quit")
        session.close()
        store.close()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    spool = folder / "seed.db.spool"
    return spool.read_bytes() if spool.exists() else b""


def _corpus(work: Path, target: str) -> Path:
    corpus = work / f"corpus-{target}"
    corpus.mkdir()
    if target == "loader":
        seeds = [
            STORIES / "lighthouse.yaml",
            STORIES / "tutorial" / "story.yaml",
            STORIES / "signal" / "story.yaml",
            BREAKFAST,
            FIXTURES / "hostile" / "story.yaml",
            *sorted((FIXTURES / "bad").glob("*.yaml"))[:12],
        ]
        for n, seed in enumerate(seeds):
            shutil.copy(seed, corpus / f"seed{n}")
    elif target == "counts":
        (corpus / "seed0").write_text(
            "scene,choice,target,count,timeouts\r\n"
            "kitchen,puffs,bus,3,1\r\nkitchen,frosties,bus,2,0\r\n"
            "bus,,office,5\r\noffice,accept,crunch,1,0\r\noffice,,,2\r\n",
            encoding="utf-8",
        )
        (corpus / "seed1").write_text(
            "\ufeffscene,choice,target,count\nkitchen,puffs,bus,1\n", encoding="utf-8"
        )
    else:
        spool = _real_spool(work)
        assert spool, "the store wrote no spool while the database was locked"
        (corpus / "seed0").write_bytes(spool)
        (corpus / "seed1").write_bytes(spool.splitlines(keepends=True)[-1][:-7])  # torn line
    return corpus


@dataclass
class FuzzRun:
    target: str
    returncode: int | None
    log: str

    def stat(self, name: str) -> int:
        found = re.findall(rf"stat::{name}:\s*(\d+)", self.log)
        return int(found[-1]) if found else 0

    @property
    def coverage(self) -> int:
        found = re.findall(r"\bcov: (\d+)", self.log)
        return int(found[-1]) if found else 0


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FuzzRun]:
    _atheris_or_skip()
    root = tmp_path_factory.mktemp("fuzz")
    dicts = {"loader": LOADER_DICT, "counts": COUNTS_DICT, "spool": SPOOL_DICT}
    procs = {}
    for target in TARGETS:
        work = root / target
        work.mkdir()
        corpus = _corpus(work, target)
        log = open(work / "fuzz.log", "wb")  # noqa: SIM115 - closed below
        procs[target] = (
            subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / "fuzz_targets.py"),
                    target,
                    str(work),
                    f"-max_total_time={SECONDS}",
                    "-runs=10000000",
                    "-timeout=20",
                    "-rss_limit_mb=2048",
                    "-max_len=65536",
                    f"-dict={_dictionary(work / 'tokens.dict', dicts[target])}",
                    f"-artifact_prefix={work}/",
                    "-print_final_stats=1",
                    str(corpus),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(),
                cwd=work,
            ),
            log,
            work,
        )
    runs = {}
    deadline = time.monotonic() + SECONDS + 120
    for target, (proc, log, work) in procs.items():
        try:
            code: int | None = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
        log.close()
        runs[target] = FuzzRun(
            target, code, (work / "fuzz.log").read_text(encoding="utf-8", errors="replace")
        )
    return runs


def test_fuzzing_finds_no_crash(fuzzed: dict[str, FuzzRun], figure: object) -> None:
    """atheris on the loader, the --counts reader and the spool reader: no crash, no hang."""
    problems = []
    for target in TARGETS:
        run = fuzzed[target]
        executions = run.stat("number_of_executed_units")
        figure(f"{target}: inputs tried in {SECONDS} s", executions)
        figure(f"{target}: coverage (edges)", run.coverage)
        figure(f"{target}: crashes", 0 if run.returncode == 0 else 1)
        if run.returncode is None:
            problems.append(f"the {target} fuzzer did not stop:\n{run.log[-3000:]}")
        elif run.returncode != 0:
            problems.append(f"the {target} fuzzer found a crash:\n{run.log[-6000:]}")
        elif executions <= 50:
            problems.append(f"the {target} fuzzer hardly ran:\n{run.log[-3000:]}")
    assert not problems, "\n\n".join(problems)
