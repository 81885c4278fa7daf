"""The walk behind the terminal flowchart: which rows, in which order, how deep.

The story is a graph (it loops, scenes are reached from many places), the
flowchart is a tree. `parents.py` decides where each scene hangs: under the
way in that brought the most traffic (in the story map, the first way in from
the start). Here we draw that tree with an explicit stack (no recursion, so a
story of any depth is safe). A scene's block is its row, then the other ways
into it ("↑ also from ..." rows, at most `MAX_FROM`), then all of its choices
as consecutive rows, then the scenes that hang under it, each a block of its
own. A choice whose target hangs elsewhere names it with where to look: above,
below, or in its chapter's section.

Chapters are sections: a scene whose parent is in another chapter opens the
walk of its own chapter's section, with the way it came from as its first
row. When the tree nests deeper than the width allows, the scene is drawn as
a new root further down instead (a "continued below" reference), so the
flowchart stays readable at 80 columns.

`--depth` (choices from the start, by the shortest way) and `--min-share`
prune what is drawn; what was pruned is summarised, never silently dropped.
The layout is plain data (`Row`s); `flowchart.py` turns it into text.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from branching.analytics.graph import FlowEdge, FlowGraph, FlowScene
from branching.analytics.overview import distances, roots
from branching.render.parents import Way, build_tree

MAX_FROM = 5  # "from" rows under one scene; more are summed up in the last one


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the flowchart.

    kind: "section" (a chapter), "scene" (a scene drawn here), "from" (another
    way into the scene above it), "edge" (a choice or route), "left" (stopped
    here), "more" (choices hidden by --min-share).
    ref: for an edge, how its target is shown: "here" (it hangs under this
    scene, drawn after its choices), "above" (already drawn), "below" (drawn
    later in this section), "chapter" (drawn in the target's chapter
    section), "depth" (beyond --depth), "missing" (not in the story); for a
    "from" row, where its source is drawn ("above" or "below").
    """

    kind: str
    guides: tuple[bool, ...] = ()  # per level: does a sibling follow (draw a line)?
    last: bool = False  # the last row among its siblings ("from": no choice follows)
    scene: FlowScene | None = None
    edge: FlowEdge | None = None  # "from": the one way in, None when it sums several
    count: int = 0
    share: float | None = None
    ref: str = ""
    target: FlowScene | None = None  # "from": the scene the way comes from
    text: str = ""  # section title; hidden choices ("more"); ways summed up ("from")
    nested: bool = False  # a scene drawn under its parent, with a branch glyph
    also: bool = False  # "also from"; False: the way a scene drawn as a root hangs under


@dataclass
class Pruned:
    """What --depth and --min-share left out."""

    hidden_edges: int = 0
    hidden_count: int = 0
    beyond_depth: set[str] = field(default_factory=set)
    not_drawn: list[FlowScene] = field(default_factory=list)


_Item = tuple[bool, "Row | FlowScene"]


class Layout:
    """Rows of the flowchart for one width and one set of pruning options."""

    def __init__(
        self, graph: FlowGraph, *, max_nest: int, depth: int | None = None, min_share: float = 0.0
    ) -> None:
        self.graph = graph
        self.max_nest = max(1, max_nest)
        self.depth = depth
        self.min_share = min_share if graph.telemetry else 0.0  # the map has no shares
        self.dist = distances(graph, roots(graph))
        self.tree = build_tree(graph, roots(graph), self._usable)
        self.placed = set(self.tree.reached)
        self.children: dict[str, list[str]] = {}
        for sid, way in sorted(self.tree.parent.items(), key=lambda item: item[1].index):
            self.children.setdefault(way.source, []).append(sid)
        self.drawn: set[str] = set()
        self.pruned = Pruned()
        self.rows: list[Row] = []
        self._pending: dict[str | None, list[str]] = {}
        self._sections_shown: set[str | None] = set()
        self._section: str | None = None
        self._section_of: dict[str, str | None] = {}
        self._walk_all()
        self._resolve()

    # -- what may be drawn ------------------------------------------------------------

    def _within(self, scene_id: str) -> bool:
        return self.depth is None or self.dist.get(scene_id, 0) <= self.depth

    def _hidden(self, scene: FlowScene, edge: FlowEdge) -> bool:
        return bool(self.min_share) and (scene.share(edge.count) or 0.0) < self.min_share

    def _usable(self, scene: FlowScene, edge: FlowEdge) -> bool:
        return (
            not self._hidden(scene, edge) and self._within(scene.id) and self._within(edge.target)
        )

    # -- sections -------------------------------------------------------------------

    def _chapter_order(self) -> list[str | None]:
        order: list[str | None] = list(self.graph.chapters)
        for scene in self.graph.scenes.values():
            if scene.chapter not in order:
                order.append(scene.chapter)
        return order if None in order else [*order, None]

    def _queue(self, chapter: str | None, scene_id: str) -> None:
        queue = self._pending.setdefault(chapter, [])
        if scene_id not in queue:
            queue.append(scene_id)

    def _walk_all(self) -> None:
        for root in roots(self.graph):  # the start, and the ways in of a drill-down
            self._queue(self.graph.scenes[root].chapter, root)
        order = self._chapter_order()
        while any(self._pending.values()):
            chapter = next(c for c in order if self._pending.get(c))
            self._section = chapter
            opened = False
            while self._pending[chapter]:
                root = self._pending[chapter].pop(0)
                if root in self.drawn:
                    continue
                if not opened and self.graph.chapters:
                    again = " (continued)" if chapter in self._sections_shown else ""
                    self.rows.append(Row("section", text=f"{chapter or 'No chapter'}{again}"))
                    self._sections_shown.add(chapter)
                    opened = True
                self._walk(root)
        self._finish()

    def _finish(self) -> None:
        reachable = set(self.dist)
        for scene in self.graph.scenes.values():
            if scene.id in self.drawn:
                continue
            if not self._within(scene.id):
                self.pruned.beyond_depth.add(scene.id)
            if scene.id in reachable or scene.visits:
                self.pruned.not_drawn.append(scene)

    # -- the tree walk ----------------------------------------------------------------

    def _walk(self, root_id: str) -> None:
        root = self.graph.scenes[root_id]
        self._draw(Row("scene", scene=root))
        stack: list[tuple[list[_Item], int, tuple[bool, ...], int]] = [
            (self._items(root, 0, nested=False), 0, (), 0)
        ]
        while stack:
            items, at, guides, nest = stack.pop()
            if at == len(items):
                continue
            stack.append((items, at + 1, guides, nest))
            last, item = items[at]
            if isinstance(item, Row):
                self.rows.append(replace(item, guides=guides, last=last))
                continue
            self._draw(Row("scene", guides, last, item, nested=True))
            inner = (*guides, not last)
            stack.append((self._items(item, nest + 1, nested=True), 0, inner, nest + 1))

    def _draw(self, row: Row) -> None:
        assert row.scene is not None
        self.drawn.add(row.scene.id)
        self._section_of[row.scene.id] = self._section
        self.rows.append(row)

    def _items(self, scene: FlowScene, nest: int, *, nested: bool) -> list[_Item]:
        """What follows a scene's row: ways in, choices, those who left, the scenes below it."""
        inline: list[FlowScene] = []
        for sid in self.children.get(scene.id, []):
            child = self.graph.scenes[sid]
            if child.chapter is not None and child.chapter != self._section:
                self._queue(child.chapter, sid)
            elif nest + 1 >= self.max_nest:
                self._queue(self._section, sid)
            else:
                inline.append(child)
        here = {c.id for c in inline}
        rows: list[Row | FlowScene] = []
        hidden: list[FlowEdge] = []
        for edge in scene.edges:
            if self._hidden(scene, edge):
                hidden.append(edge)
                continue
            target = self.graph.scenes.get(edge.target)
            ref = ""  # resolved once every scene has its place
            if target is None:
                ref = "missing"
            elif not self._within(target.id):
                self.pruned.beyond_depth.add(target.id)
                ref = "depth"
            elif target.id in here:
                ref = "here"
            share = scene.share(edge.count)
            rows.append(
                Row(
                    "edge",
                    scene=scene,
                    edge=edge,
                    count=edge.count,
                    share=share,
                    ref=ref,
                    target=target,
                )
            )
        if scene.left:
            rows.append(Row("left", scene=scene, count=scene.left, share=scene.share(scene.left)))
        if hidden:
            total = sum(e.count for e in hidden)
            self.pruned.hidden_edges += len(hidden)
            self.pruned.hidden_count += total
            more = Row("more", scene=scene, count=total, share=scene.share(total))
            rows.append(replace(more, text=str(len(hidden))))
        rows += inline
        ways: list[_Item] = [(not rows, r) for r in self._ways_in(scene, nested=nested)]
        return ways + [(i == len(rows) - 1, r) for i, r in enumerate(rows)]

    def _ways_in(self, scene: FlowScene, *, nested: bool) -> list[Row]:
        """'from' rows: the other ways into `scene`, by traffic, one row per scene they leave.

        A scene drawn under its parent leaves out the parent's choices (they
        are the rows just above); a scene drawn as a root (the first of its
        chapter, or continued below) names the scene it hangs under first.
        """
        parent = self.tree.parent.get(scene.id)
        groups: dict[str, list[Way]] = {}
        for way in self.tree.ways_in.get(scene.id, []):
            if way.source != scene.id and way.source in self.placed:
                groups.setdefault(way.source, []).append(way)
        first = groups.pop(parent.source, []) if parent is not None else []
        out = [self._from(first, also=False)] if first and not nested else []
        ranked = sorted(
            groups.values(), key=lambda g: (-sum(w.edge.count for w in g), min(w.order for w in g))
        )
        if len(out) + len(ranked) <= MAX_FROM:
            return out + [self._from(g, also=True) for g in ranked]
        keep = MAX_FROM - len(out) - 1
        rest = [w for g in ranked[keep:] for w in g]
        out += [self._from(g, also=True) for g in ranked[:keep]]
        total = sum(w.edge.count for w in rest)
        out.append(Row("from", scene=scene, count=total, text=str(len(rest)), also=True))
        return out

    def _from(self, ways: list[Way], *, also: bool) -> Row:
        source = self.graph.scenes[ways[0].source]
        return Row(
            "from",
            scene=self.graph.scenes[ways[0].target],
            edge=ways[0].edge if len(ways) == 1 else None,
            count=sum(w.edge.count for w in ways),
            target=source,
            text=str(len(ways)),
            also=also,
        )

    # -- where everything ended up ------------------------------------------------------

    def _resolve(self) -> None:
        """Fill in "above"/"below"/"chapter" now that every scene has its row."""
        at = {
            row.scene.id: i for i, row in enumerate(self.rows) if row.kind == "scene" and row.scene
        }
        for i, row in enumerate(self.rows):
            if row.kind == "edge" and row.ref == "" and row.target is not None:
                where = at.get(row.target.id)
                if where is None:
                    continue
                if where < i:
                    ref = "above"
                elif row.scene and self._section_of.get(row.target.id) != self._section_of.get(
                    row.scene.id
                ):
                    ref = "chapter"
                else:
                    ref = "below"
                self.rows[i] = replace(row, ref=ref)
            elif row.kind == "from" and row.target is not None:
                where = at.get(row.target.id, i)
                self.rows[i] = replace(row, ref="above" if where < i else "below")
