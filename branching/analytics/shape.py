"""The story's graph as analytics sees it: scenes, choices, routes, endings, chapters.

Analytics must work from the database alone, where the story is only the
structure JSON the player registered (`Story.structure()`), or from a YAML
file. Both become a `Shape`, a small frozen view of that JSON, so every query
and renderer reads one vocabulary. A database may hold several versions of a
story: `merge_shapes` lays older versions under the newest, so a choice that
was renamed or removed still has a row (marked `retired`) and its counts are
never silently dropped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from branching.errors import BranchingError, UsageProblem


class AnalyticsError(BranchingError):
    """A request analytics cannot answer: unknown story or version, bad filter or input."""

    title = "Cannot compute analytics"


class FilterInvalid(AnalyticsError, UsageProblem):
    """A filter the user typed that cannot be read (a bad date, a `--where` without '=')."""

    title = "Bad filter"


@dataclass(frozen=True, slots=True)
class ShapeChoice:
    """An option at a choice point."""

    id: str
    label: str
    goto: str
    tags: tuple[str, ...] = ()
    default: bool = False
    conditional: bool = False
    retired: bool = False  # only in an older version than the one drawn
    template: str | None = None  # the label as written, when `label` is how viewers saw it


@dataclass(frozen=True, slots=True)
class ShapeRoute:
    """An entry of a scene's `next` or `random` list."""

    goto: str
    conditional: bool = False
    weight: float | None = None


@dataclass(frozen=True, slots=True)
class ShapeScene:
    """A scene: kind is choice, next, random, ending (or unknown, when seen only in data)."""

    id: str
    title: str
    kind: str
    chapter: str | None = None
    tags: tuple[str, ...] = ()
    ending_kind: str | None = None
    ending_title: str | None = None
    timer: float | None = None
    choices: tuple[ShapeChoice, ...] = ()
    routes: tuple[ShapeRoute, ...] = ()
    rewind: tuple[str, ...] = ()
    retired: bool = False

    def choice(self, choice_id: str) -> ShapeChoice | None:
        return next((c for c in self.choices if c.id == choice_id), None)

    def targets(self) -> list[str]:
        """Scenes this one leads to by a choice or a route, in written order, once each."""
        seen: dict[str, None] = {}
        for goto in [c.goto for c in self.choices] + [r.goto for r in self.routes]:
            seen.setdefault(goto, None)
        return list(seen)


@dataclass(frozen=True, slots=True)
class Shape:
    """A whole story graph."""

    id: str
    title: str
    start: str
    scenes: Mapping[str, ShapeScene]
    chapters: tuple[str, ...] = ()

    def scene(self, scene_id: str) -> ShapeScene | None:
        return self.scenes.get(scene_id)

    def title_of(self, scene_id: str) -> str:
        scene = self.scenes.get(scene_id)
        return scene.title if scene else scene_id

    def choice_points(self) -> list[ShapeScene]:
        return [s for s in self.scenes.values() if s.kind == "choice"]

    def endings(self) -> list[ShapeScene]:
        return [s for s in self.scenes.values() if s.kind == "ending"]


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _need(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise AnalyticsError(f"the stored story structure lacks '{key}' in {where}")
    return data[key]


def _choice(data: Any, where: str) -> ShapeChoice:
    if not isinstance(data, Mapping):
        raise AnalyticsError(f"a choice of {where} in the stored structure is not an object")
    return ShapeChoice(
        id=str(_need(data, "id", where)),
        label=str(data.get("label") or data["id"]),
        goto=str(_need(data, "goto", where)),
        tags=_strings(data.get("tags")),
        default=bool(data.get("default")),
        conditional=bool(data.get("conditional")),
    )


def _route(data: Any, where: str) -> ShapeRoute:
    if not isinstance(data, Mapping):
        raise AnalyticsError(f"a route of {where} in the stored structure is not an object")
    weight = data.get("weight")
    return ShapeRoute(
        goto=str(_need(data, "goto", where)),
        conditional=bool(data.get("conditional")),
        weight=float(weight) if isinstance(weight, int | float) else None,
    )


def _scene(data: Any) -> ShapeScene:
    if not isinstance(data, Mapping):
        raise AnalyticsError("a scene in the stored story structure is not an object")
    sid = str(_need(data, "id", "a scene"))
    where = f"scene '{sid}'"
    ending = data.get("ending")
    timer = data.get("timer")
    return ShapeScene(
        id=sid,
        title=str(data.get("title") or sid),
        kind=str(data.get("kind") or ("ending" if ending else "next")),
        chapter=str(data["chapter"]) if data.get("chapter") is not None else None,
        tags=_strings(data.get("tags")),
        ending_kind=str(ending.get("kind", "neutral")) if isinstance(ending, Mapping) else None,
        ending_title=str(ending.get("title", sid)) if isinstance(ending, Mapping) else None,
        timer=float(timer) if isinstance(timer, int | float) and timer else None,
        choices=tuple(_choice(c, where) for c in data.get("choices") or ()),
        routes=tuple(_route(r, where) for r in data.get("routes") or ()),
        rewind=_strings(data.get("rewind")),
    )


def shape_from_structure(data: Any) -> Shape:
    """A `Shape` from the JSON `Story.structure()` produces (as stored in the database)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("scenes"), list):
        raise AnalyticsError("the stored story structure is not a story graph (no 'scenes')")
    scenes = [_scene(s) for s in data["scenes"]]
    by_id = {s.id: s for s in scenes}
    start = str(data.get("start") or (scenes[0].id if scenes else ""))
    return Shape(
        id=str(data.get("id") or ""),
        title=str(data.get("title") or data.get("id") or "untitled"),
        start=start,
        scenes=by_id,
        chapters=_strings(data.get("chapters")),
    )


def merge_shapes(newest_first: Iterable[Shape]) -> Shape:
    """The newest shape, with scenes and choices only older versions have added as retired."""
    shapes = list(newest_first)
    if not shapes:
        raise AnalyticsError("no story structure to merge")
    base = shapes[0]
    scenes = dict(base.scenes)
    chapters = list(base.chapters)
    for older in shapes[1:]:
        for sid, scene in older.scenes.items():
            if sid not in scenes:
                scenes[sid] = replace(
                    scene,
                    retired=True,
                    choices=tuple(replace(c, retired=True) for c in scene.choices),
                )
                continue
            mine = scenes[sid]
            extra = tuple(
                replace(c, retired=True) for c in scene.choices if mine.choice(c.id) is None
            )
            if extra:
                scenes[sid] = replace(mine, choices=mine.choices + extra)
        chapters += [c for c in older.chapters if c not in chapters]
    return replace(base, scenes=scenes, chapters=tuple(chapters))


def with_unknown(shape: Shape, edges: Iterable[tuple[str, str, str]]) -> Shape:
    """`shape` plus any (scene, choice, target) seen in data that no version describes."""
    scenes = dict(shape.scenes)
    for scene_id, choice_id, target in edges:
        for sid in (scene_id, target):
            if sid and sid not in scenes:
                scenes[sid] = ShapeScene(id=sid, title=sid, kind="unknown", retired=True)
        scene = scenes[scene_id]
        if choice_id and scene.choice(choice_id) is None:
            extra = ShapeChoice(id=choice_id, label=choice_id, goto=target, retired=True)
            scenes[scene_id] = replace(scene, choices=scene.choices + (extra,))
        elif not choice_id and target not in [r.goto for r in scene.routes]:
            scenes[scene_id] = replace(scene, routes=scene.routes + (ShapeRoute(target),))
    return replace(shape, scenes=scenes)


# the labels viewers saw, per choice (portable SQL: `scan.seen_labels` runs it on every engine)
SEEN_LABELS = """SELECT scene, choice, label, SUM(count) FROM choice_labels
WHERE story_id = ? AND content_hash IN ({marks})
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""


def with_seen_labels(conn: sqlite3.Connection, shape: Shape, hashes: list[str]) -> Shape:
    """`shape` with each templated label as viewers most often saw it (the template kept).

    A label with interpolation (`Play "{song}"`) is recorded as rendered
    (`events.label`, totals in `choice_labels`); every figure names a choice
    the way its viewers read it. Ties go to the rendering first in text order.
    """
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    if "choice_labels" not in tables or not hashes:
        return shape
    marks = ", ".join("?" for _ in hashes)
    rows: list[tuple[str, str, str, int]] = []
    for scene, choice, label, count in conn.execute(
        SEEN_LABELS.format(marks=marks), [shape.id, *hashes]
    ):
        rows.append((scene, choice, label, count))
    return apply_seen_labels(shape, rows)


def apply_seen_labels(shape: Shape, rows: list[tuple[str, str, str, int]]) -> Shape:
    """`shape` with the label seen most often of each choice in `rows` (scene, choice,
    label, count; in text order, so ties go to the rendering first)."""
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    for at, choice, label, count in rows:
        best = seen.get((at, choice))
        if best is None or count > best[0]:
            seen[(at, choice)] = (count, label)
    if not seen:
        return shape
    scenes = {}
    for sid, scene in shape.scenes.items():
        choices = tuple(
            replace(c, label=seen[(sid, c.id)][1], template=c.label) if (sid, c.id) in seen else c
            for c in scene.choices
        )
        scenes[sid] = replace(scene, choices=choices) if choices != scene.choices else scene
    return replace(shape, scenes=scenes)
