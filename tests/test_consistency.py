"""Every figure two outputs both show is equal, and equal to a recount from the raw events.

One database holds seeded synthetic audiences (`branching simulate`, with
loops, going back, rewinds from endings, abandonment, pauses and timeouts) of
the three bundled stories, two versions of the lighthouse (a copy with one
text changed, so its content hash and label differ), viewers playing several
sessions each, and a few real playthroughs of the tutorial recorded through
the store and the real recorder, so `--audience` matters.

For each story, filter and unit the test reads:
- `branching stats --format json` (its `summary` and tables, by id columns);
- `branching flowchart --format json` (every scene, edge, ending, left here);
- the dashboard's data layer (`load_story`, as the app calls it, no app);
- the HTML export's embedded data block (`flow-data`), for some cases;
- the SQL views (`choice_sessions`, `choice_shares`, `scene_dropoff`,
  `sessions_per_ending`), which count every session of a version;
and compares each figure with `Recount`: plain SQL written here over
`sessions`, `events` and `session_attrs`, never calling branching's analytics.
The vocabulary: sessions (playthroughs), viewers (unique ids), times taken
(every pass); completed: the session's outcome is `ending`.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from branching.cli import cli
from branching.play.engine import Playthrough
from branching.recording import StoreRecorder
from branching.store import SessionContext, Store, StoryInfo
from branching.story.loader import load_story
from branching.tui.dashboard.data import Selection, list_stories
from branching.tui.dashboard.data import load_story as dashboard_story

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "stories" / "tutorial"
SIGNAL = ROOT / "stories" / "signal"
LIGHTHOUSE = ROOT / "stories" / "lighthouse.yaml"
DAYS = ("--from", "2025-01-01", "--to", "2025-01-31")
BUSY = ("--back", "0.08", "--abandon", "0.04", "--timeouts", "0.2", "--pause", "0.05")


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def simulate(db: Path, story: Path, sessions: int, viewers: int, seed: int) -> None:
    run(
        "simulate",
        str(story),
        "--db",
        str(db),
        "--sessions",
        str(sessions),
        "--viewers",
        str(viewers),
        "--seed",
        str(seed),
        *DAYS,
        *BUSY,
    )


def record_real(db: Path) -> None:
    """Real playthroughs of the tutorial: 3 viewers, 7 sessions, one going back, one quitting."""
    story = load_story(str(TUTORIAL))
    context = SessionContext("xterm", None, 80, 24, "Linux", "en_GB", 0, "test")
    plans = [[1, 1, 2], [2, 1, 1], [1, 2], [1, 1, 2], [2, 2, 1, 1], [1], [2, 1, 2]]
    with Store.open(db) as store:
        info = (story.id, story.title, story.author, story.version, story.content_hash)
        store.register_story(StoryInfo(*info, story.structure())).result()
        for n, plan in enumerate(plans):
            session = store.start_session(
                story.id, story.content_hash, f"real{n % 3}", context=context
            )
            run_ = Playthrough.start(story, seed=n)
            rec = StoreRecorder(session)
            rec.started(run_)
            for step, number in enumerate(plan):
                view = run_.view
                if view.ending is not None:
                    break
                shown = view.by_number(min(number, len(view.choices)))
                if shown is None:
                    break
                run_.choose(shown.id)
                rec.chose(
                    run_,
                    view.scene,
                    shown.id,
                    shown.target,
                    decide_ms=700 + step * 100,
                    input="key",
                )
                rec.shown(run_)
                if n == 4 and step == 1 and run_.view.ending is None:  # goes back once
                    back_to = view.scene
                    run_.rewind_to(back_to)
                    rec.rewound(run_, back_to, input="key")
            if run_.view.ending is not None:
                rec.ended(run_)
            elif n == 5:
                rec.quit(run_)
            rec.close()


# (story, sessions, viewers, seed) of each simulated audience, in order: a bundled
# story's name, or "lighthouse-1.2", the lighthouse with its version changed
Audience = list[tuple[str, int, int, int]]


def record_audience(folder: Path, plan: Audience) -> Path:
    """`folder`/audience.db: the simulated audiences of `plan`, then `record_real`'s."""
    path = folder / "audience.db"
    stories = {"tutorial": TUTORIAL, "signal": SIGNAL, "lighthouse": LIGHTHOUSE}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CONFIG_HOME", str(folder / "config"))
        mp.setenv("XDG_DATA_HOME", str(folder / "data"))
        for name, sessions, viewers, seed in plan:
            story = stories.get(name) or folder / f"{name}.yaml"
            if name == "lighthouse-1.2":
                text = LIGHTHOUSE.read_text(encoding="utf-8")
                assert 'version: "1.1"' in text
                story.write_text(text.replace('version: "1.1"', 'version: "1.2"'), "utf-8")
            simulate(path, story, sessions, viewers, seed=seed)
        record_real(path)
    return path


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    plan = [("tutorial", 90, 30, 1), ("signal", 60, 25, 2), ("lighthouse", 50, 20, 3)]
    return record_audience(
        tmp_path_factory.mktemp("consistency"), [*plan, ("lighthouse-1.2", 50, 20, 4)]
    )


# -- the independent recount ------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    story: str
    args: tuple[str, ...] = ()
    unit: str = "sessions"
    html: bool = False

    @property
    def id(self) -> str:
        return f"{self.story}-{self.unit}-{'_'.join(self.args) or 'all'}"


@dataclass
class Recount:
    sessions: int = 0
    viewers: int = 0
    completed: int = 0
    reach: dict[str, int] = field(default_factory=dict)
    taken: dict[tuple[str, str, str], int] = field(default_factory=dict)
    times: dict[tuple[str, str, str], int] = field(default_factory=dict)
    clock: dict[tuple[str, str, str], int] = field(default_factory=dict)  # times
    clock_units: dict[tuple[str, str, str], int] = field(default_factory=dict)
    timed_out: dict[str, int] = field(default_factory=dict)  # units, per scene
    decisions: dict[str, int] = field(default_factory=dict)
    median_ms: dict[str, float] = field(default_factory=dict)
    ended: dict[str, int] = field(default_factory=dict)
    left: dict[str, int] = field(default_factory=dict)
    shown: dict[str, int] = field(default_factory=dict)  # every time a scene was shown
    left_sessions: dict[str, int] = field(default_factory=dict)
    ended_sessions: dict[str, int] = field(default_factory=dict)


def options(args: tuple[str, ...]) -> dict[str, str]:
    """`--name value` pairs of `args` (a flag such as `--first-only` maps to '')."""
    out: dict[str, str] = {}
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            following = args[i + 1] if i + 1 < len(args) else "--"
            out[arg] = "" if following.startswith("--") else following
    return out


def picked_ids(conn: sqlite3.Connection, story: str, args: tuple[str, ...]) -> list[str]:
    """The sessions a selection chooses, worked out here from the options' documented meaning."""
    opts = options(args)
    rows = conn.execute(
        "SELECT s.session_id, s.viewer_id, s.started_at, s.content_hash, s.simulated, "
        "st.version_label FROM sessions s JOIN stories st "
        "ON st.story_id = s.story_id AND st.content_hash = s.content_hash WHERE s.story_id = ?",
        [story],
    ).fetchall()
    if "--first-only" in args:  # each viewer's earliest session, before the other filters
        first: dict[str, tuple[str, str]] = {}
        for sid, viewer, started, *_ in rows:
            first[viewer] = min(first.get(viewer, (started, sid)), (started, sid))
        rows = [r for r in rows if first[r[1]][1] == r[0]]
    audience = opts.get("--audience", "auto")
    kinds = {r[4] for r in rows}
    if audience == "auto":
        audience = "real" if 0 in kinds and 1 in kinds else "all"
    out = []
    for sid, _viewer, started, content_hash, simulated, label in rows:
        if audience == "real" and simulated or audience == "simulated" and not simulated:
            continue
        if "--since" in opts and started < opts["--since"]:
            continue
        if "--until" in opts and started[:10] > opts["--until"]:  # a bare date: its whole day
            continue
        if "--version" in opts and opts["--version"] not in (label, content_hash):
            continue
        if "--where" in opts:
            key, value = opts["--where"].split("=")
            if not conn.execute(
                "SELECT 1 FROM session_attrs WHERE session_id = ? AND key = ? AND value = ?",
                [sid, key, value],
            ).fetchone():
                continue
        out.append(sid)
    return out


def recount(db: Path, story: str, args: tuple[str, ...], unit: str) -> Recount:
    conn = sqlite3.connect(db)
    try:
        ids = picked_ids(conn, story, args)
        conn.execute("CREATE TEMP TABLE chosen (session_id TEXT PRIMARY KEY)")
        conn.executemany("INSERT INTO chosen VALUES (?)", [(i,) for i in ids])
        who = "s.viewer_id" if unit == "viewers" else "s.session_id"
        count = "COUNT(*)" if unit == "times" else f"COUNT(DISTINCT {who})"
        units = f"COUNT(DISTINCT {who})" if unit == "viewers" else "COUNT(DISTINCT s.session_id)"
        base = "FROM chosen c JOIN sessions s ON s.session_id = c.session_id"
        ev = base + " JOIN events e ON e.session_id = s.session_id"
        r = Recount()
        r.sessions, r.viewers = conn.execute(
            f"SELECT COUNT(*), COUNT(DISTINCT s.viewer_id) {base}"
        ).fetchone()
        r.completed = conn.execute(f"SELECT {units} {base} WHERE s.outcome = 'ending'").fetchone()[
            0
        ]
        r.reach = dict(
            conn.execute(f"SELECT e.scene, {count} {ev} WHERE e.type = 'scene_shown' GROUP BY 1")
        )
        r.shown = dict(
            conn.execute(f"SELECT e.scene, COUNT(*) {ev} WHERE e.type = 'scene_shown' GROUP BY 1")
        )
        decision = "e.type IN ('choice_made', 'timeout_default')"
        for scene, choice, target, n, times, clock, clock_units in conn.execute(
            f"""SELECT e.scene, e.choice, e.target, {count}, COUNT(*),
                   SUM(e.type = 'timeout_default'),
                   {"COUNT(*)" if unit == "times" else f"COUNT(DISTINCT CASE WHEN e.type = 'timeout_default' THEN {who} END)"}
            {ev} WHERE {decision} GROUP BY 1, 2, 3"""  # noqa: E501
        ):
            key = (scene, choice, target)
            r.taken[key], r.times[key], r.clock[key] = n, times, clock
            r.clock_units[key] = clock if unit == "times" else clock_units
        for scene, decisions, timed_out in conn.execute(
            f"""SELECT e.scene, COUNT(*),
                   {"SUM(e.type = 'timeout_default')" if unit == "times" else f"COUNT(DISTINCT CASE WHEN e.type = 'timeout_default' THEN {who} END)"}
            {ev} WHERE {decision} GROUP BY 1"""  # noqa: E501
        ):
            r.decisions[scene], r.timed_out[scene] = decisions, timed_out
        waits: dict[str, list[int]] = defaultdict(list)
        for scene, ms in conn.execute(
            f"SELECT e.scene, e.decide_ms {ev} WHERE e.type = 'choice_made' "
            "AND e.decide_ms IS NOT NULL"
        ):
            waits[scene].append(ms)
        r.median_ms = {scene: float(statistics.median(spread(v))) for scene, v in waits.items()}
        r.ended = dict(
            conn.execute(
                f"SELECT s.ending_id, {units} {base} WHERE s.outcome = 'ending' GROUP BY 1"
            )
        )
        r.left = dict(
            conn.execute(
                f"SELECT s.last_scene, {units} {base} WHERE s.outcome <> "
                "'ending' AND s.last_scene IS NOT NULL GROUP BY 1"
            )
        )
        r.ended_sessions = dict(
            conn.execute(
                f"SELECT s.ending_id, COUNT(*) {base} WHERE s.outcome = 'ending' GROUP BY 1"
            )
        )
        r.left_sessions = dict(
            conn.execute(
                f"SELECT s.last_scene, COUNT(*) {base} WHERE "
                "s.outcome <> 'ending' AND s.last_scene IS NOT NULL "
                "GROUP BY 1"
            )
        )
        for name, value in vars(r).items():  # zero is "none": compared as absent
            if isinstance(value, dict) and name != "median_ms":
                setattr(r, name, nonzero(value))
        return r
    finally:
        conn.close()


# -- reading every output ---------------------------------------------------------------


def spread(values: list[int]) -> list[float]:
    """The times as the timing table reads them (README, "Time to decide"): in buckets
    100 ms wide below 10 s, 1 s below 100 s, 10 s above, the c times of a bucket spread
    evenly across it."""
    buckets: dict[tuple[int, int], int] = defaultdict(int)
    for ms in values:
        width = 100 if ms < 10_000 else 1_000 if ms < 100_000 else 10_000
        buckets[(ms - ms % width, width)] += 1
    return [
        low + width * (i + 0.5) / c for (low, width), c in sorted(buckets.items()) for i in range(c)
    ]


def nonzero(d: dict[Any, int | None]) -> dict[Any, int]:
    return {k: v for k, v in d.items() if v}


def flow_figures(scenes: list[dict[str, Any]]) -> dict[str, dict[Any, int]]:
    """Per-scene and per-edge figures of `flowchart --format json`."""
    return {
        "visits": nonzero({s["id"]: s["visits"] for s in scenes}),
        "left": nonzero({s["id"]: s["left_here"] for s in scenes}),
        "ended": nonzero({s["id"]: s["ended_here"] for s in scenes if s["ending"]}),
        "taken": nonzero(
            {
                (s["id"], e["choice"], e["target"]): e["count"]
                for s in scenes
                for e in s["edges"]
                if e["choice"]
            }
        ),
        "clock": nonzero(
            {
                (s["id"], e["choice"], e["target"]): e["timeouts"]
                for s in scenes
                for e in s["edges"]
                if e["choice"]
            }
        ),
        "timed_out": nonzero({s["id"]: s["timed_out"] for s in scenes if s["timer"]}),
    }


def table(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = data["tables"][name]["rows"]
    return rows


CASES = [
    Case("tutorial", html=True),
    Case("tutorial", unit="viewers", html=True),
    Case("tutorial", ("--audience", "real")),
    Case("tutorial", ("--audience", "simulated")),
    Case("tutorial", ("--audience", "all"), html=True),
    Case("tutorial", ("--audience", "all"), unit="viewers"),
    Case("tutorial", ("--audience", "all", "--since", "2025-01-15")),
    Case("tutorial", ("--audience", "simulated", "--until", "2025-01-20"), unit="viewers"),
    Case("tutorial", ("--audience", "simulated", "--where", "region=NL")),
    Case("tutorial", ("--audience", "all", "--first-only")),
    Case("signal", html=True),
    Case("signal", unit="viewers"),
    Case("signal", ("--where", "region=UK", "--since", "2025-01-10")),
    Case("signal", ("--first-only",), unit="viewers"),
    Case("lighthouse"),
    Case("lighthouse", ("--version", "1.1")),
    Case("lighthouse", ("--version", "1.2"), unit="viewers", html=True),
    Case("lighthouse", ("--first-only", "--until", "2025-01-25")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_stats_flowchart_dashboard_and_html_agree_with_a_recount(
    db: Path, tmp_path: Path, case: Case
) -> None:
    r = recount(db, case.story, case.args, case.unit)
    assert r.sessions, "a case that chooses no session proves nothing"
    stats = json.loads(
        run("stats", case.story, "--db", str(db), "--format", "json", "--by", case.unit, *case.args)
    )
    flow = json.loads(
        run(
            "flowchart",
            case.story,
            "--db",
            str(db),
            "--format",
            "json",
            "--by",
            case.unit,
            *case.args,
        )
    )
    started = r.viewers if case.unit == "viewers" else r.sessions
    col = {"sessions": "sessions", "viewers": "unique viewers"}[case.unit]  # stats' headings

    # one unit, stated everywhere, and the same sessions, viewers and completed
    assert stats["unit"] == flow["unit"] == case.unit
    summary = stats["summary"]
    assert (summary["sessions"], summary["viewers"]) == (r.sessions, r.viewers)
    assert (flow["sessions"], flow["viewers"]) == (r.sessions, r.viewers)
    assert summary["completed"] == flow["completed"] == r.completed
    assert summary["completion_rate"] == round(r.completed / started, 6)

    # per scene: reached; per choice: taken, its share, the clock; endings; left here
    reach = {row["scene id"]: row[col] for row in table(stats, "reach")}
    assert nonzero(reach) == r.reach
    shares = {
        (row["scene id"], row["choice id"], row["goes to id"]): row
        for row in table(stats, "choices")
    }
    assert nonzero({k: row[col] for k, row in shares.items()}) == r.taken
    assert nonzero({k: row["times taken"] for k, row in shares.items()}) == r.times
    assert nonzero({k: row["by the clock"] for k, row in shares.items()}) == r.clock
    for key, n in r.taken.items():
        assert shares[key]["share"] == pytest.approx(n / r.reach[key[0]], abs=1e-6)
    endings = {row["ending id"]: row[col] for row in table(stats, "endings") if row["ending id"]}
    assert nonzero(endings) == r.ended
    dropoff = {row["scene id"]: row["left here"] for row in table(stats, "dropoff")}
    assert nonzero(dropoff) == r.left
    timing = {row["scene id"]: row for row in table(stats, "timing")}
    assert nonzero({s: t["decisions"] for s, t in timing.items()}) == r.decisions
    assert nonzero({s: t[f"{col} timed out"] for s, t in timing.items()}) == nonzero(r.timed_out)
    for scene, median in r.median_ms.items():
        assert timing[scene]["median"] == pytest.approx(median)

    figures = flow_figures(flow["scenes"])
    assert figures["visits"] == r.reach
    assert figures["taken"] == r.taken
    assert figures["clock"] == nonzero(r.clock_units)
    assert figures["ended"] == r.ended
    assert figures["left"] == r.left
    timers = {s["id"] for s in flow["scenes"] if s["timer"]}
    assert figures["timed_out"] == nonzero({s: n for s, n in r.timed_out.items() if s in timers})
    for s in flow["scenes"]:
        for e in s["edges"]:
            if e["choice"] and e["count"]:
                assert e["share"] == pytest.approx(e["count"] / r.reach[s["id"]], abs=1e-6)
    # every session counted once: completed, or left at one scene (or never shown one)
    if case.unit == "sessions":
        never = r.sessions - r.completed - sum(r.left.values())
        assert never >= 0 and sum(r.ended.values()) == r.completed

    check_dashboard(db, case, r, stats, flow)
    if case.html and shutil.which("dot") is not None:
        check_html(db, tmp_path, case, flow)


def check_dashboard(
    db: Path, case: Case, r: Recount, stats: dict[str, Any], flow: dict[str, Any]
) -> None:
    """The dashboard's data layer (what its screens draw) holds the same figures."""
    if case.unit not in ("sessions", "viewers"):
        return
    opts = options(case.args)
    selection = Selection(
        version=opts.get("--version"),
        since=opts.get("--since"),
        until=opts.get("--until"),
        where=(opts["--where"],) if "--where" in opts else (),
        first_only="--first-only" in case.args,
        unit=case.unit,  # type: ignore[arg-type]
        audience=opts.get("--audience", "auto"),
    )
    view = dashboard_story(str(db), case.story, selection)
    o = view.report.overview
    assert (o.sessions, o.viewers, o.completed) == (r.sessions, r.viewers, r.completed)
    assert (view.graph.sessions, view.graph.completed) == (r.sessions, r.completed)
    assert nonzero({s.id: s.visits for s in view.graph.scenes.values()}) == r.reach
    assert nonzero({s.id: s.left for s in view.graph.scenes.values()}) == r.left
    assert nonzero({e.ending: e.count for e in view.report.endings}) == r.ended
    assert view.graph.unit == o.unit == flow["unit"] == stats["unit"]


def check_html(db: Path, tmp_path: Path, case: Case, flow: dict[str, Any]) -> None:
    """The HTML export's data block: the same figures as the JSON flowchart."""
    page = tmp_path / "chart.html"
    run(
        "flowchart",
        case.story,
        "--db",
        str(db),
        "--format",
        "html",
        "--full",
        "--by",
        case.unit,
        "-o",
        str(page),
        *case.args,
    )
    text = page.read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="flow-data">(.*?)</script>', text)
    assert found is not None
    data = json.loads(found.group(1))
    summary = data["summary"]
    assert summary == {k: flow[k] for k in ("unit", "sessions", "viewers", "completed")}
    boxes = {b["id"]: b["counts"] for b in data["scenes"].values()}
    for s in flow["scenes"]:
        if s["id"] not in boxes:
            continue
        box = boxes[s["id"]]
        assert (box["visits"], box["left_here"], box["ended_here"]) == (
            s["visits"],
            s["left_here"],
            s["ended_here"],
        )
        assert {(e["choice"], e["target"]): e["count"] for e in box["edges"]} == {
            (e["choice"], e["target"]): e["count"] for e in s["edges"]
        }
    assert len(boxes) == len(flow["scenes"])  # --full: every scene has its box


@pytest.mark.parametrize(
    ("story", "args"),
    [("tutorial", ()), ("signal", ("--since", "2025-01-12")), ("lighthouse", ("--version", "1.2"))],
)
def test_times_taken_agree_with_a_recount(db: Path, story: str, args: tuple[str, ...]) -> None:
    """`--by times` (and its old name, choices): every pass; endings and left here in sessions."""
    audience = ("--audience", "all")
    r = recount(db, story, (*args, *audience), "times")
    for name in ("times", "choices"):
        flow = json.loads(
            run(
                "flowchart",
                story,
                "--db",
                str(db),
                "--format",
                "json",
                "--by",
                name,
                *args,
                *audience,
            )
        )
        assert flow["unit"] == "times"
        figures = flow_figures(flow["scenes"])
        assert figures["visits"] == r.shown
        assert figures["taken"] == r.times
        assert figures["clock"] == nonzero(r.clock)
        assert figures["left"] == r.left_sessions
        assert figures["ended"] == r.ended_sessions
        assert (flow["sessions"], flow["completed"]) == (r.sessions, r.completed)


def test_the_sql_views_agree_with_the_outputs(db: Path) -> None:
    """The views count every session of a version, real and simulated, in the same units."""
    conn = sqlite3.connect(db)
    try:
        for story, version in (("lighthouse", "1.1"), ("tutorial", None)):
            args = ("--audience", "all") + (("--version", version) if version else ())
            content_hash = None
            if version:
                content_hash = conn.execute(
                    "SELECT content_hash FROM stories WHERE story_id = ? AND version_label = ?",
                    [story, version],
                ).fetchone()[0]
            where = "story_id = ?" + (" AND content_hash = ?" if content_hash else "")
            params = [story] + ([content_hash] if content_hash else [])
            r = recount(db, story, args, "sessions")
            taken = defaultdict(int)
            for scene, choice, target, n in conn.execute(
                f"SELECT scene, choice, target, sessions FROM choice_sessions WHERE {where} "
                "AND choice <> ''",
                params,
            ):
                taken[(scene, choice, target)] += n
            assert nonzero(taken) == r.taken
            reached: dict[str, int] = defaultdict(int)
            left: dict[str, int] = defaultdict(int)
            for scene, n, gone, unfinished in conn.execute(
                f"SELECT scene, sessions_reached, sessions_left, sessions_unfinished "
                f"FROM scene_dropoff WHERE {where}",
                params,
            ):
                reached[scene] += n
                left[scene] += gone + unfinished
            assert nonzero(reached) == r.reach and nonzero(left) == r.left
            ended: dict[str, int] = defaultdict(int)
            for ending, n in conn.execute(
                f"SELECT ending_id, sessions FROM sessions_per_ending WHERE {where} "
                "AND outcome = 'ending'",
                params,
            ):
                ended[ending] += n
            assert dict(ended) == r.ended
            times = defaultdict(int)
            for scene, choice, target, n in conn.execute(
                f"SELECT scene, choice, target, traversals FROM choice_shares WHERE {where} "
                "AND choice <> ''",
                params,
            ):
                times[(scene, choice, target)] += n
            assert dict(times) == r.times
            if version:  # one version: the view's shares are the flowchart's, by times
                flow = json.loads(
                    run(
                        "flowchart",
                        story,
                        "--db",
                        str(db),
                        "--format",
                        "json",
                        "--by",
                        "times",
                        *args,
                    )
                )
                drawn = {
                    (s["id"], e["choice"] or "", e["target"]): e["share"]
                    for s in flow["scenes"]
                    for e in s["edges"]
                    if e["count"]
                }
                for scene, choice, target, share in conn.execute(
                    f"SELECT scene, choice, target, share FROM choice_shares WHERE {where}",
                    params,
                ):
                    assert drawn[(scene, choice, target)] == pytest.approx(share, abs=1e-6)
    finally:
        conn.close()


def test_the_story_lists_agree_with_a_recount(db: Path) -> None:
    """`stats` without a story and the dashboard's list: every session, real and simulated."""
    listed = {row.story_id: row for row in list_stories(db)}
    data = json.loads(run("stats", "--db", str(db), "--format", "json"))
    rows = {row["story"]: row for row in table(data, "stories")}
    for story in ("tutorial", "signal", "lighthouse"):
        everyone = recount(db, story, ("--audience", "all"), "sessions")
        real = (
            recount(db, story, ("--audience", "real"), "sessions") if story == "tutorial" else None
        )
        row = listed[story]
        assert (row.sessions, row.viewers) == (everyone.sessions, everyone.viewers)
        assert row.completed == everyone.completed
        simulated = rows[story]["simulated sessions"]
        assert rows[story]["real sessions"] + simulated == everyone.sessions
        assert rows[story]["real sessions"] == (real.sessions if real else 0)


def test_the_audience_holds_what_makes_figures_disagree(db: Path) -> None:
    """The database exercises each way two definitions could differ, so the checks bite."""
    conn = sqlite3.connect(db)
    try:
        one = conn.execute
        went_back_from_an_ending = one(
            """SELECT COUNT(*) FROM sessions s WHERE s.outcome <> 'ending' AND s.last_scene IN
            (SELECT e.scene FROM events e WHERE e.type = 'ending_reached')"""
        ).fetchone()[0]
        assert went_back_from_an_ending  # shown an ending, not completed: a hole once
        loops = one(
            """SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE type = 'choice_made'
            GROUP BY session_id, scene, choice HAVING COUNT(*) > 1)"""
        ).fetchone()[0]
        assert loops  # times taken and sessions differ
        assert one("SELECT COUNT(*) FROM events WHERE type = 'timeout_default'").fetchone()[0]
        assert one("SELECT COUNT(*) FROM events WHERE type = 'rewind'").fetchone()[0]
        versions = one("SELECT COUNT(*) FROM stories WHERE story_id = 'lighthouse'").fetchone()
        assert versions == (2,)
        sessions, viewers, kinds = one(
            "SELECT COUNT(*), COUNT(DISTINCT viewer_id), COUNT(DISTINCT simulated) "
            "FROM sessions WHERE story_id = 'tutorial'"
        ).fetchone()
        assert viewers < sessions and kinds == 2  # viewers play again; real and simulated
    finally:
        conn.close()
