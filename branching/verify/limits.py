"""When an exploration must stop early: a bound on states, time, memory, or Ctrl-C.

A search that dies loses everything it found, so the searches ask a `Watch`
whether to go on, and on "no" they stop cleanly and hand back what they have,
marked incomplete with the reason. Memory is the process's resident size,
read from /proc/self/statm where there is one (a cheap read) and otherwise
from the peak that `resource` reports.

A limit is honoured *before* it is crossed, not noticed after: a search asks
`Watch.afford` before each large allocation (a batch of new states, a set or
dict outgrowing its table, which doubles it at once), with its size estimated
from CPython's growth rules (`table_growth`, `int_bytes`), and stops when the
memory in use plus that would pass the limit. The periodic check (every
16,384 states) also adds what the search says it may allocate before the
next one (`Watch.reserve`: the merged search's new dict tables, and as much
as the last interval took for the rest). So the peak stays within the limit plus what no
estimate sees (the interpreter's own small allocations, the report): a few
per cent, stated in README.md.

The default limit is half of the memory available when the command starts
(MemAvailable, not the machine's total: on a shared or busy machine half of
the total may not be there), at most 8 GiB. Ctrl-C (SIGINT) only sets a flag
while a search runs in the main thread. Standard library only (headless core).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

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


def available_memory() -> int | None:
    """Memory the system can give this process now without swapping, where it says so:
    MemAvailable (Linux), lowered to what a cgroup (a container) still allows and to
    the address space `ulimit -v` allows."""
    found: int | None = None
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    found = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return None
    for room in (_cgroup_room(), _address_room()):
        if room is not None:
            found = room if found is None else min(found, room)
    return found


def _address_room() -> int | None:
    """The address space `ulimit -v` (RLIMIT_AS) allows, if it is bounded."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
        return None
    return None if soft == resource.RLIM_INFINITY else soft


def _cgroup_room() -> int | None:
    """What the process's cgroup (v2) still allows: memory.max - memory.current, if bounded."""
    try:
        with open("/proc/self/cgroup", encoding="ascii") as f:
            path = next((line[3:].strip() for line in f if line.startswith("0::")), None)
        if path is None:
            return None
        folder = os.path.join("/sys/fs/cgroup", path.lstrip("/"))
        with open(os.path.join(folder, "memory.max"), encoding="ascii") as f:
            cap = f.read().strip()
        if cap == "max":
            return None
        with open(os.path.join(folder, "memory.current"), encoding="ascii") as f:
            return max(0, int(cap) - int(f.read().strip()))
    except (OSError, ValueError):
        return None


DEFAULT_CEILING = 8 << 30
DEFAULT_FLOOR = 256 << 20


def default_max_memory() -> int:
    """Half of the memory available now (or of physical memory where that cannot be
    read), at most 8 GiB and at least 256 MiB; 2 GiB when neither can be known."""
    free = available_memory()
    total = physical_memory()
    if free is None and total is None:
        return 2 << 30
    half = min(x // 2 for x in (free, total) if x is not None)
    return max(DEFAULT_FLOOR, min(half, DEFAULT_CEILING))


def resident_bytes() -> int:
    """This process's resident memory now (its peak where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, else KiB


# ---------------------------------------------------------------- what an allocation costs

_ALIGN = 16  # CPython's small-object allocator rounds every block up to this (64-bit)
_SET_EMPTY = sys.getsizeof(set())  # a set with its small inline table
_SET_SLOT = 16  # (hash, pointer)
_DICT_HEAD = 96  # sys.getsizeof of a dict beyond its index and entries (CPython 3.11+)
_DICT_ENTRY = 24  # (hash, key, value), for keys that are not all strings


def int_bytes(bits: int) -> int:
    """Bytes one int of up to `bits` bits takes in memory (rounded up by the allocator)."""
    size = sys.getsizeof((1 << max(bits, 1)) - 1)
    return -(-size // _ALIGN) * _ALIGN


def _pow2_above(n: int) -> int:
    return 1 << max(3, n.bit_length())


def _dict_bytes(slots: int) -> int:
    index = 1 if slots <= 0xFF else 2 if slots <= 0xFFFF else 4 if slots <= 0xFFFFFFFF else 8
    return _DICT_HEAD + slots * index + (2 * slots // 3) * _DICT_ENTRY


def _dict_slots(d: dict[Any, Any]) -> int | None:
    """The size of a dict's table, from its sys.getsizeof (None: not a layout known here)."""
    size = sys.getsizeof(d)
    for k in range(3, 48):
        if _dict_bytes(1 << k) == size:
            return 1 << k
    return None


def table_growth(container: set[Any] | dict[Any, Any], extra: int) -> int:
    """Bytes a set or dict allocates at once when `extra` more entries go in: a new table
    if it outgrows the one it has (CPython grows it to 2-4 times its entries), else 0.

    The old table lives until the new one is filled, so this is what the step adds to
    the peak. A layout this does not recognise is assumed to double."""
    n = len(container) + extra
    if isinstance(container, set):
        size = sys.getsizeof(container)
        slots = 8 if size <= _SET_EMPTY else (size - _SET_EMPTY) // _SET_SLOT
        if n * 5 < (slots - 1) * 3:
            return 0
        return _SET_SLOT * _pow2_above(2 * n if n > 50_000 else 4 * n)
    grown = _dict_bytes(max(8, 1 << (3 * n - 1).bit_length()))  # a power of 2 >= 3 * used
    table = _dict_slots(container)
    if table is None:  # empty (no table yet), or a layout not known here
        return max(grown, 2 * sys.getsizeof(container))
    if n <= 2 * table // 3:
        return 0
    return _dict_bytes(max(8, 1 << (3 * (n - 1) - 1).bit_length()))


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
        # given how much the resident size grew since the last check, the bytes the
        # search may allocate before the next one (see `check`)
        self.reserve: Callable[[int], int] | None = None
        self._countdown = CHECK_EVERY
        self._rss = 0  # resident size at the last read
        self._since = 0  # bytes `afford` let through since then
        self._checked = 0  # resident size at the last check

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
        """Look at the clock, memory and Ctrl-C now; True when the search must stop.

        Memory: the resident size now, plus what the search says it may allocate
        before it next checks (`reserve`), must stay within the limit."""
        if self.stopped is not None:
            return True
        limits = self.limits
        if self.interrupted:
            self.stopped = "a Ctrl-C"
        elif limits.max_seconds is not None and self.elapsed() > limits.max_seconds:
            self.stopped = f"the time limit of {limits.max_seconds:g} s"
        elif limits.max_memory is not None:
            rss = resident_bytes()
            grown, self._checked = rss - (self._checked or rss), rss
            self._measure(self.reserve(max(grown, 0)) if self.reserve is not None else 0, rss)
        return self.stopped is not None

    def afford(self, extra: int) -> bool:
        """Whether the search may allocate about `extra` more bytes now; False: it must
        stop (the reason is set). Reads the resident size only when the bytes let
        through since the last read could bring it near the limit."""
        if self.stopped is not None:
            return False
        limit = self.limits.max_memory
        if limit is None:
            return True
        if self._rss and self._rss + self._since + extra <= limit:
            self._since += extra
            return True
        self._measure(extra)
        return self.stopped is None

    def _measure(self, extra: int, rss: int | None = None) -> None:
        limit = self.limits.max_memory
        assert limit is not None
        rss = resident_bytes() if rss is None else rss
        self.peak = max(self.peak, rss)
        self._rss, self._since = rss, extra
        if rss + extra > limit:
            more = f", and going on needed about {size_text(extra)} more" if extra else ""
            self.stopped = f"the memory limit of {size_text(limit)} ({size_text(rss)} in use{more})"

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
