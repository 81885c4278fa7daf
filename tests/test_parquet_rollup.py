"""The flowchart over the Parquet export answers from the exported aggregates.

`branching export --format parquet` copies the aggregate tables next to the
events (`store/parquet_aggregates.py`), and DuckDB sums them
(`analytics/parquet_rollup.py`) wherever SQLite sums its own: the same figures
as SQLite's, without reading an event. Where SQLite reads the events (by
viewers, a cut-off with a time of day, two `--where`), or where the export
holds no aggregates that agree with its events (a pruned database, an older
export), DuckDB scans the events as before.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import branching.cli.data  # noqa: F401  (registers the commands)
from branching.analytics import scan
from branching.analytics.parquet_viewers import LISTS
from branching.cli.main import cli

pytest.importorskip("duckdb")
pq = pytest.importorskip("pyarrow.parquet")

AGGREGATES = (
    "agg_edges",
    "agg_scenes",
    "agg_sessions",
    "agg_attr_keys",
    "agg_decide",
    "agg_acts",
    "digest_names",
)


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a database of Signal over five days, its Parquet export)."""
    folder = tmp_path_factory.mktemp("rolled")
    db = folder / "sim.db"
    run(
        "simulate", "signal", "--sessions", "60", "--viewers", "25", "--seed", "3",
        "--db", str(db), "--from", "2026-01-01", "--to", "2026-01-05",
    )  # fmt: skip
    out = folder / "export"
    run("export", "--db", str(db), "--format", "parquet", str(out))
    return db, out


def figures(output: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(output)
    data.pop("source")
    data.pop("notes")
    return data


def flowchart(source: tuple[str, ...], unit: str, args: tuple[str, ...]) -> dict[str, Any]:
    return figures(run("flowchart", "signal", *source, "--format", "json", "--by", unit, *args))


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The scans of the events DuckDB runs for the figures, by unit, as they happen."""
    seen: list[str] = []
    real = scan.event_counts

    def counting(src: Any, chosen: scan.ChosenSessions, unit: str) -> Any:
        seen.append(unit)
        return real(src, chosen, unit)  # type: ignore[arg-type]

    monkeypatch.setattr(scan, "event_counts", counting)
    return seen


def test_the_export_holds_the_aggregates_of_its_run_as_the_database_does(
    recorded: tuple[Path, Path],
) -> None:
    db, out = recorded
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        for name in AGGREGATES:
            (path,) = (out / name).glob("*.parquet")
            assert path.name == f"{name}-000001.parquet"
            exported = sorted(tuple(r.values()) for r in pq.read_table(path).to_pylist())
            columns = ", ".join(pq.read_schema(path).names)
            stored = sorted(conn.execute(f"SELECT {columns} FROM {name}").fetchall())
            assert exported == stored and stored
    finally:
        conn.close()


SELECTIONS = [
    (),
    ("--where", "region=NL"),
    ("--first-only",),
    ("--since", "2026-01-03"),
    ("--until", "2026-01-04", "--audience", "simulated"),
    ("--version", "1.0", "--where", "device=ssh", "--first-only"),
]


@pytest.mark.parametrize("unit", ["sessions", "times", "viewers"])
@pytest.mark.parametrize("args", SELECTIONS, ids=["_".join(a) or "all" for a in SELECTIONS])
def test_duckdb_sums_the_exported_aggregates_and_lists_to_sqlites_figures_reading_no_event(
    recorded: tuple[Path, Path], scans: list[str], unit: str, args: tuple[str, ...]
) -> None:
    db, out = recorded
    sqlite = flowchart(("--db", str(db)), unit, args)
    assert sqlite["sessions"], "a selection of no session proves nothing"
    duck = flowchart(("--source", f"parquet:{out}"), unit, args)
    if sqlite["viewers"] is None:  # the running totals do not know viewers
        assert unit == "times" and not args and duck["viewers"] > 0
        duck["viewers"] = None
    assert duck == sqlite
    assert scans == []


def test_by_viewers_any_selection_is_counted_from_the_exported_lists(
    recorded: tuple[Path, Path], scans: list[str]
) -> None:
    db, out = recorded
    args = ("--since", "2026-01-02T12:00", "--where", "region=NL", "--where", "device=ssh")
    sqlite = flowchart(("--db", str(db)), "viewers", args)
    assert sqlite["viewers"], "a selection of no viewer proves nothing"
    assert flowchart(("--source", f"parquet:{out}"), "viewers", args) == sqlite
    assert scans == []


def test_by_viewers_an_export_without_the_lists_as_bits_splits_their_text_alike(
    recorded: tuple[Path, Path], tmp_path: Path, scans: list[str]
) -> None:
    """Layout 5 counts the viewers from the sessions' lists as bits; an export of layout
    4 has only their text, split by DuckDB: the same flowchart, no scan either way."""
    db, out = recorded
    old = tmp_path / "old"
    shutil.copytree(out, old)
    for part in (old / "sessions").glob("*.parquet"):
        pq.write_table(pq.read_table(part).drop_columns([f"{n}_bits" for n in LISTS]), part)
    args = ("--where", "region=NL")
    sqlite = flowchart(("--db", str(db)), "viewers", args)
    assert flowchart(("--source", f"parquet:{out}"), "viewers", args) == sqlite
    assert flowchart(("--source", f"parquet:{old}"), "viewers", args) == sqlite
    assert scans == []


@pytest.mark.parametrize(
    ("unit", "args"),
    [
        ("sessions", ("--since", "2026-01-03T12:00")),
        ("sessions", ("--where", "region=NL", "--where", "device=ssh")),
    ],
)
def test_where_sqlite_reads_the_events_duckdb_scans_them_with_the_same_figures(
    recorded: tuple[Path, Path], scans: list[str], unit: str, args: tuple[str, ...]
) -> None:
    db, out = recorded
    sqlite = flowchart(("--db", str(db)), unit, args)
    scans.clear()  # SQLite reads its events too here
    duck = flowchart(("--source", f"parquet:{out}"), unit, args)
    assert duck == sqlite
    assert scans == [unit]


def test_a_pruned_database_exports_no_aggregates_and_the_events_are_scanned(
    recorded: tuple[Path, Path], tmp_path: Path, scans: list[str]
) -> None:
    db, _ = recorded
    copy = tmp_path / "copy.db"
    copy.write_bytes(db.read_bytes())
    out = tmp_path / "export"
    run("export", "--db", str(copy), "--format", "parquet", str(out))
    assert (out / "agg_edges" / "agg_edges-000001.parquet").is_file()
    before = flowchart(("--source", f"parquet:{out}"), "sessions", ())
    assert scans == []
    # pruned after the first run: its events stay in the export, the aggregates drop them
    run("prune", "--before", "2026-01-03", "--yes", "--db", str(copy))
    run("export", "--db", str(copy), "--format", "parquet", str(out))
    assert not [p for name in (*AGGREGATES, "digest_names") for p in (out / name).glob("*")]
    after = flowchart(("--source", f"parquet:{out}"), "sessions", ())
    flowchart(("--source", f"parquet:{out}"), "viewers", ())
    assert scans == ["sessions", "viewers"]
    assert not pq.read_table(out / "sessions", columns=["reached"])["reached"].drop_null()
    assert after == before  # every exported event still counts, as the scan always did


def test_an_export_whose_aggregates_are_of_an_older_run_is_scanned(
    recorded: tuple[Path, Path], tmp_path: Path, scans: list[str]
) -> None:
    _, out = recorded
    old = tmp_path / "old"
    for path in out.rglob("*"):
        if path.is_file():
            target = old / path.relative_to(out)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    manifest = old / "_branching_export.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    manifest.write_text(json.dumps({**data, "run": 2}), encoding="utf-8")  # a run without them
    flowchart(("--source", f"parquet:{old}"), "sessions", ())
    flowchart(("--source", f"parquet:{old}"), "viewers", ())
    assert scans == ["sessions", "viewers"]


def test_a_run_cut_off_while_renaming_its_files_is_scanned_not_summed(
    tmp_path: Path, scans: list[str]
) -> None:
    """A second run renamed its event parts and sessions into place and stopped before
    its aggregates and manifest: the first run's aggregates no longer agree with the
    events beside them, so the flowchart scans them (the figures of what is there)."""
    import shutil

    db, out = tmp_path / "two.db", tmp_path / "export"
    days = ("--from", "2026-01-01", "--to", "2026-01-04")
    run("simulate", "signal", "--sessions", "30", "--seed", "4", "--db", str(db), *days)
    run("export", "--db", str(db), "--format", "parquet", str(out))
    first = tmp_path / "first"
    shutil.copytree(out, first)
    run("simulate", "signal", "--sessions", "30", "--seed", "5", "--db", str(db), *days)
    run("export", "--db", str(db), "--format", "parquet", str(out))
    for name in AGGREGATES:  # the second run's aggregates and manifest not yet in place
        shutil.rmtree(out / name, ignore_errors=True)
        if (first / name).is_dir():
            shutil.copytree(first / name, out / name)
    shutil.copy(first / "_branching_export.json", out / "_branching_export.json")
    got = flowchart(("--source", f"parquet:{out}"), "sessions", ())
    assert scans == ["sessions"]  # read from the events there, not the stale sums
    assert got == flowchart(("--db", str(db)), "sessions", ())  # which hold all 60 sessions
    assert got["sessions"] == 60


def test_a_time_of_day_over_the_export_gives_sqlites_note_on_the_scan(
    recorded: tuple[Path, Path],
) -> None:
    db, out = recorded
    args = ("flowchart", "signal", "--format", "json", "--since", "2026-01-03T12:00")
    sqlite = json.loads(run(*args, "--db", str(db)))["notes"]
    duck = json.loads(run(*args, "--source", f"parquet:{out}"))["notes"]
    assert any("--since has a time of day" in note for note in sqlite)
    assert duck == sqlite
