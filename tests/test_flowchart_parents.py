"""The terminal flowchart hangs each scene under its most-travelled way in.

Small hand-built stories with counts where drawing a scene where the walk
first meets it would be wrong (golden text under tests/golden/), the rules
for loops, ties, no traffic and cycles of preferences, and the bundled
lighthouse and Signal stories with a simulated audience: there the test works
out each scene's most-travelled parent itself, in plain SQL over the running
totals (`traversals`) and a reachability check of its own, and compares it
with where the chart drew the scene.
"""

from __future__ import annotations

import re
import sqlite3
from collections import deque
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from branching.analytics.graph import Counts, FlowGraph, assemble
from branching.analytics.shape import Shape, ShapeChoice, ShapeScene
from branching.cli import cli
from branching.render import Flowchart
from branching.story.loader import load_story
from tests.test_render_flowchart import check_golden

STORIES = Path(__file__).resolve().parent.parent / "stories"


def render(graph: FlowGraph, width: int = 100) -> str:
    console = Console(color_system=None, width=width, legacy_windows=False)
    with console.capture() as capture:
        console.print(Flowchart(graph))
    return capture.get()


def choice(sid: str, cid: str, goto: str) -> ShapeChoice:
    return ShapeChoice(cid, f"{sid} {cid}", goto)


def story(scenes: list[ShapeScene], edges: dict[tuple[str, str, str], int] | None) -> FlowGraph:
    """A story of `scenes` (the first is the start); `edges` None: the story map."""
    shape = Shape("t", "Test", scenes[0].id, {s.id: s for s in scenes})
    counts = Counts({k: (n, 0) for k, n in (edges or {}).items()}, {}, {})
    graph = assemble(shape, counts, unit="times", source="test", filters="none")
    if edges is None:
        return replace(graph, telemetry=False)
    return graph


def scene(sid: str, *choices: ShapeChoice) -> ShapeScene:
    return ShapeScene(sid, sid.capitalize(), "choice", choices=choices)


def ending(sid: str) -> ShapeScene:
    return ShapeScene(sid, sid.capitalize(), "ending", ending_kind="good", ending_title=sid.upper())


# -- reading a chart ------------------------------------------------------------------------

SCENE_ROW = re.compile(r"[■◆] (?P<title>.+?)(?: · |$)")
FROM_ROW = re.compile(r"[↑↓] from (?P<title>.+?)(?: via |$| · )")


def drawn_parents(text: str) -> dict[str, str | None]:
    """Title of each scene drawn -> title of the scene it hangs under (None: a root)."""
    parents: dict[str, str | None] = {}
    open_at: dict[int, str] = {}  # column of a scene's glyph -> its title, as drawn so far
    last_root: str | None = None
    for line in text.splitlines():
        found = SCENE_ROW.search(line)
        if found and (
            found.start() == 0 or line[found.start() - 3 : found.start()] in ("├─ ", "└─ ")
        ):
            column, title = found.start(), found["title"]
            assert title not in parents, f"{title} drawn twice"
            parents[title] = open_at.get(column - 3) if column else None
            open_at = {c: t for c, t in open_at.items() if c < column} | {column: title}
            last_root = title if column == 0 else None
            continue
        way = FROM_ROW.search(line)
        if way and last_root is not None and parents[last_root] is None:
            parents[last_root] = way["title"]  # a root names the way it hangs under first
            last_root = None
    return parents


# -- small stories where the first way met is the wrong parent --------------------------------


def crossroads() -> FlowGraph:
    """The start leads to the well (1) and the market (50); the market leads to the well (45)."""
    scenes = [
        scene("start", choice("start", "well", "well"), choice("start", "market", "market")),
        scene("market", choice("market", "well", "well"), choice("market", "home", "home")),
        scene("well", choice("well", "drink", "home")),
        ending("home"),
    ]
    edges = {
        ("start", "well", "well"): 1,
        ("start", "market", "market"): 50,
        ("market", "well", "well"): 45,
        ("market", "home", "home"): 5,
        ("well", "drink", "home"): 46,
    }
    return story(scenes, edges)


def test_a_shared_scene_hangs_under_its_busiest_way_in() -> None:
    text = render(crossroads())
    check_golden("flowchart-parents-crossroads.txt", text)
    parents = drawn_parents(text)
    assert parents["Well"] == "Market"  # 45 came from the market, 1 straight from the start
    assert parents["HOME"] == "Well"  # 46 from the well, 5 from the market
    assert "↑ also from Start via start well · 1" in text
    row = next(line for line in text.splitlines() if "start well" in line and "→" in line)
    assert "→ Well ↓ below" in row  # the start's own choices say where to look


def test_a_loop_back_never_becomes_the_parent() -> None:
    """The hall is entered 95 times from the room inside it, but only from the door first."""
    scenes = [
        scene("door", choice("door", "in", "hall")),
        scene("hall", choice("hall", "room", "room"), choice("hall", "out", "end")),
        scene("room", choice("room", "back", "hall")),
        ending("end"),
    ]
    edges = {
        ("door", "in", "hall"): 10,
        ("hall", "room", "room"): 95,
        ("room", "back", "hall"): 95,
        ("hall", "out", "end"): 10,
    }
    parents = drawn_parents(text := render(story(scenes, edges)))
    assert parents["Hall"] == "Door" and parents["Room"] == "Hall"
    assert "↓ also from Room via room back · 95" in text


def test_ties_go_to_the_earlier_way_in_story_order() -> None:
    scenes = [
        scene("start", choice("start", "a", "a"), choice("start", "b", "b")),
        scene("a", choice("a", "on", "mid")),
        scene("b", choice("b", "on", "mid")),
        scene("mid", choice("mid", "end", "end")),
        ending("end"),
    ]
    counts = {("start", "a", "a"): 7, ("start", "b", "b"): 7, ("a", "on", "mid"): 7}
    counts[("b", "on", "mid")] = 7
    assert drawn_parents(render(story(scenes, counts)))["Mid"] == "A"
    counts[("b", "on", "mid")] = 8
    assert drawn_parents(render(story(scenes, counts)))["Mid"] == "B"


def test_without_traffic_a_scene_hangs_under_the_first_way_in_from_the_start() -> None:
    """Breadth first: the garden is one choice from the start, not two through the shed."""
    scenes = [
        scene("start", choice("start", "shed", "shed"), choice("start", "garden", "garden")),
        scene("shed", choice("shed", "garden", "garden")),
        scene("garden", choice("garden", "end", "end")),
        ending("end"),
    ]
    text = render(story(scenes, None))
    assert drawn_parents(text)["Garden"] == "Start"
    assert "visits" not in text and "%" not in text and " 0" not in text  # absent, not zero


def test_a_cycle_of_preferences_is_entered_by_its_heaviest_way_in() -> None:
    """A and B each prefer the other; the start reaches A more often, so A hangs there."""
    scenes = [
        scene("start", choice("start", "a", "a"), choice("start", "b", "b")),
        scene("a", choice("a", "b", "b"), choice("a", "end", "end")),
        scene("b", choice("b", "a", "a")),
        ending("end"),
    ]
    edges = {
        ("start", "a", "a"): 5,
        ("start", "b", "b"): 4,
        ("a", "b", "b"): 50,
        ("b", "a", "a"): 60,
        ("a", "end", "end"): 9,
    }
    parents = drawn_parents(render(story(scenes, edges)))
    assert parents["A"] == "Start" and parents["B"] == "A"  # B: 50 from A beats 4 from the start


def test_a_scenes_choices_are_consecutive_rows() -> None:
    text = render(crossroads())
    rows = text.splitlines()
    start_choices = [i for i, line in enumerate(rows) if "start " in line and "→" in line]
    assert start_choices == list(range(start_choices[0], start_choices[0] + 2))
    assert rows.index(next(r for r in rows if "■ Market" in r)) > start_choices[-1]


# -- the bundled stories with a simulated audience -----------------------------------------------


def most_travelled_parents(db: Path, story_path: Path) -> dict[str, str | None]:
    """Scene id -> the scene id it should hang under, worked out here independently.

    Traffic: plain SQL over `traversals`. A way u -> v can be a parent unless
    every way from the start to u passes v (a loop back); the busiest wins,
    ties to the earlier in story order; with no traffic, breadth-first order.
    """
    structure = load_story(str(story_path)).structure()
    start = structure["start"]
    ways: list[tuple[str, str, str]] = []  # (scene, choice or '', target) in story order
    for s in structure["scenes"]:
        ways += [(s["id"], c["id"], c["goto"]) for c in s["choices"]]
        for goto in dict.fromkeys(r["goto"] for r in s["routes"]):  # one edge per target
            ways.append((s["id"], "", goto))
    with sqlite3.connect(db) as conn:
        traffic = {
            (r[0], r[1], r[2]): r[3]
            for r in conn.execute(
                "SELECT scene, choice, target, SUM(count) FROM traversals GROUP BY 1, 2, 3"
            )
        }

    def reach(avoid: str | None) -> list[str]:
        order, queue = [start], deque([start])
        while queue:
            here = queue.popleft()
            for u, _, v in ways:
                if u == here and v != avoid and v not in order:
                    order.append(v)
                    queue.append(v)
        return order

    bfs = reach(None)
    expected: dict[str, str | None] = {start: None}
    for v in bfs[1:]:
        without_v = set(reach(v))
        options = [
            (traffic.get(w, 0), -n, w)
            for n, w in enumerate(ways)
            if w[2] == v and w[0] != v and w[0] in without_v
        ]
        count, _, best = max(options)
        if count == 0:  # nobody came: the first way in met breadth first
            first = [w for w in ways if w[2] == v and w[0] in bfs and w[0] != v]
            best = min(first, key=lambda w: (bfs.index(w[0]), ways.index(w)))
        expected[v] = best[0]
    return expected


@pytest.mark.parametrize("name", ["lighthouse.yaml", "signal"])
def test_simulated_audiences_see_every_scene_under_its_most_travelled_parent(
    tmp_path: Path, name: str
) -> None:
    db = tmp_path / "audience.db"
    runner = CliRunner()
    path = STORIES / name
    made = runner.invoke(
        cli, ["simulate", str(path), "--sessions", "300", "--seed", "1", "--db", str(db)]
    )
    assert made.exit_code == 0, made.output
    chart = tmp_path / "chart.txt"
    drawn = runner.invoke(
        cli, ["flowchart", str(path), "--db", str(db), "--width", "200", "-o", str(chart)]
    )
    assert drawn.exit_code == 0, drawn.output
    parents = drawn_parents(chart.read_text(encoding="utf-8"))
    structure = load_story(str(path)).structure()
    title = {
        s["id"]: (s["ending"]["title"] if s["ending"] else s["title"]) for s in structure["scenes"]
    }
    assert len(set(title.values())) == len(title)  # titles name scenes unambiguously here
    expected = most_travelled_parents(db, path)
    for sid, parent in expected.items():
        assert title[sid] in parents, f"{sid} not drawn"
        want = title[parent] if parent is not None else None
        assert parents[title[sid]] == want, f"{title[sid]}: drawn under {parents[title[sid]]}"
    sources: dict[str, set[str]] = {}
    for s in structure["scenes"]:
        for goto in [c["goto"] for c in s["choices"]] + [r["goto"] for r in s["routes"]]:
            sources.setdefault(goto, set()).add(s["id"])
    assert sum(len(found) > 1 for found in sources.values()) >= 5  # shared scenes: it bites
