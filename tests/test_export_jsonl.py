"""The fast JSON-lines export writes exactly what encoding each row as a whole would.

`write_export(..., "jsonl")` builds each line from cached pieces (the
session's columns once per session, the state once per change, repeating
values once); these tests hold it to `json_text(record, compact=True)` of the
rows `iter_rows` yields, byte for byte, on values that need escaping.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from branching.escape import json_text
from branching.store import Store, db
from branching.store.export import ExportFilter, StateTexts, iter_rows, write_export
from branching.store.states import StateReader
from tests.test_store_api import play_through

HOSTILE = '\x1b]0;owned\x07 \u202eevil\u2028line\x7f\x85 caf\u00e9 "q" \\ \U0001f600'


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    path = tmp_path / "h.db"
    with Store.open(path) as store:
        play_through(store, "alice")
        play_through(store, "bob", first="puffs", second="accept")
        play_through(store, "carol")
    conn = sqlite3.connect(path)
    with conn:
        alice, bob, carol = (r[0] for r in conn.execute("SELECT session_id FROM sessions"))
        conn.execute("UPDATE events SET label = ?, scene = ? WHERE session_id = ? AND seq = 3",
                     (HOSTILE, HOSTILE + "!", alice))  # fmt: skip
        conn.execute("UPDATE events SET decide_ms = 12.5, input = ? WHERE session_id = ? "
                     "AND seq = 7", ("\u00e9t\u00e9", alice))  # fmt: skip
        conn.execute("UPDATE events SET state = '{not json' WHERE session_id = ? AND seq = 3",
                     (bob,))  # fmt: skip
        conn.execute("UPDATE sessions SET terminal = ?, locale = ? WHERE session_id = ?",
                     (HOSTILE, "\u2029", alice))  # fmt: skip
        conn.execute("INSERT INTO session_attrs VALUES (?, 'note', ?)", (alice, HOSTILE))
        conn.execute("DELETE FROM events WHERE session_id = ?", (carol,))  # pruned
    conn.close()
    return path


def slow(conn: sqlite3.Connection, filt: ExportFilter) -> str:
    return "".join(json_text(r, compact=True) + "\n" for r in iter_rows(conn, filt))


@pytest.mark.parametrize(
    "filt",
    [
        ExportFilter(),
        ExportFilter(story="breakfast"),
        ExportFilter(story="nothing"),
        ExportFilter(since="2000-01-01T00:00:00.000Z"),
        ExportFilter(until="2000-01-01T00:00:00.000Z"),
    ],
)
def test_every_line_is_the_whole_rows_json_byte_for_byte(hostile: Path, filt: ExportFilter) -> None:
    conn = db.reader(hostile)
    try:
        fast = io.StringIO()
        count = write_export(conn, fast, "jsonl", filt)
        want = slow(conn, filt)
    finally:
        conn.close()
    assert fast.getvalue() == want
    assert count == want.count("\n")
    if filt == ExportFilter():
        assert count == 18 + 1  # two whole playthroughs, and the pruned one's session row
        assert "\\u001b" in want and "\\u202e" in want and "\\u007f" in want


def test_progress_adds_up_to_the_rows_written(hostile: Path) -> None:
    conn = db.reader(hostile)
    seen: list[int] = []
    try:
        count = write_export(conn, io.StringIO(), "jsonl", ExportFilter(), progress=seen.append)
    finally:
        conn.close()
    assert sum(seen) == count == 19


def test_the_remembered_states_are_the_readers_states_across_sessions() -> None:
    """Two sessions meet the same patch after the same state: the memo answers the second."""
    from branching.store.states import StateChain, dumps

    walks = [
        [{"a": 1, "v": {"x": 1}}, {"a": 2, "v": {"x": 1}}, {"a": 2, "v": {"x": 1}}],
        [{"a": 1, "v": {"x": 1}}, {"a": 2, "v": {"x": 1}}, {"a": 5, "v": {}}],
        [{"a": 9}, {"a": 2, "v": {"x": 1}}, {"a": 2, "v": {"x": 3}}],
        [{"a": 1, "v": {"x": 1}}, {"a": 2, "v": {"x": 1}}, {"a": 2, "v": {"x": 3}}],
    ]
    texts = StateTexts(limit=2)  # small, so the generations turn over
    for walk in walks * 3:
        chain, reader = StateChain(), StateReader()
        stored = [chain.encode(state) for state in walk]
        rows = [(seq, None if s is None else dumps(s)) for seq, s in enumerate(stored, 1)]
        texts.start()
        for seq, text in rows:
            want = reader.read_text(seq, text)
            assert texts.read(seq, text) == json_text(want, compact=True)
