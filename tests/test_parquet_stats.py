"""`stats` over the Parquet export answers from the exported aggregates, as SQLite does.

SQLite's `stats` sums its aggregates (`agg_scenes`, `agg_edges`, `agg_decide`,
`agg_acts`) and reads the digests' lists by viewers instead of the events;
DuckDB does the same over their copies in the export (`parquet_stats.py`):
the same figures byte for byte, no pass over the events for the reach,
choices, unreached, timing, flags, interactions and tags by sessions (and
by viewers with `--first-only`); by viewers, none either (the viewers from the
sessions' lists as bits, layout 5). An export without `agg_decide` and `agg_acts` (written before
them) is still read, its timing and interactions from the events; one
without the bits (layout 4), its tables by viewers from the events.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_consistency_sources import run

import branching.cli.data  # noqa: F401  (registers the commands)
from branching.analytics.engines import DuckDbEngine
from branching.analytics.parquet_viewers import LISTS

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow.parquet")

TABLES = ("reach", "choices", "unreached", "timing", "flags", "interactions", "tags")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a database of Signal over five days, with rewinds and pauses; its Parquet export)."""
    folder = tmp_path_factory.mktemp("stats")
    db = folder / "sim.db"
    run(
        "simulate", "signal", "--sessions", "80", "--viewers", "30", "--seed", "5",
        "--back", "0.2", "--pause", "0.2", "--timeouts", "0.2",
        "--db", str(db), "--from", "2026-01-01", "--to", "2026-01-05",
    )  # fmt: skip
    out = folder / "export"
    run("export", "--db", str(db), "--format", "parquet", str(out))
    return db, out


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The queries DuckDB runs over the events (`FROM`/`JOIN events`), as they happen."""
    seen: list[str] = []
    for name in ("rows", "stream"):
        real = getattr(DuckDbEngine, name)

        def reading(self: Any, sql: str, *args: Any, _real: Any = real) -> Any:
            if _EVENTS.search(sql):
                seen.append(sql)
            return _real(self, sql, *args)

        monkeypatch.setattr(DuckDbEngine, name, reading)
    return seen


_EVENTS = re.compile(r"\b(?:FROM|JOIN)\s+events\b")


def stats(source: tuple[str, ...], table: str, args: tuple[str, ...]) -> str:
    return run("stats", "signal", *source, "--table", table, "--format", "json", *args)


SELECTIONS = [
    (),
    ("--where", "region=NL"),
    ("--first-only",),
    ("--since", "2026-01-03"),
    ("--by", "viewers"),
    ("--by", "viewers", "--where", "region=NL"),
    ("--by", "viewers", "--first-only"),
]


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("args", SELECTIONS, ids=["_".join(a) or "all" for a in SELECTIONS])
def test_each_table_is_sqlites_byte_for_byte_without_a_pass_over_the_events(
    recorded: tuple[Path, Path], passes: list[str], table: str, args: tuple[str, ...]
) -> None:
    db, out = recorded
    sqlite = stats(("--db", str(db)), table, args)
    passes.clear()  # SQLite's own reads are not DuckDB's
    assert stats(("--source", f"parquet:{out}"), table, args) == sqlite
    assert passes == []


@pytest.mark.parametrize(
    "table", ("reach", "choices", "timing", "interactions", "tags", "segments")
)
def test_an_export_of_layout_4_reads_the_events_by_viewers_alike(
    recorded: tuple[Path, Path], tmp_path: Path, passes: list[str], table: str
) -> None:
    """Without the sessions' lists as bits nor the attributes' session keys (layout 4),
    the tables by viewers read the events, the breakdowns join the attributes by id."""
    import pyarrow.parquet as pq

    db, out = recorded
    old = tmp_path / "old"
    shutil.copytree(out, old)
    for name, columns in (
        ("sessions", [f"{n}_bits" for n in LISTS]),
        ("session_attrs", ["session_key"]),
    ):
        for part in (old / name).glob("*.parquet"):  # as layout 4 wrote them
            pq.write_table(pq.read_table(part).drop_columns(columns), part)
    for args in (("--by", "viewers"), ("--where", "region=NL")):
        sqlite = stats(("--db", str(db)), table, args)
        passes.clear()
        assert stats(("--source", f"parquet:{old}"), table, args) == sqlite
        if "viewers" in args and table != "segments":
            assert passes  # the events were read for it


def test_the_audience_rewinds_pauses_and_times_out(recorded: tuple[Path, Path]) -> None:
    """The comparisons above compare figures, not empty columns."""
    _, out = recorded
    moves = json.loads(stats(("--source", f"parquet:{out}"), "interactions", ()))
    rows = moves["tables"]["interactions"]["rows"]
    assert sum(r["went back here"] for r in rows) and sum(r["paused"] for r in rows)
    timing = json.loads(stats(("--source", f"parquet:{out}"), "timing", ()))
    assert any(r["timeouts"] and r["median"] for r in timing["tables"]["timing"]["rows"])


@pytest.mark.parametrize("table", ("timing", "interactions"))
def test_an_export_without_the_decide_and_acts_copies_reads_the_events_alike(
    recorded: tuple[Path, Path], tmp_path: Path, passes: list[str], table: str
) -> None:
    db, out = recorded
    old = tmp_path / "old"
    shutil.copytree(out, old)
    for name in ("agg_decide", "agg_acts"):  # as an export written before them
        shutil.rmtree(old / name)
    sqlite = stats(("--db", str(db)), table, ())
    passes.clear()
    assert stats(("--source", f"parquet:{old}"), table, ()) == sqlite
    assert passes  # the events were read for it


def test_a_time_of_day_reads_the_events_with_the_same_figures(
    recorded: tuple[Path, Path], passes: list[str]
) -> None:
    db, out = recorded
    args = ("--since", "2026-01-03T12:00")
    sqlite = stats(("--db", str(db)), "choices", args)
    passes.clear()
    assert stats(("--source", f"parquet:{out}"), "choices", args) == sqlite
    assert passes


def test_a_reader_open_across_an_export_run_says_to_run_it_again(
    recorded: tuple[Path, Path], tmp_path: Path
) -> None:
    """A run into the folder replaces the aggregates and deletes the last run's: a reader
    that listed them before stops with a clear message, never DuckDB's "No files found"
    nor figures of two runs."""
    from branching.analytics.shape import AnalyticsError

    db, out = recorded
    copy = tmp_path / "export"
    shutil.copytree(out, copy)
    early, late = DuckDbEngine(copy), DuckDbEngine(copy)
    try:
        assert early.aggregates()
        run("export", "--db", str(db), "--format", "parquet", str(copy))  # run 2
        assert not (copy / "agg_edges" / "agg_edges-000001.parquet").exists()
        with pytest.raises(AnalyticsError, match="changed while it was read.*run the command"):
            early.rows("SELECT COUNT(*) FROM agg_edges")
        with pytest.raises(AnalyticsError, match="changed while it was read"):
            early.rows("SELECT COUNT(*) FROM sessions")  # rewritten in place: read, then told
        with pytest.raises(AnalyticsError, match="changed while it was read"):
            list(early.stream("SELECT session_id FROM sessions"))
        with pytest.raises(AnalyticsError, match="changed while it was read"):
            late.aggregates()  # its views list run 1's files, the manifest says run 2
    finally:
        early.close()
        late.close()
    fresh = DuckDbEngine(copy)
    try:
        assert fresh.aggregates() and fresh.rows("SELECT COUNT(*) FROM agg_edges")[0][0] > 0
    finally:
        fresh.close()
