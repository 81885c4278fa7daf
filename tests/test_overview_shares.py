"""Chapter boxes by sessions or viewers: no share over 100%, arrivals never below the ways in.

A box's figures are sums over its scenes. Counting sessions or viewers, each
scene and each way counts someone once, so subtracting a scene's arrivals
from inside its box from its visits (right for `times`) undercounts when some
came back to it from inside: the chapter overview of a film once showed
"115.3% · 354" on a way out of a chapter.
"""

from __future__ import annotations

from branching.analytics.filters import Unit
from branching.analytics.graph import FlowEdge, FlowGraph, FlowScene
from branching.analytics.overview import chapter_overview


def scene(sid: str, chapter: str, visits: int, *edges: FlowEdge, left: int = 0) -> FlowScene:
    kind = "ending" if not edges else "scene"
    return FlowScene(sid, sid.title(), kind, chapter, visits, left, visits, tuple(edges))


def looping_story(unit: Unit) -> FlowGraph:
    """Start -> (chapter B: b1 <-> b2 loop) -> end. 100 reach b1 from outside; 60 of them
    also come back to b1 from b2 (in `times`, 60 more passes)."""
    again = 60 if unit == "times" else 0
    scenes = {
        "a": scene("a", "A", 100, FlowEdge("go", "Go", "b1", 100, 0)),
        "b1": scene("b1", "B", 100 + again, FlowEdge("on", "On", "b2", 100 + again, 0)),
        "b2": scene(
            "b2",
            "B",
            100 + again,
            FlowEdge("back", "Back", "b1", 60, 0),
            FlowEdge("out", "Out", "end", 100, 0),
        ),
        "end": scene("end", "C", 100),
    }
    return FlowGraph(
        "loop",
        "Loop",
        "a",
        ("A", "B", "C"),
        scenes,
        unit,
        "raw events",
        "",
        sessions=100,
    )


def box_of(graph: FlowGraph, chapter: str) -> FlowScene:
    return graph.scenes[f"chapter:{chapter}"]


def test_a_chapter_entered_by_100_viewers_shows_100_however_many_looped_inside() -> None:
    units: tuple[Unit, ...] = ("sessions", "viewers", "times")
    for unit in units:
        chapter = box_of(chapter_overview(looping_story(unit)), "B")
        assert chapter.visits == 100, unit
        (way_out,) = chapter.edges
        assert way_out.count == 100
        assert chapter.share(way_out.count) == 1.0, unit


def test_no_way_out_of_a_chapter_is_over_100_percent_by_viewers() -> None:
    # viewers counted once per scene: 100 reached b1, but 70 left by b1's own way out and
    # 50 by b2's (some viewers did both, in two sessions): the summed way out is 120
    scenes = {
        "a": scene("a", "A", 100, FlowEdge("go", "Go", "b1", 100, 0)),
        "b1": scene(
            "b1",
            "B",
            100,
            FlowEdge("on", "On", "b2", 50, 0),
            FlowEdge("out", "Out", "end", 70, 0),
        ),
        "b2": scene("b2", "B", 50, FlowEdge("out", "Out", "end", 50, 0)),
        "end": scene("end", "C", 100),
    }
    graph = FlowGraph("x", "X", "a", ("A", "B", "C"), scenes, "viewers", "raw events", "")
    chapter = box_of(chapter_overview(graph), "B")
    assert chapter.visits == 100  # the arrivals, as the way into it shows
    (way_out,) = chapter.edges
    assert way_out.count == 120 and chapter.share(way_out.count) == 1.0


def test_a_start_that_sessions_come_back_to_counts_every_session_once() -> None:
    # a hub: 100 sessions start at the square, go to the well or the inn (50 each), and
    # 40 come back to the square from the well; all in chapter A, then on to chapter B
    scenes = {
        "square": scene(
            "square",
            "A",
            100,
            FlowEdge("well", "Well", "well", 50, 0),
            FlowEdge("inn", "Inn", "inn", 50, 0),
        ),
        "well": scene(
            "well",
            "A",
            50,
            FlowEdge("back", "Back", "square", 40, 0),
            FlowEdge("on", "On", "end", 10, 0),
        ),
        "inn": scene("inn", "A", 50, FlowEdge("on", "On", "end", 50, 0)),
        "end": scene("end", "B", 60),
    }
    units: tuple[Unit, ...] = ("sessions", "viewers")
    for unit in units:
        graph = FlowGraph("hub", "Hub", "square", ("A", "B"), scenes, unit, "raw events", "")
        chapter = box_of(chapter_overview(graph), "A")
        assert chapter.visits == 100, unit
        (way_out,) = chapter.edges
        assert chapter.share(way_out.count) == 0.6, unit
