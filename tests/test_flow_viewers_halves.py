"""The flowchart by viewers read in two halves at once gives the figures of one read.

`flow_viewers` reads a big story's viewers in two halves, the upper one in a
second process (`viewer_unions`), and adds the counts;
it keeps them only when `PRAGMA data_version` shows no commit from before the
second process started until both halves were in. Here the halves are forced
on small recordings and compared with one read and with the scan of the
events; a commit made while the halves are read, and a second process that
fails, must both give the figures of one read of the file as it then is.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from test_consistency_flow_viewers import (
    SELECTIONS,
    STORY,
    V1,
    V2,
    event,
    random_ops,
    recorded,
    session,
)

from branching.analytics import flow_viewers, rollup, scan
from branching.analytics.filters import Filters
from branching.analytics.graph import Counts
from branching.analytics.viewer_unions import ViewerUnions
from branching.store.ops import apply_op


@pytest.fixture
def halves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every story read in two halves; the list grows by one per halves added."""
    added: list[int] = []
    add = ViewerUnions.add

    def counted(self: ViewerUnions, other: ViewerUnions) -> None:
        added.append(other.viewers)
        add(self, other)

    monkeypatch.setattr(flow_viewers, "SPLIT_AT", 1)
    monkeypatch.setattr(ViewerUnions, "add", counted)
    return added


def one_read(conn: sqlite3.Connection, filters: Filters, monkeypatch: Any) -> Counts | None:
    with monkeypatch.context() as m:
        m.setattr(flow_viewers, "SPLIT_AT", 10**12)
        return flow_viewers.viewer_counts(conn, STORY, [V1, V2], filters, 1)[0]


@pytest.mark.parametrize("seed", [1, 2])
def test_two_halves_are_one_read_and_the_scan(
    tmp_path: Path, seed: int, halves: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = recorded(tmp_path / "fuzz.db", random_ops(seed))
    try:
        for filters in SELECTIONS:
            split, why = flow_viewers.viewer_counts(conn, STORY, [V1, V2], filters, 1)
            assert why == ""
            assert split == one_read(conn, filters, monkeypatch), filters
            scanned = scan.event_counts(conn, scan.picked(STORY, [V1, V2], filters), "viewers")
            assert split == scanned, filters
    finally:
        conn.close()
    assert len(halves) >= len(SELECTIONS)  # every read went in halves
    assert any(halves)  # and the second process counted viewers


def test_a_commit_while_the_halves_are_read_means_one_read_again(
    tmp_path: Path, halves: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new viewer's session is committed by another connection right after the second
    process starts: the halves may have seen two states, so they are not used."""
    path = tmp_path / "fuzz.db"
    recorded(path, random_ops(3)).close()
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    popen = flow_viewers.subprocess.Popen

    def and_a_commit(*args: Any, **kwargs: Any) -> Any:
        started = popen(*args, **kwargs)
        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        apply_op(writer, session("late", "v1", "newcomer", "2026-01-03T10:00:00.000Z"))
        apply_op(writer, event("late", "v1", 0, "scene_shown", "a"))
        writer.execute("COMMIT")
        writer.close()
        return started

    monkeypatch.setattr(flow_viewers.subprocess, "Popen", and_a_commit)
    try:
        got, _ = flow_viewers.viewer_counts(reader, STORY, [V1, V2], Filters(audience="all"), 1)
        monkeypatch.setattr(flow_viewers.subprocess, "Popen", popen)
        now = one_read(reader, Filters(audience="all"), monkeypatch)
    finally:
        reader.close()
    assert halves == []  # the halves were thrown away
    assert got == now and got is not None
    assert got.visits["a"] >= 1 and got.sessions == 61  # the newcomer's session is in


def test_a_second_process_that_fails_means_one_read(
    tmp_path: Path, halves: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = recorded(tmp_path / "fuzz.db", random_ops(4))
    try:
        whole = one_read(conn, Filters(audience="all"), monkeypatch)
        monkeypatch.setattr(sys, "executable", "/bin/false")
        got, _ = flow_viewers.viewer_counts(conn, STORY, [V1, V2], Filters(audience="all"), 1)
    finally:
        conn.close()
    assert halves == []
    assert got == whole and got is not None and got.viewers > 0


def test_the_flowchart_asks_for_halves_by_the_sessions_it_chooses(tmp_path: Path) -> None:
    """`rollup.chosen_sessions`, which decides, is the count of the sessions chosen (None
    where the aggregates cannot tell: a time of day, several --where)."""
    conn = recorded(tmp_path / "fuzz.db", random_ops(5))
    try:
        for filters in SELECTIONS:
            counted = rollup.chosen_sessions(conn, STORY, [V1, V2], filters)
            counts, _ = flow_viewers.viewer_counts(conn, STORY, [V1, V2], filters)
            assert counts is not None
            if counted is not None:
                assert counted == counts.sessions, filters
            else:
                assert filters.where[1:] or any(
                    t and not t.endswith("T00:00:00.000Z") for t in (filters.since, filters.until)
                )
    finally:
        conn.close()
