"""The core stays headless, and the CLI stays documented (STYLE.md habits 1 and 14)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

CORE = [
    "branching.story.model",
    "branching.expr.conditions",
    "branching.story.loader",
    "branching.verify.check",
    "branching.play.engine",
    "branching.verify.explore",
    "branching.story.yamlread",
    "branching.story.build",
    "branching.story.build_scene",
    "branching.story.spec",
    "branching.play.restore",
    "branching.play.plain",
    "branching.play.recorder",
    "branching.story.schema",
    "branching.expr.values",
    "branching.expr.syntax",
    "branching.expr.compile",
    "branching.verify.domains",
    "branching.verify.space",
]
HEAVY = ("textual", "rich", "sqlite_utils")


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_no_ui_or_storage_library(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        f"bad = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "", f"{module} pulls in {out.stdout.strip()}"


def test_import_linter_contracts_hold() -> None:
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed")
    out = subprocess.run([exe], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_cli_help_does_not_import_textual() -> None:
    code = "import sys\nfrom branching.cli import cli\nprint('textual' in sys.modules)\n"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "False"


def test_the_program_pauses_the_collector_only_until_start_up_is_over() -> None:
    code = (
        "import gc, sys\n"
        "from branching.cli import run\n"
        "from branching.cli.main import cli\n"
        "seen = []\n"
        "@cli.command('probe-gc')\n"
        "def probe() -> None:\n"
        "    seen.append(gc.isenabled())\n"
        "sys.argv = ['branching', 'probe-gc']\n"
        "try:\n"
        "    run()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(seen, gc.isenabled())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[True] True"
