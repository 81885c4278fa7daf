"""The core stays headless, and the CLI stays documented (STYLE.md habits 1 and 14)."""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CONTRACTS = {c["id"]: c for c in PYPROJECT["tool"]["importlinter"]["contracts"]}
# The one definition of the core: the import-linter contract's source packages.
CORE_PACKAGES: list[str] = CONTRACTS["core"]["source_modules"]


def _modules(package: str) -> list[str]:
    folder = ROOT / package.replace(".", "/")
    found = [package]
    for info in pkgutil.walk_packages([str(folder)], prefix=package + "."):
        found.append(info.name)
    return sorted(found)


CORE = [m for package in CORE_PACKAGES for m in _modules(package)]
HEAVY = ("textual", "rich", "sqlite_utils")


def test_the_core_is_the_four_packages_the_docs_name() -> None:
    assert CORE_PACKAGES == [
        "branching.story",
        "branching.expr",
        "branching.verify",
        "branching.play",
    ]
    assert len(CORE) > 20  # every module of them, found on disk


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


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports")
    assert exe is not None, "import-linter is part of the test extra"
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([exe, "--no-cache"], capture_output=True, text=True, cwd=root, env=env)


def test_import_linter_contracts_hold() -> None:
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("store/reads.py", "import branching.tui.player.app", "Layers point one way"),
        ("tui/player/launch.py", "import branching.cli.main", "Layers point one way"),
        ("play/engine.py", "import rich", "The core is headless"),
        ("analytics/report.py", "import textual", "Only the tui package imports textual"),
    ],
)
def test_a_wrong_way_import_breaks_the_contracts(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    shutil.copytree(
        ROOT / "branching", tmp_path / "branching", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "branching" / module
    target.write_text(
        target.read_text(encoding="utf-8") + f"\n{line}  # wrong way\n", encoding="utf-8"
    )
    out = _lint_imports(tmp_path)
    assert out.returncode != 0
    assert f"{broken}" in out.stdout and "BROKEN" in out.stdout


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


def test_no_two_classes_in_the_package_share_a_name() -> None:
    """A newcomer finds a class by its name alone (issue: two Builders, two Problems...)."""
    import ast

    seen: dict[str, list[str]] = {}
    for path in sorted((ROOT / "branching").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                seen.setdefault(node.name, []).append(where)
    shared = {name: places for name, places in seen.items() if len(places) > 1}
    assert shared == {}
