"""`branching stats` and `branching flowchart` through click's CliRunner.

The database is the hand-built one of `test_analytics_data`; figures asserted
here are worked out in that module's docstring.
"""

from __future__ import annotations

import csv
import io
import json
import re
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
        "ending id": "caught",  # programs get the id beside the title
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
    assert "Counts are sessions" in out and "6 sessions by 4 viewers" in out  # the default
    assert "From aggregates · all versions" in out
    assert "Go in quietly → The Vault ↓ Job" in out
    for unit in ("times", "choices"):  # `choices`: the old name of `times`, still accepted
        times = run("flowchart", "heist", "--db", str(known[0]), "--by", unit).output
        assert "Counts are times taken" in times and "From running totals" in times
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
        "--by",
        "times",
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


# -- piped output carries every value; the story list ---------------------------------


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Simulated audiences of two bundled stories: long labels, loops, timeouts, abandonment."""
    db = tmp_path_factory.mktemp("rehearsal") / "rehearsal.db"
    for story, seed in (("tutorial", 5), ("lighthouse", 6)):
        run(
            "simulate", story, "--sessions", "40", "--seed", str(seed), "--db", str(db),
            "--viewers", "15", "--abandon", "0.1", "--back", "0.2", "--timeouts", "0.2",
        )  # fmt: skip
    return db


def people_rows(db: Path, story: str, unit: str) -> dict[str, list[list[str]]]:
    """Every table's cells as `stats` shows them to people, worked out without the CLI."""
    from branching.analytics import build_report
    from branching.escape import terminal_line
    from branching.render.figures import Figures
    from branching.render.tables import report_tables

    report = build_report(story, db=db, unit=unit)  # type: ignore[arg-type]
    return {
        sheet.name: [
            [terminal_line(sheet.cell(row, i, Figures())) for i in range(len(sheet.columns))]
            for row in sheet.rows
        ]
        for sheet in report_tables(report)
    }


@pytest.mark.parametrize(("story", "unit"), [("tutorial", "sessions"), ("lighthouse", "viewers")])
def test_piped_stats_carry_every_value_of_every_table(
    rehearsal: Path, story: str, unit: str
) -> None:
    out = run("stats", story, "--db", str(rehearsal), "--by", unit).output
    lines = [line.strip() for line in out.splitlines()]
    tables = people_rows(rehearsal, story, unit)
    assert sum(1 for rows in tables.values() if rows) >= 10
    for name, rows in tables.items():
        for cells in rows:  # one line per row: every cell whole, in order, 2+ spaces apart
            pattern = r"\s{2,}".join(re.escape(c) for c in cells if c)
            assert any(re.fullmatch(pattern, line) for line in lines), (name, cells)
    assert "by the clock" in out  # the header that was cropped to "by th / cloc"


def test_stats_text_format_and_file_are_plain_and_whole(rehearsal: Path, tmp_path: Path) -> None:
    text = run("stats", "tutorial", "--db", str(rehearsal), "--format", "text").output
    target = tmp_path / "stats.txt"
    run("stats", "tutorial", "--db", str(rehearsal), "-o", str(target))
    assert target.read_text(encoding="utf-8") == text
    assert "\x1b[" not in text and "────" not in text


def test_stats_lists_titles_where_people_read_and_ids_for_programs(
    known: tuple[Path, Path],
) -> None:
    out = run("stats", "heist", "--db", str(known[0]), "--table", "choices").output
    quietly = next(line for line in out.splitlines() if "Go in quietly" in line)
    assert "The Vault" in quietly and " vault " not in quietly
    data = json.loads(
        run(
            "stats", "heist", "--db", str(known[0]), "--format", "json", "--table", "choices"
        ).output
    )
    row = data["tables"]["choices"]["rows"][0]
    assert (row["goes to"], row["goes to id"]) == ("The Vault", "vault")
    assert (row["scene id"], row["choice id"]) == ("briefing", "quiet")


def test_drop_off_is_worst_first(rehearsal: Path) -> None:
    data = json.loads(
        run(
            "stats", "lighthouse", "--db", str(rehearsal), "--format", "json", "--table", "dropoff"
        ).output  # fmt: skip
    )
    rates = [r["drop-off"] for r in data["tables"]["dropoff"]["rows"]]
    reached = [r for r in rates if r is not None]
    assert rates[: len(reached)] == reached and reached == sorted(reached, reverse=True)
    assert reached[0] > 0


def test_how_far_sessions_got_is_bucketed_for_a_long_story(rehearsal: Path) -> None:
    data = json.loads(
        run(
            "stats", "lighthouse", "--db", str(rehearsal), "--format", "json", "--table", "progress"
        ).output  # fmt: skip
    )
    rows = data["tables"]["progress"]["rows"]
    assert [r["choices made"] for r in rows[:4]] == ["0", "1-2", "3-5", "6-10"]
    assert all(r["from"] <= r["to"] for r in rows) and rows[-1]["to"] > 10
    total = sum(r["reached an ending"] + r["stopped"] for r in rows)
    assert total == 40  # every session once (sessions: no one counts twice)


def test_stats_without_a_story_lists_the_database(rehearsal: Path) -> None:
    out = run("stats", "--db", str(rehearsal)).output
    assert "The Lantern Market" in out and "The Keeper of Skerrow Light" in out
    data = json.loads(run("stats", "--db", str(rehearsal), "--format", "json").output)
    rows = {r["story"]: r for r in data["tables"]["stories"]["rows"]}
    assert rows["tutorial"]["simulated sessions"] == 40
    assert rows["lighthouse"]["real sessions"] == 0 and rows["lighthouse"]["versions"] == 1
    assert rows["tutorial"]["last activity"] is not None
    filtered = run("stats", "--db", str(rehearsal), "--since", "2025-01-01", ok=False)
    assert filtered.exit_code == 2 and "need a STORY" in filtered.output
