"""`branching coverage`: unreachable, rarely reached and never-seen scenes and choices."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from branching.cli import cli
from branching.play.engine import Playthrough
from branching.recording import StoreRecorder
from branching.store.context import SessionContext
from branching.store.store import Store, StoryInfo
from branching.story.loader import load_story

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "stories" / "tutorial"

HIDDEN = """\
branching: 1
id: cov
start: hall
state: {key: false, luck: 0}
scenes:
  hall:
    choices:
      - {id: left, label: Left, goto: mid}
      - {id: right, label: Right, goto: mid, set: {key: true}}
      - {id: rare, label: Rare, goto: nook}
  nook:
    next: mid
  mid:
    choices:
      - {id: out, label: Out, goto: done}
      - {id: vault, label: Vault, goto: vault, if: key and luck > 3}
  vault:
    ending: {kind: secret, title: Vault}
  done:
    ending: {kind: good, title: Done}
"""


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def rows_of(output: str) -> dict[tuple[str, str | None], dict[str, object]]:
    data = json.loads(output)
    return {(r["scene"], r["choice"]): r for r in data["rows"]}


def test_a_story_with_an_unreachable_scene_fails(tmp_path: Path) -> None:
    story = tmp_path / "cov.yaml"
    story.write_text(HIDDEN)
    code, out = invoke("coverage", str(story), "--format", "json", "--runs", "50")
    assert code == 1
    rows = rows_of(out)
    assert rows[("vault", None)]["verdict"] == "unreachable"  # luck never grows
    assert rows[("mid", "vault")]["static"] == "unreachable"
    assert rows[("vault", None)]["simulated_runs"] == 0
    for reachable in [("hall", None), ("mid", None), ("done", None), ("hall", "right")]:
        assert rows[reachable]["static"] == "reachable", reachable
        assert rows[reachable]["simulated_runs"] > 0
    assert rows[("done", None)]["simulated_runs"] == 50  # every run ends there
    code, text = invoke("coverage", str(story), "--runs", "50")
    assert code == 1 and "unreachable" in text and "vault" in text
    assert "hall.left" not in text  # ok rows are listed only with --all
    code, _ = invoke("coverage", str(story), "--runs", "50", "--fail-on", "none")
    assert code == 0


def test_rare_needs_few_runs_to_get_there(tmp_path: Path) -> None:
    story = tmp_path / "cov.yaml"
    story.write_text(HIDDEN)
    # least-used takes each of hall's three choices in turn: the nook gets a third of the runs
    _, out = invoke("coverage", str(story), "--format", "json", "--runs", "30")
    rows = rows_of(out)
    assert rows[("nook", None)]["simulated_runs"] == 10
    assert rows[("hall", "rare")]["simulated_runs"] == 10
    _, out = invoke("coverage", str(story), "--format", "json", "--runs", "30", "--rare", "40")
    assert rows_of(out)[("nook", None)]["verdict"] == "rare"  # 10 of 30 < 40%
    code, _ = invoke(
        "coverage",
        str(story),
        "--runs",
        "30",
        "--rare",
        "40",
        "--fail-on",
        "rare",
        "--format",
        "csv",
    )
    assert code == 1


def record_path(db: Path, choices: list[int], sessions: int) -> None:
    """`sessions` real playthroughs of the tutorial taking the same numbered choices."""
    story = load_story(TUTORIAL)
    context = SessionContext("xterm", None, 80, 24, "Linux", "en_GB", 0, "test")
    with Store.open(db, viewer_key=db.with_suffix(".key")) as store:
        info = (story.id, story.title, story.author, story.version, story.content_hash)
        store.register_story(StoryInfo(*info, story.structure())).result()
        for n in range(sessions):
            session = store.start_session(story.id, story.content_hash, f"v{n}", context=context)
            run = Playthrough.start(story, seed=1)
            rec = StoreRecorder(session)
            rec.started(run)
            for number in choices:
                view = run.view
                shown = view.by_number(number)
                assert shown is not None
                run.choose(shown.id)
                rec.chose(run, view.scene, shown.id, shown.target, decide_ms=900, input="key")
                rec.shown(run)
            rec.close()


def test_the_tutorial_with_real_viewers_on_one_path(tmp_path: Path) -> None:
    """Hand-computed: viewers who all took 1,1,2 saw exactly those scenes and choices."""
    db = tmp_path / "t.db"
    record_path(db, [1, 1, 2], sessions=3)
    story = load_story(TUTORIAL)
    walked = Playthrough.start(story, seed=1)
    seen_scenes = {walked.view.scene}
    seen_choices = set()
    for number in [1, 1, 2]:
        view = walked.view
        shown = view.by_number(number)
        assert shown is not None
        seen_choices.add((view.scene, shown.id))
        walked.choose(shown.id)
        seen_scenes |= {p.scene for p in walked.view.passages}
    assert walked.view.ending is not None
    code, out = invoke("coverage", str(TUTORIAL), "--db", str(db), "--format", "json")
    assert code == 0  # nothing unreachable, and 'never seen' does not fail by default
    data = json.loads(out)
    assert data["exploration_complete"] is True
    assert "3 sessions" in data["telemetry"]
    for row in data["rows"]:
        key = (row["scene"], row["choice"])
        seen = key in seen_choices if row["choice"] else row["scene"] in seen_scenes
        assert row["static"] == "reachable", key
        assert (row["real_viewers"] > 0) == seen, key
        assert (row["verdict"] == "never seen") == (not seen), key
    code, out = invoke("coverage", str(TUTORIAL), "--db", str(db), "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == len(data["rows"])
    assert {r["verdict"] for r in table} == {"ok", "never seen"}
    code, _ = invoke("coverage", str(TUTORIAL), "--db", str(db), "--fail-on", "never seen")
    assert code == 1


def test_simulated_sessions_are_not_real_viewers(tmp_path: Path) -> None:
    db = tmp_path / "sim.db"
    code, _ = invoke("simulate", str(TUTORIAL), "--sessions", "30", "--seed", "1", "--db", str(db))
    assert code == 0
    code, out = invoke("coverage", str(TUTORIAL), "--db", str(db), "--format", "json")
    data = json.loads(out)
    assert "no real viewer" in data["telemetry"]
    assert all(r["real_viewers"] is None for r in data["rows"])
