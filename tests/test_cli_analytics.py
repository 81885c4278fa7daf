"""`branching stats` and `branching flowchart` through click's CliRunner.

The database is the hand-built one of `test_analytics_data`; figures asserted
here are worked out in that module's docstring.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import branching.cli.analytics  # noqa: F401  (registers the commands until cli/__init__ does)
from branching.cli import cli
from tests.test_analytics_data import known_db

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return known_db(tmp_path_factory.mktemp("cli"))


def run(*args: str, ok: bool = True) -> click.testing.Result:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_both_commands_and_all_their_options_have_help() -> None:
    for name in ("stats", "flowchart"):
        command = cli.get_command(click.Context(cli), name)
        assert command is not None and command.help
        assert all(p.help for p in command.params if isinstance(p, click.Option))


def test_stats_tables_state_their_denominators(known: tuple[Path, Path]) -> None:
    out = run("stats", "heist", "--db", str(known[0])).output
    assert "\x1b[" not in out  # plain text when piped
    assert "sessions that took the choice, of the sessions that reached its scene" in out
    assert "Completion: 66.7% of sessions" in out
    assert "Worth a look" in out and "no-difference" in out
    by_viewer = run(
        "stats", "heist", "--db", str(known[0]), "--by", "viewers", "--table", "overview"
    ).output
    assert "3 of 4 unique viewers" in by_viewer


def test_stats_json_has_every_table_and_hides_small_counts(known: tuple[Path, Path]) -> None:
    data = json.loads(
        run("stats", "heist", "--db", str(known[0]), "--format", "json", "--min-count", "3").output
    )
    assert data["unit"] == "sessions" and data["hidden_below"] == 3
    assert set(data["tables"]) >= {
        "reach",
        "choices",
        "timing",
        "dropoff",
        "endings",
        "paths",
        "interactions",
        "progress",
        "segments",
        "tags",
        "flags",
    }
    rows = {r["choice"]: (r["sessions"], r["share"]) for r in data["tables"]["choices"]["rows"]}
    assert rows["Go in quietly"] == (4, pytest.approx(4 / 6))
    assert rows["Go in loud"] == (None, None)  # 2 sessions: below the threshold


def test_stats_csv_is_one_table(known: tuple[Path, Path]) -> None:
    out = run(
        "stats", "heist", "--db", str(known[0]), "--format", "csv", "--table", "endings"
    ).output
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0] == {
        "ending": "Caught",
        "kind": "bad",
        "sessions": "1",
        "share": str(round(1 / 6, 6)),
    }
    two = run(
        "stats",
        "heist",
        "--db",
        str(known[0]),
        "--format",
        "csv",
        "--table",
        "reach",
        "--table",
        "paths",
        ok=False,
    )
    assert two.exit_code == 2 and "CSV holds one table" in two.output


def test_stats_filters_apply(known: tuple[Path, Path]) -> None:
    data = json.loads(
        run(
            "stats",
            "heist",
            "--db",
            str(known[0]),
            "--format",
            "json",
            "--where",
            "region=UK",
            "--table",
            "overview",
        ).output
    )
    values = {r["what"]: r["value"] for r in data["tables"]["overview"]["rows"]}
    assert values["sessions"] == "2" and "region=UK" in values["selection"]


def test_flowchart_in_the_terminal(known: tuple[Path, Path]) -> None:
    out = run("flowchart", "heist", "--db", str(known[0]), "--width", "100").output
    assert "From running totals · all versions" in out
    assert "Go in quietly → The Vault ↓ Job" in out
    ascii_out = run("flowchart", "heist", "--db", str(known[0]), "--ascii").output
    assert ascii_out.isascii()


def test_flowchart_to_a_file_is_plain_text(known: tuple[Path, Path], tmp_path: Path) -> None:
    target = tmp_path / "chart.txt"
    run("flowchart", "heist", "--db", str(known[0]), "--by", "viewers", "-o", str(target))
    text = target.read_text(encoding="utf-8")
    assert "Counts are unique viewers" in text and "\x1b[" not in text


@pytest.mark.parametrize(
    ("fmt", "marker"),
    [("dot", 'digraph "heist"'), ("mermaid", "flowchart TD"), ("json", '"branching-flowgraph/1"')],
)
def test_flowchart_text_formats(known: tuple[Path, Path], fmt: str, marker: str) -> None:
    assert marker in run("flowchart", "heist", "--db", str(known[0]), "--format", fmt).output


@needs_dot
def test_flowchart_svg_png_and_html(known: tuple[Path, Path], tmp_path: Path) -> None:
    assert "<svg" in run("flowchart", "heist", "--db", str(known[0]), "--format", "svg").output
    png = tmp_path / "chart.png"
    run("flowchart", "heist", "--db", str(known[0]), "--format", "png", "-o", str(png))
    assert png.read_bytes()[:4] == b"\x89PNG"
    page = tmp_path / "report.html"
    run(
        "flowchart",
        "heist",
        "--db",
        str(known[0]),
        "--format",
        "html",
        "--where",
        "region=NL",
        "-o",
        str(page),
    )
    html = page.read_text(encoding="utf-8")
    assert "<svg" in html and "Where viewers stopped" in html and "region=NL" in html


def test_missing_graphviz_names_the_package(
    known: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "")
    result = run("flowchart", "heist", "--db", str(known[0]), "--format", "svg", ok=False)
    assert result.exit_code == 1
    assert "install the `graphviz` package" in result.output
    assert "apt-get install graphviz" in result.output and "brew install graphviz" in result.output


def test_counts_file_needs_no_database(known: tuple[Path, Path], tmp_path: Path) -> None:
    counts = tmp_path / "warehouse.csv"
    counts.write_text(
        "scene,choice,target,count\nbriefing,quiet,vault,70\nbriefing,loud,vault,30\n",
        encoding="utf-8",
    )
    out = run(
        "flowchart",
        str(known[1]),
        "--counts",
        str(counts),
        "--db",
        str(tmp_path / "absent.db"),
        "--width",
        "100",
    ).output
    assert "From counts file warehouse.csv" in out
    row = next(line for line in out.splitlines() if "Go in quietly" in line)
    assert row.rstrip().endswith("70.0%  70")


@pytest.mark.parametrize(
    ("args", "message", "status"),
    [
        (["flowchart", "nope"], "story 'nope' has no recordings", 1),
        (["flowchart", "heist", "--version", "zzzz"], "no version 'zzzz'", 1),
        # a value the user typed wrong is a usage error, exit 2, in every command
        (["stats", "heist", "--where", "region"], "KEY=VALUE", 2),
        (["stats", "heist", "--since", "soon"], "not a date", 2),
        (["flowchart", "heist", "--since", "soon"], "not a date", 2),
    ],
)
def test_bad_requests_get_a_clear_error(
    known: tuple[Path, Path], args: list[str], message: str, status: int
) -> None:
    result = run(*args, "--db", str(known[0]), ok=False)
    assert result.exit_code == status and message in result.output
    assert "Traceback" not in result.output


def test_missing_database_and_bad_share(tmp_path: Path) -> None:
    result = run("flowchart", "heist", "--db", str(tmp_path / "none.db"), ok=False)
    assert result.exit_code == 1 and "no telemetry database" in result.output
    result = run("flowchart", "heist", "--min-share", "lots", ok=False)
    assert result.exit_code == 2 and "not a percentage" in result.output


def test_min_share_and_depth_prune_with_a_summary(known: tuple[Path, Path]) -> None:
    out = run(
        "flowchart",
        "heist",
        "--db",
        str(known[0]),
        "--min-share",
        "30%",
        "--depth",
        "1",
        "--width",
        "100",
    ).output
    assert "… 2 more under 30%" in out and "Beyond --depth 1: 3 scenes not drawn." in out


def test_stats_to_an_unwritable_file_is_a_clear_error(
    known: tuple[Path, Path], tmp_path: Path
) -> None:
    target = tmp_path / "missing-folder" / "stats.txt"
    result = run("stats", "heist", "--db", str(known[0]), "-o", str(target), ok=False)
    assert result.exit_code == 1 and f"cannot write {target}" in result.output


def test_counts_file_that_is_not_text_is_a_clear_error(
    known: tuple[Path, Path], tmp_path: Path
) -> None:
    counts = tmp_path / "counts.csv"
    counts.write_bytes(b"scene,choice,target,count\n\xd0\xff\xfe,x,y,1\n")
    result = run("flowchart", str(known[1]), "--counts", str(counts), ok=False)
    assert result.exit_code == 1 and "not a UTF-8 CSV file" in result.output


def test_the_stats_command_offers_exactly_the_tables_it_can_print() -> None:
    from branching.cli.analytics import TABLE_NAMES
    from branching.render.tables import TABLES

    assert TABLE_NAMES == TABLES  # click needs the names before render is imported
