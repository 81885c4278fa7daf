"""Every analytics figure on the hand-built database of `test_analytics_data`.

The six heist playthroughs (four viewers) are listed, with the hand counts,
in that module's docstring; each expected value below can be checked there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from branching.analytics import AnalyticsError, build_report, flow_graph, make_filters
from branching.analytics.graph import FlowGraph
from branching.analytics.rows import Report
from tests.test_analytics_data import known_db


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return known_db(tmp_path_factory.mktemp("known"))


def edges(graph: FlowGraph, scene: str) -> dict[str, int]:
    return {e.choice or e.target: e.count for e in graph.scenes[scene].edges}


def report(known: tuple[Path, Path], **kw: object) -> Report:
    return build_report("heist", db=known[0], flag_min=2, **kw)  # type: ignore[arg-type]


# -- the flowchart graph ------------------------------------------------------------


def test_unfiltered_flowchart_reads_the_running_totals(known: tuple[Path, Path]) -> None:
    graph = flow_graph("heist", db=known[0], unit="times")
    assert graph.source == "running totals"
    assert edges(graph, "briefing") == {"quiet": 4, "loud": 2, "coffee": 2}
    assert edges(graph, "vault") == {"left": 3, "right": 2}
    assert edges(graph, "hall") == {"caught": 2, "escape": 3}  # routes, from visits
    assert graph.scenes["briefing"].left == 1 and graph.scenes["vault"].left == 1
    assert graph.scenes["briefing"].base == 9  # 8 choices + 1 who stopped
    assert graph.scenes["briefing"].visits == 8
    assert (graph.sessions, graph.completed) == (6, 4)


def test_timeouts_are_counted_on_the_default_choice(known: tuple[Path, Path]) -> None:
    graph = flow_graph("heist", db=known[0])
    timeouts = {e.choice: e.timeouts for e in graph.scenes["briefing"].edges}
    assert timeouts == {"quiet": 0, "loud": 1, "coffee": 0}


def test_sessions_and_viewers_denominators_differ(known: tuple[Path, Path]) -> None:
    by_session = flow_graph("heist", db=known[0], unit="sessions")
    by_viewer = flow_graph("heist", db=known[0], unit="viewers")
    assert by_session.source == "aggregates"  # sessions are kept split for filters
    assert by_viewer.source == "aggregates"  # distinct viewers per edge: the digests
    assert by_session.scenes["briefing"].base == 6  # six sessions reached the briefing
    assert by_viewer.scenes["briefing"].base == 4  # ... played by four viewers
    assert edges(by_session, "vault") == {"left": 3, "right": 2}
    assert by_session.scenes["vault"].base == 5 and by_viewer.scenes["vault"].base == 4
    assert (by_viewer.sessions, by_viewer.viewers, by_viewer.completed) == (6, 4, 3)


def test_where_filter_keeps_only_matching_sessions(known: tuple[Path, Path]) -> None:
    graph = flow_graph("heist", db=known[0], filters=make_filters(where=["region=NL"]))
    assert graph.source == "aggregates"
    assert edges(graph, "briefing") == {"quiet": 1, "loud": 1, "coffee": 0}
    assert graph.sessions == 2 and "region=NL" in graph.filters


def test_date_range_is_by_session_start_and_until_takes_in_the_day(
    known: tuple[Path, Path],
) -> None:
    graph = flow_graph(
        "heist", db=known[0], filters=make_filters(since="2025-03-04", until="2025-03-05")
    )
    assert graph.sessions == 3  # S2, S3 (4 March) and S4 (5 March, the whole day)
    assert edges(graph, "briefing") == {"quiet": 2, "loud": 1, "coffee": 1}


def test_first_playthrough_only_drops_repeat_sessions(known: tuple[Path, Path]) -> None:
    graph = flow_graph("heist", db=known[0], filters=make_filters(first_only=True))
    assert graph.sessions == 4  # v1 played twice (S1 then S2), v3 twice (S4 then S5)
    assert edges(graph, "briefing") == {"quiet": 4, "loud": 1, "coffee": 1}


def test_yaml_story_gives_the_same_graph_as_the_stored_structure(known: tuple[Path, Path]) -> None:
    from_db = flow_graph("heist", db=known[0])
    from_yaml = flow_graph(str(known[1]), db=known[0])
    assert from_db.scenes == from_yaml.scenes


def test_version_filter_by_label_keeps_the_fast_path(known: tuple[Path, Path]) -> None:
    graph = flow_graph("heist", db=known[0], filters=make_filters(version="2"), unit="times")
    assert graph.source == "running totals" and edges(graph, "vault")["left"] == 3
    with pytest.raises(AnalyticsError, match="no version 'nine'.*recorded: 2"):
        flow_graph("heist", db=known[0], filters=make_filters(version="nine"))


def test_unknown_story_names_the_recorded_ones(known: tuple[Path, Path]) -> None:
    with pytest.raises(AnalyticsError, match="'nope' has no recordings.*heist"):
        flow_graph("nope", db=known[0])


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"where": ["region"]}, "KEY=VALUE"),
        ({"since": "yesterday"}, "not a date"),
        ({"since": "2025-03-05", "until": "2025-03-01"}, "not before"),
    ],
)
def test_bad_filters_are_refused_clearly(kw: dict[str, object], message: str) -> None:
    with pytest.raises(AnalyticsError, match=message):
        make_filters(**kw)  # type: ignore[arg-type]


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    from branching.errors import BranchingError

    text = tmp_path / "notes.db"
    text.write_text("hello", encoding="utf-8")
    with pytest.raises(BranchingError, match="not a telemetry database"):
        flow_graph("heist", db=text)


# -- counts computed elsewhere ----------------------------------------------------------


def test_counts_csv_draws_without_a_database(known: tuple[Path, Path], tmp_path: Path) -> None:
    csv = tmp_path / "counts.csv"
    csv.write_text(
        "scene,choice,target,count,timeouts\nbriefing,quiet,vault,30,0\n"
        "briefing,loud,vault,10,4\nbriefing,,,5\nvault,left,hall,20,0\n",
        encoding="utf-8",
    )
    graph = flow_graph(str(known[1]), db=None, counts_csv=csv)
    assert edges(graph, "briefing") == {"quiet": 30, "loud": 10, "coffee": 0}
    assert graph.scenes["briefing"].left == 5 and graph.scenes["briefing"].base == 45
    assert graph.scenes["briefing"].edges[1].timeouts == 4
    assert graph.source == "counts file counts.csv"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("scene,target,count\n", "lacks choice"),
        ("scene,choice,target,count\nlobby,x,vault,1\n", "counts.csv:2: scene 'lobby'"),
        ("scene,choice,target,count\nbriefing,quiet,vault,many\n", "'many' is not a whole number"),
        ("scene,choice,target,count\nbriefing,quiet,vault,-1\n", "negative"),
        (
            "scene,choice,target,count\nbriefing,quiet,vault,1\nbriefing,quiet,vault,2\n",
            "given twice",
        ),
    ],
)
def test_bad_counts_csv_is_refused_with_its_line(
    known: tuple[Path, Path], tmp_path: Path, body: str, message: str
) -> None:
    csv = tmp_path / "counts.csv"
    csv.write_text(body, encoding="utf-8")
    with pytest.raises(AnalyticsError, match=message):
        flow_graph(str(known[1]), db=None, counts_csv=csv)


# -- the stats report ---------------------------------------------------------------------


def test_overview_counts_sessions_viewers_and_completion(known: tuple[Path, Path]) -> None:
    o = report(known).overview
    assert (o.sessions, o.viewers, o.started, o.completed) == (6, 4, 6, 4)
    v = report(known, unit="viewers").overview
    assert (v.started, v.completed) == (4, 3)
    assert v.completion_rate == pytest.approx(0.75)


def test_reach_is_of_started_sessions_or_viewers(known: tuple[Path, Path]) -> None:
    reach = {r.scene: (r.reached, r.share) for r in report(known).reach}
    assert reach["vault"] == (5, pytest.approx(5 / 6))
    assert reach["cafe"] == (2, pytest.approx(2 / 6))
    by_viewer = {r.scene: r.reached for r in report(known, unit="viewers").reach}
    assert by_viewer["vault"] == 4 and by_viewer["hall"] == 3


def test_choice_shares_are_of_those_who_reached_the_scene(known: tuple[Path, Path]) -> None:
    shares = {
        (c.scene, c.choice): (c.count, c.base, c.times, c.timeouts) for c in report(known).choices
    }
    assert shares[("briefing", "quiet")] == (4, 6, 4, 0)
    assert shares[("briefing", "loud")] == (2, 6, 2, 1)
    assert shares[("vault", "right")] == (2, 5, 2, 0)


def test_time_to_decide_median_and_90th_percentile(known: tuple[Path, Path]) -> None:
    timing = {t.scene: t for t in report(known).timing}
    briefing = timing["briefing"]  # 800 900 1000 1500 2500 4000 6000 ms (+ the timeout)
    assert (briefing.decisions, briefing.timeouts) == (8, 1)
    assert briefing.timeout_rate == pytest.approx(1 / 8)
    # read from 100 ms buckets, each time at the middle of its own: 850 950 1050 1550 ...
    assert briefing.median_ms == pytest.approx(1550)  # the clock's 10000 ms is no decision
    assert briefing.p90_ms == pytest.approx(4850)  # 4050 + 0.4 * (6050 - 4050)
    assert timing["vault"].median_ms == pytest.approx(1150)  # 500 700 1100 2000 3000


def test_dropoff_per_scene(known: tuple[Path, Path]) -> None:
    drop = {d.scene: (d.reached, d.left) for d in report(known).dropoff}
    assert drop == {"briefing": (6, 1), "cafe": (2, 0), "vault": (5, 1), "hall": (4, 0)}


def test_endings_by_ending_and_by_kind(known: tuple[Path, Path]) -> None:
    r = report(known)
    assert {e.ending: e.count for e in r.endings} == {"caught": 1, "escape": 3}
    assert {k.kind: (k.count, k.started) for k in r.ending_kinds} == {"bad": (1, 6), "good": (3, 6)}


def test_paths_undo_what_a_rewind_undid(known: tuple[Path, Path]) -> None:
    paths = {(p.steps, p.ending): p.count for p in report(known).paths}
    assert paths == {
        (("Go in quietly", "Left door"), "Clean getaway"): 1,
        (("Go in loud", "Right door"), "Caught"): 1,
        (("Grab a coffee first", "Go in quietly", "Left door"), "Clean getaway"): 1,
        (("Go in quietly", "Right door"), "Clean getaway"): 1,  # S6 after its rewind
    }


def test_paths_beyond_top_n_become_one_other_row(known: tuple[Path, Path]) -> None:
    paths = report(known, top=2).paths
    assert len(paths) == 3 and paths[-1].other and paths[-1].count == 2


def test_progress_counts_choices_net_of_rewinds(known: tuple[Path, Path]) -> None:
    progress = {p.choices: (p.ended, p.left) for p in report(known).progress}
    assert progress == {0: (0, 0), 1: (0, 2), 2: (3, 0), 3: (1, 0)}


def test_deep_progress_is_bucketed_and_a_viewer_counts_once_per_bucket() -> None:
    from branching.analytics.walks import Walks, depth_buckets, progress

    assert depth_buckets(10) == [(n, n) for n in range(11)]  # short stories: every depth
    assert depth_buckets(57) == [(0, 0), (1, 2), (3, 5), (6, 10), (11, 20), (21, 50), (51, 100)]
    walked = Walks("viewers")
    walked.add("s1", "ann", 3, False)
    walked.add("s2", "ann", 4, False)  # ann stopped at 3 and at 4: one viewer
    walked.add("s3", "bob", 4, False)
    walked.add("s4", "cy", 12, True)
    walked.add("s5", "cy", 57, True)
    walked.add("s6", "dee", 57, True)
    rows = {(p.choices, p.upto): (p.ended, p.left) for p in progress(walked)}
    assert rows == {
        (0, None): (0, 0),
        (1, 2): (0, 0),
        (3, 5): (0, 2),
        (6, 10): (0, 0),
        (11, 20): (1, 0),
        (21, 50): (0, 0),
        (51, 100): (2, 0),
    }


def test_rewinds_pauses_and_skips_per_scene(known: tuple[Path, Path]) -> None:
    rows = {i.scene: (i.rewinds, i.pauses, i.skips) for i in report(known).interactions}
    assert rows["briefing"] == (1, 1, 1) and rows["vault"] == (0, 0, 0)


def test_breakdowns_by_attribute_terminal_hour_and_weekday(known: tuple[Path, Path]) -> None:
    seg = {(s.dimension, s.value): (s.count, s.completed) for s in report(known).segments}
    assert seg[("region", "NL")] == (2, 2) and seg[("region", "(none)")] == (2, 1)
    assert seg[("terminal", "kitty")] == (3, 2)
    assert seg[("local hour", "21")] == (1, 1)  # S2: 20:00 UTC at +60 minutes
    assert seg[("weekday", "Tuesday")] == (2, 2)
    viewers = {(s.dimension, s.value): s.count for s in report(known, unit="viewers").segments}
    assert viewers[("region", "NL")] == 1  # both NL sessions are viewer v1


def test_tag_share_of_product_placement(known: tuple[Path, Path]) -> None:
    tags = {(t.tag, t.where): (t.count, t.base) for t in report(known).tags}
    assert tags[("product-placement", "choice")] == (2, 6)
    assert tags[("product-placement", "scene")] == (2, 6)


def test_flags_no_difference_lopsided_and_timeouts(known: tuple[Path, Path]) -> None:
    flags = report(known).flags
    assert [(f.kind, f.scene) for f in flags] == [("no-difference", "vault")]
    nl = build_report("heist", db=known[0], flag_min=2, filters=make_filters(where=["region=NL"]))
    kinds = {(f.kind, f.scene) for f in nl.flags}
    assert ("timeouts", "briefing") in kinds  # 1 of 2 decisions by the clock


def test_unreached_scenes_and_choices(known: tuple[Path, Path]) -> None:
    r = build_report("heist", db=known[0], filters=make_filters(where=["region=NL"]))
    assert r.unreached_scenes == ("cafe",)
    assert r.unreached_choices == (("briefing", "coffee"),)


def test_stats_refuse_the_choices_unit(known: tuple[Path, Path]) -> None:
    with pytest.raises(AnalyticsError, match="sessions or viewers"):
        build_report("heist", db=known[0], unit="choices")  # type: ignore[arg-type]


# -- more than one version; lopsided choices ---------------------------------------------


def _db_with(tmp: Path, plays: list[tuple[str, list[tuple[object, ...]]]]) -> tuple[Path, Path]:
    """A database of the heist story with the given (viewer, steps) playthroughs."""
    from branching.store import Store
    from branching.store import db as store_db
    from tests.test_analytics_data import heist_story, play, register

    story_path, story = heist_story(tmp)
    path = tmp / "more.db"
    Store.open(path).close()
    conn = store_db.connect(path)
    try:
        register(conn, story)
        for n, (viewer, steps) in enumerate(plays):
            play(
                conn,
                story,
                steps,
                session_id=f"X{n}",
                viewer=viewer,  # type: ignore[arg-type]
                started=f"2025-04-01T10:{n:02d}:00Z",
            )
    finally:
        conn.close()
    return path, story_path


def test_one_option_over_90_percent_is_flagged_lopsided(tmp_path: Path) -> None:
    plays = [(f"v{n}", [("choose", "quiet", 1000), ("choose", "left", 900)]) for n in range(10)]
    plays.append(("v99", [("choose", "loud", 1000), ("choose", "right", 900)]))
    path, _ = _db_with(tmp_path, plays)
    flags = {(f.kind, f.scene): f for f in build_report("heist", db=path).flags}
    assert flags[("lopsided", "briefing")].value == pytest.approx(10 / 11)
    assert ("lopsided", "vault") in flags
    fewer = {(f.kind, f.scene) for f in build_report("heist", db=path, flag_min=20).flags}
    assert ("lopsided", "briefing") not in fewer  # 11 decisions are too few to judge


def test_an_older_version_keeps_its_retired_choices(tmp_path: Path) -> None:
    from branching.store import db as store_db
    from branching.story.loader import load_story
    from tests.test_analytics_data import HEIST, play, register

    path, _ = _db_with(tmp_path, [("v1", [("choose", "quiet", 1000)])])
    old_yaml = tmp_path / "old" / "heist.yaml"
    old_yaml.parent.mkdir()
    old_yaml.write_text(
        HEIST.replace('version: "2"', 'version: "1"').replace(
            "      - id: coffee\n",
            "      - id: sneak\n        label: Sneak in\n        goto: vault\n      - id: coffee\n",
        ),
        encoding="utf-8",
    )
    old = load_story(str(old_yaml))
    conn = store_db.connect(path)
    try:
        register(conn, old, when="2024-12-01T00:00:00.000Z")
        play(
            conn,
            old,
            [("choose", "sneak", 500)],
            session_id="OLD",
            viewer="v7",
            started="2024-12-02T10:00:00Z",
        )
    finally:
        conn.close()
    graph = flow_graph("heist", db=path)
    sneak = next(e for e in graph.scenes["briefing"].edges if e.choice == "sneak")
    assert (sneak.count, sneak.retired, sneak.label) == (1, True, "Sneak in")
    current = flow_graph("heist", db=path, filters=make_filters(version="2"))
    assert "sneak" not in {e.choice for e in current.scenes["briefing"].edges}


def test_routes_are_worked_out_from_visits_in_older_databases(tmp_path: Path) -> None:
    """Databases recorded before route_taken events existed still get route counts."""
    from branching.store import db as store_db
    from branching.store.totals import rebuild

    path, _ = known_db(tmp_path)
    conn = store_db.connect(path)
    try:
        with store_db.immediate(conn):
            conn.execute("DELETE FROM events WHERE type = 'route_taken'")
            rebuild(conn)
    finally:
        conn.close()
    for unit in ("choices", "sessions"):
        graph = flow_graph("heist", db=path, unit=unit)  # type: ignore[arg-type]
        assert edges(graph, "hall") == {"caught": 2, "escape": 3}
        assert edges(graph, "cafe") == {"briefing": 2}
        assert any("worked out from scene visits" in note for note in graph.notes)


def test_until_the_last_representable_day_takes_in_everything(known: tuple[Path, Path]) -> None:
    everything = flow_graph("heist", db=known[0], unit="sessions")
    graph = flow_graph(
        "heist",
        db=known[0],
        unit="sessions",
        filters=make_filters(since="0999-01-01", until="9999-12-31"),
    )
    assert graph.sessions == everything.sessions == 6
