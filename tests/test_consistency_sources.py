"""The flowchart's figures are the same from every source: SQLite, DuckDB and Spark.

A seeded audience (`branching simulate`, with loops, going back, abandonment,
pauses and timeouts) of the three bundled stories, two versions of the
lighthouse and a few real playthroughs of the tutorial (so `--audience`
matters) is recorded in SQLite and exported with `branching export --format
parquet`. Then `branching flowchart --format json` reads it from the database
(running totals, aggregates or raw events, whichever answers) and from the
export (`--source parquet:OUT/`, DuckDB; `--source spark:OUT/`, Spark), and
every figure must be equal: scenes, edges, shares, timeouts, endings, left
here, sessions, viewers, completed. Only the words saying where the figures
came from (and the notes about SQLite's own accelerators) may differ.

The Spark case is one test marked slow: one local Spark session for every
case; it skips unless pyspark and Java are installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_consistency import SIGNAL, record_audience

from branching.cli import cli

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

UNITS = ("sessions", "viewers", "times")
# (story as typed, filters): by path and by id (the structure from the stories dataset)
CASES: list[tuple[str, tuple[str, ...]]] = [
    ("tutorial", ()),
    ("tutorial", ("--audience", "all")),
    ("tutorial", ("--audience", "simulated", "--where", "region=NL")),
    ("tutorial", ("--audience", "all", "--since", "2025-01-15")),
    ("tutorial", ("--audience", "simulated", "--until", "2025-01-20T12:00")),
    ("tutorial", ("--audience", "all", "--first-only")),
    (str(SIGNAL), ()),
    (str(SIGNAL), ("--where", "region=UK", "--since", "2025-01-10")),
    (str(SIGNAL), ("--where", "region=UK", "--where", "device=ssh")),
    ("lighthouse", ()),
    ("lighthouse", ("--version", "1.1")),
    ("lighthouse", ("--version", "1.2", "--first-only", "--until", "2025-01-25")),
]
SPARK_CASES = [CASES[2], CASES[5], CASES[7], CASES[11]]  # each filter kind, both story names


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the SQLite database, its Parquet export)."""
    folder = tmp_path_factory.mktemp("sources")
    plan = [("tutorial", 60, 20, 1), ("signal", 50, 20, 2), ("lighthouse", 40, 15, 3)]
    db = record_audience(folder, [*plan, ("lighthouse-1.2", 40, 15, 4)])
    out = folder / "export"
    run("export", "--db", str(db), "--format", "parquet", str(out))
    return db, out


def figures(output: str) -> dict[str, Any]:
    """`flowchart --format json` without the words on where the figures came from."""
    data: dict[str, Any] = json.loads(output)
    data.pop("source")
    data.pop("notes")
    return data


def same_figures(sqlite: dict[str, Any], other: dict[str, Any], unit: str) -> None:
    if sqlite["viewers"] is None:  # the running totals do not know viewers; events do
        assert unit == "times" and other["viewers"] > 0
        other = {**other, "viewers": None}
    assert other == sqlite


def flowchart(story: str, source: tuple[str, ...], unit: str, args: tuple[str, ...]) -> str:
    return run("flowchart", story, *source, "--format", "json", "--by", unit, *args)


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize(
    ("story", "args"), CASES, ids=[f"{s[-8:]}-{'_'.join(a)}" for s, a in CASES]
)
def test_duckdb_over_parquet_draws_the_same_figures_as_sqlite(
    recorded: tuple[Path, Path], story: str, args: tuple[str, ...], unit: str
) -> None:
    db, out = recorded
    sqlite = figures(flowchart(story, ("--db", str(db)), unit, args))
    assert sqlite["sessions"], "a case that chooses no session proves nothing"
    duck = figures(flowchart(story, ("--source", f"parquet:{out}"), unit, args))
    same_figures(sqlite, duck, unit)


@pytest.mark.parametrize("fmt", ["terminal", "dot", "mermaid"])
def test_every_drawn_format_differs_only_in_where_the_figures_came_from(
    recorded: tuple[Path, Path], fmt: str
) -> None:
    db, out = recorded
    args = ("signal", "--format", fmt, "--by", "viewers", "--width", "200", "--where", "region=UK")
    sqlite = run("flowchart", *args, "--db", str(db))
    duck = run("flowchart", *args, "--source", f"parquet:{out}")
    assert "aggregates" in sqlite and "DuckDB over the Parquet export export/" in duck
    assert duck.replace("DuckDB over the Parquet export export/", "aggregates") == sqlite


def test_the_html_flowchart_from_parquet_says_its_stats_tables_are_sqlites(
    recorded: tuple[Path, Path], tmp_path: Path
) -> None:
    _, out = recorded
    page = tmp_path / "flow.html"
    run("flowchart", "signal", "--source", f"parquet:{out}", "--format", "html", "-o", str(page))
    assert "stats tables are left out" in page.read_text(encoding="utf-8")


def test_a_source_that_is_not_an_export_is_one_line(
    recorded: tuple[Path, Path], tmp_path: Path
) -> None:
    db, _ = recorded
    for source, words in [
        (f"parquet:{tmp_path / 'absent'}", "is not a folder"),
        (f"parquet:{tmp_path}", "no Parquet export of branching"),
        ("duckdb:x", "give parquet:OUT/ or spark:OUT/"),
        ("parquet:", "give parquet:OUT/ or spark:OUT/"),
    ]:
        result = CliRunner().invoke(cli, ["flowchart", "signal", "--source", source])
        assert result.exit_code != 0 and words in result.output, result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    result = CliRunner().invoke(cli, ["flowchart", "nothere", "--source", f"sqlite:{db}"])
    assert result.exit_code == 1 and "no recordings" in result.output


def test_a_missing_engine_names_the_extra_to_install(
    recorded: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, out = recorded
    import importlib.util

    real = importlib.util.find_spec
    hidden = {"duckdb", "pyspark"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in hidden else real(name, *a)
    )
    for kind, extra in (("parquet", "duckdb"), ("spark", "spark")):
        result = CliRunner().invoke(cli, ["flowchart", "signal", "--source", f"{kind}:{out}"])
        assert result.exit_code == 2
        assert f"pip install 'branching[{extra}]'" in result.output
        assert len(result.output.strip().splitlines()) == 1


def _spark_ready() -> str | None:
    """Why Spark cannot run here, or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'branching[spark]')"
    java = shutil.which("java")
    if java is None:
        return "no Java on PATH"
    done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    return None if done.returncode == 0 else "java -version failed"


@pytest.mark.slow
def test_spark_over_parquet_draws_the_same_figures_as_sqlite(recorded: tuple[Path, Path]) -> None:
    why = _spark_ready()
    if why:
        pytest.skip(why)
    db, out = recorded
    for i, (story, args) in enumerate(SPARK_CASES):
        for unit in UNITS:
            sqlite = figures(flowchart(story, ("--db", str(db)), unit, args))
            spark = figures(flowchart(story, ("--source", f"spark:{out}"), unit, args))
            same_figures(sqlite, spark, unit)
        # and every stats table, in one unit per case (both units over the cases: each
        # stats report is some twenty Spark jobs, seconds each in local mode)
        unit = STATS_UNITS[i % len(STATS_UNITS)]
        same_stats(
            stats(story, ("--db", str(db)), unit, args),
            stats(story, ("--source", f"spark:{out}"), unit, args),
        )


def test_a_story_reads_only_its_own_partition_from_the_day_of_since(tmp_path: Path) -> None:
    """The files DuckDB is handed: one story's folder, its days from --since on; a
    story id that looks like a path or a pattern is one folder name, never a path."""
    from branching.analytics.engines import partition_files, partition_value

    events = tmp_path / "events"
    layout = {
        "signal": ["2026-01-31", "2026-02-01", "2026-02-02"],
        "007": ["2026-02-01"],
        "../signal": ["2026-02-01"],
        "sig*": ["2026-02-01"],
    }
    for story, days in layout.items():
        for day in days:
            folder = events / f"story_id={partition_value(story)}" / f"day={day}"
            folder.mkdir(parents=True)
            (folder / "part-000001-00001.parquet").write_bytes(b"")

    def days(story: str, since: str | None = None) -> list[str]:
        return [f.parent.name for f in partition_files(events, story, since)]

    assert days("signal") == ["day=2026-01-31", "day=2026-02-01", "day=2026-02-02"]
    # a session started on 1 February at 23:59 has no event before that day
    assert days("signal", "2026-02-01T23:59:00.000Z") == ["day=2026-02-01", "day=2026-02-02"]
    assert days("007") == days("../signal") == days("sig*") == ["day=2026-02-01"]
    assert [f.parent.parent.name for f in partition_files(events, "sig*", None)] == [
        f"story_id={partition_value('sig*')}"
    ]
    assert days("absent") == [] and days("signal", "2026-03-01") == []
    assert len(list(events.iterdir())) == 4  # nothing outside the partitions was read or made


def test_a_since_after_every_recorded_day_is_an_empty_flowchart(
    recorded: tuple[Path, Path],
) -> None:
    db, out = recorded
    args = ("--audience", "all", "--since", "2030-01-01")
    sqlite = figures(flowchart("tutorial", ("--db", str(db)), "sessions", args))
    duck = figures(flowchart("tutorial", ("--source", f"parquet:{out}"), "sessions", args))
    assert duck["sessions"] == 0
    same_figures(sqlite, duck, "sessions")


def test_duckdb_settings_that_are_not_accepted_are_one_line(
    recorded: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, out = recorded
    monkeypatch.setenv("BRANCHING_DUCKDB_MEMORY", "lots")
    result = CliRunner().invoke(cli, ["flowchart", "signal", "--source", f"parquet:{out}"])
    assert result.exit_code != 0 and "BRANCHING_DUCKDB_MEMORY" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_an_export_written_before_session_keys_reads_with_the_same_figures(
    recorded: tuple[Path, Path], tmp_path: Path
) -> None:
    """Events and sessions without `session_key` (the first layout): DuckDB joins them
    on the session id, and every figure, labels seen included, is the same."""
    import pyarrow.parquet as pq

    db, out = recorded
    old = tmp_path / "old"
    shutil.copytree(out, old)
    for name in ("events", "sessions"):
        for part in (old / name).rglob("*.parquet"):
            pq.write_table(pq.read_table(part).drop_columns(["session_key"]), part)
    assert "session_key" not in pq.read_schema(next((old / "events").rglob("*.parquet"))).names
    for story, args in (CASES[7], (str(SIGNAL), ("--where", "region=UK"))):
        sqlite = figures(flowchart(story, ("--db", str(db)), "sessions", args))
        duck = figures(flowchart(story, ("--source", f"parquet:{old}"), "sessions", args))
        same_figures(sqlite, duck, "sessions")


def test_the_labels_viewers_saw_come_from_every_session_of_the_version(
    recorded: tuple[Path, Path],
) -> None:
    """With a filter and no --since, DuckDB counts the labels in the figures' one pass:
    still over every session of the versions, as SQLite's running total does, not over
    the chosen few."""
    import sqlite3

    from branching.analytics import scan
    from branching.analytics.engines import DuckDbEngine
    from branching.analytics.filters import make_filters, settle_audience
    from branching.analytics.shape import SEEN_LABELS
    from branching.analytics.source import resolve_versions

    db, out = recorded
    conn = sqlite3.connect(db)
    hashes = [
        r[0] for r in conn.execute("SELECT content_hash FROM stories WHERE story_id = 'signal'")
    ]
    marks = ", ".join("?" for _ in hashes)
    everyone = [
        tuple(r) for r in conn.execute(SEEN_LABELS.format(marks=marks), ["signal", *hashes])
    ]
    conn.close()
    assert everyone
    engine = DuckDbEngine(out)
    try:
        engine.scope("signal")
        chosen = resolve_versions(engine, "signal", None)
        filters = settle_audience(engine, "signal", make_filters(where=["region=UK"]))
        picked = scan.picked("signal", chosen, filters)
        counts, labels = scan.counts_and_labels(engine, picked, "sessions", hashes)
    finally:
        engine.close()
    assert 0 < counts.sessions < 50  # a few of the story's sessions chosen...
    assert labels == everyone  # ...the labels of all of them


def test_the_labels_folded_into_duckdbs_pass_draw_the_same_flowchart(
    recorded: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from branching.analytics import flow

    db, out = recorded
    monkeypatch.setattr(flow, "FOLD_LABELS", True)
    for unit, args in (("sessions", ("--where", "region=UK")), ("times", ("--first-only",))):
        sqlite = figures(flowchart(str(SIGNAL), ("--db", str(db)), unit, args))
        duck = figures(flowchart(str(SIGNAL), ("--source", f"parquet:{out}"), unit, args))
        same_figures(sqlite, duck, unit)


# -- stats: every table, from every source --------------------------------------------

STATS_UNITS = ("sessions", "viewers")


def stats(story: str, source: tuple[str, ...], unit: str, args: tuple[str, ...]) -> dict[str, Any]:
    """`stats --format json`, every table (it says nothing of where the figures came from)."""
    data: dict[str, Any] = json.loads(
        run("stats", story, *source, "--format", "json", "--by", unit, "--flag-min", "2", *args)
    )
    return data


def _versions_as_a_set(data: dict[str, Any]) -> dict[str, Any]:
    """The overview's list of versions as a set: the export keeps no order among
    versions registered in the same millisecond (its stories dataset is in content
    hash order there, `store/parquet.py` `_STORIES`), so the newest-first list may
    name two such versions the other way round. Every figure is still compared."""
    rows = data["tables"]["overview"]["rows"]
    for row in rows:
        if row["what"] == "versions":
            row["value"] = sorted(row["value"].split(", "))
    return data


def same_stats(sqlite: dict[str, Any], other: dict[str, Any]) -> None:
    assert sqlite["summary"]["sessions"], "a case that chooses no session proves nothing"
    sqlite, other = _versions_as_a_set(sqlite), _versions_as_a_set(other)
    assert [t for t in other["tables"]] == [t for t in sqlite["tables"]]
    for name in sqlite["tables"]:  # table by table: a failure names the table
        assert other["tables"][name] == sqlite["tables"][name], name
    assert other == sqlite


@pytest.mark.parametrize("unit", STATS_UNITS)
@pytest.mark.parametrize(
    ("story", "args"), CASES, ids=[f"{s[-8:]}-{'_'.join(a)}" for s, a in CASES]
)
def test_duckdb_over_parquet_gives_the_same_stats_as_sqlite(
    recorded: tuple[Path, Path], story: str, args: tuple[str, ...], unit: str
) -> None:
    db, out = recorded
    sqlite = stats(story, ("--db", str(db)), unit, args)
    duck = stats(story, ("--source", f"parquet:{out}"), unit, args)
    same_stats(sqlite, duck)


# -- paths and progress: the sessions' stored paths, or the events folded in SQL --------


def _rewrite_sessions(out: Path, to: Path, change: Any) -> None:
    """A copy of the export `out` in `to`, its sessions file passed through `change`."""
    import pyarrow.parquet as pq

    shutil.copytree(out, to)
    for part in (to / "sessions").rglob("*.parquet"):
        pq.write_table(change(pq.read_table(part)), part)


@pytest.mark.parametrize("unit", STATS_UNITS)
def test_an_export_without_the_sessions_paths_folds_the_same_paths(
    recorded: tuple[Path, Path], tmp_path: Path, unit: str
) -> None:
    """Layout 2 (no `path`, `depth` in the sessions): DuckDB folds each session's
    decisions and rewinds in one query (`walks.folded_walk`); the paths and progress
    are SQLite's, the simulated audience going back as it does."""
    db, out = recorded
    old = tmp_path / "layout2"
    _rewrite_sessions(out, old, lambda t: t.drop_columns(["path", "depth"]))
    for story, args in (CASES[6], CASES[8], CASES[10]):
        sqlite = stats(story, ("--db", str(db)), unit, args)
        duck = stats(story, ("--source", f"parquet:{old}"), unit, args)
        same_stats(sqlite, duck)


def test_a_session_whose_path_the_export_could_not_write_is_walked(
    recorded: tuple[Path, Path], tmp_path: Path
) -> None:
    """One session without its stored path (a step that is no story id, say): the
    chosen sessions' events are read instead, and the figures do not change."""
    import pyarrow as pa

    db, out = recorded

    def forget_one_path(table: Any) -> Any:
        paths, depths = table.column("path").to_pylist(), table.column("depth").to_pylist()
        ended = table.column("outcome").to_pylist().index("ending")
        paths[ended] = depths[ended] = None
        table = table.set_column(table.schema.get_field_index("path"), "path", pa.array(paths))
        return table.set_column(
            table.schema.get_field_index("depth"), "depth", pa.array(depths, pa.int64())
        )

    holed = tmp_path / "holed"
    _rewrite_sessions(out, holed, forget_one_path)
    for story in ("tutorial", str(SIGNAL), "lighthouse"):
        args = ("--audience", "all") if story == "tutorial" else ()
        sqlite = stats(story, ("--db", str(db)), "sessions", args)
        duck = stats(story, ("--source", f"parquet:{holed}"), "sessions", args)
        same_stats(sqlite, duck)
