"""The Parquet export's sessions carry their path and depth (layout 3), and their
decisions and the labels viewers saw (layout 4).

Each session's `path` is the store's replay of its events (`digests.replay`:
a rewind takes back the choices it undid), written `scene,choice` a step, one
space between steps, and `depth` its length. The text sorts as the list of
steps does (`stats` ranks paths by it on DuckDB and Spark). Each session's
`made` is its decisions (choices made and timeouts), and `choice_labels` the
database's running total of the labels seen, whole. A folder of an older
layout (2) is carried on by the next run, its sessions rewritten with the new
columns and its labels written.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_consistency import record_audience

from branching.cli import cli
from branching.store.digests import replay
from branching.store.parquet import path_text
from branching.store.parquet_files import LAYOUT

pq = pytest.importorskip("pyarrow.parquet")


def _export(db: Path, out: Path) -> None:
    result = CliRunner().invoke(cli, ["export", "--db", str(db), "--format", "parquet", str(out)])
    assert result.exit_code == 0, result.output


def _replayed(db: Path) -> dict[str, tuple[str, int, bool]]:
    """session id -> (path as the export writes it, depth, whether a rewind undid a step)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = {}
        for (session_id,) in conn.execute("SELECT session_id FROM sessions"):
            rows = conn.execute(
                "SELECT seq, type, scene, choice, target FROM events"
                " WHERE session_id = ? ORDER BY seq",
                [session_id],
            ).fetchall()
            found = replay(rows)
            undone = found.made > len(found.path)
            text = " ".join(f"{scene},{choice}" for scene, choice in found.path)
            out[session_id] = (text, len(found.path), undone)
        return out
    finally:
        conn.close()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("paths")
    db = record_audience(folder, [("signal", 40, 15, 7), ("lighthouse", 30, 10, 8)])
    _export(db, folder / "out")
    return db, folder / "out"


def test_each_sessions_path_is_the_replay_of_its_events(exported: tuple[Path, Path]) -> None:
    db, out = exported
    sessions = pq.read_table(out / "sessions").to_pylist()
    expected = _replayed(db)
    assert {s["session_id"]: (s["path"], s["depth"]) for s in sessions} == {
        sid: (text, depth) for sid, (text, depth, _) in expected.items()
    }
    assert any(undone for _, _, undone in expected.values()), "no rewind undid a step"
    manifest = json.loads((out / "_branching_export.json").read_text(encoding="utf-8"))
    assert manifest["layout"] == LAYOUT


def test_each_session_carries_its_decisions_and_the_labels_are_the_databases(
    exported: tuple[Path, Path],
) -> None:
    db, out = exported
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        made = dict(
            conn.execute(
                """SELECT s.session_id, COUNT(e.seq) FROM sessions s LEFT JOIN events e
                ON e.session_id = s.session_id AND e.type IN ('choice_made', 'timeout_default')
                GROUP BY 1"""
            ).fetchall()
        )
        labels = sorted(conn.execute("SELECT * FROM choice_labels").fetchall())
    finally:
        conn.close()
    sessions = pq.read_table(out / "sessions").to_pylist()
    assert {s["session_id"]: s["made"] for s in sessions} == made
    assert any(made.values())
    exported_labels = pq.read_table(out / "choice_labels").to_pylist()
    assert sorted(tuple(r.values()) for r in exported_labels) == labels and labels


def test_the_path_text_sorts_as_its_steps_do() -> None:
    rng = random.Random(3)
    ids = ["a", "a-b", "a.b", "a_b", "ab", "A", "b0", "b", "-", "z9."]
    codes = {i: (s, c) for i, (s, c) in enumerate((s, c) for s in ids for c in ids)}
    paths = [[rng.choice(list(codes)) for _ in range(rng.randint(0, 4))] for _ in range(400)]
    texts = [(path_text(json.dumps(p), codes), tuple(codes[c] for c in p)) for p in paths]
    assert all(text is not None for text, _ in texts)
    assert sorted(texts, key=lambda t: str(t[0])) == sorted(texts, key=lambda t: t[1])


def test_a_step_that_is_no_story_id_leaves_the_path_to_the_events() -> None:
    assert path_text("[1, 2]", {1: ("hall", "go"), 2: ("hall", "go on")}) is None
    assert path_text("[1]", {1: ("hall,1", "go")}) is None
    assert path_text("[9]", {1: ("hall", "go")}) is None  # a code no name has
    assert path_text("[]", {}) == ""
    assert path_text(None, {}) is None


def test_a_folder_of_the_layout_before_is_carried_on(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    import shutil

    db, out = exported
    old = tmp_path / "old"
    shutil.copytree(out, old)
    manifest = old / "_branching_export.json"
    manifest.write_text(
        json.dumps({**json.loads(manifest.read_text(encoding="utf-8")), "layout": 2}), "utf-8"
    )
    for part in (old / "sessions").rglob("*.parquet"):
        pq.write_table(pq.read_table(part).drop_columns(["path", "depth", "made"]), part)
    shutil.rmtree(old / "choice_labels")
    _export(db, old)
    assert json.loads(manifest.read_text(encoding="utf-8"))["layout"] == LAYOUT
    columns = ["session_id", "path", "depth", "made"]
    again = pq.read_table(old / "sessions").select(columns)
    first = pq.read_table(out / "sessions").select(columns)
    assert sorted(again.to_pylist(), key=str) == sorted(first.to_pylist(), key=str)
    labels = pq.read_table(old / "choice_labels").to_pylist()
    assert labels == pq.read_table(out / "choice_labels").to_pylist() and labels
