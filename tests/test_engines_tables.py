"""One `stats` table at a time gives that table's figures, on every source.

`build_report(tables=...)` reads only what the tables asked for need: the
reach when a table shows it, names scenes by it or divides by it, the labels
viewers saw when a table shows choice labels, and on DuckDB the per-scene,
per-choice and per-tag figures in one pass over the events
(`scan.event_figures`) instead of one query per figure. What a user sees of a
table must not depend on which other tables were asked for, nor on that pass:
`stats --table X` prints the rows and the summary the whole report prints for
X, from the database and from its Parquet export, and the one pass gives what
`metrics`' and `segments`' portable queries give. An export whose manifest
does not say how many session keys it gave out still counts its sessions
right (the engine reads their range). An export of the layout before 4
(sessions without their decisions and viewer numbers, no labels dataset) gives
the same tables and flowchart, read from the events.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_consistency import record_audience
from test_consistency_sources import run

from branching.analytics import metrics, scan, segments
from branching.analytics.engines import DuckDbEngine, open_engine
from branching.analytics.filters import Filters, Unit, settle_audience
from branching.analytics.report import _tag_unions
from branching.analytics.rows import TABLES
from branching.analytics.source import resolve_versions, stored_shape

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a database of two stories' simulated audiences and real plays, its export)."""
    folder = tmp_path_factory.mktemp("tables")
    db = record_audience(folder, [("signal", 40, 15, 5), ("lighthouse", 30, 12, 6)])
    out = folder / "export"
    run("export", "--db", str(db), "--format", "parquet", str(out))
    return db, out


def stats(source: tuple[str, ...], *args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        run("stats", "signal", *source, "--format", "json", "--flag-min", "2", *args)
    )
    return data


@pytest.mark.parametrize("unit", ["sessions", "viewers"])
@pytest.mark.parametrize("kind", ["sqlite", "parquet"])
def test_each_table_alone_is_the_whole_reports_table(
    recorded: tuple[Path, Path], kind: str, unit: str
) -> None:
    db, out = recorded
    source = ("--db", str(db)) if kind == "sqlite" else ("--source", f"parquet:{out}")
    args = ("--by", unit, "--where", "region=UK")
    whole = stats(source, *args)
    assert whole["summary"]["sessions"], "a selection of no session proves nothing"
    for table in TABLES:
        alone = stats(source, *args, "--table", table)
        assert list(alone["tables"]) == [table]
        assert alone["tables"][table] == whole["tables"][table], table
        assert alone["summary"] == whole["summary"], table


def test_the_tables_asked_for_together_are_each_as_alone(recorded: tuple[Path, Path]) -> None:
    """Tables that need different figures (no event, the labels, and the reach, the
    timing counts and the interactions, which DuckDB then reads in one pass with the
    tags) asked for in one run: each is what it is alone (its own queries)."""
    _, out = recorded
    source = ("--source", f"parquet:{out}")
    tables = ("endings", "reach", "timing", "interactions", "tags", "paths")
    together = stats(source, *(a for t in tables for a in ("--table", t)))
    for table in tables:
        assert together["tables"][table] == stats(source, "--table", table)["tables"][table]


@pytest.mark.parametrize("unit", ["sessions", "viewers"])
@pytest.mark.parametrize(
    "filters",
    [Filters(), Filters(where=(("region", "UK"),)), Filters(first_only=True)],
    ids=["all", "where", "first-only"],
)
def test_one_pass_gives_the_portable_queries_figures(
    recorded: tuple[Path, Path], unit: Unit, filters: Filters
) -> None:
    _, out = recorded
    engine = open_engine(None, f"parquet:{out}")
    try:
        assert isinstance(engine, DuckDbEngine)
        chosen = resolve_versions(engine, "signal", None)
        shape = stored_shape(engine, "signal", chosen)
        engine.scope("signal")
        picked = scan.picked("signal", chosen, settle_audience(engine, "signal", filters))
        every = scan.event_figures(engine, picked, unit)
        scenes = metrics.scene_counts(engine, picked, unit)
        assert every.scenes == scenes and scenes
        reached = metrics.reached_of(scenes)
        assert metrics.choice_shares(
            engine, picked, shape, unit, reached, every.taken
        ) == metrics.choice_shares(engine, picked, shape, unit, reached)
        assert any(c.timeouts for c in metrics.choice_shares(engine, picked, shape, unit))
        assert metrics.timing(engine, picked, shape, unit, every.decisions) == metrics.timing(
            engine, picked, shape, unit
        )
        counts, ms = scan.decision_times(engine, picked, unit)  # the timing table's one pass
        timed = metrics.timing(engine, picked, shape, unit, counts, ms)
        assert timed == metrics.timing(engine, picked, shape, unit)
        assert any(t.timeouts for t in timed) and any(t.median_ms for t in timed)
        assert metrics.interactions(
            engine, picked, shape, unit, reached, every.interactions
        ) == metrics.interactions(engine, picked, shape, unit, reached)
        assert any(i.rewinds for i in metrics.interactions(engine, picked, shape, unit))
        tags = segments.tagged(shape)
        assert tags and {t.kind for t in tags} == {"choice", "scene"}
        counted = scan.event_figures(engine, picked, unit, ["decisions"], _tag_unions(tags))
        assert segments.tag_shares(tags, 99, counted.unions) == segments.tags(
            engine, picked, shape, unit, 99
        )
        assert any(share.count for share in segments.tags(engine, picked, shape, unit, 99))
        # what is not asked for is not read
        scenes_only = scan.event_figures(engine, picked, unit, ["scenes"])
        assert scenes_only.scenes == scenes
        assert not scenes_only.taken and not scenes_only.decisions
        assert not scenes_only.interactions
    finally:
        engine.close()


@pytest.mark.parametrize("keys", [None, 1, "many"], ids=["unsaid", "too-few", "not-a-number"])
def test_an_export_whose_manifest_does_not_say_its_keys_counts_the_same(
    recorded: tuple[Path, Path], tmp_path: Path, keys: object
) -> None:
    _, out = recorded
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    manifest = copy / "_branching_export.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    assert data["session_keys"] > 1
    if keys is None:
        del data["session_keys"]
    else:
        data["session_keys"] = keys
    manifest.write_text(json.dumps(data), encoding="utf-8")
    for unit in ("sessions", "viewers"):
        args = ("--by", unit, "--table", "overview", "--table", "reach")
        assert stats(("--source", f"parquet:{copy}"), *args) == stats(
            ("--source", f"parquet:{out}"), *args
        )


def test_an_export_of_layout_3_gives_the_same_figures(
    recorded: tuple[Path, Path], tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    _, out = recorded
    old = tmp_path / "export"  # named as `out`: the flowchart names the folder
    shutil.copytree(out, old)
    shutil.rmtree(old / "choice_labels")
    for part in (old / "sessions").rglob("*.parquet"):
        pq.write_table(pq.read_table(part).drop_columns(["made", "viewer_key"]), part)
    new_source, old_source = ("--source", f"parquet:{out}"), ("--source", f"parquet:{old}")
    for folder, stored in ((out, True), (old, False)):
        engine = open_engine(None, f"parquet:{folder}")
        try:
            assert isinstance(engine, DuckDbEngine)
            assert engine.stored_labels is stored and engine.stored_made is stored
        finally:
            engine.close()
    for args in [(), ("--by", "viewers"), ("--where", "region=UK", "--since", "2026-01-01")]:
        assert stats(old_source, *args) == stats(new_source, *args), args
    figures = [("flowchart", "signal", "--format", "json", *a) for a in [(), ("--by", "viewers")]]
    for args in figures:
        assert run(*args, *old_source) == run(*args, *new_source), args
