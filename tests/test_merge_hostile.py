"""merge vets every row of a source; damaged files and failing outputs never give a traceback.

Issue #10, items 9 and 10. Hostile sources are built with sqlite3 directly
from a database the store wrote: values of the wrong type, NULLs where an
event needs a value, JSON nested 100,000 deep or unreadable by Python, text
that is not UTF-8, a recursive view named `events`. Whatever is merged, the
commands that read the target afterwards (`stats`, `flowchart`, `export`)
run cleanly. Commands meeting a hollow database, a full disk, a closed pipe,
`/dev/zero` or a 5,000-digit number end with one clear line, in bounded
memory.
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from branching.store import CorruptDatabase, ForeignDatabase, Store
from branching.store.merge import merge
from branching.store.migrations import expected_schema, migrate, migration_names
from branching.store.records import MergeResult
from branching.store.vetting import MAX_JSON_DEPTH, json_depth, structure_problem
from tests.conftest import FIXTURES, ROOT
from tests.test_store_api import STRUCTURE, play_through, rows, totals_consistent

PLAYTHROUGHS = 30  # the base source: alice's playthrough and 29 copies of it
DEEP = "[" * 100_000 + "]" * 100_000
ONE_GB = 1 << 30


# -- building sources ----------------------------------------------------------------


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A source the store wrote: PLAYTHROUGHS finished playthroughs of breakfast."""
    folder = tmp_path_factory.mktemp("base")
    path = folder / "kiosk.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CONFIG_HOME", str(folder / "config"))
        mp.setenv("XDG_DATA_HOME", str(folder / "data"))
        with Store.open(path) as store:
            play_through(store, "alice")
    conn = sqlite3.connect(path)
    with conn:
        for i in range(1, PLAYTHROUGHS):
            conn.execute(
                "INSERT INTO sessions SELECT session_id || ?, story_id, content_hash, viewer_id, "
                "started_at, ended_at, outcome, ending_id, ending_kind, seed, last_scene, "
                "last_scene_seq, terminal, term_program, term_cols, term_rows, platform, locale, "
                "utc_offset_min, app_version, simulated FROM sessions WHERE rowid = 1",
                [f"-{i}"],
            )
            conn.execute(
                "INSERT INTO events SELECT e.session_id || ?, seq, ts, type, "
                "scene, choice, target, decide_ms, input, state, label FROM events e "
                "WHERE e.session_id = (SELECT session_id FROM sessions WHERE rowid = 1)",
                [f"-{i}"],
            )
        conn.execute(
            "INSERT INTO session_attrs SELECT session_id, 'region', 'NL' FROM sessions "
            "WHERE true ON CONFLICT DO NOTHING"
        )
    conn.close()
    return path


def _copy(base: Path, dest: Path) -> Path:
    src, dst = sqlite3.connect(base), sqlite3.connect(dest)
    src.backup(dst)
    src.close()
    dst.execute("PRAGMA journal_mode = DELETE")
    dst.close()
    return dest


def _sessions(path: Path) -> list[str]:
    return [r[0] for r in rows(path, "SELECT session_id FROM sessions ORDER BY rowid")]


def _hostile(
    base: Path, folder: Path, mutations: list[tuple[str, list[Any]]], name: str = "hostile.db"
) -> Path:
    """A copy of `base` with each SQL statement run on it (foreign keys off)."""
    path = _copy(base, folder / name)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = OFF")
    with conn:
        for sql, params in mutations:
            conn.execute(sql, params)
    conn.close()
    return path


def _reasons(result: MergeResult) -> list[tuple[str, int, str]]:
    return [(r.what, r.count, r.reason) for r in result.refused]


# -- rows: each rule, through the library -----------------------------------------------

# (name, SQL run for the first playthrough (:s is its id), words of the reason)
EVENT_CASES: list[tuple[str, str, Any, str]] = [
    (
        "decide_ms is text",
        "UPDATE events SET decide_ms = 'x' WHERE session_id = ? AND type = 'choice_made'",
        None,
        "event decide_ms is not a whole number",
    ),
    (
        "decide_ms is negative",
        "UPDATE events SET decide_ms = -5 WHERE session_id = ? AND type = 'choice_made'",
        None,
        "event decide_ms is not a whole number",
    ),
    (
        "a choice without its scene",
        "UPDATE events SET scene = NULL WHERE session_id = ? AND type = 'choice_made'",
        None,
        "without its scene",
    ),
    (
        "a choice without its choice",
        "UPDATE events SET choice = '' WHERE session_id = ? AND type = 'choice_made'",
        None,
        "without its choice",
    ),
    (
        "a route without its target",
        "UPDATE events SET target = NULL WHERE session_id = ? AND type = 'route_taken'",
        None,
        "route_taken without its target",
    ),
    (
        "state is not JSON",
        "UPDATE events SET state = '{not json' WHERE session_id = ? AND seq = 1",
        None,
        "event state is not JSON",
    ),
    (
        "state nested 100,000 deep",
        "UPDATE events SET state = ?2 WHERE session_id = ?1 AND seq = 1",
        DEEP,
        "event state is not JSON",
    ),
    (
        "state nested 500 deep (SQLite reads it)",
        "UPDATE events SET state = ?2 WHERE session_id = ?1 AND seq = 1",
        '{"a": ' + "[" * 500 + "]" * 500 + "}",
        f"nested deeper than {MAX_JSON_DEPTH} levels",
    ),
    (
        "state with a 5,000-digit number",
        "UPDATE events SET state = ?2 WHERE session_id = ?1 AND seq = 1",
        '{"n": ' + "7" * 5000 + "}",
        "not JSON that Python reads",
    ),
    (
        "state with a lone surrogate",
        "UPDATE events SET state = ?2 WHERE session_id = ?1 AND seq = 1",
        '{"n": "\\ud800"}',
        "not JSON that Python reads",
    ),
    (
        "state is a list",
        "UPDATE events SET state = '[1, 2]' WHERE session_id = ? AND seq = 1",
        None,
        "event state is not a JSON object",
    ),
    (
        "state followed by a NUL",
        "UPDATE events SET state = CAST(X'7b7d0031' AS TEXT) WHERE session_id = ? AND seq = 1",
        None,
        "not JSON that Python reads",
    ),
    (
        "state is not UTF-8",
        "UPDATE events SET state = CAST(X'7b2261223a2261ff227d' AS TEXT) "
        "WHERE session_id = ? AND seq = 1",
        None,
        "event state is not UTF-8",
    ),
    (
        "a scene name that is not UTF-8",
        "UPDATE events SET scene = CAST(X'6b69ff' AS TEXT) WHERE session_id = ? AND seq = 2",
        None,
        "event text is not UTF-8",
    ),
    (
        "state is a blob",
        "UPDATE events SET state = X'7b7d' WHERE session_id = ? AND seq = 1",
        None,
        "event state is not text",
    ),
    (
        "a timestamp that is not one",
        "UPDATE events SET ts = 'yesterday' WHERE session_id = ? AND seq = 3",
        None,
        "event ts is not a timestamp",
    ),
    (
        "an unknown event type",
        "UPDATE events SET type = 'teleport' WHERE session_id = ? AND seq = 3",
        None,
        "event type is not one of",
    ),
    (
        "an unknown input",
        "UPDATE events SET input = 'telepathy' WHERE session_id = ? AND seq = 3",
        None,
        "event input is not one of",
    ),
    (
        "a sequence number that is text",
        "UPDATE events SET seq = 'first' WHERE session_id = ? AND seq = 1",
        None,
        "event seq is not a whole number",
    ),
    (
        "an unknown outcome",
        "UPDATE sessions SET outcome = 'won' WHERE session_id = ?",
        None,
        "playthrough outcome is not one of",
    ),
    (
        "an ending without its ending",
        "UPDATE sessions SET ending_id = NULL WHERE session_id = ?",
        None,
        "playthrough ended without its ending",
    ),
    (
        "a start time that is a blob",
        "UPDATE sessions SET started_at = X'00' WHERE session_id = ?",
        None,
        "playthrough started_at is not a timestamp",
    ),
    (
        "a terminal width that is text",
        "UPDATE sessions SET term_cols = 'wide' WHERE session_id = ?",
        None,
        "playthrough term_cols is not a whole number",
    ),
    (
        "a huge viewer id",
        "UPDATE sessions SET viewer_id = ?2 WHERE session_id = ?1",
        "v" * 5000,
        "playthrough viewer_id is not text of 1 to 1,000 characters",
    ),
    (
        "an attribute name too long",
        "UPDATE session_attrs SET key = ?2 WHERE session_id = ?1",
        "k" * 33,
        "attribute key is not text of 1 to 32 characters",
    ),
    (
        "an attribute value too long",
        "UPDATE session_attrs SET value = ?2 WHERE session_id = ?1",
        "x" * 65,
        "attribute value is not text of 1 to 64",
    ),
]


@pytest.mark.parametrize(
    ("sql", "value", "reason"),
    [case[1:] for case in EVENT_CASES],
    ids=[case[0] for case in EVENT_CASES],
)
def test_a_playthrough_breaking_a_rule_is_refused_and_the_rest_merged(
    base: Path, tmp_path: Path, sql: str, value: Any, reason: str
) -> None:
    victim = _sessions(base)[0]
    params = [victim] if value is None else [victim, value]
    source = _hostile(base, tmp_path, [(sql, params)])
    target = tmp_path / "all.db"
    (result,) = merge(target, [source])
    ((what, count, why),) = _reasons(result)
    assert (what, count) == ("playthrough", 1) and reason in why, why
    assert result.refused[0].events == 9
    assert (result.sessions, result.events) == (PLAYTHROUGHS - 1, 9 * (PLAYTHROUGHS - 1))
    assert rows(target, "SELECT COUNT(*) FROM sessions WHERE session_id = ?", (victim,)) == [(0,)]
    assert rows(target, "SELECT COUNT(*) FROM events WHERE session_id = ?", (victim,)) == [(0,)]
    assert totals_consistent(target)
    again = merge(target, [source])[0]  # idempotent, and says so again
    assert (again.events, again.sessions, _reasons(again)) == (0, 0, _reasons(result))


STORY_CASES: list[tuple[str, Any, str]] = [
    ("nested 100,000 deep", '{"scenes": ' + DEEP + "}", "story structure is not JSON"),
    ("nested 200 deep", '{"scenes": [' + "[" * 200 + "]" * 200 + "]}", "nested deeper than 64"),
    ("not JSON", "{scenes:", "story structure is not JSON"),
    ("no scenes", json.dumps({"id": "breakfast"}), "has no list of scenes"),
    ("choices that are a number", json.dumps({"scenes": [{"id": "k", "choices": 5}]}), "choices"),
    ("a scene without an id", json.dumps({"scenes": [{"title": "k"}]}), "without an id"),
    (
        "a choice without its goto",
        json.dumps({"scenes": [{"id": "k", "choices": [{"id": "c"}]}]}),
        "without its id and goto",
    ),
]


@pytest.mark.parametrize(
    ("structure", "reason"), [c[1:] for c in STORY_CASES], ids=[c[0] for c in STORY_CASES]
)
def test_a_story_version_breaking_a_rule_is_refused_with_its_playthroughs(
    base: Path, tmp_path: Path, structure: str, reason: str
) -> None:
    source = _hostile(base, tmp_path, [("UPDATE stories SET structure = ?", [structure])])
    (result,) = merge(tmp_path / "all.db", [source])
    assert (result.stories, result.sessions, result.events) == (0, 0, 0)
    story, playthroughs = result.refused
    assert (story.what, story.count) == ("story version", 1) and reason in story.reason
    assert (playthroughs.what, playthroughs.count, playthroughs.events) == (
        "playthrough",
        PLAYTHROUGHS,
        9 * PLAYTHROUGHS,
    )
    assert playthroughs.reason == "playthrough of a story version that was refused"


def test_a_refused_story_version_the_target_holds_keeps_its_playthroughs(
    base: Path, tmp_path: Path
) -> None:
    target = tmp_path / "all.db"
    merge(target, [_copy(base, tmp_path / "clean.db")])
    source = _hostile(base, tmp_path, [("UPDATE stories SET structure = ?", ["{"])])
    sid = "fresh"
    conn = sqlite3.connect(source)
    with conn:
        conn.execute(
            "INSERT INTO sessions (session_id, story_id, content_hash, viewer_id, started_at) "
            "SELECT ?, story_id, content_hash, viewer_id, started_at FROM sessions LIMIT 1",
            [sid],
        )
    conn.close()
    (result,) = merge(target, [source])
    assert [r.what for r in result.refused] == ["story version"]
    assert result.sessions == 1  # its version is the target's own, which is kept
    ((structure,),) = rows(target, "SELECT structure FROM stories")
    assert json.loads(structure) == STRUCTURE


def test_events_and_attributes_of_no_playthrough_are_refused(base: Path, tmp_path: Path) -> None:
    victim = _sessions(base)[0]
    source = _hostile(base, tmp_path, [("DELETE FROM sessions WHERE session_id = ?", [victim])])
    (result,) = merge(tmp_path / "all.db", [source])
    assert _reasons(result) == [
        ("event", 9, "event of a playthrough in neither database"),
        ("attribute", 1, "attribute of a playthrough in neither database"),
    ]
    assert result.sessions == PLAYTHROUGHS - 1


def test_a_clean_source_refuses_nothing(base: Path, tmp_path: Path) -> None:
    (result,) = merge(tmp_path / "all.db", [base])
    assert result.refused == ()
    assert (result.sessions, result.events) == (PLAYTHROUGHS, 9 * PLAYTHROUGHS)


def test_json_depth_counts_brackets_outside_strings_without_recursion() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[[{{{"}]}') == 3
    assert json_depth(b'"\\"[["') == 0
    assert json_depth(DEEP.encode()) == MAX_JSON_DEPTH + 1  # stops counting past the limit
    assert structure_problem(STRUCTURE) is None


# -- tables: views, other columns, triggers ------------------------------------------------

RECURSIVE_EVENTS = """CREATE VIEW events AS
    WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3000000)
    SELECT (SELECT session_id FROM sessions LIMIT 1) AS session_id,
           n AS seq, '2025-01-31T18:04:05.123Z' AS ts, 'pause' AS type, NULL AS scene,
           NULL AS choice, NULL AS target, NULL AS decide_ms, NULL AS input, NULL AS state
    FROM r"""


def _view_source(base: Path, folder: Path) -> Path:
    return _hostile(
        base,
        folder,
        [("DROP TABLE events", []), (RECURSIVE_EVENTS, [])],
    )


def test_a_source_whose_events_are_a_view_is_refused_before_anything_is_merged(
    base: Path, tmp_path: Path
) -> None:
    target = tmp_path / "all.db"
    good = _copy(base, tmp_path / "good.db")
    with pytest.raises(CorruptDatabase, match="'events' .* is a view, not a table"):
        merge(target, [good, _view_source(base, tmp_path)])
    assert rows(target, "SELECT COUNT(*) FROM events") == [(0,)]  # not even the good one


def test_an_old_source_whose_events_are_a_view_is_refused_before_its_upgrade(
    tmp_path: Path,
) -> None:
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old, isolation_level=None)
    migrate(conn, old, stop_before=migration_names()[1])
    conn.execute("DROP INDEX events_by_ts")
    conn.execute("DROP TABLE events")
    conn.execute(RECURSIVE_EVENTS)
    conn.close()
    with pytest.raises(CorruptDatabase, match="is a view"):
        merge(tmp_path / "all.db", [old])


@pytest.mark.parametrize(
    ("statements", "words"),
    [
        (
            [
                "ALTER TABLE events RENAME TO old_events",
                "CREATE TABLE events (session_id TEXT, seq INTEGER, ts TEXT, "
                "type TEXT, scene TEXT, choice TEXT, target TEXT, decide_ms INTEGER, "
                "input TEXT, state TEXT)",
            ],
            "'events' is not the table branching creates",
        ),
        (
            [
                "CREATE TRIGGER noisy AFTER INSERT ON pruned_traversals "
                "BEGIN DELETE FROM sessions; END"
            ],
            "it has triggers",
        ),
    ],
    ids=["events without its constraints", "a trigger"],
)
def test_a_source_with_tables_that_are_not_ours_is_refused(
    base: Path, tmp_path: Path, statements: list[str], words: str
) -> None:
    source = _hostile(base, tmp_path, [(sql, []) for sql in statements])
    with pytest.raises(ForeignDatabase, match=words):
        merge(tmp_path / "all.db", [source])


def test_the_expected_schema_is_what_the_migrations_create(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, path)
    found = {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            "SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%' AND name <> '_sqlite_migrations'"
        )
    }
    conn.close()
    assert found == expected_schema()
    assert "events" in expected_schema(migration_names()[:1])
    assert "traversals" not in expected_schema(migration_names()[:1])


# -- the commands afterwards, and the program's edges, in a subprocess ------------------------


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ONE_GB, ONE_GB))


def _run(
    *args: str,
    stdout: Any = subprocess.PIPE,
    timeout: float = 120,
    preexec: Callable[[], None] | None = _limit_memory,
) -> subprocess.CompletedProcess[str]:
    """`python -m branching ARGS` in at most 1 GB of address space."""
    return subprocess.run(
        [sys.executable, "-m", "branching", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        preexec_fn=preexec,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _clean(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


def test_stats_flowchart_and_export_run_cleanly_after_merging_hostile_sources(
    base: Path, tmp_path: Path
) -> None:
    """Every playthrough of the source breaks a different rule but the last few."""
    ids = _sessions(base)
    mutations = []
    for (_name, sql, value, _reason), victim in zip(EVENT_CASES, ids, strict=False):
        mutations.append((sql, [victim] if value is None else [victim, value]))
    assert len(EVENT_CASES) < len(ids)  # some playthroughs stay good
    source = _hostile(base, tmp_path, mutations)
    deep_story = _hostile(  # another version of the story, its structure 100,000 deep
        base,
        tmp_path,
        [
            ("UPDATE stories SET content_hash = 'hash-2', structure = ?", [DEEP]),
            ("UPDATE sessions SET content_hash = 'hash-2', session_id = session_id || 'd'", []),
            ("UPDATE events SET session_id = session_id || 'd'", []),
            ("UPDATE session_attrs SET session_id = session_id || 'd'", []),
        ],
        name="deep.db",
    )
    target = tmp_path / "all.db"
    merged = _run("merge", str(target), str(source), str(deep_story))
    assert merged.returncode == 0, merged.stderr
    for command in (
        ["stats", "breakfast"],
        ["stats", "breakfast", "--format", "json", "--by", "viewers"],
        ["flowchart", "breakfast"],
        ["flowchart", "breakfast", "--by", "sessions", "--format", "json"],
        ["export"],
        ["export", "--format", "csv"],
    ):
        result = _run(*command, "--db", str(target))
        _clean(result)
        assert result.returncode == 0, (command, result.stderr)
    err = _clean(merged)  # and merge said what it left out, grouped by reason
    assert "refused 2 playthroughs (18 events): event decide_ms is not a whole number" in err
    assert "refused 1 playthrough (9 events): event ts is not a timestamp" in err
    assert "refused 1 story version: story structure is not JSON" in err
    assert f"refused {PLAYTHROUGHS} playthroughs ({9 * PLAYTHROUGHS} events)" in err
    kept = PLAYTHROUGHS - len(EVENT_CASES)
    assert rows(target, "SELECT COUNT(*) FROM sessions") == [(kept,)]


def test_merging_a_recursive_view_ends_at_once_in_bounded_memory(
    base: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    result = _run("merge", str(tmp_path / "all.db"), str(_view_source(base, tmp_path)))
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "'events' they create is a view, not a table" in result.stderr


def _hollow(base: Path, folder: Path) -> Path:
    """A database whose migrations table lists every step but whose tables are gone."""
    path = _copy(base, folder / "hollow.db")
    conn = sqlite3.connect(path)
    with conn:
        for name, kind in conn.execute(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%' AND name <> '_sqlite_migrations' ORDER BY type = 'table'"
        ).fetchall():
            conn.execute(f"DROP {kind.upper()} {name}")
    conn.close()
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["stats", "breakfast", "--db", "{db}"],
        ["flowchart", "breakfast", "--db", "{db}"],
        ["export", "--db", "{db}"],
        ["prune", "--before", "2020-01-01", "--db", "{db}"],
        ["merge", "{other}", "{db}"],
        ["play", str(FIXTURES / "good" / "breakfast.yaml"), "--db", "{db}", "--choices", "1"],
    ],
    ids=lambda c: c[0],
)
def test_a_database_with_its_steps_listed_but_its_tables_gone_is_called_damaged(
    base: Path, tmp_path: Path, command: list[str]
) -> None:
    hollow = _hollow(base, tmp_path)
    args = [a.format(db=hollow, other=tmp_path / "other.db") for a in command]
    result = _run(*args)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "Damaged telemetry database" in result.stderr
    assert "'stories'" in result.stderr and "is missing" in result.stderr


# -- outputs that fail ---------------------------------------------------------------------


needs_dev_full = pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")


@needs_dev_full
@pytest.mark.parametrize(
    "command",
    [
        ["export", "-o", "/dev/full"],
        ["export"],
        ["export", "--format", "csv"],
        ["stats", "breakfast"],
        ["flowchart", "breakfast", "--format", "json"],
        ["--help"],
    ],
    ids=" ".join,
)
def test_an_output_on_a_full_disk_is_one_clear_line(base: Path, command: list[str]) -> None:
    with open("/dev/full", "w") as full:
        args = [*command, "--db", str(base)] if command != ["--help"] else command
        result = _run(*args, stdout=full)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: cannot write")
    assert "No space left on device" in result.stderr


@pytest.mark.parametrize(
    "command", [["export"], ["stats", "breakfast"], ["flowchart", "breakfast"]], ids=" ".join
)
def test_a_reader_that_stops_early_ends_the_program_quietly(base: Path, command: list[str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "branching", *command, "--db", str(base)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head -0`: every write meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert err == ""


# -- bounded reads -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (["stats", "/dev/zero", "--db", "{db}"], "over the limit of 10,485,760 bytes"),
        (["check", "/dev/zero"], "over the limit of 10,485,760 bytes"),
        (["play", "/dev/zero", "--no-telemetry"], "over the limit of 10,485,760 bytes"),
        (
            ["export", "--db", "{db}", "--viewer", "ann", "--viewer-key", "/dev/zero"],
            "viewer key /dev/zero",
        ),
        (["flowchart", "breakfast", "--db", "{db}", "--counts", "/dev/zero"], "over the limit"),
    ],
    ids=["stats", "check", "play", "viewer key", "counts"],
)
def test_endless_files_are_read_only_up_to_their_limit(
    base: Path, command: list[str], words: str
) -> None:
    started = time.monotonic()
    result = _run(*[a.format(db=base) for a in command], timeout=60)
    assert time.monotonic() - started < 30
    assert result.returncode in (1, 2), result.stderr  # 2: `check`'s own status for errors
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    assert words in result.stdout + result.stderr


def test_a_5000_digit_choice_number_is_no_choice(tmp_path: Path) -> None:
    story = FIXTURES / "good" / "breakfast.yaml"
    result = _run("play", str(story), "--no-telemetry", "--choices", "9" * 5000)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "int_max_str_digits" not in result.stderr + result.stdout
    said = result.stdout + result.stderr  # the line player reports on its transcript
    assert "there is no choice 99999999999999999999... (5,000 characters)" in said
