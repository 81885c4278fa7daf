"""The scene's text, revealed a few characters at a time; any key completes it.

The whole text is laid out from the first frame and the part not yet revealed
is drawn in the background colour, so lines never re-wrap or jump while the
reveal runs. Time comes from the app's clock (`branching.tui.clock`), so tests
and snapshots control it. When the reveal ends, by itself or because the
viewer skipped it, the widget posts `SceneText.Revealed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.style import Style
from textual.widget import Widget

from branching.tui.clock import Clock, MonotonicClock, Ticker

TICK = 1 / 30


class SceneText(Widget):
    """Story text with a typewriter reveal."""

    DEFAULT_CSS = """
    SceneText {
        height: auto;
        width: 1fr;
    }
    """

    shown: reactive[int] = reactive(0, layout=False)

    @dataclass
    class Revealed(Message):
        """The whole text is visible; `skipped` if the viewer cut the reveal short."""

        scene_text: SceneText
        skipped: bool

        @property
        def control(self) -> SceneText:
            return self.scene_text

    def __init__(self, clock: Clock | None = None, rate: float = 400.0, *,
                 id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.clock = clock or MonotonicClock()
        self.rate = rate  # characters per second; 0 shows everything at once
        self.content = Content("")
        self._started = 0.0
        self._ticker: Ticker | None = None

    @property
    def revealing(self) -> bool:
        return self._ticker is not None

    def show(self, content: Content) -> None:
        """Replace the text and start revealing it."""
        self._stop()
        self.content = content
        self.set_reactive(SceneText.shown, 0)
        self.refresh(layout=True)
        if self.rate <= 0 or not content.plain:
            self._finish(skipped=False)
            return
        self._started = self.clock.now()
        self._ticker = self.clock.every(self, TICK, self._tick)

    def complete(self) -> bool:
        """Show the rest at once; True if a reveal was running."""
        if not self.revealing:
            return False
        self._finish(skipped=True)
        return True

    def on_click(self) -> None:
        self.complete()

    def _tick(self) -> None:
        count = int((self.clock.now() - self._started) * self.rate)
        if count >= len(self.content.plain):
            self._finish(skipped=False)
        else:
            self.shown = count

    def _finish(self, skipped: bool) -> None:
        self._stop()
        self.shown = len(self.content.plain)
        self.post_message(self.Revealed(self, skipped))

    def _stop(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    def on_unmount(self) -> None:
        self._stop()

    def render(self) -> Content:
        total = len(self.content.plain)
        if self.shown >= total:
            return self.content
        hidden = Style(foreground=self.background_colors[1])
        return self.content[: self.shown] + self.content[self.shown:].stylize(hidden)
