"""The walk behind the terminal flowchart: which rows, in which order, how deep.

The story is a graph (it loops, scenes are reached from many places), the
flowchart is a tree: we walk from the start scene with an explicit stack (no
recursion, so a story of any depth is safe), draw each scene once, and show
every later arrival at it as a reference. Chapters are sections: a choice that
leads into another chapter is a reference, and that scene opens the walk of
its chapter's section. When the tree nests deeper than the width allows, the
scene is drawn as a new root further down instead (a "continued below"
reference), so the flowchart stays readable at 80 columns.

`--depth` (choices from the start, by the shortest way) and `--min-share`
prune what is drawn; what was pruned is summarised, never silently dropped.
The layout is plain data (`Row`s); `flowchart.py` turns it into text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from branching.analytics.graph import FlowEdge, FlowGraph, FlowScene
from branching.analytics.overview import distances, roots


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the flowchart.

    kind: "section" (a chapter), "scene" (a scene drawn here), "edge" (a choice
    or route), "left" (stopped here), "more" (choices hidden by --min-share).
    ref: for an edge, how its target is shown: "" (drawn right below),
    "above" (already drawn), "below" (drawn later in this section),
    "chapter" (drawn in the target's chapter section), "depth" (beyond
    --depth), "missing" (not in the story).
    """

    kind: str
    guides: tuple[bool, ...] = ()  # per level: does a sibling follow (draw a line)?
    last: bool = False  # the last row among its siblings
    scene: FlowScene | None = None
    edge: FlowEdge | None = None
    count: int = 0
    share: float | None = None
    ref: str = ""
    target: FlowScene | None = None
    text: str = ""  # section title, or the count of hidden choices for "more"


@dataclass
class Pruned:
    """What --depth and --min-share left out."""

    hidden_edges: int = 0
    hidden_count: int = 0
    beyond_depth: set[str] = field(default_factory=set)
    not_drawn: list[FlowScene] = field(default_factory=list)


class Layout:
    """Rows of the flowchart for one width and one set of pruning options."""

    def __init__(
        self, graph: FlowGraph, *, max_nest: int, depth: int | None = None, min_share: float = 0.0
    ) -> None:
        self.graph = graph
        self.max_nest = max(1, max_nest)
        self.depth = depth
        self.min_share = min_share
        self.dist = distances(graph, roots(graph))
        self.drawn: set[str] = set()
        self.pruned = Pruned()
        self.rows: list[Row] = []
        self._pending: dict[str | None, list[str]] = {}
        self._sections_shown: set[str | None] = set()
        self._section: str | None = None
        self._walk_all()

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
            if self.depth is not None and self.dist.get(scene.id, 0) > self.depth:
                self.pruned.beyond_depth.add(scene.id)
            if scene.id in reachable or scene.visits:
                self.pruned.not_drawn.append(scene)

    # -- the tree walk ----------------------------------------------------------------

    def _children(self, scene: FlowScene) -> list[Row]:
        rows: list[Row] = []
        hidden: list[FlowEdge] = []
        for edge in scene.edges:
            share = scene.share(edge.count)
            if self.min_share and (share or 0.0) < self.min_share:
                hidden.append(edge)
                continue
            rows.append(Row("edge", scene=scene, edge=edge, count=edge.count, share=share))
        if scene.left:
            rows.append(Row("left", scene=scene, count=scene.left, share=scene.share(scene.left)))
        if hidden:
            total = sum(e.count for e in hidden)
            self.pruned.hidden_edges += len(hidden)
            self.pruned.hidden_count += total
            rows.append(
                Row(
                    "more",
                    scene=scene,
                    count=total,
                    share=scene.share(total),
                    text=str(len(hidden)),
                )
            )
        return rows

    def _place(self, edge: FlowEdge, nest: int) -> tuple[str, FlowScene | None]:
        """How an edge's target is shown, and the scene to draw below it (if any)."""
        target = self.graph.scenes.get(edge.target)
        if target is None:
            return "missing", None
        if target.id in self.drawn:
            return "above", target
        if self.depth is not None and self.dist.get(target.id, 0) > self.depth:
            self.pruned.beyond_depth.add(target.id)
            return "depth", target
        if target.chapter is not None and target.chapter != self._section:
            self._queue(target.chapter, target.id)
            return "chapter", target
        if nest >= self.max_nest:
            self._queue(self._section, target.id)
            return "below", target
        return "", target

    def _walk(self, root_id: str) -> None:
        root = self.graph.scenes[root_id]
        self.drawn.add(root_id)
        self.rows.append(Row("scene", scene=root))
        stack: list[tuple[Iterator[tuple[int, Row]], tuple[bool, ...], int]] = [
            (self._numbered(self._children(root)), (), 0)
        ]
        while stack:
            items, guides, nest = stack[-1]
            item = next(items, None)
            if item is None:
                stack.pop()
                continue
            last, row = bool(item[0]), item[1]
            if row.kind != "edge" or row.edge is None:
                self.rows.append(
                    Row(
                        row.kind,
                        guides,
                        last,
                        row.scene,
                        row.edge,
                        row.count,
                        row.share,
                        text=row.text,
                    )
                )
                continue
            ref, target = self._place(row.edge, nest + 1)
            self.rows.append(
                Row(
                    "edge",
                    guides,
                    last,
                    row.scene,
                    row.edge,
                    row.count,
                    row.share,
                    ref=ref,
                    target=target,
                )
            )
            if ref == "" and target is not None:
                self.drawn.add(target.id)
                inner = (*guides, not last)
                self.rows.append(Row("scene", inner, last, target))
                stack.append((self._numbered(self._children(target)), inner, nest + 1))

    @staticmethod
    def _numbered(rows: list[Row]) -> Iterator[tuple[int, Row]]:
        for i, row in enumerate(rows):
            yield (1 if i == len(rows) - 1 else 0), row
