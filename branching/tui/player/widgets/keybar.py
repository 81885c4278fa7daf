"""The key bar at the bottom of the player's screens: which keys do what, now.

Why not Textual's `Footer`? It rebuilds all its key widgets whenever the
focused widget or the bindings change, which on the player happens on every
step and cost more than drawing the next scene. The player knows exactly when
its keys change (a timer to pause, a choice to go back to), so this bar is one
line of `Content`, redrawn only when its hints change. Clicking a hint presses
its key. Colours come from the theme's footer variables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual import events
from textual.content import Content
from textual.widget import Widget


@dataclass(frozen=True, slots=True)
class KeyHint:
    """One key and what it does; `press` is the key a click sends (None: not clickable)."""

    key: str
    label: str
    press: str | None = None
    enabled: bool = True


class KeyBar(Widget):
    """One line of key hints."""

    COMPONENT_CLASSES = {"keybar--key", "keybar--label", "keybar--disabled"}

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        width: 1fr;
        background: $footer-background;
        & > .keybar--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .keybar--label {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        & > .keybar--disabled {
            color: $footer-description-foreground 50%;
            text-style: dim;
        }
    }
    """

    def __init__(self, hints: Sequence[KeyHint] = (), *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hints: tuple[KeyHint, ...] = tuple(hints)
        self._spans: list[tuple[int, int, KeyHint]] = []

    def set_hints(self, hints: Sequence[KeyHint]) -> None:
        """Show `hints` (redrawn only if they changed)."""
        hints = tuple(hints)
        if hints != self.hints:
            self.hints = hints
            self.refresh()

    def render(self) -> Content:
        parts: list[Content] = []
        self._spans = []
        x = 0
        for hint in self.hints:
            key_style = self.get_visual_style("keybar--key" if hint.enabled else "keybar--disabled")
            label_style = self.get_visual_style(
                "keybar--label" if hint.enabled else "keybar--disabled"
            )
            piece = Content.assemble((f" {hint.key} ", key_style), (f"{hint.label} ", label_style))
            self._spans.append((x, x + piece.cell_length, hint))
            x += piece.cell_length
            parts.append(piece)
        return Content.assemble(*parts)

    def on_click(self, event: events.Click) -> None:
        for start, end, hint in self._spans:
            if start <= event.x < end and hint.enabled and hint.press:
                self.app.simulate_key(hint.press)
                return
