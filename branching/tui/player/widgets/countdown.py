"""A bar that drains while a timed choice waits, and says when time is up.

It reads time from the app's clock (real or manual) and ticks through the
clock's `every`, so a test can move time by hand. `Countdown.Expired` is
posted once, when the remaining time reaches zero while running.

Time counts only while the viewer can act on it. Besides the viewer's own
pause (`pause`/`resume`, the `p` key), the player *holds* the bar (`hold`,
with the reason shown beside it) while something else has the viewer's
attention: text above the choices not yet read, a dialog on top, the
playthrough not yet settled. A bar can be armed held (`arm`), full and
waiting, and starts draining on `release`. Time spent paused or held does
not count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from textual.content import Content
from textual.message import Message
from textual.widget import Widget

from branching.tui.common.clock import Clock, MonotonicClock, Ticker

TICK = 1 / 15


class Countdown(Widget):
    """A draining bar with the seconds left."""

    COMPONENT_CLASSES = {
        "countdown--full",
        "countdown--low",
        "countdown--empty",
        "countdown--label",
    }

    DEFAULT_CSS = """
    Countdown {
        height: 1;
        width: 1fr;
        & > .countdown--full { color: $accent; }
        & > .countdown--low { color: $error; }
        & > .countdown--empty { color: $foreground 20%; }
        & > .countdown--label { color: $text-muted; }
    }
    """

    @dataclass
    class Expired(Message):
        """The time ran out."""

        countdown: Countdown

        @property
        def control(self) -> Countdown:
            return self.countdown

    def __init__(self, clock: Clock | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock or MonotonicClock()
        self.total = 0.0
        self.state = "idle"  # idle | running | paused | held | expired
        self.reason = ""  # why the bar is held, shown beside it
        self._spent = 0.0  # seconds counted before the current running stretch
        self._since = 0.0  # when the current running stretch began
        self._ticker: Ticker | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def paused(self) -> bool:
        return self.state == "paused"

    def elapsed(self) -> float:
        running = self.clock.now() - self._since if self.running else 0.0
        return self._spent + running

    def remaining(self) -> float:
        return max(0.0, self.total - self.elapsed())

    @property
    def held(self) -> bool:
        return self.state == "held"

    def arm(self, seconds: float, reason: str) -> None:
        """Show a full bar of `seconds` that waits (held, saying `reason`) until `release`."""
        self.stop()
        self.total = float(seconds)
        self.state = "held"
        self.reason = reason
        self.refresh()  # no ticker until `release`: a held bar has nothing to count

    def hold(self, reason: str) -> bool:
        """Stop the clock for a reason outside the viewer's control; True if it was running."""
        if self.state not in ("running", "held"):
            return False
        was_running = self.running
        if was_running:
            self._spent += self.clock.now() - self._since
        self.state = "held"
        if reason != self.reason or was_running:
            self.reason = reason
            self.refresh()
        return was_running

    def release(self) -> bool:
        """Let a held bar drain again; True if it was held."""
        if not self.held:
            return False
        self._since = self.clock.now()
        self.state = "running"
        self.reason = ""
        if self._ticker is None:
            self._ticker = self.clock.every(self, TICK, self._tick)
        self.refresh()
        return True

    def pause(self) -> bool:
        """Freeze the bar; True if it was running."""
        if not self.running:
            return False
        self._spent += self.clock.now() - self._since
        self.state = "paused"
        self.refresh()
        return True

    def resume(self) -> bool:
        """Go on draining; True if it was paused."""
        if not self.paused:
            return False
        self._since = self.clock.now()
        self.state = "running"
        self.refresh()
        return True

    def stop(self, *, repaint: bool = True) -> None:
        """Stop and clear the bar without expiring (a choice was made).

        With `repaint=False` the bar stops at once but stays drawn, frozen, until
        the next frame that repaints it: the player takes a choice this way, so
        that the key press itself causes no frame and the next scene, usually
        ready within milliseconds, is not held back to the frame after it.
        """
        self._stop_ticker()
        self.state = "idle"
        self.reason = ""
        self.total = 0.0
        self._spent = 0.0
        if repaint:
            self.refresh()

    def _stop_ticker(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    def on_unmount(self) -> None:
        self._stop_ticker()

    def _tick(self) -> None:
        if not self.running:
            return
        self.refresh()
        if self.remaining() <= 0:
            self._spent = self.total
            self.state = "expired"
            self._stop_ticker()
            self.post_message(self.Expired(self))

    def render(self) -> Content:
        if self.state == "idle":
            return Content("")
        left = self.remaining()
        label = f" {math.ceil(left - 1e-9):>3d}s "
        if self.paused:
            label += " paused: p resumes "
        elif self.held:
            label += f" waits {self.reason} " if self.reason else " waits "
        width = max(0, self.size.width - len(label))
        filled = round(width * left / self.total) if self.total else 0
        low = left <= min(5.0, self.total / 3)
        bar_style = self.get_visual_style("countdown--low" if low else "countdown--full")
        return Content.assemble(
            ("━" * filled, bar_style),
            ("━" * (width - filled), self.get_visual_style("countdown--empty")),
            (label, self.get_visual_style("countdown--label")),
        )
