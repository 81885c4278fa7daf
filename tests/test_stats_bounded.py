"""The digests' readers that hold little at once give the figures of reading everything.

Issue 14 bounds what the dashboard's reading processes hold: the paths are read
most common first and the read stops past the top ones (ties at the cut all
kept), the tags counting sessions search their distinct lists whenever a few
are held, and a report of the segments by viewers takes its overview from the
same read. Each is compared here with the figures of a walk over every event
(paths), of the whole report (overview and segments) or of one search over
every list (tags).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from test_consistency import record_audience

from branching.analytics import stats_rollup, tags_rollup
from branching.analytics.filters import make_filters
from branching.analytics.report import build_report


@pytest.fixture(scope="module")
def audience(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_audience(tmp_path_factory.mktemp("bounded"), [("signal", 80, 30, 11)])


def report(db: Path, unit: str, picked: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return dataclasses.asdict(
        build_report("signal", db=db, filters=make_filters(**picked), unit=unit, **kw)  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("unit", ["sessions", "viewers"])
def test_the_top_paths_and_the_rest_are_the_walks_whatever_the_cut(
    audience: Path, unit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tops = [1, 2, 3, 5, 40]  # (`--top` is at least 1)
    fast = [report(audience, unit, {}, top=top, tables=["paths"])["paths"] for top in tops]
    monkeypatch.setattr(stats_rollup, "digested", lambda *a: None)  # walk every session
    for top, rows in zip(tops, fast, strict=True):
        assert rows == report(audience, unit, {}, top=top, tables=["paths"])["paths"], top
    shown = [p for p in fast[2] if not p["other"]]
    assert len(shown) == 3 and fast[2][-1]["other"]  # three shown, the rest summed


def test_several_paths_tie_at_the_cut_so_the_comparison_above_sees_ties(audience: Path) -> None:
    rows = report(audience, "sessions", {}, top=40, tables=["paths"])["paths"]
    counts = [p["count"] for p in rows if not p["other"]]
    assert any(counts.count(n) > 1 for n in counts[:5])


@pytest.mark.parametrize("alone", [True, False], ids=["digests alone", "sessions joined"])
@pytest.mark.parametrize(
    "picked",
    [
        {},
        {"where": ["region=NL"]},
        {"since": "2025-01-15"},
        {"audience": "all"},
        {"since": "2031-01-01"},
    ],
)
def test_a_report_of_the_segments_by_viewers_has_the_whole_reports_overview(
    audience: Path, picked: dict[str, Any], alone: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not alone:  # as on a file whose digests do not carry the sessions' columns
        monkeypatch.setattr(stats_rollup, "has_copies", lambda conn: False)
    whole = report(audience, "viewers", picked)
    one = report(audience, "viewers", picked, tables=["segments"])
    assert one["overview"] == whole["overview"]
    assert one["segments"] == whole["segments"]
    assert one["overview"]["viewers"] > 0 or picked.get("since") == "2031-01-01"  # (none)


@pytest.mark.parametrize("unit", ["sessions", "viewers"])
def test_tags_searched_a_few_lists_at_a_time_count_as_all_at_once(
    audience: Path, unit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = report(audience, unit, {}, tables=["tags"])["tags"]
    monkeypatch.setattr(tags_rollup, "_HELD", 2)  # search after nearly every batch
    monkeypatch.setattr(tags_rollup, "_BATCH", 3)
    assert report(audience, unit, {}, tables=["tags"])["tags"] == whole
    assert any(t["count"] for t in whole)
