"""The loaded story: frozen dataclasses shared by every part of branching.

The loader builds these from YAML; the checker, engine, explorer, telemetry and
renderers only read them. Each piece keeps the position (`Pos`) it came from, so
any later problem can still be reported as `file:line:col`. Conditions and
texts are already compiled (see `conditions`), so nothing is parsed twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from branching.expr.conditions import Expression, Template, Value


@dataclass(frozen=True, slots=True)
class Pos:
    """A place in a story file: 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOWHERE = Pos("<story>", 0, 0)


@dataclass(frozen=True, slots=True)
class Effect:
    """`set` then `add`, applied when a choice is taken or a scene entered."""

    set: tuple[tuple[str, Value], ...] = ()
    add: tuple[tuple[str, int | float], ...] = ()
    pos: Pos = NOWHERE

    def __bool__(self) -> bool:
        return bool(self.set or self.add)


@dataclass(frozen=True, slots=True)
class TextVariant:
    """One variant of a scene's text; the first whose condition holds is shown."""

    text: Template
    condition: Expression | None = None
    pos: Pos = NOWHERE
    if_pos: Pos = NOWHERE  # where its `if` is written


@dataclass(frozen=True, slots=True)
class Route:
    """An entry of `next` (first that holds) or `random` (drawn by weight)."""

    goto: str
    condition: Expression | None = None
    weight: float = 1.0
    pos: Pos = NOWHERE
    goto_pos: Pos = NOWHERE
    if_pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Choice:
    """An option at a choice point."""

    id: str
    label: Template
    goto: str
    index: int  # position in the scene's written list, from 0
    condition: Expression | None = None  # `if`: hidden when false
    requires: Expression | None = None  # shown locked when false
    effect: Effect = Effect()
    default: bool = False
    once: bool = False
    tags: tuple[str, ...] = ()
    pos: Pos = NOWHERE
    goto_pos: Pos = NOWHERE
    explicit_id: bool = False
    if_pos: Pos = NOWHERE
    requires_pos: Pos = NOWHERE
    once_pos: Pos = NOWHERE


@dataclass(frozen=True, slots=True)
class Ending:
    kind: str
    title: str


@dataclass(frozen=True, slots=True)
class Scene:
    """A scene: exactly one of `choices`, `next`, `random`, `ending` is set."""

    id: str
    title: str
    text: tuple[TextVariant, ...] = ()
    chapter: str | None = None
    tags: tuple[str, ...] = ()
    on_enter: Effect = Effect()
    choices: tuple[Choice, ...] = ()
    next: tuple[Route, ...] = ()
    random: tuple[Route, ...] = ()
    timer: float | None = None  # the scene's own `timer`; see Story.timer_for
    ending: Ending | None = None
    rewind: tuple[str, ...] = ()
    pos: Pos = NOWHERE
    rewind_pos: tuple[Pos, ...] = ()

    @property
    def routes(self) -> tuple[Route, ...]:
        return self.next or self.random

    def choice(self, choice_id: str) -> Choice | None:
        for c in self.choices:
            if c.id == choice_id:
                return c
        return None


@dataclass(frozen=True, slots=True)
class Story:
    """A whole loaded story (all its files)."""

    id: str
    title: str
    start: str
    scenes: Mapping[str, Scene]
    state: Mapping[str, Value] = field(default_factory=lambda: MappingProxyType({}))
    author: str | None = None
    description: str | None = None
    language: str | None = None
    version: str | None = None
    timer: float = 0.0
    content_hash: str = ""
    path: str = ""
    files: tuple[str, ...] = ()
    state_pos: Mapping[str, Pos] = field(default_factory=lambda: MappingProxyType({}))
    start_pos: Pos = NOWHERE

    def timer_for(self, scene: Scene) -> float:
        """Seconds this choice point waits (0: untimed)."""
        if not scene.choices:
            return 0.0
        return scene.timer if scene.timer is not None else self.timer

    def endings(self) -> list[Scene]:
        return [s for s in self.scenes.values() if s.ending is not None]

    def chapters(self) -> list[str]:
        seen: dict[str, None] = {}
        for s in self.scenes.values():
            if s.chapter is not None:
                seen.setdefault(s.chapter, None)
        return list(seen)

    def structure(self) -> dict[str, Any]:
        """The story's graph as plain JSON-able data, for telemetry and analytics."""
        return {
            "id": self.id,
            "title": self.title,
            "author": self.author,
            "version": self.version,
            "content_hash": self.content_hash,
            "start": self.start,
            "chapters": self.chapters(),
            "scenes": [_scene_structure(self, s) for s in self.scenes.values()],
        }


def _display(template: str) -> str:
    """A label's template as producers read it: `{{`/`}}` as the braces they stand for."""
    return template.replace("{{", "{").replace("}}", "}")


def _scene_structure(story: Story, s: Scene) -> dict[str, Any]:
    kind = "ending" if s.ending else "choice" if s.choices else "random" if s.random else "next"
    return {
        "id": s.id,
        "title": s.title,
        "chapter": s.chapter,
        "tags": list(s.tags),
        "kind": kind,
        "ending": {"kind": s.ending.kind, "title": s.ending.title} if s.ending else None,
        "timer": story.timer_for(s) or None,
        "choices": [
            {
                "id": c.id,
                "label": _display(c.label.source),
                "goto": c.goto,
                "tags": list(c.tags),
                "default": c.default,
                "conditional": c.condition is not None or c.requires is not None,
            }
            for c in s.choices
        ],
        "routes": [
            {
                "goto": r.goto,
                "conditional": r.condition is not None,
                "weight": r.weight if s.random else None,
            }
            for r in s.routes
        ],
        "rewind": list(s.rewind),
    }
