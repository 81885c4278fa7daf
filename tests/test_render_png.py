"""The whole pipeline on a bundled story: engine -> store API -> analytics -> Graphviz.

`simulate()` plays the bundled lighthouse story many times with the real
engine and records every step through the real store (`Store.open`,
`StoryInfo`, `start_session`, the `StoreRecorder` players use), with viewers
who prefer some options, sometimes let the clock choose, sometimes quit. The
test checks the flowchart of that database against the recorded events and
that Graphviz draws it. Run this file as a script to regenerate the README's
picture: `python tests/test_render_png.py docs/flowchart.png`.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from branching.analytics import flow_graph
from branching.play.engine import Playthrough
from branching.recording import StoreRecorder
from branching.render import draw, run_dot, to_dot
from branching.render.graphviz import PNG_MAX_PIXELS, PNG_MIN_DPI, png_options
from branching.store import SessionContext, Store, StoryInfo
from branching.story.loader import load_story

ROOT = Path(__file__).resolve().parent.parent
LIGHTHOUSE = ROOT / "stories" / "lighthouse.yaml"


def simulate(db_path: Path, story_path: Path, sessions: int, seed: int = 7) -> None:
    """Record `sessions` playthroughs of the story by a few dozen simulated viewers."""
    story = load_story(str(story_path))
    rng = random.Random(seed)
    context = SessionContext("xterm-256color", None, 100, 30, "Linux x86_64", "en_GB", 60, "sim")
    with Store.open(db_path, viewer_key=db_path.with_suffix(".key")) as store:
        store.register_story(
            StoryInfo(
                story.id,
                story.title,
                story.author,
                story.version,
                story.content_hash,
                story.structure(),
            )
        ).result()
        for n in range(sessions):
            session = store.start_session(
                story.id,
                story.content_hash,
                f"viewer{n % 40}",
                attrs={"region": rng.choice(["NL", "UK", "FR"])},
                context=context,
                seed=n,
            )
            run = Playthrough.start(story, seed=n)
            recorder = StoreRecorder(session)
            recorder.started(run)
            for _ in range(40):
                view = run.view
                if view.finished:
                    break
                if rng.random() < 0.03:  # gives up here
                    recorder.quit(run)
                    session.finish("quit").result()
                    break
                open_ = [c for c in view.choices if not c.locked]
                seen = run.state.visit_counts  # viewers prefer what they have not seen yet
                weights = [
                    (0.15 if seen.get(c.target) else 1.0) / (i + 1) ** 1.2
                    for i, c in enumerate(open_)
                ]
                timeout = view.timer > 0 and rng.random() < 0.15
                pick = view.default if timeout and view.default else rng.choices(open_, weights)[0]
                run.choose(pick.id)
                recorder.chose(
                    run,
                    view.scene,
                    pick.id,
                    pick.target,
                    decide_ms=rng.randint(600, 9000),
                    input="timeout" if timeout else "key",
                    timeout=timeout,
                )
                recorder.shown(run)
            session.close()


@pytest.fixture(scope="module")
def lighthouse_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("png") / "lighthouse.db"
    simulate(path, LIGHTHOUSE, sessions=60)
    return path


def test_flowchart_of_simulated_playthroughs_matches_the_events(lighthouse_db: Path) -> None:
    graph = flow_graph("lighthouse", db=lighthouse_db, unit="times")
    assert graph.source == "running totals"
    conn = sqlite3.connect(lighthouse_db)
    expected = {
        (s, c, t): n
        for s, c, t, n in conn.execute(
            "SELECT scene, choice, target, COUNT(*) FROM events WHERE type IN "
            "('choice_made', 'timeout_default') GROUP BY 1, 2, 3"
        )
    }
    stopped = dict(
        conn.execute(
            "SELECT last_scene, COUNT(*) FROM sessions WHERE outcome != 'ending' GROUP BY 1"
        )
    )
    conn.close()
    drawn = {
        (s.id, e.choice, e.target): e.count
        for s in graph.scenes.values()
        for e in s.edges
        if e.choice and e.count
    }
    assert drawn == expected
    assert {s.id: s.left for s in graph.scenes.values() if s.left} == stopped
    assert graph.sessions == 60


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graphviz_draws_the_simulated_flowchart_as_png(lighthouse_db: Path) -> None:
    png = run_dot(to_dot(flow_graph("lighthouse", db=lighthouse_db)), "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def png_header(png: bytes) -> tuple[int, int, int]:
    """(width, height, PNG colour type: 2 is RGB, 6 RGB with an alpha channel)."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png[12:16] == b"IHDR"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big"), png[25]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_the_png_is_opaque_and_drawn_at_96_dpi(lighthouse_db: Path) -> None:
    graph = flow_graph("lighthouse", db=lighthouse_db)
    width, height, colour = png_header(draw(graph, "png"))
    assert colour == 2  # no alpha channel: no transparent line along an edge
    laid = run_dot(to_dot(graph), "dot")
    options = dict(o[2:].split("=") for o in png_options(laid))
    assert float(options["dpi"]) == 96  # a small flowchart: 12 pt text is 16 pixels
    pad_x, pad_y = (float(v) * 72 for v in options["pad"].split(","))
    box = laid.split(b'bb="', 1)[1].split(b'"', 1)[0].decode().split(",")
    x0, y0, x1, y1 = (float(v) for v in box)
    assert (width, height) == (
        round((x1 - x0 + 2 * pad_x) * 96 / 72),
        round((y1 - y0 + 2 * pad_y) * 96 / 72),
    )


@pytest.mark.parametrize(
    ("points", "dpi"),
    [((600, 400), 96.0), ((3475, 2839), None), ((1831, 14968), PNG_MIN_DPI)],
)
def test_a_big_png_is_drawn_at_a_lower_resolution_but_never_under_72_dpi(
    points: tuple[int, int], dpi: float | None
) -> None:
    laid = f'digraph g {{ graph [bb="0,0,{points[0]},{points[1]}"]; }}'.encode()
    options = dict(o[2:].split("=") for o in png_options(laid))
    got = float(options["dpi"])
    width, height = (
        (size + 2 * float(pad) * 72) * got / 72
        for size, pad in zip(points, options["pad"].split(","), strict=True)
    )
    assert abs(width - round(width)) < 1e-3 and abs(height - round(height)) < 1e-3
    if dpi is None:  # Signal's flowchart: fewer pixels than at 96 dpi, readable
        assert PNG_MIN_DPI < got < 96 and width * height <= PNG_MAX_PIXELS * 1.001
    else:
        assert got == dpi


def main(out: str) -> None:
    work = Path(out).resolve().parent / ".flowchart-sim.db"
    for old in work.parent.glob(work.name + "*"):
        old.unlink()
    simulate(work, LIGHTHOUSE, sessions=400)
    graph = flow_graph("lighthouse", db=work)
    Path(out).write_bytes(run_dot(to_dot(graph, min_share=0.0), "png"))
    for old in work.parent.glob(work.name + "*"):
        old.unlink()
    work.with_suffix(".key").unlink(missing_ok=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "docs" / "flowchart.png"))
