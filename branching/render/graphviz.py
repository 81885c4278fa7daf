"""Running Graphviz so a picture always comes out, or one line says why not.

`dot` can fail on big clustered graphs ("trouble in init_rank", with pages of
its internals on stderr) or take minutes. `draw` never passes that on: each
attempt runs with a time limit and its stderr captured, and a failure moves on
to a layout that asks less of Graphviz:

1. `dot`, chapters as clusters (the best picture);
2. `dot` without the chapter boxes (what init_rank usually trips over);
3. `dot` with `newrank=true`, still without clusters;
4. positions we compute ourselves (`layered`: rows by steps from the start,
   ordered by where each scene's parents are), handed to `neato -n2`, which
   only draws the edges and cannot fail to rank.

The attempts share one time budget (`--layout-timeout`): each of the first
three may use about half of what is left, the last one the rest. If all fail,
`GraphvizFailed` carries one line: what went wrong in each attempt and what to
draw instead. Graphviz missing is `GraphvizMissing`, one line too.

A PNG is laid out first (`-Tdot`, 0.03 s for a 60-scene story) to learn its
size, then drawn (`png_options`) at Graphviz's 96 dpi (12 pt text is 16
pixels at 100%), or at a lower resolution when that would pass
`PNG_MAX_PIXELS`, a photo's size, but never under 72 dpi (the text 12
pixels, still read at 100%): writing the PNG is what takes the time (cairo
draws Signal's flowchart in 0.06 s and compresses it in 0.6 s), and a
63-scene flowchart came out 4644 x 3796 at 96 dpi. A film drawn in full
stays at 72 dpi, long but legible. The margin is chosen so the picture
covers every pixel: left to itself Graphviz ends the image with a row the
picture only partly covers, so cairo writes an alpha channel for every pixel
(a transparent line at the edge), which took half as long again.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import textwrap
import time
from collections.abc import Callable
from typing import Any

from branching.analytics.graph import FlowGraph, FlowScene
from branching.analytics.overview import roots
from branching.render.dot import GraphvizFailed, GraphvizMissing, box_note, to_dot
from branching.render.visible import visible

DEFAULT_TIMEOUT = 20.0
PNG_DPI = 96.0  # Graphviz's own resolution for PNG
PNG_MIN_DPI = 72.0  # never less: 12 pt text is 12 pixels
PNG_MAX_PIXELS = 12_000_000  # a bigger picture is drawn at a lower resolution
PAD = 4.0  # points: Graphviz's margin round the picture
_BB = re.compile(rb'bb="([-0-9.e]+),([-0-9.e]+),([-0-9.e]+),([-0-9.e]+)"')
CHAR_WIDTH, LINE_HEIGHT = 7.0, 16.0  # points, for 12 pt Helvetica
NODE_GAP, LAYER_GAP = 40.0, 90.0


def dot_program() -> str:
    """The path of Graphviz's `dot`, or a clear error."""
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing(
            "this format needs Graphviz's `dot` program: install the `graphviz` package "
            "(Debian/Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz), "
            "or use --format dot and render the file elsewhere"
        )
    return exe


def run_once(args: list[str], source: str, timeout: float) -> bytes | str:
    """Graphviz's output, or why it failed (one short line)."""
    try:
        done = subprocess.run(
            args, input=source.encode("utf-8"), capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return f"no layout within {timeout:.1f} s"
    except OSError as exc:
        return f"could not run {args[0]}: {exc.strerror or exc}"
    errors = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0 or not done.stdout or "trouble in" in errors:
        lines = [line.strip() for line in errors.splitlines() if line.strip()]
        first = next((line for line in lines if "trouble" in line or "rror" in line), None)
        reason = (first or (lines[0] if lines else f"exit status {done.returncode}"))[:120]
        return reason
    return done.stdout


def draw(
    graph: FlowGraph,
    fmt: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    legend: bool = True,
    **shape: Any,
) -> bytes:
    """`graph` drawn as `fmt` (svg or png) by the first layout that works in time."""
    exe = dot_program()
    steps: list[tuple[str, list[str], Callable[[], str]]] = [
        ("dot", [], lambda: to_dot(graph, legend=legend, **shape)),
        (
            "without chapter boxes",
            [],
            lambda: to_dot(graph, legend=legend, clusters=False, **shape),
        ),
        (
            "with newrank",
            [],
            lambda: to_dot(graph, legend=legend, clusters=False, newrank=True, **shape),
        ),
        (
            "fixed positions",
            ["-Kneato", "-n2"],
            lambda: to_dot(
                graph,
                legend=legend,
                clusters=False,
                positions=layered(graph, legend=legend, **shape),
                **shape,
            ),
        ),
    ]
    deadline = time.monotonic() + timeout
    failures: list[str] = []
    for number, (name, flags, build) in enumerate(steps):
        left = deadline - time.monotonic()
        last = number == len(steps) - 1
        if left < 0.5 and not last:
            failures.append(f"{name}: skipped, out of time")
            continue
        budget = max(1.0, left) if last else left / 2
        source, options = build(), []
        if fmt == "png":  # laid out first, to draw it at a size that covers every pixel
            started = time.monotonic()
            laid = run_once([exe, *flags, "-Tdot"], source, budget)
            if isinstance(laid, str):
                failures.append(f"{name}: {laid}")
                continue
            options = png_options(laid)
            budget = max(0.5, budget - (time.monotonic() - started))
        result = run_once([exe, *flags, *options, f"-T{fmt}"], source, budget)
        if isinstance(result, bytes):
            return result
        failures.append(f"{name}: {result}")
    shown = visible(graph, depth=shape.get("depth"), min_share=shape.get("min_share", 0.0))
    raise GraphvizFailed(
        f"could not lay out {len(shown.scenes)} boxes and {len(shown.edges)} edges "
        f"({'; '.join(failures)}); draw less with --chapter NAME, --around SCENE or "
        "--min-share, allow more time with --layout-timeout, or use --format terminal"
    )


def png_options(laid: bytes) -> list[str]:
    """Graphviz's options for a PNG of the layout `laid` (its `-Tdot` output): the
    resolution (`PNG_DPI`, less for a picture of more than `PNG_MAX_PIXELS`, never
    under `PNG_MIN_DPI`) and a margin that makes the picture a whole number of
    pixels each way (see the module docstring). None when the layout has no size."""
    found = _BB.search(laid)
    if found is None:
        return []
    left, bottom, right, top = (float(v) for v in found.groups())
    width, height = right - left, top - bottom  # points
    inches = (width + 2 * PAD) * (height + 2 * PAD) / 72**2
    dpi = min(PNG_DPI, max(PNG_MIN_DPI, math.sqrt(PNG_MAX_PIXELS / max(inches, 1e-9))))

    def margin(size: float) -> float:  # inches each side: the picture fills whole pixels
        pixels = math.ceil((size + 2 * PAD) * dpi / 72 - 1e-6)
        return (pixels * 72 / dpi - size) / 2 / 72

    return [f"-Gdpi={dpi:.6g}", f"-Gpad={margin(width):.6f},{margin(height):.6f}"]


def _size(lines: list[str]) -> tuple[float, float]:
    width = max((len(line) for line in lines), default=4) * CHAR_WIDTH + 28
    return width, len(lines) * LINE_HEIGHT + 16


def layered(
    graph: FlowGraph,
    *,
    depth: int | None = None,
    min_share: float = 0.0,
    legend: bool = True,
    **_: Any,
) -> dict[str, tuple[float, float]]:
    """Node centres in points: a row per step from the start, parents' order kept below."""
    shown = visible(graph, depth=depth, min_share=min_share)
    ids = [s.id for s in shown.scenes]
    children: dict[str, list[str]] = {sid: [] for sid in ids}
    for scene, edge in shown.edges:
        if edge.target != scene.id:
            children[scene.id].append(edge.target)
    layer: dict[str, int] = {}
    queue = [r for r in roots(graph) if r in children]
    for r in queue:
        layer[r] = 0
    for sid in queue:  # breadth first; the list grows as we go
        for t in children[sid]:
            if t not in layer:
                layer[t] = layer[sid] + 1
                queue.append(t)
    bottom = max(layer.values(), default=0) + 1
    rows: dict[int, list[str]] = {}
    for sid in ids:
        rows.setdefault(layer.setdefault(sid, bottom), []).append(sid)
    sizes = {s.id: _size(_lines(s)) for s in shown.scenes}
    x_of: dict[str, float] = {}
    parents: dict[str, list[str]] = {}
    for scene, edge in shown.edges:
        parents.setdefault(edge.target, []).append(scene.id)
    positions: dict[str, tuple[float, float]] = {}
    order = sorted(rows)
    heights = {n: max(sizes[s][1] for s in rows[n]) for n in order}
    y_of: dict[int, float] = {}
    y = sum(heights.values()) + LAYER_GAP * len(order)  # Graphviz's y grows upwards
    for n in order:
        y -= heights[n] / 2
        y_of[n] = y
        y -= heights[n] / 2 + LAYER_GAP
    for n in order:
        row = rows[n]

        def centre(sid: str) -> float:
            xs = [x_of[p] for p in parents.get(sid, []) if p in x_of]
            return sum(xs) / len(xs) if xs else float(ids.index(sid))

        row.sort(key=centre)
        x = 0.0
        for sid in row:
            width = sizes[sid][0]
            x_of[sid] = x + width / 2
            x += width + NODE_GAP
        shift = -(x - NODE_GAP) / 2  # each row centred on x = 0
        for sid in row:
            x_of[sid] += shift
            positions[sid] = (x_of[sid], y_of[n])
    if legend:
        left = min((x - sizes[s][0] / 2 for s, (x, _) in positions.items()), default=0.0)
        top = max((y for _, y in positions.values()), default=0.0)
        positions["legend:"] = (left - 200.0, top)
    lowest = min(
        (x - sizes.get(s, (400.0, 0))[0] / 2 for s, (x, _) in positions.items()), default=0
    )
    return {s: (x - lowest + 20, y + 20) for s, (x, y) in positions.items()}


def _lines(scene: FlowScene) -> list[str]:
    title = scene.ending_title or scene.title
    lines = textwrap.wrap(title, 28) or [title]
    note = box_note(scene)
    return [*lines, *([note] if note else []), "1,000,000 visits", "1,000 left here (10.0%)"]
