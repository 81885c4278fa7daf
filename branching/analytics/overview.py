"""Smaller pictures of a big story graph, so a film of 300 scenes reads at a glance.

Every picture here is a `FlowGraph` again, so each renderer (terminal, DOT,
SVG/PNG, Mermaid, HTML, JSON) draws it unchanged; a box that stands for
several scenes is a `FlowScene` whose `kind` is one of `graph.BOX_KINDS` and
whose `members` name the scenes inside. Box ids hold a `:`, which no scene id
can (ids are `[A-Za-z0-9_.-]+`), so they never clash with a scene.

- `collapse_chains`: a run of pass-through scenes (no choice, one way out,
  and, after the first, one way in from the scene before) becomes one box.
- `fold_rare`: scenes visited less than a share of the sessions become one
  "rarely visited" box per chapter (the start and the endings always stay).
- `chapter_overview`: one box per chapter, the flows between chapters, and
  the endings as their own boxes. A story without chapters is cut into bands
  by distance from the start instead.
- `chapter_detail` / `around`: one chapter in full, or the scenes at most N
  steps from one scene either way; what lies outside is one "way in" and one
  "way out" box per chapter, so the traffic in and out stays visible.
- `pick_view`: the one call the command makes, choosing the overview for a
  story too big to read whole (more than `OVERVIEW_ABOVE` boxes).

The figures of a box are sums over its scenes: its visits are the arrivals
from outside it, its ways out are the edges leaving it (summed by target),
and those who stopped inside it are "left here". Edges inside a box vanish.
Counting sessions or viewers (each counted once per scene and once per way),
a scene's arrivals from outside are its visits less its arrivals from inside
the box, but never fewer than its ways in from outside bring (those who came
back to it from inside are not more of them; the start's arrivals are every
session that began there), and a box's shares are of no fewer than its
busiest way out or its "left here": no share is over 100%.
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from branching.analytics.graph import FlowEdge, FlowGraph, FlowScene
from branching.analytics.shape import AnalyticsError

OVERVIEW_ABOVE = 60  # boxes after collapsing chains and folding: more draws the overview
BANDS = 8  # a story without chapters: the overview's bands of distance


def distances(graph: FlowGraph, roots: Iterable[str] | None = None) -> dict[str, int]:
    """Choices from the start (or `roots`) to each scene by the shortest way (routes are free)."""
    starts = [r for r in (roots if roots is not None else [graph.start]) if r in graph.scenes]
    dist = dict.fromkeys(starts, 0)
    queue: deque[str] = deque(starts)
    while queue:
        sid = queue.popleft()
        for edge in graph.scenes[sid].edges:
            step = 0 if edge.is_route else 1
            if edge.target in graph.scenes and dist[sid] + step < dist.get(edge.target, 1 << 30):
                dist[edge.target] = dist[sid] + step
                if step:
                    queue.append(edge.target)
                else:
                    queue.appendleft(edge.target)
    return dist


def roots(graph: FlowGraph) -> list[str]:
    """Where a walk of the picture begins: the start, then every way in from outside."""
    out = [graph.start] if graph.start in graph.scenes else []
    return out + [s.id for s in graph.scenes.values() if s.kind == "entry"]


# -- the one general operation: scenes grouped into boxes ------------------------------


@dataclass(frozen=True, slots=True)
class _Box:
    id: str
    title: str
    kind: str
    chapter: str | None


def _group(graph: FlowGraph, owner: Mapping[str, _Box], **changes: object) -> FlowGraph:
    """`graph` with each scene in `owner` replaced by its box (edges summed, inner ones gone)."""

    def where(sid: str) -> str:
        box = owner.get(sid)
        return box.id if box is not None else sid

    inner: dict[str, int] = {}  # scene -> arrivals from its own box
    outer: dict[str, int] = {}  # scene in a box -> arrivals from outside that box
    for scene in graph.scenes.values():
        for e in scene.edges:
            if e.target not in owner:
                continue
            if where(e.target) == where(scene.id):
                inner[e.target] = inner.get(e.target, 0) + e.count
            else:
                outer[e.target] = outer.get(e.target, 0) + e.count
    start = graph.scenes.get(graph.start)
    if start is not None and start.id in owner and graph.unit != "times":
        # every session (viewer) began at the start: arrivals from outside, however many
        # came back to it from inside its box
        outer[start.id] = outer.get(start.id, 0) + start.visits
    scenes: dict[str, FlowScene] = {}
    members: dict[str, list[FlowScene]] = {}
    for scene in graph.scenes.values():
        box = owner.get(scene.id)
        if box is None:
            scenes[scene.id] = replace(scene, edges=_merged(scene.edges, where))
        else:
            if box.id not in members:
                scenes[box.id] = scene  # holds the place, in story order
            members.setdefault(box.id, []).append(scene)
    boxes = {b.id: b for b in owner.values()}
    for box_id, inside in members.items():
        scenes[box_id] = _box_scene(graph, boxes[box_id], inside, (inner, outer), where)
    return replace(graph, scenes=scenes, **changes)  # type: ignore[arg-type]


def _merged(edges: Iterable[FlowEdge], where: Callable[[str], str]) -> tuple[FlowEdge, ...]:
    """Edges with their targets moved into boxes; routes (and boxes' ways out) to one box summed."""
    out: dict[tuple[str, str], FlowEdge] = {}
    for e in edges:
        target = where(e.target)
        key = (e.choice, target)
        if key in out:
            old = out[key]
            out[key] = replace(old, count=old.count + e.count, timeouts=old.timeouts + e.timeouts)
        else:
            out[key] = replace(e, target=target)
    return tuple(out.values())


def _box_scene(
    graph: FlowGraph,
    box: _Box,
    inside: list[FlowScene],
    arrivals: tuple[Mapping[str, int], Mapping[str, int]],
    where: Callable[[str], str],
) -> FlowScene:
    ways_out = [
        FlowEdge("", "", e.target, e.count, e.timeouts)
        for s in inside
        for e in s.edges
        if where(e.target) != box.id
    ]
    edges = _merged(ways_out, where)
    inner, outer = arrivals
    if graph.unit == "times":  # every pass: a scene's visits less those from inside the box
        visits = sum(max(0, s.visits - inner.get(s.id, 0)) for s in inside)
    else:
        # sessions or viewers are counted once per scene and once per way: those who also
        # came back to a scene from inside the box are not more of them, so a scene's
        # arrivals from outside are never fewer than the ways in from outside bring
        visits = sum(max(s.visits - inner.get(s.id, 0), outer.get(s.id, 0)) for s in inside)
    left = sum(s.left for s in inside)
    out = sum(e.count for e in edges)
    base = out + left if graph.unit == "times" else visits
    if graph.unit != "times":
        # summed over its scenes, one way out can still count someone twice (a viewer who
        # left by two ways in two sessions): the shares are of no less than the busiest
        # way out, so none is over 100%; the visits stay the arrivals
        base = max(visits, max((e.count for e in edges), default=0), left)
    return FlowScene(
        id=box.id,
        title=box.title,
        kind=box.kind,
        chapter=box.chapter,
        visits=visits,
        left=left,
        base=base,
        edges=edges,
        timer=None,
        members=tuple(m for s in inside for m in (s.members or (s.id,))),
    )


# -- pictures -----------------------------------------------------------------------------


def _passes(scene: FlowScene) -> bool:
    """No choice and one way out: the story just moves on."""
    return (
        not scene.is_box
        and not scene.is_ending
        and bool(scene.edges)
        and all(e.is_route for e in scene.edges)
        and len({e.target for e in scene.edges}) == 1
        and scene.edges[0].target != scene.id
    )


def collapse_chains(graph: FlowGraph) -> FlowGraph:
    """Runs of two or more pass-through scenes as one box each."""
    preds: dict[str, set[str]] = {}
    for scene in graph.scenes.values():
        for e in scene.edges:
            preds.setdefault(e.target, set()).add(scene.id)
    owner: dict[str, _Box] = {}

    def follows(prev: FlowScene, sid: str) -> bool:
        nxt = graph.scenes.get(sid)
        return (
            nxt is not None
            and sid != graph.start
            and sid not in owner
            and _passes(nxt)
            and preds.get(sid) == {prev.id}
            and nxt.chapter == prev.chapter
        )

    for scene in graph.scenes.values():
        if scene.id in owner or not _passes(scene):
            continue
        only = preds.get(scene.id, set())
        if len(only) == 1 and (p := graph.scenes.get(next(iter(only)))) and follows(p, scene.id):
            continue  # not the head of its run: the head collects it
        run = [scene]
        while follows(run[-1], run[-1].edges[0].target) and len(run) <= len(graph.scenes):
            run.append(graph.scenes[run[-1].edges[0].target])
        if len(run) < 2:
            continue
        box = _Box(f"chain:{scene.id}", f"{scene.title} … {run[-1].title}", "chain", scene.chapter)
        owner.update((s.id, box) for s in run)
    if not owner:
        return graph
    start = owner[graph.start].id if graph.start in owner else graph.start
    return _group(graph, owner, start=start)


def reference(graph: FlowGraph) -> int:
    """What a scene's share of visits is of: the sessions, or the arrivals at the start."""
    start = graph.scenes.get(graph.start)
    return max(graph.sessions or 0, start.visits if start else 0)


def fold_rare(graph: FlowGraph, min_share: float) -> FlowGraph:
    """Scenes visited by less than `min_share` of `reference` as one box per chapter."""
    ref = reference(graph)
    if not min_share or not ref:
        return graph
    rare = [
        s
        for s in graph.scenes.values()
        if s.id != graph.start
        and not s.is_ending
        and s.kind not in ("entry", "exit")
        and s.visits / ref < min_share
    ]
    if len(rare) < 2:
        return graph
    owner: dict[str, _Box] = {}
    for s in rare:
        name = s.chapter or ""
        title = f"Rarely visited in {s.chapter}" if s.chapter else "Rarely visited"
        owner[s.id] = _Box(f"rare:{name}", title, "folded", s.chapter)
    note = f"{len(rare)} scenes visited by less than {min_share * 100:g}% folded into boxes"
    return _group(graph, owner, notes=(*graph.notes, note))


def _bands(graph: FlowGraph) -> dict[str, str]:
    """A story without chapters: each scene's band of distance from the start."""
    dist = distances(graph)
    far = max(dist.values(), default=0)
    size = max(1, -(-(far + 1) // BANDS))
    names = {}
    for sid in graph.scenes:
        if sid not in dist:
            names[sid] = "not reached from the start"
            continue
        low = dist[sid] // size * size
        names[sid] = f"{low}-{low + size - 1} choices in" if size > 1 else f"{low} choices in"
    return names


def chapter_overview(graph: FlowGraph) -> FlowGraph:
    """One box per chapter, the flows between them, the endings on their own."""
    bands = None if any(s.chapter for s in graph.scenes.values()) else _bands(graph)
    owner: dict[str, _Box] = {}
    for s in graph.scenes.values():
        if s.is_ending:
            owner[s.id] = _Box(s.id, s.title, "ending", None)
            continue
        name = bands[s.id] if bands is not None else (s.chapter or "No chapter")
        owner[s.id] = _Box(f"chapter:{name}", name, "chapter", None)
    endings = {s.id for s in graph.scenes.values() if s.is_ending}
    grouped = _group(
        graph,
        {k: v for k, v in owner.items() if k not in endings},
        chapters=(),
        start=owner[graph.start].id if graph.start in owner else graph.start,
    )
    scenes = {
        sid: replace(s, chapter=None) if s.is_ending else s for sid, s in grouped.scenes.items()
    }
    return replace(grouped, scenes=scenes)


def _focus(graph: FlowGraph, keep: set[str], start: str, what: str) -> FlowGraph:
    """Only the scenes in `keep`; outside, one way-in and one way-out box per chapter.

    Endings reached from inside stay themselves, as targets.
    """

    def outside(sid: str, kind: str) -> str:
        chapter = graph.scenes[sid].chapter if sid in graph.scenes else None
        return f"{kind}:{chapter or ''}"

    scenes: dict[str, FlowScene] = {}
    portals: dict[str, list[FlowEdge]] = {}
    for scene in graph.scenes.values():
        if scene.id in keep:
            edges = []
            for e in scene.edges:
                target = graph.scenes.get(e.target)
                if e.target in keep or target is None or target.is_ending:
                    edges.append(e)
                    if target is not None and target.is_ending and e.target not in keep:
                        scenes.setdefault(e.target, replace(target, edges=()))
                else:
                    edges.append(replace(e, target=outside(e.target, "exit")))
                    portals.setdefault(outside(e.target, "exit"), [])
            scenes[scene.id] = replace(scene, edges=_merged(edges, lambda t: t))
            continue
        for e in scene.edges:
            if e.target in keep:
                way_in = FlowEdge("", "", e.target, e.count, e.timeouts)
                portals.setdefault(outside(scene.id, "entry"), []).append(way_in)
    for pid, edges in sorted(portals.items()):
        kind, chapter = pid.split(":", 1)
        place = f"chapter {chapter}" if chapter else "elsewhere"
        if chapter and graph.chapters and not what.startswith("chapter"):
            place = f"elsewhere in {chapter}"
        merged = _merged(edges, lambda t: t)
        arrivals = sum(e.count for e in merged)
        scenes[pid] = FlowScene(
            id=pid,
            title=("from " if kind == "entry" else "to ") + place,
            kind=kind,
            chapter=None,
            visits=arrivals,
            left=0,
            base=arrivals,
            edges=merged,
        )
    for pid, scene in list(scenes.items()):  # way-out boxes count what went out
        if scene.kind == "exit":
            n = sum(e.count for s in scenes.values() for e in s.edges if e.target == pid)
            scenes[pid] = replace(scene, visits=n, base=0)
    note = f"only {what}: ways in and out of it are drawn as boxes"
    return replace(graph, scenes=scenes, start=start, notes=(*graph.notes, note))


def find_chapter(graph: FlowGraph, name: str) -> str:
    """The chapter `name` means: exact, any case, or the one chapter it begins."""
    chapters = list(graph.chapters) or sorted(
        {s.chapter for s in graph.scenes.values() if s.chapter}
    )
    for test in (
        lambda c: c == name,
        lambda c: c.casefold() == name.casefold(),
        lambda c: c.casefold().startswith(name.casefold()),
        lambda c: name.casefold() in c.casefold(),
    ):
        found = [c for c in chapters if test(c)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise AnalyticsError(
                f"--chapter {name!r} matches {len(found)} chapters: {_list(found)}"
            )
    if not chapters:
        raise AnalyticsError("the story has no chapters: use --around SCENE instead")
    raise AnalyticsError(f"no chapter {name!r}; the chapters are: {_list(chapters)}")


def find_scene(graph: FlowGraph, name: str) -> str:
    """The scene `name` means: its id, or its title in any case."""
    if name in graph.scenes:
        return name
    found = [s.id for s in graph.scenes.values() if s.title.casefold() == name.casefold()]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise AnalyticsError(f"--around {name!r}: {len(found)} scenes have that title; use an id")
    near = difflib.get_close_matches(name, list(graph.scenes), n=3)
    hint = f"; did you mean {_list(near)}?" if near else ""
    raise AnalyticsError(f"no scene {name!r} in the story{hint}")


def _list(names: list[str]) -> str:
    shown = ", ".join(names[:12])
    return shown + (f" and {len(names) - 12} more" if len(names) > 12 else "")


def chapter_detail(graph: FlowGraph, name: str) -> FlowGraph:
    """One chapter's scenes in full, with boxes for the chapters it is entered from and left to."""
    chapter = find_chapter(graph, name)
    keep = {s.id for s in graph.scenes.values() if s.chapter == chapter and not s.is_ending}
    keep |= {s.id for s in graph.scenes.values() if s.chapter == chapter and s.is_ending}
    start = graph.start if graph.start in keep else ""
    picture = _focus(graph, keep, start, f"chapter {chapter}")
    return replace(picture, chapters=(chapter,))


def around(graph: FlowGraph, name: str, depth: int) -> FlowGraph:
    """The scenes at most `depth` steps from scene `name`, forwards or backwards."""
    centre = find_scene(graph, name)
    preds: dict[str, set[str]] = {}
    for scene in graph.scenes.values():
        for e in scene.edges:
            preds.setdefault(e.target, set()).add(scene.id)
    succs = {sid: {e.target for e in s.edges} for sid, s in graph.scenes.items()}
    keep = {centre}
    for step in (succs, preds):
        frontier = {centre}
        for _ in range(depth):
            frontier = {n for s in frontier for n in step.get(s, set()) if n in graph.scenes} - keep
            keep |= frontier
    title = graph.scenes[centre].title
    steps = "1 step" if depth == 1 else f"{depth} steps"
    return _focus(graph, keep, centre, f"{steps} around {title}")


def pick_view(
    graph: FlowGraph,
    *,
    view: str = "auto",
    chapter: str | None = None,
    around_scene: str | None = None,
    depth: int = 2,
    min_share: float = 0.0,
    collapse: bool = True,
) -> FlowGraph:
    """The picture to draw: `view` is "auto", "overview" or "full"; a drill-down wins."""
    if chapter is not None:
        graph = chapter_detail(graph, chapter)
    elif around_scene is not None:
        graph = around(graph, around_scene, depth)
    elif view == "overview":
        return chapter_overview(graph)
    picture = collapse_chains(graph) if collapse else graph
    picture = fold_rare(picture, min_share)
    if view == "auto" and chapter is None and around_scene is None:
        if len(picture.scenes) > OVERVIEW_ABOVE:
            note = (
                f"{len(picture.scenes)} boxes are too many: the chapter overview "
                "(--full: every scene; --chapter NAME, --around SCENE: zoom in)"
            )
            overview = chapter_overview(graph)
            return replace(overview, notes=(*overview.notes, note))
    return picture
