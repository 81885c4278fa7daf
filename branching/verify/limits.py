"""When an exploration must stop early: a bound on states, time, memory, or Ctrl-C.

A search that dies loses everything it found, so the searches ask a `Watch`
every few thousand states whether to go on, and on "no" they stop cleanly and
hand back what they have, marked incomplete with the reason. Memory is the
process's resident size, read from /proc/self/statm where there is one (a
cheap read, done at most every 16,384 states) and otherwise from the peak
that `resource` reports. The default memory limit is half of the machine's
physical memory, at most 8 GiB. Ctrl-C (SIGINT) only sets a flag while a
search runs in the main thread. Standard library only (headless core).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType

CHECK_EVERY = 16_384
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*\Z", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes in '2G', '500M', '1.5g', '800000' (binary units); ValueError if not a size."""
    m = _SIZE.match(text)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"'{text}' is not a memory size (write e.g. 500M or 2G)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def default_max_memory() -> int:
    """Half of physical memory, at most 8 GiB (2 GiB when it cannot be known)."""
    total = physical_memory()
    return min(total // 2, 8 << 30) if total else 2 << 30


def resident_bytes() -> int:
    """This process's resident memory now (its peak where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def size_text(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


@dataclass(frozen=True, slots=True)
class Limits:
    """How far an exploration may go. None: no bound of that kind."""

    max_states: int | None = 200_000
    max_seconds: float | None = None
    max_memory: int | None = None


class Watch:
    """Tells a search whether to go on; remembers why it stopped."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.started = time.perf_counter()
        self.stopped: str | None = None  # why the search stopped early, in words
        self.interrupted = False
        self.peak = 0
        self._countdown = CHECK_EVERY

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def tick(self, n: int = 1) -> bool:
        """Count `n` states; True when the search must stop now."""
        self._countdown -= n
        if self._countdown > 0 and not self.interrupted:
            return self.stopped is not None
        self._countdown = CHECK_EVERY
        return self.check()

    def check(self) -> bool:
        """Look at the clock, memory and Ctrl-C now; True when the search must stop."""
        if self.stopped is not None:
            return True
        limits = self.limits
        if self.interrupted:
            self.stopped = "a Ctrl-C"
        elif limits.max_seconds is not None and self.elapsed() > limits.max_seconds:
            self.stopped = f"the time limit of {limits.max_seconds:g} s"
        elif limits.max_memory is not None:
            rss = resident_bytes()
            self.peak = max(self.peak, rss)
            if rss > limits.max_memory:
                self.stopped = f"the memory limit of {size_text(limits.max_memory)}"
        return self.stopped is not None

    def out_of_memory(self) -> None:
        self.stopped = self.stopped or "Python ran out of memory"

    @contextlib.contextmanager
    def catching_interrupts(self) -> Iterator[None]:
        """While inside, Ctrl-C asks the search to stop (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(_signum: int, _frame: FrameType | None) -> None:
            self.interrupted = True
            self._countdown = 0

        previous = signal.signal(signal.SIGINT, stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
