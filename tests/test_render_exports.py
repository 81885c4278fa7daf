"""DOT, Mermaid, JSON and HTML exports of the flowchart.

Graphviz's own `dot` parses every DOT file we emit (the test is skipped only
when Graphviz is not installed; CI installs it), including one whose titles
and labels hold every character DOT or Mermaid treats specially.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from branching.analytics import flow_graph
from branching.analytics.graph import Counts, FlowGraph, assemble
from branching.analytics.shape import Shape, ShapeChoice, ShapeRoute, ShapeScene
from branching.render import TooManyEdges, graph_dict, to_dot, to_html, to_json, to_mermaid
from branching.render import html as html_module
from branching.render.html_assets import SCRIPT
from tests.test_analytics_data import known_db

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
NASTY = 'Say "hi" \\ {braces} <b>bold</b> & #hash; ünïcode\nnew line'


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> FlowGraph:
    db, _ = known_db(tmp_path_factory.mktemp("exports"))
    return flow_graph("heist", db=db, unit="times")  # the hand counts are times taken


def nasty_graph() -> FlowGraph:
    scenes = {
        "a b": ShapeScene(
            "a b",
            NASTY,
            "choice",
            chapter='Ch "1"',
            choices=(ShapeChoice("x", NASTY, "c-d"), ShapeChoice("y", "never", "e;f")),
        ),
        "c-d": ShapeScene(
            "c-d", "Route -> here", "next", chapter='Ch "1"', routes=(ShapeRoute("e;f"),)
        ),
        "e;f": ShapeScene(
            "e;f", "End }", "ending", ending_kind='odd"kind', ending_title="The {End}"
        ),
    }
    counts = Counts(
        {("a b", "x", "c-d"): (7, 2), ("c-d", "", "e;f"): (7, 0)}, {}, {"a b": 1}, sessions=8
    )
    return assemble(
        Shape("nasty", NASTY, "a b", scenes, ('Ch "1"',)),
        counts,
        unit="times",
        source="test",
        filters="none",
    )


def dot_accepts(source: str) -> None:
    done = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert b"<svg" in done.stdout


@needs_dot
@pytest.mark.parametrize("options", [{}, {"min_share": 0.3}, {"depth": 1}, {"min_count": 3}])
def test_dot_parses_every_variant(graph: FlowGraph, options: dict[str, float]) -> None:
    dot_accepts(to_dot(graph, **options))  # type: ignore[arg-type]


@needs_dot
def test_dot_survives_quotes_backslashes_and_newlines() -> None:
    source = to_dot(nasty_graph())
    dot_accepts(source)
    assert '"a b" -> "c-d"' in source and r"Say \"hi\" \\ {braces}" in source


def test_dot_widths_grow_with_the_square_root_of_traffic(graph: FlowGraph) -> None:
    source = to_dot(graph)
    widths = {
        m[0]: float(m[1])
        for m in re.findall(
            r'label="([^"\\]+)\\n[^"]*", color="#[0-9a-f]{6}", penwidth="([\d.]+)"', source
        )
    }
    # quiet (4, the busiest) is 8.0; loud (2) is 0.8 + 7.2 * sqrt(2/4)
    assert widths["Go in quietly"] == pytest.approx(8.0)
    assert widths["Go in loud"] == pytest.approx(0.8 + 7.2 * (2 / 4) ** 0.5, abs=0.01)
    assert 'subgraph "cluster_0"' in source and 'label="Plan"' in source
    assert 'shape="doubleoctagon", fillcolor="#c7e9c0"' in source  # the good ending


def test_dot_greys_out_what_nobody_chose() -> None:
    source = to_dot(nasty_graph())
    never = next(line for line in source.splitlines() if "never" in line)
    assert 'style="dashed"' in never and 'color="#b0b0b0"' in never


def test_mermaid_quotes_every_label(graph: FlowGraph) -> None:
    text = to_mermaid(graph)
    assert text.startswith("flowchart TD\n")
    assert 'n0 -->|"Go in quietly<br/>44.4% · 4"| n2' in text
    assert 'subgraph c0["Plan"]' in text and "class n5 good" in text
    nasty = to_mermaid(nasty_graph())
    assert "Say #34;hi#34; \\ {braces} #60;b#62;bold#60;/b#62; #38; #35;hash;" in nasty
    labels = re.findall(r'"([^"]*)"', nasty)
    assert all("<b>" not in label for label in labels)


def test_mermaid_says_clearly_when_there_are_too_many_edges() -> None:
    n = 260
    scenes = {
        f"s{i}": ShapeScene(
            f"s{i}",
            f"S{i}",
            "choice",
            choices=(
                ShapeChoice("a", "A", f"s{(i + 1) % n}"),
                ShapeChoice("b", "B", f"s{(i + 2) % n}"),
            ),
        )
        for i in range(n)
    }
    big = assemble(
        Shape("big", "Big", "s0", scenes),
        Counts({}, {}, {}),
        unit="times",
        source="test",
        filters="none",
    )
    with pytest.raises(TooManyEdges, match="520 edges.*maxEdges setting is 500.*--min-share"):
        to_mermaid(big)


def test_json_holds_the_whole_graph_and_hides_small_counts(graph: FlowGraph) -> None:
    data = json.loads(to_json(graph))
    assert data["format"] == "branching-flowgraph/1" and data["unit"] == "times"
    briefing = next(s for s in data["scenes"] if s["id"] == "briefing")
    assert [(e["choice"], e["count"]) for e in briefing["edges"]] == [
        ("quiet", 4),
        ("loud", 2),
        ("coffee", 2),
    ]
    assert briefing["share_base"] == 9 and briefing["left_here"] == 1
    hidden = graph_dict(graph, min_count=3)
    edges = next(s for s in hidden["scenes"] if s["id"] == "briefing")["edges"]
    assert [(e["count"], e["share"]) for e in edges] == [
        (4, pytest.approx(4 / 9)),
        (None, None),
        (None, None),
    ]
    assert hidden["hidden_below"] == 3


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "data")]


@needs_dot
def test_html_is_self_contained_with_an_inline_svg(graph: FlowGraph) -> None:
    page = to_html(graph)
    parser = _Refs()
    parser.feed(page)
    assert "svg" in parser.tags and "table" in parser.tags
    assert not [r for r in parser.refs if not r.startswith("#")]
    assert "http://" not in page and "https://" not in page and "url(" not in page
    assert "link" not in parser.tags
    # two scripts, both ours and inline: the figures as JSON, and the pan/zoom/search code
    assert page.count("<script") == 2
    assert '<script type="application/json" id="flow-data">' in page
    assert f"<script>{SCRIPT}</script>" in page


@needs_dot
def test_html_data_block_cannot_be_closed_by_a_title() -> None:
    graph = nasty_graph()
    title = "</script><script>alert(1)</script>"
    scenes = {k: replace(v, title=title) for k, v in graph.scenes.items()}
    page = to_html(replace(graph, scenes=scenes))
    assert "<script>alert(1)" not in page
    assert page.count("<script") == 2
    data = page.split('id="flow-data">', 1)[1].split("</script>", 1)[0]
    shown = json.loads(data)["scenes"]
    plain = [v for v in shown.values() if not scenes[v["id"]].is_ending]
    assert plain and all(v["title"] == title for v in plain)


def test_html_without_graphviz_embeds_the_text_flowchart(
    graph: FlowGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(html_module.shutil, "which", lambda name: None)
    page = to_html(nasty_graph())
    assert "Graphviz is not installed" in page and "<pre>" in page
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "http" not in page


def test_html_escapes_story_text() -> None:
    page = to_html(nasty_graph())
    body = page.split("<body>", 1)[1]
    assert "<b>bold</b>" not in body


def test_png_of_the_readme_exists_and_is_a_png() -> None:
    png = Path(__file__).resolve().parent.parent / "docs" / "flowchart.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
