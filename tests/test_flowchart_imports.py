"""What a flowchart and a dashboard reading process load: only what they use.

`branching.analytics` and `branching.render` import their public names on
first use (PEP 562), so `branching flowchart` starts without the stats report
(its walks, verdicts and segments) and, for every format but the terminal's,
without Rich: about a hundred modules fewer. A dashboard reading process
keeps OpenSSL's hashes out (`reading.NO_OPENSSL`), and hashes what it hashes
with Python's own: the digests must be the same.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import branching.analytics
import branching.render
from branching.tui.dashboard.reading import NO_OPENSSL

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_render_png import LIGHTHOUSE, simulate  # noqa: E402


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return out.stdout.strip()


@pytest.mark.parametrize("package", [branching.analytics, branching.render])
def test_every_public_name_of_a_lazy_package_is_there(package: ModuleType) -> None:
    names = package.__all__
    assert names and all(getattr(package, name) is not None for name in names)
    assert set(names) <= set(dir(package))


@pytest.mark.parametrize("fmt", ["json", "dot"])
def test_a_flowchart_file_loads_neither_the_stats_report_nor_rich(tmp_path: Path, fmt: str) -> None:
    db = tmp_path / "t.db"
    simulate(db, LIGHTHOUSE, sessions=12)
    out = tmp_path / f"chart.{fmt}"
    code = (
        "import sys\n"
        "from branching.cli.main import cli\n"
        f"cli.main([{'flowchart'!r}, {str(LIGHTHOUSE)!r}, '--db', {str(db)!r}, '--by', "
        f"'viewers', '--format', {fmt!r}, '-o', {str(out)!r}], standalone_mode=False)\n"
        "heavy = ('rich', 'branching.analytics.report', 'branching.analytics.walks')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    assert _run(code) == ""
    assert out.stat().st_size > 0  # and the chart was written


def test_a_reading_process_hashes_as_the_app_does_without_openssl() -> None:
    code = (
        f"{NO_OPENSSL}\n"
        "import hashlib, hmac\n"
        "print(hashlib.blake2b(b'door', digest_size=16).hexdigest())\n"
        "print(hmac.new(b'key', b'viewer', hashlib.sha256).hexdigest())\n"
        "print(sys.modules.get('_hashlib') is None)\n"
    )
    blake, mac, without = _run(code).splitlines()
    assert blake == hashlib.blake2b(b"door", digest_size=16).hexdigest()
    import hmac

    assert mac == hmac.new(b"key", b"viewer", hashlib.sha256).hexdigest()
    assert without == "True"
