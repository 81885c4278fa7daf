"""One test command checks everything: lint, formatting and types run as tests.

The README's test command is `pytest`; these tests run ruff (lint and
`format --check`) over the whole repository and `mypy --strict` over the whole
package, with the settings in pyproject.toml, so CI and a contributor's
machine check the same things in the same way. The import contracts run in
test_architecture.py. The tools come from the test extra: a missing tool is a
failure, never a skip.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def _tool(name: str) -> str:
    exe = shutil.which(name)
    assert exe is not None, f"{name} is part of the test extra: pip install -e '.[test]'"
    return exe


def test_ruff_finds_nothing_to_lint() -> None:
    out = _run(_tool("ruff"), "check", "--no-cache", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_file_is_formatted() -> None:
    out = _run(_tool("ruff"), "format", "--no-cache", "--check", ".")
    assert out.returncode == 0, "run `ruff format .`:\n" + out.stdout + out.stderr


@pytest.mark.slow
def test_the_whole_package_is_type_clean_under_mypy_strict() -> None:
    out = _run(sys.executable, "-m", "mypy")  # files and strictness come from pyproject.toml
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues found" in out.stdout


def test_no_tracked_file_is_a_binary_blob_over_a_megabyte() -> None:
    """Binaries (wheels, databases, build output) stay out of the repository."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = _run(git, "ls-files", "-z").stdout.split("\0")
    big = [
        name
        for name in listed
        if name and (ROOT / name).is_file() and (ROOT / name).stat().st_size > 1_000_000
    ]
    assert big == []
