"""Static checks over a loaded story: the checker's *warnings*.

The loader already reports every error, and the few warnings it sees while
building (a `default` on a conditional choice, a route list whose last entry
has an `if`, a text variant without `if` before others). This module adds the
warnings that need the whole story (STORY-FORMAT.md, "What the checker
reports"):

- scenes unreachable from `start`, and a story whose endings cannot be reached;
- variables never read, or never changed;
- `once` choices at scenes that can never be visited again (no cycle of moves
  through them; going back restores once-used choices, so `rewind` is no cycle);
- conditions that can never hold given the values the story assigns;
- a `random` list whose every route has an `if` (the loader covers `next`).

It owns the scene graph, the checks over it (all linear) and the order of the
warnings. The one bounded check, conditions that can never hold, is a
value-domain analysis of its own and lives in `domains`. Standard library
only (headless core).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from branching.errors import Problem
from branching.expr.conditions import Expression, Template
from branching.story import loader
from branching.story.model import Pos, Story
from branching.verify.domains import never_holds, show_value


def check_path(path: str | os.PathLike[str]) -> list[Problem]:
    """Every problem of the story at `path`: the loader's, then the checker's warnings.

    Sorted in source order across files, without duplicates. Raises
    `StoryUnreadable` when the root file cannot be read at all.
    """
    result = loader.load(path)
    problems = list(result.problems)
    if result.story is not None:
        problems.extend(check(result.story))
    elif result.partial is not None:
        problems.extend(check(result.partial, complete=False))
    unique = list(dict.fromkeys(problems))
    unique.sort(key=Problem.sort_key)
    return unique


def check(story: Story, *, complete: bool = True) -> list[Problem]:
    """The warnings about a loaded story, in source order.

    `complete=False` says the story is the loader's partial build of a story
    with errors: a condition or effect that failed to build hides what the
    story reads and assigns, so the checks about variables and values are
    skipped there (they would only echo the errors); the graph checks run.
    """
    report = _Report(story)
    graph = _Graph(story)
    unreachable: frozenset[str] = frozenset()
    if story.start in story.scenes:
        unreachable = _reachability(story, graph, report)
    _once(story, graph, report)
    _random_routes(story, report)
    if complete:
        _variables(story, report)
        _never_holds(story, report, unreachable)
    report.problems.sort(key=Problem.sort_key)
    return report.problems


class _Report:
    def __init__(self, story: Story) -> None:
        self.order = {name: i for i, name in enumerate(story.files)}
        self.problems: list[Problem] = []

    def warn(self, pos: Pos, message: str) -> None:
        order = self.order.get(pos.file, len(self.order))
        self.problems.append(Problem(pos.file, pos.line, pos.col, "warning", message, order))


# ---------------------------------------------------------------- the scene graph


class _Graph:
    """Scenes as numbered nodes; `moves` leave by choices and routes.

    `rewind` is no edge: it only offers choice points already visited in the
    playthrough, so it neither reaches a new scene nor makes a cycle.
    """

    def __init__(self, story: Story) -> None:
        self.ids = list(story.scenes)
        self.index = index = {sid: i for i, sid in enumerate(self.ids)}
        self.moves: list[list[int]] = []
        for scene in story.scenes.values():
            targets = [c.goto for c in scene.choices] + [r.goto for r in scene.routes]
            self.moves.append([index[t] for t in targets if t in index])

    def reachable(self, start: int) -> list[bool]:
        seen = [False] * len(self.ids)
        seen[start] = True
        todo = [start]
        while todo:
            node = todo.pop()
            for nxt in self.moves[node]:
                if not seen[nxt]:
                    seen[nxt] = True
                    todo.append(nxt)
        return seen

    def on_cycle(self) -> list[bool]:
        """Which scenes lie on a cycle of moves (Tarjan's components, without recursion)."""
        n = len(self.ids)
        low, number, on_stack = [0] * n, [-1] * n, [False] * n
        stack: list[int] = []
        cyclic = [False] * n
        counter = 0
        for root in range(n):
            if number[root] >= 0:
                continue
            work = [(root, 0)]
            while work:
                node, i = work.pop()
                if i == 0:
                    number[node] = low[node] = counter
                    counter += 1
                    stack.append(node)
                    on_stack[node] = True
                edges = self.moves[node]
                if i < len(edges):
                    work.append((node, i + 1))
                    nxt = edges[i]
                    if nxt == node:
                        cyclic[node] = True
                    elif number[nxt] < 0:
                        work.append((nxt, 0))
                    elif on_stack[nxt]:
                        low[node] = min(low[node], number[nxt])
                    continue
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == number[node]:
                    size = 0
                    while True:
                        member = stack.pop()
                        on_stack[member] = False
                        size += 1
                        if member == node:
                            break
                        cyclic[member] = True
                    cyclic[node] = cyclic[node] or size > 1
        return cyclic


def _reachability(story: Story, graph: _Graph, report: _Report) -> frozenset[str]:
    """Warn about scenes and endings out of reach; returns the unreachable scene ids."""
    seen = graph.reachable(graph.index[story.start])
    for i, scene in enumerate(story.scenes.values()):
        if not seen[i]:
            report.warn(scene.pos, f"scene '{scene.id}' is unreachable from start '{story.start}'")
    endings = [i for i, s in enumerate(story.scenes.values()) if s.ending is not None]
    if not endings:
        report.warn(story.start_pos, "the story has no ending: no scene has 'ending'")
    elif not any(seen[i] for i in endings):
        report.warn(story.start_pos, f"no ending can be reached from start '{story.start}'")
    return frozenset(sid for i, sid in enumerate(graph.ids) if not seen[i])


def _random_routes(story: Story, report: _Report) -> None:
    for scene in story.scenes.values():
        if scene.random and all(r.condition is not None for r in scene.random):
            report.warn(
                scene.random[-1].pos,
                "every 'random' route has an 'if': when none holds "
                "the playthrough is stuck (add a route without 'if')",
            )


# ---------------------------------------------------------------- variables


def _conditions(story: Story) -> Iterator[tuple[Expression, Pos, str]]:
    """Every condition, where it is, and what follows when it never holds."""
    for scene in story.scenes.values():
        for variant in scene.text:
            if variant.condition is not None:
                yield variant.condition, variant.if_pos, "the text variant is never shown"
        for choice in scene.choices:
            if choice.condition is not None:
                yield choice.condition, choice.if_pos, f"choice '{choice.id}' is always hidden"
            if choice.requires is not None:
                yield choice.requires, choice.requires_pos, f"choice '{choice.id}' is always locked"
        for route in scene.routes:
            if route.condition is not None:
                yield route.condition, route.if_pos, f"the route to '{route.goto}' is never taken"


def _templates(story: Story) -> Iterator[Template]:
    for scene in story.scenes.values():
        for variant in scene.text:
            yield variant.text
        for choice in scene.choices:
            yield choice.label


def _variables(story: Story, report: _Report) -> None:
    read: set[str] = set()
    for expr in {id(e): e for e, _, _ in _conditions(story)}.values():
        read |= expr.variables
    for tpl in _templates(story):
        for expr in tpl.expressions:
            read |= expr.variables
    changed: set[str] = set()
    for scene in story.scenes.values():
        for effect in (scene.on_enter, *(c.effect for c in scene.choices)):
            changed.update(name for name, _ in effect.set)
            changed.update(name for name, _ in effect.add)
    for name, pos in story.state_pos.items():
        if name not in read and name not in changed:
            report.warn(pos, f"variable '{name}' is never read or changed")
        elif name not in read:
            report.warn(pos, f"variable '{name}' is never read")
        elif name not in changed:
            shown = show_value(story.state[name])
            report.warn(pos, f"variable '{name}' is never changed: it is always {shown}")


# ---------------------------------------------------------------- once


def _once(story: Story, graph: _Graph, report: _Report) -> None:
    if not any(c.once for s in story.scenes.values() for c in s.choices):
        return
    cyclic = graph.on_cycle()
    for i, scene in enumerate(story.scenes.values()):
        for choice in scene.choices:
            if choice.once and not cyclic[i]:
                report.warn(
                    choice.once_pos,
                    f"'once' has no effect on choice '{choice.id}': "
                    f"scene '{scene.id}' can never be visited again",
                )


# ---------------------------------------------------------------- never holds


def _never_holds(story: Story, report: _Report, unreachable: frozenset[str]) -> None:
    for pos, message in never_holds(story, list(_conditions(story)), unreachable):
        report.warn(pos, message)
