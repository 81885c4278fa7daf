"""The scene's text, revealed a few characters at a time; any key completes it.

The whole text is laid out from the first frame, so lines never re-wrap or
jump while the reveal runs: the widget renders its text once per size into
strips (cached), and each frame only cuts the line the reveal has reached and
blanks the lines after it. A reveal frame therefore costs a few strip
operations, not a re-wrap of the text, which keeps key presses responsive
while text is appearing. Time comes from the app's clock
(`branching.tui.common.clock`), so tests and snapshots control it. When the reveal
ends, by itself or because the viewer skipped it, the widget posts
`SceneText.Revealed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

from rich.cells import cell_len
from textual.content import Content
from textual.message import Message
from textual.strip import Strip
from textual.visual import Visual
from textual.widget import Widget

from branching.tui.common.clock import Clock, MonotonicClock, Ticker

TICK = 1 / 30
LEAD = 16  # cells shown from the first frame, so a scene starts at once


class SceneText(Widget):
    """Story text with a typewriter reveal."""

    DEFAULT_CSS = """
    SceneText {
        height: auto;
        width: 1fr;
    }
    """

    @dataclass
    class Revealed(Message):
        """The whole text is visible; `skipped` if the viewer cut the reveal short."""

        scene_text: SceneText
        skipped: bool

        @property
        def control(self) -> SceneText:
            return self.scene_text

    def __init__(
        self, clock: Clock | None = None, rate: float = 600.0, *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.clock = clock or MonotonicClock()
        self.rate = rate  # cells per second; 0 shows everything at once
        self.content = Content("")
        self.shown = 0  # cells revealed, counted along the wrapped lines
        self._started = 0.0
        self._ticker: Ticker | None = None
        self._strips: list[Strip] = []
        self._ends: list[int] = []  # cumulative cells at the end of each line
        self._key: tuple[object, ...] | None = None

    @property
    def revealing(self) -> bool:
        return self._ticker is not None

    @property
    def revealed(self) -> bool:
        """All the text is visible."""
        return self.shown < 0

    def show(self, content: Content) -> None:
        """Replace the text and start revealing it."""
        self._stop()
        self.content = content
        self.shown = LEAD
        self._key = None
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
        count = LEAD + int((self.clock.now() - self._started) * self.rate)
        if self._ends and count >= self._ends[-1]:
            self._finish(skipped=False)
        elif count != self.shown:
            self.shown = count
            self.refresh()

    def _finish(self, skipped: bool) -> None:
        self._stop()
        self.shown = -1  # everything
        self.refresh()
        self.post_message(self.Revealed(self, skipped))

    def _stop(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    def on_unmount(self) -> None:
        self._stop()

    # -- rendering ----------------------------------------------------------------------

    def render(self) -> Content:
        return self.content

    def _lines(self) -> list[Strip]:
        """The full text as strips for the current size and style (cached)."""
        style = self.visual_style
        key = (id(self.content), self.size, style)
        if key != self._key:
            width, height = self.size
            self._strips = Visual.to_strips(self, self.content, width, height, style)
            self._ends = list(accumulate(cell_len(s.text.rstrip()) for s in self._strips))
            self._key = key
        return self._strips

    def render_line(self, y: int) -> Strip:
        lines = self._lines()
        width = self.size.width
        blank = Strip.blank(width, self.visual_style.rich_style)
        if y >= len(lines):
            return blank
        line = lines[y]
        if self.shown < 0:
            return line
        before = self._ends[y - 1] if y else 0
        if self.shown >= self._ends[y]:
            return line
        if self.shown <= before:
            return blank
        cut = self.shown - before
        return Strip.join(
            [line.crop(0, cut), Strip.blank(width - cut, self.visual_style.rich_style)]
        )
