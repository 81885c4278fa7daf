"""The terminal flowchart: golden text at 80 and 120 columns, ASCII and Unicode.

The golden files under tests/golden/ are the flowchart of the hand-built
database of `test_analytics_data` (six heist playthroughs), printed through
`Console(color_system=None, width=N)`. Read one next to that module's
docstring: every count and percentage can be checked by hand. To accept a
deliberate change, run with BRANCHING_UPDATE_GOLDEN=1 and read the diff.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console
from rich.measure import Measurement

from branching.analytics import flow_graph
from branching.analytics.graph import Counts, FlowGraph, assemble
from branching.analytics.shape import Shape, ShapeChoice, ShapeScene
from branching.render import Flowchart
from tests.test_analytics_data import known_db

GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> FlowGraph:
    db, _ = known_db(tmp_path_factory.mktemp("golden"))
    return flow_graph("heist", db=db, unit="times")  # the hand counts are times taken


def render(chart: object, width: int) -> str:
    console = Console(color_system=None, width=width, legacy_windows=False)
    with console.capture() as capture:
        console.print(chart)
    return capture.get()


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("BRANCHING_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}: run with BRANCHING_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("ascii_only", [False, True])
def test_flowchart_matches_golden_text(graph: FlowGraph, width: int, ascii_only: bool) -> None:
    text = render(Flowchart(graph, ascii_only=ascii_only), width)
    check_golden(f"flowchart-heist-{width}-{'ascii' if ascii_only else 'unicode'}.txt", text)
    assert all(len(line) <= width for line in text.splitlines())
    if ascii_only:
        assert text.isascii()


def test_pruned_flowchart_matches_golden_text(graph: FlowGraph) -> None:
    text = render(Flowchart(graph, depth=1, min_share=0.3), 80)
    check_golden("flowchart-heist-80-pruned.txt", text)
    assert "Hidden by --min-share 30%: 2 choices taken 4 times." in text  # loud, coffee
    assert "Beyond --depth 1: 3 scenes not drawn." in text  # the hall and both endings
    assert "Not drawn (reached only by hidden choices, or not from the start): Cafe" in text


def test_hand_counted_rows_are_in_the_flowchart(graph: FlowGraph) -> None:
    text = render(Flowchart(graph), 100)
    assert "■ Briefing · 8 visits · ⏱ 10 s, 1 of 8 timed out" in text
    row = next(line for line in text.splitlines() if "Go in quietly" in line)
    assert row.rstrip().endswith("44.4%   4")  # 4 of the 9 ways out of the briefing
    left = next(line for line in text.splitlines() if "✕ left here" in line)
    assert left.rstrip().endswith("11.1%   1")
    # The Hall hangs under the Vault (its way in), drawn once after both doors
    assert "Left door → The Hall  " in text and "Right door → The Hall  " in text
    assert text.count("■ The Hall") == 1
    assert text.index("Right door") < text.index("■ The Hall")  # the choices stay together


def test_ascii_console_gets_ascii_without_being_told(graph: FlowGraph) -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii", errors="strict")  # any other char: error
    Console(color_system=None, width=80, file=stream, legacy_windows=False).print(Flowchart(graph))
    stream.flush()
    assert "|- Go in quietly -> The Vault v Job" in raw.getvalue().decode("ascii")


def test_small_counts_are_hidden_with_their_share(graph: FlowGraph) -> None:
    text = render(Flowchart(graph, min_count=3), 80)
    loud = next(line for line in text.splitlines() if "Go in loud" in line)
    assert loud.rstrip().endswith("-  <3") and "█" not in loud
    quiet = next(line for line in text.splitlines() if "Go in quietly" in line)
    assert quiet.rstrip().endswith("44.4%   4")


def test_measure_is_within_the_width(graph: FlowGraph) -> None:
    console = Console(width=200)
    measured = Measurement.get(console, console.options, Flowchart(graph))
    assert measured.minimum == 40
    assert 60 < measured.maximum < 200
    narrow = Measurement.get(console, console.options.update_width(70), Flowchart(graph))
    assert narrow.maximum <= 70


def chain(length: int) -> FlowGraph:
    """A story of `length` choice points in a row, each also looping back to the start."""
    scenes = {}
    for i in range(length):
        nxt = f"s{i + 1}" if i + 1 < length else "end"
        scenes[f"s{i}"] = ShapeScene(
            f"s{i}",
            f"Scene number {i}",
            "choice",
            choices=(
                ShapeChoice("on", f"Go on to scene {i + 1}", nxt),
                ShapeChoice("again", "Start again", "s0"),
            ),
        )
    scenes["end"] = ShapeScene(
        "end", "The End", "ending", ending_kind="good", ending_title="The End"
    )
    edges = {
        (f"s{i}", "on", f"s{i + 1}" if i + 1 < length else "end"): (100 - i, 0)
        for i in range(length)
    }
    edges.update({(f"s{i}", "again", "s0"): (i, 0) for i in range(length)})
    counts = Counts(edges, {}, {}, sessions=100)
    return assemble(
        Shape("chain", "Chain", "s0", scenes), counts, unit="times", source="test", filters="none"
    )


def test_deep_story_continues_below_instead_of_running_off_the_edge() -> None:
    text = render(Flowchart(chain(40)), 80)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    for i in range(40):  # every scene drawn exactly once
        assert sum(f"■ Scene number {i} ·" in line for line in lines) == 1
    assert "↓ below" in text and "Start again → Scene number 0 ↑" in text
    assert max(len(line) - len(line.lstrip("│ ├└─")) for line in lines) <= 80 // 2


def test_depth_prunes_by_shortest_distance_and_says_so() -> None:
    text = render(Flowchart(chain(10), depth=3), 100)
    assert "■ Scene number 3 ·" in text and "■ Scene number 4 ·" not in text
    assert "(beyond --depth)" in text
    assert "Beyond --depth 3: 7 scenes not drawn." in text


async def test_the_same_renderable_works_in_a_textual_static(graph: FlowGraph) -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    class Chart(App[None]):
        def compose(self) -> ComposeResult:
            yield Static(Flowchart(graph), id="chart")

    async with Chart().run_test(size=(100, 50)) as pilot:
        static = pilot.app.query_one("#chart", Static)
        lines = [strip.text for strip in static.render_lines(static.region.reset_offset)]
    assert any("Go in quietly" in line for line in lines)


def test_ascii_mode_also_transliterates_story_text() -> None:
    from tests.test_render_exports import nasty_graph

    text = render(Flowchart(nasty_graph(), ascii_only=True), 80)
    assert text.isascii()
    assert "unicode" in text  # "ünïcode" in the title, letter for letter
