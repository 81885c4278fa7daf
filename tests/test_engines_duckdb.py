"""The DuckDB engine's own shortcuts give the figures the plain queries give.

`engines.DuckDbEngine` imports DuckDB's compiled core alone (`duckdb_core`),
writes the export's file names into its views as quoted literals, works out a
choice of sessions by a subquery once per engine (`_chosen_once`) and orders
`--first-only`'s sessions by their start as a timestamp (`_first_order`). Each
is checked against what a user would see without it: the same figures as
SQLite's, whatever the folder is called, and no stale choice when the filters
change within one engine.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_consistency import SIGNAL
from test_consistency_sources import figures, flowchart, recorded, same_stats, stats

from branching.analytics import engines, scan
from branching.analytics.engines import DuckDbEngine
from branching.analytics.filters import Filters
from branching.analytics.shape import AnalyticsError
from branching.analytics.source import resolve_versions

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

__all__ = ["recorded"]  # the module's fixture, shared


def test_an_export_in_a_folder_named_with_a_quote_reads_the_same(
    recorded: tuple[Path, Path], tmp_path: Path
) -> None:
    db, out = recorded
    odd = tmp_path / "it's the export"
    shutil.copytree(out, odd)
    args = ("--where", "region=UK")
    sqlite = stats(str(SIGNAL), ("--db", str(db)), "sessions", args)
    same_stats(sqlite, stats(str(SIGNAL), ("--source", f"parquet:{odd}"), "sessions", args))


def test_without_the_compiled_core_alone_the_duckdb_package_gives_the_same_figures(
    recorded: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DuckDB whose package has no `_duckdb` of its own: the package is imported whole."""
    db, out = recorded
    real = importlib.import_module

    def without_core(name: str, package: str | None = None) -> Any:
        if name == "_duckdb":
            raise ImportError(name)
        return real(name, package)

    monkeypatch.setattr(engines.importlib, "import_module", without_core)
    assert engines.duckdb_core().__name__ == "duckdb"
    args = ("--first-only",)
    sqlite = figures(flowchart("lighthouse", ("--db", str(db)), "viewers", args))
    duck = figures(flowchart("lighthouse", ("--source", f"parquet:{out}"), "viewers", args))
    assert duck == sqlite


def test_a_report_over_an_export_never_imports_duckdbs_python_layer(
    recorded: tuple[Path, Path],
) -> None:
    """The `duckdb` package's relations and expressions (0.12-0.15 s of each command's
    start) are not what the engine uses."""
    _, out = recorded
    code = (
        "import sys\n"
        "from branching.analytics.report import build_report\n"
        f"r = build_report('signal', db=None, source='parquet:{out}', tables=['choices'])\n"
        "assert r.choices, 'no figures read'\n"
        "print(sorted(m for m in sys.modules if m == 'duckdb' or m.startswith('duckdb.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _count(engine: DuckDbEngine, filters: Filters) -> tuple[int, int]:
    """(sessions chosen through `picked`, kept by the engine; the same condition read
    straight from the sessions view)."""
    chosen = resolve_versions(engine, "signal", None)
    picked = scan.picked("signal", chosen, filters)
    kept = picked.query(engine, "SELECT COUNT(*), COUNT(DISTINCT viewer_id) FROM picked")[0]
    plain = engine._con.execute(  # the view itself, not through `rows`
        f"SELECT COUNT(*), COUNT(DISTINCT viewer_id) FROM sessions s WHERE {picked.cond}",
        list(picked.params),
    ).fetchall()[0]
    assert kept == plain, filters
    return int(kept[0]), int(kept[1])


def test_each_choice_of_sessions_is_its_own_however_many_queries_read_it(
    recorded: tuple[Path, Path],
) -> None:
    _, out = recorded
    engine = DuckDbEngine(out)
    try:
        uk = _count(engine, Filters(where=(("region", "UK"),)))
        nl = _count(engine, Filters(where=(("region", "NL"),)))
        first = _count(engine, Filters(first_only=True))
        first_uk = _count(engine, Filters(where=(("region", "UK"),), first_only=True))
        assert uk != nl and first != first_uk and first_uk[0] <= uk[0]
        assert _count(engine, Filters(where=(("region", "UK"),))) == uk  # again: kept
        assert first[0] == first[1]  # one session a viewer
        assert (
            len(engine._chosen_once.tables) == 3
        )  # UK, NL, the first sessions: each worked out once
    finally:
        engine.close()


def test_a_mark_in_a_literal_and_a_correlated_subquery_are_read_as_written(
    recorded: tuple[Path, Path],
) -> None:
    """The kept choices of sessions take their parameters by position: a `?` inside a
    quoted literal is no parameter, and a subquery naming the outer sessions is not kept."""
    _, out = recorded
    engine = DuckDbEngine(out)
    try:
        quoted = (
            "SELECT COUNT(*) FROM sessions s WHERE s.story_id <> 'what?' AND s.session_id IN "
            "(SELECT a.session_id FROM session_attrs a WHERE a.key = ? AND a.value = ?)"
        )
        direct = engine._con.execute(quoted, ["region", "UK"]).fetchall()
        assert engine.rows(quoted, ["region", "UK"]) == direct and direct[0][0] > 0
        assert len(engine._chosen_once.tables) == 1
        correlated = (
            "SELECT COUNT(*) FROM sessions s WHERE s.session_id IN (SELECT a.session_id "
            "FROM session_attrs a WHERE a.session_id = s.session_id AND a.key = ?)"
        )
        direct = engine._con.execute(correlated, ["region"]).fetchall()
        assert engine.rows(correlated, ["region"]) == direct
        assert len(engine._chosen_once.tables) == 1  # not kept: it depends on the outer row
    finally:
        engine.close()


class _TightMemory:
    """A DuckDB connection that runs out of memory whenever a query runs on more than
    `fits` threads, as a large sort or join can at the 100 MB a command allows it."""

    def __init__(self, con: Any, fits: int, threads_of: Any = None) -> None:
        self._con = con
        self._fits = fits
        self._threads_of = con if threads_of is None else threads_of

    def execute(self, sql: str, *args: Any) -> Any:
        setting = "SELECT current_setting('threads')"
        threads = int(self._threads_of.execute(setting).fetchone()[0])
        if "current_setting" not in sql and not sql.startswith("SET") and threads > self._fits:
            raise engines.duckdb_core().OutOfMemoryException("could not allocate block")
        return self._con.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def test_out_of_memory_on_two_threads_answers_on_one(
    recorded: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query that does not fit on two threads runs again on one: the same rows, no error."""
    monkeypatch.setenv("BRANCHING_DUCKDB_THREADS", "2")
    _db, out = recorded
    engine = DuckDbEngine(out)
    try:
        query = "SELECT COUNT(*), COUNT(DISTINCT viewer_id) FROM sessions"
        plain = engine.rows(query)
        engine._con = _TightMemory(engine._con, fits=1)  # type: ignore[assignment]
        assert engine.rows(query) == plain
        assert engine.rows(query) == plain  # and it stays on one thread
    finally:
        engine.close()


def test_out_of_memory_on_one_thread_says_how_to_allow_more(
    recorded: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRANCHING_DUCKDB_THREADS", "2")
    _db, out = recorded
    engine = DuckDbEngine(out)
    try:
        engine._con = _TightMemory(engine._con, fits=0)  # type: ignore[assignment]
        with pytest.raises(AnalyticsError, match="BRANCHING_DUCKDB_MEMORY"):
            engine.rows("SELECT COUNT(*) FROM sessions")
    finally:
        engine.close()


class _TightCursors(_TightMemory):
    """`_TightMemory` for the cursors `stream` reads on too."""

    def cursor(self) -> Any:
        return _TightMemory(self._con.cursor(), self._fits, threads_of=self._con)


def test_out_of_memory_choosing_the_sessions_or_streaming_answers_on_one_thread(
    recorded: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--first-only`'s choice of sessions (numbered once per engine) and a streamed read
    run again on one thread too: the same rows as with memory to spare."""
    monkeypatch.setenv("BRANCHING_DUCKDB_THREADS", "2")
    _db, out = recorded
    filters = Filters(first_only=True)
    plain = DuckDbEngine(out)
    try:
        counted = _count(plain, filters)
        streamed = sorted(plain.stream("SELECT session_id FROM sessions"))
    finally:
        plain.close()
    for fresh in (True, False):
        engine = DuckDbEngine(out)
        try:
            tight = _TightCursors(engine._con, fits=1)
            engine._con = tight  # type: ignore[assignment]
            engine._chosen_once._con = tight  # type: ignore[assignment]
            if fresh:
                assert _count(engine, filters) == counted
            else:
                assert sorted(engine.stream("SELECT session_id FROM sessions")) == streamed
        finally:
            engine.close()
