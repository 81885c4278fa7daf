"""The flowchart at the size of a real interactive film (tests/fixtures/film, ~300 scenes).

Every format draws it; a big story is drawn as the chapter overview unless
asked otherwise; `--chapter`, `--around` and `--min-share` make smaller
pictures; a failing or slow Graphviz never reaches the user as a dump (one
line, or a picture from a simpler layout); and the interactive HTML page is
used in a real headless Chromium: a scene is found by name and clicked, and
the side panel shows its numbers.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from branching.analytics import FlowGraph, flow_graph
from branching.analytics.overview import (
    OVERVIEW_ABOVE,
    around,
    chapter_detail,
    chapter_overview,
    collapse_chains,
    fold_rare,
)
from branching.cli import cli

ROOT = Path(__file__).resolve().parent.parent
FILM = ROOT / "tests" / "fixtures" / "film"
sys.path.insert(0, str(Path(__file__).parent))
from test_render_png import simulate  # noqa: E402

needs_film = pytest.mark.skipif(not (FILM / "story.yaml").exists(), reason="no film fixture")
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")


@pytest.fixture(scope="module")
def film_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (FILM / "story.yaml").exists():
        pytest.skip("no film fixture")
    path = tmp_path_factory.mktemp("film") / "film.db"
    simulate(path, FILM, sessions=40)
    return path


@pytest.fixture(scope="module")
def graph(film_db: Path) -> FlowGraph:
    return flow_graph(str(FILM), db=film_db)


def run(*args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(cli, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    return result


# -- the pictures ------------------------------------------------------------------------


def test_the_overview_has_a_box_per_chapter_and_every_ending(graph: FlowGraph) -> None:
    overview = chapter_overview(graph)
    chapters = [s for s in overview.scenes.values() if s.kind == "chapter"]
    endings = [s for s in graph.scenes.values() if s.is_ending]
    assert {s.title for s in chapters} == set(graph.chapters)
    assert {s.id for s in overview.scenes.values() if s.is_ending} == {s.id for s in endings}
    assert sum(len(s.members) for s in chapters) == len(graph.scenes) - len(endings)
    assert overview.scenes[overview.start].kind == "chapter"
    # nobody is lost: what stopped in the chapters is what stopped anywhere
    assert sum(s.left for s in chapters) == sum(s.left for s in graph.scenes.values())
    reached = sum(s.visits for s in overview.scenes.values() if s.is_ending)
    assert reached == sum(s.visits for s in endings)


def test_a_chapter_in_full_with_ways_in_and_out(graph: FlowGraph) -> None:
    name = graph.chapters[1]
    detail = chapter_detail(graph, name.lower())
    inside = [s for s in detail.scenes.values() if not s.is_box and not s.is_ending]
    assert inside and all(s.chapter == name for s in inside)
    assert len(inside) == sum(1 for s in graph.scenes.values() if s.chapter == name)
    assert any(s.kind == "entry" for s in detail.scenes.values())
    assert all(e.target in detail.scenes for s in detail.scenes.values() for e in s.edges)


def test_around_a_scene_keeps_its_neighbourhood(graph: FlowGraph) -> None:
    centre = graph.start
    picture = around(graph, centre, 1)
    kept = {s.id for s in picture.scenes.values() if not s.is_box}
    assert centre in kept
    assert {e.target for e in graph.scenes[centre].edges} <= kept
    assert len(kept) < len(graph.scenes)


def test_min_share_folds_rare_scenes_into_one_box_per_chapter(graph: FlowGraph) -> None:
    folded = fold_rare(graph, 0.2)
    boxes = [s for s in folded.scenes.values() if s.kind == "folded"]
    assert boxes and len(folded.scenes) < len(graph.scenes) / 2
    assert len({b.chapter for b in boxes}) == len(boxes)
    assert sum(len(b.members) for b in boxes) == len(graph.scenes) - len(folded.scenes) + len(boxes)


def test_chains_of_scenes_without_a_choice_become_one_box(graph: FlowGraph) -> None:
    collapsed = collapse_chains(graph)
    chains = [s for s in collapsed.scenes.values() if s.kind == "chain"]
    for chain in chains:
        assert len(chain.members) >= 2
        assert all(not any(e.choice for e in graph.scenes[m].edges) for m in chain.members)
    assert len(collapsed.scenes) == len(graph.scenes) - sum(len(c.members) - 1 for c in chains)


# -- the command, in every format -----------------------------------------------------


@needs_dot
@pytest.mark.parametrize("fmt", ["terminal", "dot", "svg", "png", "mermaid", "html", "json"])
def test_the_film_draws_in_every_format(film_db: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"film.{fmt}"
    run("flowchart", str(FILM), "--db", str(film_db), "--format", fmt, "-o", str(out))
    data = out.read_bytes()
    assert data
    if fmt in ("dot", "mermaid", "svg"):
        assert "chapter overview" in data.decode("utf-8")  # too big to draw whole
        assert "legend" in data.decode("utf-8").lower() or "How to read it" in data.decode()
    if fmt == "png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_big_story_draws_the_overview_unless_full_is_asked(film_db: Path) -> None:
    assert len(chapter_overview(flow_graph(str(FILM), db=film_db)).scenes) < OVERVIEW_ABOVE
    overview = run("flowchart", str(FILM), "--db", str(film_db), "--format", "dot").output
    full = run("flowchart", str(FILM), "--db", str(film_db), "--format", "dot", "--full").output
    assert overview.count("->") < 60 < full.count("->")
    assert "box3d" in overview and "box3d" not in full


def test_the_terminal_offers_the_overview_and_the_drill_down(
    graph: FlowGraph, film_db: Path
) -> None:
    overview = run("flowchart", str(FILM), "--db", str(film_db), "--overview", "--width", "80")
    chapter = graph.chapters[0]
    assert f"{chapter} · chapter of" in overview.output
    assert max(len(line) for line in overview.output.splitlines()) <= 80
    detail = run("flowchart", str(FILM), "--db", str(film_db), "--chapter", chapter)
    assert "(way out)" in detail.output or "to chapter" in detail.output


def test_mermaid_never_gets_more_edges_than_it_draws(film_db: Path) -> None:
    text = run("flowchart", str(FILM), "--db", str(film_db), "--format", "mermaid", "--full").output
    assert text.count("-->") + text.count("-.->") <= 500
    assert "chapter overview" in text


def test_unknown_chapter_or_scene_is_one_line(film_db: Path) -> None:
    for option in (["--chapter", "Nowhere at all"], ["--around", "no_such_scene"]):
        result = run("flowchart", str(FILM), "--db", str(film_db), *option, ok=False)
        assert result.exit_code == 1
        assert len(result.output.strip().splitlines()) == 1, result.output
    both = run("flowchart", str(FILM), "--chapter", "a", "--around", "b", ok=False)
    assert both.exit_code == 2


# -- Graphviz failing ----------------------------------------------------------------------


def _fake_dot(folder: Path, body: str) -> None:
    folder.mkdir(exist_ok=True)
    fake = folder / "dot"
    fake.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)


def test_a_failing_graphviz_is_one_line_never_a_dump(
    film_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dump = 'for i in $(seq 1 2300); do echo "rank $i: node_$i" >&2; done'
    _fake_dot(tmp_path / "bin", f"{dump}\necho 'Error: trouble in init_rank' >&2\nexit 1")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    result = run("flowchart", str(FILM), "--db", str(film_db), "--format", "svg", ok=False)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, lines[:5]
    assert "trouble in init_rank" in lines[0] and "--chapter" in lines[0]
    assert "node_7" not in result.output


@needs_dot
def test_when_dot_fails_on_clusters_a_simpler_layout_draws(
    film_db: Path, graph: FlowGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.which("dot")
    script = (  # refuses any graph with clusters, as dot does on some big stories
        'src=$(cat); case "$src" in *cluster_*) echo "trouble in init_rank" >&2; exit 1;; '
        f'esac; printf "%s" "$src" | "{real}" "$@"'
    )
    _fake_dot(tmp_path / "bin", script)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    args = ["flowchart", str(FILM), "--db", str(film_db), "--format", "svg"]
    result = run(*args, "--chapter", graph.chapters[0])
    assert "<svg" in result.output and "trouble" not in result.output


@needs_dot
def test_a_layout_over_its_time_limit_falls_back_to_our_positions(
    film_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.which("dot")
    script = f'case "$*" in *-n2*) exec "{real}" "$@";; esac; sleep 30'  # dot itself hangs
    _fake_dot(tmp_path / "bin", script)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    args = ["flowchart", str(FILM), "--db", str(film_db), "--format", "svg", "--full"]
    result = run(*args, "--layout-timeout", "1.5")
    assert "<svg" in result.output


# -- the interactive page in a real browser ----------------------------------------------


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@needs_dot
@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed")
def test_html_page_finds_a_scene_and_shows_its_numbers(
    film_db: Path, graph: FlowGraph, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    chapter = graph.chapters[0]
    page_file = tmp_path / "film.html"
    run(
        "flowchart", str(FILM), "--db", str(film_db), "--format", "html",
        "--chapter", chapter, "-o", str(page_file),
    )  # fmt: skip
    busiest = max(
        (s for s in graph.scenes.values() if s.chapter == chapter and s.edges),
        key=lambda s: s.visits,
    )
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_file.as_uri())
            page.fill("#find", busiest.title)
            page.press("#find", "Enter")
            panel = page.locator("#panel")
            assert panel.get_attribute("data-scene") == busiest.id
            assert page.locator("g.node.hit").count() == 1
            text = panel.inner_text()
            assert busiest.title in text and f"{busiest.visits:,}" in text
            assert "Ways out" in text
            # click another box: the panel follows
            other = page.locator("g.node").nth(0)
            other.click()
            assert (
                panel.get_attribute("data-scene") != busiest.id
                or page.locator("g.node.hit").count() == 1
            )
            before = page.eval_on_selector("#canvas", "e => e.style.transform")
            page.click("#zoom-in")
            assert page.eval_on_selector("#canvas", "e => e.style.transform") != before
            assert not errors, errors
            assert all(u.startswith("file:") for u in requests), requests
        finally:
            browser.close()
