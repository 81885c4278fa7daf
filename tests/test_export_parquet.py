"""`branching export --format parquet OUT/`: what an analyst reads back, run after run."""

from __future__ import annotations

import json
import os
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import branching.cli.data  # noqa: F401  (registers the commands)
from branching.cli.main import cli
from branching.store import Store, db
from branching.store.export import ExportFilter, iter_rows
from tests.test_store_api import begin, play_through

pa = pytest.importorskip("pyarrow")
ds = pytest.importorskip("pyarrow.dataset")
pq = pytest.importorskip("pyarrow.parquet")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "sim.db"
    result = run(
        "simulate", "signal", "--sessions", "40", "--seed", "1", "--db", str(path),
        "--from", "2026-01-01", "--to", "2026-01-05",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return path


def events(out: Path) -> list[dict[str, Any]]:
    dataset = ds.dataset(out / "events", format="parquet", partitioning="hive")
    return dataset.to_table().to_pylist()  # type: ignore[no-any-return]


def table(out: Path, name: str) -> list[dict[str, Any]]:
    return pq.read_table(out / name).to_pylist()  # type: ignore[no-any-return]


def jsonl_rows(path: Path) -> list[dict[str, Any]]:
    conn = db.reader(path)
    try:
        return [r for r in iter_rows(conn, ExportFilter()) if r["event_id"] is not None]
    finally:
        conn.close()


def stored_ts(moment: Any) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_every_event_is_in_the_dataset_once_with_the_jsonl_exports_values(
    simulated: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run("export", "--db", str(simulated), "--format", "parquet", str(out))
    assert result.exit_code == 0, result.output
    got = {e["event_id"]: e for e in events(out)}
    want = jsonl_rows(simulated)
    assert len(got) == len(want) == len(events(out))  # each exactly once
    for row in want:
        event = got[row["event_id"]]
        for column in ("session_id", "seq", "type", "scene", "choice", "target", "decide_ms"):
            assert event[column] == row[column], column
        for column in ("input", "label", "simulated", "story_id", "content_hash"):
            assert event[column] == row[column], column
        assert stored_ts(event["ts"]) == row["ts"]
        assert event["day"] == row["ts"][:10]
        assert json.loads(event["state"]) == row["state"]
    sessions = {s["session_id"]: s for s in table(out, "sessions")}
    for row in want:
        session = sessions[row["session_id"]]
        assert session["outcome"] == row["outcome"]
        assert stored_ts(session["started_at"]) == row["started_at"]
        assert session["viewer_id"] == row["viewer_id"]
    attrs: dict[str, dict[str, str]] = {}
    for a in table(out, "session_attrs"):
        attrs.setdefault(a["session_id"], {})[a["key"]] = a["value"]
    assert all(attrs.get(r["session_id"], {}) == (r["attrs"] or {}) for r in want)
    assert {s["story_id"] for s in table(out, "stories")} == {"signal"}


def test_events_are_partitioned_by_story_and_utc_day(simulated: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("export", "--db", str(simulated), "--format", "parquet", str(out)).exit_code == 0
    days = {r["ts"][:10] for r in jsonl_rows(simulated)}
    folders = {p.parent.relative_to(out).as_posix() for p in out.glob("events/*/*/*.parquet")}
    assert folders == {f"events/story_id=signal/day={d}" for d in days}
    for part in out.glob("events/*/*/*.parquet"):
        day = part.parent.name.removeprefix("day=")
        assert {stored_ts(t)[:10] for t in pq.read_table(part).column("ts").to_pylist()} == {day}
    assert not list(out.rglob(".*.tmp"))
    manifest = json.loads((out / "_branching_export.json").read_text())
    assert manifest["run"] == 1 and manifest["events"] == len(jsonl_rows(simulated))


def test_a_second_run_adds_exactly_the_new_events_even_in_an_existing_session(
    tmp_path: Path,
) -> None:
    path, out = tmp_path / "t.db", tmp_path / "out"
    with Store.open(path) as store:
        play_through(store, "alice")
        open_session = begin(store, "bob")
        assert open_session.record("session_started", state={"n": 1}).result()
        assert open_session.record("scene_shown", scene="kitchen", state={"n": 1}).result()
        open_session.close()
    first = run("export", "--db", str(path), "--format", "parquet", str(out))
    assert first.exit_code == 0, first.output
    before = {e["event_id"] for e in events(out)}
    bob = open_session.session_id
    assert {s["session_id"]: s["outcome"] for s in table(out, "sessions")}[bob] == "in_progress"

    with Store.open(path) as store:
        resumed = store.resume_session(bob)
        assert resumed.record("choice_made", scene="kitchen", choice="frosties", target="bus",
                              decide_ms=700, input="key", state={"n": 2}).result()  # fmt: skip
        assert resumed.finish("quit").result()
        resumed.close()
        play_through(store, "carol")
    second = run("export", "--db", str(path), "--format", "parquet", str(out))
    assert second.exit_code == 0, second.output

    after = [e["event_id"] for e in events(out)]
    assert len(after) == len(set(after))  # no duplicates
    assert set(after) == {r["event_id"] for r in jsonl_rows(path)}  # no losses
    assert set(after) - before >= {f"{bob}:3"}
    state = {e["event_id"]: e["state"] for e in events(out)}[f"{bob}:3"]
    assert json.loads(state) == {"n": 2}  # rebuilt from the session's start
    assert {s["session_id"]: s["outcome"] for s in table(out, "sessions")}[bob] == "quit"
    assert len(table(out, "sessions")) == 3
    parts = sorted(p.name for p in out.glob("events/*/*/*.parquet"))
    assert any(p.startswith("part-000002-") for p in parts)  # new files, old ones untouched
    third = run("export", "--db", str(path), "--format", "parquet", str(out))
    assert third.exit_code == 0 and "+0 events" in third.output
    assert sorted(p.name for p in out.glob("events/*/*/*.parquet")) == parts


def test_a_failed_run_counts_nothing_and_the_next_one_adds_everything_once(
    simulated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import branching.store.parquet as parquet

    out = tmp_path / "out"
    writes = {"n": 0}
    real = parquet._Buffered.flush

    def failing(self: Any) -> None:
        writes["n"] += 1
        if writes["n"] == 3:
            raise OSError(28, "No space left on device")
        real(self)

    monkeypatch.setattr(parquet, "GROUP_BYTES", 50_000)  # many row groups, many files
    monkeypatch.setattr(parquet._Buffered, "flush", failing)
    failed = run("export", "--db", str(simulated), "--format", "parquet", str(out))
    assert failed.exit_code == 1
    assert "No space left on device" in failed.output and "Traceback" not in failed.output
    assert len(failed.output.strip().splitlines()) == 1
    assert not (out / "_branching_export.json").exists()
    assert not [p for p in out.rglob("*") if p.is_file()]  # no half-written part left

    monkeypatch.setattr(parquet._Buffered, "flush", real)
    assert run("export", "--db", str(simulated), "--format", "parquet", str(out)).exit_code == 0
    ids = [e["event_id"] for e in events(out)]
    assert len(ids) == len(set(ids)) == len(jsonl_rows(simulated))


def test_parts_of_an_uncommitted_run_are_removed_before_the_next(
    simulated: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert run("export", "--db", str(simulated), "--format", "parquet", str(out)).exit_code == 0
    part = next(out.glob("events/*/*/part-000001-*.parquet"))
    orphan = part.with_name("part-000002-00001.parquet")  # renamed, manifest not yet replaced
    orphan.write_bytes(part.read_bytes())
    (part.parent / ".part-000002-00002.parquet.tmp").write_bytes(b"half")
    assert run("export", "--db", str(simulated), "--format", "parquet", str(out)).exit_code == 0
    ids = [e["event_id"] for e in events(out)]
    assert len(ids) == len(set(ids)) == len(jsonl_rows(simulated))
    assert not list(out.rglob(".*.tmp"))


@pytest.mark.parametrize("case", ["file", "other-database", "foreign-folder", "damaged"])
def test_a_folder_that_cannot_take_the_export_is_one_line(
    simulated: Path, tmp_path: Path, case: str
) -> None:
    out = tmp_path / "out"
    if case == "file":
        out.write_text("not a folder")
    elif case == "other-database":
        other = tmp_path / "other.db"
        with Store.open(other) as store:
            play_through(store, "zoe")
        assert run("export", "--db", str(other), "--format", "parquet", str(out)).exit_code == 0
    elif case == "foreign-folder":
        out.mkdir()
        (out / "holiday.jpg").write_bytes(b"...")
    else:
        out.mkdir()
        (out / "_branching_export.json").write_text("{not json")
    before = sorted((p.name, p.stat().st_size) for p in tmp_path.rglob("*") if p.is_file())
    result = run("export", "--db", str(simulated), "--format", "parquet", str(out))
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert str(out) in result.output
    after = sorted((p.name, p.stat().st_size) for p in tmp_path.rglob("*") if p.is_file())
    assert after == before  # nothing written, nothing removed


def test_a_folder_nobody_may_write_is_one_line(simulated: Path, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    out = tmp_path / "locked"
    out.mkdir(mode=0o500)
    result = run("export", "--db", str(simulated), "--format", "parquet", str(out))
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1


def test_without_pyarrow_it_says_how_to_install_it(
    simulated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import branching.store.parquet as parquet

    monkeypatch.setattr(parquet, "available", lambda: False)
    result = run("export", "--db", str(simulated), "--format", "parquet", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert "pip install 'branching[parquet]'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_parquet_takes_a_folder_and_no_filters(simulated: Path, tmp_path: Path) -> None:
    no_folder = run("export", "--db", str(simulated), "--format", "parquet")
    filtered = run(
        "export", "--db", str(simulated), "--format", "parquet", "--story", "signal",
        str(tmp_path / "o"),
    )  # fmt: skip
    folder_for_jsonl = run("export", "--db", str(simulated), str(tmp_path / "o"))
    for result in (no_folder, filtered, folder_for_jsonl):
        assert result.exit_code == 2, result.output
    assert not (tmp_path / "o").exists()


def test_every_session_keeps_one_integer_key_run_after_run(tmp_path: Path) -> None:
    path, out = tmp_path / "t.db", tmp_path / "out"
    with Store.open(path) as store:
        play_through(store, "alice")
        open_session = begin(store, "bob")
        assert open_session.record("scene_shown", scene="kitchen", state={"n": 1}).result()
        open_session.close()
    assert run("export", "--db", str(path), "--format", "parquet", str(out)).exit_code == 0
    first = {s["session_id"]: s["session_key"] for s in table(out, "sessions")}
    assert sorted(first.values()) == [1, 2]

    bob = open_session.session_id
    with Store.open(path) as store:
        resumed = store.resume_session(bob)
        assert resumed.record("choice_made", scene="kitchen", choice="frosties", target="bus",
                              decide_ms=700, input="key", state={"n": 2}).result()  # fmt: skip
        resumed.close()
        play_through(store, "carol")
    assert run("export", "--db", str(path), "--format", "parquet", str(out)).exit_code == 0
    second = {s["session_id"]: s["session_key"] for s in table(out, "sessions")}
    assert {k: second[k] for k in first} == first  # the same key in every run
    assert sorted(second.values()) == [1, 2, 3]  # the new session gets a new one
    for event in events(out):  # bob's events from both runs carry his one key
        assert event["session_key"] == second[event["session_id"]]
    assert {e["session_id"] for e in events(out)} == set(second)


def test_row_groups_are_whole_in_every_partition(
    simulated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row group holds GROUP_ROWS events (the last of a file the rest), however
    many partitions are open: the byte budget is each file's, not theirs together."""
    import branching.store.parquet as parquet

    monkeypatch.setattr(parquet, "GROUP_ROWS", 100)
    monkeypatch.setattr(parquet, "CHUNK_ROWS", 30)
    out = tmp_path / "out"
    assert run("export", "--db", str(simulated), "--format", "parquet", str(out)).exit_code == 0
    files = list(out.glob("events/*/*/*.parquet"))
    assert len(files) > 1
    sizes = []
    for part in files:
        meta = pq.ParquetFile(part).metadata
        rows = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        assert all(n == 100 for n in rows[:-1]) and 0 < rows[-1] <= 100, rows
        sizes += rows
    assert sum(sizes) == len(jsonl_rows(simulated))


def test_a_row_group_of_long_states_is_written_at_the_byte_budget(
    simulated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import branching.store.parquet as parquet

    monkeypatch.setattr(parquet, "GROUP_BYTES", 20_000)
    monkeypatch.setattr(parquet, "CHUNK_ROWS", 16)
    out = tmp_path / "out"
    assert run("export", "--db", str(simulated), "--format", "parquet", str(out)).exit_code == 0
    for part in out.glob("events/*/*/*.parquet"):
        meta = pq.ParquetFile(part).metadata
        assert meta.num_row_groups > 1  # each day holds more than 20 kB of events
        assert all(meta.row_group(i).num_rows < 200 for i in range(meta.num_row_groups))
    assert len(events(out)) == len(jsonl_rows(simulated))


def test_the_high_water_file_is_written_and_read_a_few_sessions_at_a_time(
    simulated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its row groups hold TABLE_ROWS sessions, not one group for every session (memory
    that grew with the sessions), and the next run reads it across groups: nothing new."""
    import branching.store.parquet as parquet

    monkeypatch.setattr(parquet, "TABLE_ROWS", 7)
    out = tmp_path / "out"
    assert run("export", "--db", str(simulated), "--format", "parquet", str(out)).exit_code == 0
    marks = pq.ParquetFile(next(out.glob("_branching_export/seqs-*.parquet"))).metadata
    groups = [marks.row_group(i).num_rows for i in range(marks.num_row_groups)]
    assert len(groups) == 6 and groups[:-1] == [7] * 5 and sum(groups) == 40  # 40 sessions
    again = run("export", "--db", str(simulated), "--format", "parquet", str(out))
    assert again.exit_code == 0 and "+0 events (0 sessions)" in again.output, again.output
    assert len(events(out)) == len(jsonl_rows(simulated))


def test_a_folder_of_the_layout_without_session_keys_says_to_export_again(
    simulated: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert run("export", "--db", str(simulated), "--format", "parquet", str(out)).exit_code == 0
    manifest = out / "_branching_export.json"
    data = json.loads(manifest.read_text())
    del data["session_keys"]
    manifest.write_text(json.dumps({**data, "layout": 1}))
    result = run("export", "--db", str(simulated), "--format", "parquet", str(out))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "layout 1" in result.output and "export again into a new folder" in result.output


def test_a_start_stored_as_a_blob_is_a_clean_error_not_a_traceback(tmp_path: Path) -> None:
    """A session with attributes whose start is a BLOB (a foreign writer): the export says
    which session and why, before or while it reads the attributes beside the sessions."""
    import sqlite3

    db_path = tmp_path / "t.db"
    assert run("simulate", "signal", "--sessions", "6", "--seed", "1", "--db", str(db_path))
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute(
            "UPDATE sessions SET started_at = CAST(started_at AS BLOB) WHERE session_id = "
            "(SELECT session_id FROM sessions ORDER BY started_at DESC LIMIT 1)"
        )
        blob_with_attrs = conn.execute(
            "SELECT COUNT(*) FROM session_attrs a JOIN sessions s USING (session_id) "
            "WHERE typeof(s.started_at) = 'blob'"
        ).fetchone()[0]
    conn.close()
    assert blob_with_attrs
    out = run("export", "--db", str(db_path), "--format", "parquet", str(tmp_path / "out"))
    assert out.exit_code == 2, out.output  # bad input, as every InvalidInput
    assert isinstance(out.exception, SystemExit)  # no traceback
    assert "not text" in out.output
