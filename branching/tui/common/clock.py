"""Time as the player sees it: a real clock, or one that tests move by hand.

The countdown and the text reveal never call `time` or sleep: they ask the
app's `Clock` for `now()` and for a `Ticker` that calls them back. The real
`MonotonicClock` ticks with Textual intervals; `ManualClock` ticks only when a
test calls `advance(seconds)`, so a twenty-second timeout takes no real time
and a snapshot shows a bar frozen at an exact fraction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from textual.message_pump import MessagePump
from textual.timer import Timer


class Ticker(Protocol):
    def stop(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    def every(self, owner: MessagePump, interval: float, callback: Callable[[], None]) -> Ticker:
        """Call `callback` about every `interval` seconds while `owner` lives."""
        ...


class MonotonicClock:
    """The real clock: `time.monotonic` and Textual interval timers."""

    def now(self) -> float:
        return time.monotonic()

    def every(self, owner: MessagePump, interval: float, callback: Callable[[], None]) -> Timer:
        return owner.set_interval(interval, callback)


class _ManualTicker:
    def __init__(self, clock: ManualClock, interval: float, callback: Callable[[], None]) -> None:
        self.clock = clock
        self.interval = interval
        self.callback = callback
        self.due = clock.time + interval

    def run_if_due(self) -> None:
        """Run once if an interval has passed (missed ticks are skipped, as Textual does)."""
        now = self.clock.time
        if now < self.due:
            return
        self.due += self.interval * (int((now - self.due) / self.interval) + 1)
        self.callback()

    def stop(self) -> None:
        if self in self.clock.tickers:
            self.clock.tickers.remove(self)


class ManualClock:
    """A clock that stands still until `advance` is called (tests, snapshots)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.time = start
        self.tickers: list[_ManualTicker] = []

    def now(self) -> float:
        return self.time

    def every(
        self, owner: MessagePump, interval: float, callback: Callable[[], None]
    ) -> _ManualTicker:
        ticker = _ManualTicker(self, interval, callback)
        self.tickers.append(ticker)
        return ticker

    def advance(self, seconds: float) -> None:
        """Move time on and run once each ticker whose interval has passed."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self.time += seconds
        for ticker in list(self.tickers):
            if ticker in self.tickers:
                ticker.run_if_due()
