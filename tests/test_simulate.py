"""`branching simulate`: seeded synthetic audiences through the real engine and store."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from branching.cli import cli
from branching.simulate.audience import Audience, parse_share_option
from branching.simulate.personas import load_personas
from branching.simulate.run import simulate
from branching.store import digests
from branching.store.bulk import BulkWriter, prepare
from branching.store.ops import Op, apply_op
from branching.store.store import Store
from branching.story.loader import load_story

ROOT = Path(__file__).resolve().parent.parent
SIGNAL = ROOT / "stories" / "signal"
TUTORIAL = ROOT / "stories" / "tutorial"
DATES = ["--from", "2026-11-01", "--to", "2026-11-30"]
TABLES = ("stories", "sessions", "session_attrs", "events", "traversals", "scene_views")
AGGREGATES = (
    "agg_edges",
    "agg_scenes",
    "agg_sessions",
    "agg_firsts",
    "agg_attr_keys",
    "agg_attr_values",
    "story_activity",
)
COUNT_COLUMNS = {"agg_edges": 4, "agg_scenes": 3, "agg_sessions": 1}  # trailing counts


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the tables a simulation writes."""
    conn = sqlite3.connect(path)
    try:
        out = {}
        for table in (*TABLES, "session_ends", *AGGREGATES):
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
            if table == "session_ends":  # a standing left empty is no sessions either way
                rows = [r for r in rows if r[-1]]
            if table in COUNT_COLUMNS:  # so is an aggregate row left at zero
                rows = [r for r in rows if any(r[-COUNT_COLUMNS[table] :])]
            out[table] = sorted(rows, key=repr)
        return out
    finally:
        conn.close()


def live_path(path: Path, batches: Iterable[Iterable[Op]]) -> Path:
    """A new database at `path` with `batches`' ops committed one at a time, as the
    player commits them (the live path the bulk writer must match)."""
    Store.open(path, create_key=False).close()
    conn = sqlite3.connect(path, isolation_level=None)
    for ops in batches:
        for op in ops:
            conn.execute("BEGIN IMMEDIATE")
            apply_op(conn, op)
            conn.execute("COMMIT")
    conn.close()
    return path


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_same_seed_gives_the_same_rows(tmp_path: Path) -> None:
    """Same seed, same rows: in one process or in worker processes alike."""
    for name, jobs in (("a.db", "1"), ("b.db", "2")):
        run_cli(
            "simulate",
            str(SIGNAL),
            "--sessions",
            "150",
            "--seed",
            "11",
            "--db",
            str(tmp_path / name),
            "--jobs",
            jobs,
            *DATES,
        )
    first, second = dump(tmp_path / "a.db"), dump(tmp_path / "b.db")
    assert first["events"] and first == second
    run_cli(
        "simulate",
        str(SIGNAL),
        "--sessions",
        "150",
        "--seed",
        "12",
        "--db",
        str(tmp_path / "c.db"),
        *DATES,
    )
    assert dump(tmp_path / "c.db")["events"] != first["events"]


def test_bulk_rows_equal_the_live_path_op_by_op(tmp_path: Path) -> None:
    """The bulk writer's rows and running totals are those of committing each op alone."""
    story = load_story(SIGNAL)
    audience = Audience(
        sessions=60, viewers=25, seed=3, start=date(2026, 1, 1), end=date(2026, 1, 9)
    )
    batches = list(simulate(story, audience))
    # viewers who gave up and came back: their old session is finished in a later one's ops
    late = [ops[0] for ops in batches if ops[0]["op"] == "finish"]
    assert late and all(op["outcome"] == "abandoned" for op in late)
    live = dump(live_path(tmp_path / "live.db", batches))
    # open sessions held over batches (finished in memory) or written at once (finished
    # later through the live path), small batches or one for everything: the same rows
    # and each session worked out beforehand (`prepare`, as the simulation's workers do)
    for name, batch, hold, prepared in (
        ("held.db", 97, 3, False),
        ("written.db", 97, 0, False),
        ("one.db", 10**6, 3, False),
        ("prepared.db", 97, 3, True),
        ("prepared-written.db", 97, 0, True),
    ):
        with BulkWriter(tmp_path / name, batch=batch, hold=hold) as writer:
            for ops in batches:
                writer.add(prepare(ops) if prepared else ops)
        assert dump(tmp_path / name) == live, name


def test_a_simulation_looks_like_an_audience(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    out = run_cli(
        "simulate",
        str(SIGNAL),
        "--sessions",
        "400",
        "--viewers",
        "150",
        "--seed",
        "2",
        "--db",
        str(db),
        *DATES,
    )
    assert "400 session(s)" in out and "simulated" in out
    conn = sqlite3.connect(db)
    outcomes = dict(conn.execute("SELECT outcome, COUNT(*) FROM sessions GROUP BY 1").fetchall())
    assert outcomes.get("ending", 0) > 100  # most finish ...
    assert outcomes.get("abandoned", 0) + outcomes.get("in_progress", 0) > 10  # ... not all
    viewers = conn.execute("SELECT COUNT(DISTINCT viewer_id) FROM sessions").fetchone()[0]
    assert viewers == 150  # the pool: the other 250 sessions are viewers coming back
    kinds = dict(conn.execute("SELECT type, COUNT(*) FROM events GROUP BY 1").fetchall())
    for kind in ("choice_made", "timeout_default", "scene_shown", "rewind", "pause", "quit"):
        assert kinds.get(kind, 0) > 0, kind
    share = kinds["timeout_default"] / (kinds["timeout_default"] + kinds["choice_made"])
    assert 0.05 < share < 0.16  # --timeouts 0.1 of the timed decisions (most are timed)
    first, last = conn.execute("SELECT MIN(started_at), MAX(started_at) FROM sessions").fetchone()
    assert first >= "2026-11-01" and last < "2026-12-01"
    hours = Counter(int(ts[11:13]) for (ts,) in conn.execute("SELECT started_at FROM sessions"))
    assert sum(hours[h] for h in range(17, 22)) > sum(hours[h] for h in range(0, 5)) * 3
    regions = {v for (v,) in conn.execute("SELECT value FROM session_attrs WHERE key='region'")}
    assert regions <= {"NL", "UK", "DE", "FR", "US"} and len(regions) >= 3
    conn.close()


PERSONAS = """
personas:
  - name: believer
    share: 100
    weights:
      {scene}.{heavy}: 7
      {scene}.{light}: 3
"""


def test_persona_weights_are_honoured(tmp_path: Path) -> None:
    """10,000 sessions: a 7:3 persona takes the heavy choice 70% of the time, give or take."""
    story = load_story(TUTORIAL)
    scene = story.scenes[story.start]
    assert len(scene.choices) >= 2
    heavy, light = scene.choices[0].id, scene.choices[1].id
    others = [c.id for c in scene.choices[2:]]
    text = PERSONAS.format(scene=scene.id, heavy=heavy, light=light)
    text += "".join(f"      {scene.id}.{o}: 0\n" for o in others)
    (tmp_path / "p.yaml").write_text(text)
    personas = load_personas(tmp_path / "p.yaml", story)
    audience = Audience(
        sessions=10_000,
        viewers=10_000,
        seed=9,
        personas=personas,
        abandon=0.0,
        timeouts=0.0,
        back=0.0,
        pause=0.0,
        start=date(2026, 1, 1),
        end=date(2026, 1, 2),
    )
    taken: Counter[str] = Counter()
    for ops in simulate(story, audience):
        for op in ops:
            if op.get("type") == "choice_made" and op["scene"] == scene.id:
                taken[op["choice"]] += 1
                break
    total = taken[heavy] + taken[light]
    assert total == sum(taken.values()) >= 9_000
    assert abs(taken[heavy] / total - 0.7) < 0.02  # 4.6 standard deviations at n = 10,000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("personas: []", "empty"),
        ("personas:\n  - weights: {nowhere.none: 2}", "nowhere.none"),
        ("personas:\n  - weights: {tag:nope: 2}", "tag 'nope'"),
        ("personas:\n  - share: -1", "negative"),
        ("personas:\n  - strategy: psychic", "strategy"),
        ("personas: [", "not valid YAML"),
    ],
)
def test_a_bad_persona_file_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "p.yaml").write_text(text)
    result = CliRunner().invoke(
        cli,
        [
            "simulate",
            str(TUTORIAL),
            "--persona",
            str(tmp_path / "p.yaml"),
            "--db",
            str(tmp_path / "x.db"),
        ],
    )
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.db").exists() or not dump(tmp_path / "x.db")["events"]


def test_attribute_shares_are_parsed_and_checked() -> None:
    assert parse_share_option("region=NL:3,UK:1") == ("region", {"NL": 0.75, "UK": 0.25})
    long = "x" * 65
    for bad in (
        "region",
        "region=NL:x",
        "region=NL:1,NL:2",
        "region=NL:0",
        f"region={long}:1",
        "bad key=NL:1",
        "region=\x1b[2J:1,UK:1" + "y" * 70,
    ):
        with pytest.raises(Exception, match="attr-share"):
            parse_share_option(bad)


def test_nothing_but_the_summary_on_a_pipe(tmp_path: Path) -> None:
    out = run_cli(
        "simulate", "tutorial", "--sessions", "20", "--seed", "1", "--db", str(tmp_path / "t.db")
    )
    assert out.count("\n") <= 3 and "\r" not in out and "sessions/s" not in out


def overview(*args: str) -> tuple[str, dict[str, str]]:
    """`stats --table overview` as (selection, {what: value})."""
    import json

    data = json.loads(run_cli("stats", *args, "--table", "overview", "--format", "json"))
    rows = data["tables"]["overview"]["rows"]
    return data["selection"], {r["what"]: r["value"] for r in rows}


def test_analytics_leave_simulated_sessions_out_where_real_viewers_exist(tmp_path: Path) -> None:
    from tests.test_coverage import record_path

    db = tmp_path / "mixed.db"
    run_cli("simulate", "tutorial", "--sessions", "40", "--seed", "3", "--db", str(db))
    selection, figures = overview("tutorial", "--db", str(db))
    assert "every session here is simulated" in selection and figures["sessions"] == "40"
    record_path(db, [1, 1, 2], sessions=3)  # three real viewers arrive
    selection, figures = overview("tutorial", "--db", str(db))
    assert "real viewers only (40 simulated sessions left out)" in selection
    assert figures["sessions"] == "3"
    selection, figures = overview("tutorial", "--db", str(db), "--audience", "all")
    assert figures["sessions"] == "43" and "40 simulated" in selection
    out = run_cli("flowchart", "tutorial", "--db", str(db), "--format", "json")
    assert "real viewers only" in out
    out = run_cli(
        "flowchart",
        "tutorial",
        "--db",
        str(db),
        "--format",
        "json",
        "--audience",
        "simulated",
        "--by",
        "sessions",
    )
    assert "simulated sessions only (3 real ones left out)" in out


def test_one_seed_for_two_stories_in_one_database(tmp_path: Path) -> None:
    db = tmp_path / "two.db"
    for story in ("tutorial", "signal"):
        out = run_cli("simulate", story, "--sessions", "20", "--seed", "4", "--db", str(db))
        assert "20 session(s)" in out
    again = run_cli("simulate", "tutorial", "--sessions", "20", "--seed", "4", "--db", str(db))
    assert "already there" in again  # the same audience again adds nothing
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone() == (40,)
    conn.close()


def test_a_second_larger_audience_with_the_same_seed_is_added(tmp_path: Path) -> None:
    """The README's demo.db gets 200 sessions, then 300 more with the same seed: both land."""
    db = tmp_path / "demo.db"
    run_cli("simulate", "tutorial", "--sessions", "20", "--seed", "1", "--db", str(db))
    out = run_cli("simulate", "tutorial", "--sessions", "30", "--seed", "1", "--db", str(db))
    assert "30 session(s)" in out and "already there" not in out
    again = run_cli("simulate", "tutorial", "--sessions", "30", "--seed", "1", "--db", str(db))
    assert "Simulated 0 session(s)" in again and "already there" in again
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone() == (50,)
    conn.close()


def test_labels_are_recorded_as_viewers_saw_them(tmp_path: Path) -> None:
    """A label with interpolation is kept as rendered; a plain label costs nothing."""
    db = tmp_path / "labels.db"
    run_cli("simulate", "signal", "--sessions", "300", "--seed", "8", "--db", str(db))
    story = load_story(SIGNAL)
    templated = {
        (s.id, c.id) for s in story.scenes.values() for c in s.choices if "{" in c.label.source
    }
    assert templated
    conn = sqlite3.connect(db)
    labelled = conn.execute(
        "SELECT scene, choice, label FROM events WHERE label IS NOT NULL"
    ).fetchall()
    assert labelled and {(s, c) for s, c, _ in labelled} <= templated
    assert all("{" not in label for _, _, label in labelled)
    totals = conn.execute("SELECT SUM(count) FROM choice_labels").fetchone()[0]
    assert totals == len(labelled)  # the running totals count every one
    conn.close()


def test_every_output_names_a_templated_choice_as_viewers_saw_it(tmp_path: Path) -> None:
    import json

    db = tmp_path / "seen.db"
    run_cli("simulate", "signal", "--sessions", "200", "--seed", "2", "--db", str(db))
    conn = sqlite3.connect(db)
    (seen,) = conn.execute(
        "SELECT label FROM choice_labels WHERE choice = 'play_first' ORDER BY count DESC LIMIT 1"
    ).fetchone()
    conn.close()
    assert seen.startswith('Play "') and "{" not in seen
    for args in (
        ("stats", "signal", "--table", "choices"),
        ("stats", "signal", "--table", "paths"),
        ("flowchart", "signal"),
        ("flowchart", "signal", "--format", "mermaid"),
        ("flowchart", "signal", "--format", "dot"),
    ):
        out = run_cli(*args, "--db", str(db))
        assert "{song}" not in out, args
    assert seen in run_cli("stats", "signal", "--table", "choices", "--db", str(db))
    graph = json.loads(run_cli("flowchart", "signal", "--format", "json", "--db", str(db)))
    edges = [e for s in graph["scenes"] for e in s["edges"] if e.get("template")]
    assert any(e["label"] == seen and e["template"] == 'Play "{song}"' for e in edges)


def test_a_rehearsal_can_be_deleted_and_real_viewers_stay(tmp_path: Path) -> None:
    from tests.test_coverage import record_path

    db = tmp_path / "rehearsal.db"
    run_cli("simulate", "tutorial", "--sessions", "30", "--seed", "1", "--db", str(db))
    run_cli("simulate", "signal", "--sessions", "10", "--seed", "1", "--db", str(db))
    record_path(db, [1, 1, 2], sessions=2)
    out = run_cli("forget", "--simulated", "--story", "tutorial", "--db", str(db))
    assert "Deleted 30 simulated sessions of tutorial" in out
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT simulated, COUNT(*) FROM sessions GROUP BY 1").fetchall() == [
        (0, 2),
        (1, 10),
    ]
    recount = conn.execute(
        "SELECT COUNT(*) FROM events e JOIN sessions s USING (session_id) "
        "WHERE e.type IN ('choice_made', 'timeout_default', 'route_taken')"
    ).fetchone()[0]
    assert conn.execute("SELECT SUM(count) FROM traversals").fetchone()[0] == recount
    conn.close()
    assert "Deleted 10 simulated" in run_cli("forget", "--simulated", "--db", str(db))
    both = CliRunner().invoke(cli, ["forget", "alice", "--simulated", "--db", str(db)])
    assert both.exit_code == 2


def decoded_digests(path: Path) -> list[dict[str, object]]:
    """Every session's digest with its codes read back as the scenes, steps and edges they name
    (a code is a number given in the order names are first written): the path in order,
    every other list of codes as a sorted set."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        named: dict[int, object] = {**digests.names(conn), **digests.edge_names(conn)}
        out = []
        for row in conn.execute("SELECT * FROM session_digests"):
            digest: dict[str, object] = dict(row)
            for column, value in zip(row.keys(), row, strict=True):
                if column in ("reached", "clocked"):  # m018: a character per code
                    digest[column] = sorted(repr(named[digests.code_of(c)]) for c in value)
                elif isinstance(value, str) and value.startswith("[") and column != "attrs":
                    names = [repr(named[code]) for code in json.loads(value)]
                    digest[column] = names if column == "path" else sorted(names)
            out.append(digest)
        return sorted(out, key=repr)
    finally:
        conn.close()


def test_any_transaction_size_gives_the_same_rows_and_digests(tmp_path: Path) -> None:
    """Sessions are written in key order within a transaction, whatever its size: every
    row is there, and each session's digest names the same scenes and steps."""
    story = load_story(SIGNAL)
    audience = Audience(
        sessions=80, viewers=30, seed=8, start=date(2026, 1, 1), end=date(2026, 1, 9)
    )
    batches = list(simulate(story, audience))
    written = {}
    for name, batch in (("small.db", 150), ("large.db", 10**6)):
        with BulkWriter(tmp_path / name, batch=batch) as writer:
            for ops in batches:
                writer.add(prepare(ops))
        written[name] = (dump(tmp_path / name), decoded_digests(tmp_path / name))
    small, large = written["small.db"], written["large.db"]
    assert len(small[0]["sessions"]) == 80 and len(small[1]) == 80
    assert small == large


def test_a_run_stopped_part_way_is_completed_by_the_same_command(tmp_path: Path) -> None:
    """The batches an interrupted run committed stay; the same command run again adds
    what is missing and nothing twice (review R9: a check on the first session alone
    would take this file as complete)."""
    from itertools import islice

    from branching.simulate.parallel import simulate_parallel

    args = ["simulate", str(SIGNAL), "--sessions", "120", "--seed", "8", "--viewers", "60"]
    args += ["--from", "2026-01-01", "--to", "2026-01-31"]
    partial, whole = tmp_path / "partial.db", tmp_path / "whole.db"
    audience = Audience(
        sessions=120, viewers=60, seed=8, start=date(2026, 1, 1), end=date(2026, 1, 31)
    )
    with BulkWriter(partial) as writer:  # stopped after 90 of its sessions
        for ops in islice(simulate_parallel(load_story(str(SIGNAL)), audience, 1), 1 + 90):
            writer.add(ops)

    def sessions(db: Path) -> set[tuple[str, str, str]]:
        conn = sqlite3.connect(db)
        try:
            rows = conn.execute("SELECT session_id, viewer_id, outcome FROM sessions")
            return set(rows.fetchall())
        finally:
            conn.close()

    held = sessions(partial)
    assert 0 < len(held) < 120
    for db in (partial, whole):
        result = CliRunner().invoke(cli, [*args, "--db", str(db)])
        assert result.exit_code == 0, result.output
    assert len(sessions(whole)) == 120
    assert sessions(partial) == sessions(whole)
