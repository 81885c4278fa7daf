"""How figures are written in every output, and the small-count threshold.

`--min-count K` hides any count from 1 to K-1 (and the percentage and bar that
would give it away) in shared outputs: a producer can mail a report without
revealing what one or two identifiable viewers did. Zero stays visible: "nobody
chose this" identifies no one and is what producers need to see. This is
primary suppression only: a hidden figure can sometimes be worked out from a
total and its visible siblings, so use a threshold with care on tiny audiences.
"""

from __future__ import annotations

from dataclasses import dataclass

from branching.analytics.filters import Unit

UNIT_SENTENCE: dict[str, str] = {
    "choices": (
        "Counts are every time a choice was taken (a viewer who loops back or "
        "rewinds counts again); percentages are of all the ways each scene was "
        "left, by a choice or by stopping there."
    ),
    "sessions": (
        "Counts are sessions (playthroughs); percentages are of the sessions "
        "that reached each scene."
    ),
    "viewers": (
        "Counts are unique viewers; percentages are of the viewers who reached each scene."
    ),
}

UNIT_SHORT: dict[str, str] = {
    "choices": "counts: every time a choice was taken; shares of each scene's exits",
    "sessions": "counts: sessions; shares of the sessions reaching each scene",
    "viewers": "counts: unique viewers; shares of the viewers reaching each scene",
}

VISITS: dict[str, tuple[str, str]] = {
    "choices": ("visit", "visits"),
    "sessions": ("session", "sessions"),
    "viewers": ("viewer", "viewers"),
}


@dataclass(frozen=True, slots=True)
class Figures:
    """Formats counts and percentages, hiding counts below `min_count`."""

    min_count: int = 0

    def hidden(self, n: int | None) -> bool:
        return n is not None and 0 < n < self.min_count

    def count(self, n: int | None) -> str:
        if n is None:
            return "-"
        return f"<{self.min_count}" if self.hidden(n) else f"{n:,}"

    def share(self, n: int | None, base: int | None) -> float | None:
        if n is None or not base or self.hidden(n):
            return None
        return n / base

    def pct(self, n: int | None, base: int | None) -> str:
        value = self.share(n, base)
        return "-" if value is None else f"{value * 100:.1f}%"

    def rate(self, value: float | None, n: int | None = None) -> str:
        if value is None or self.hidden(n):
            return "-"
        return f"{value * 100:.1f}%"

    def value(self, n: int | None) -> int | None:
        """`n` for machine-readable outputs: None when hidden."""
        return None if self.hidden(n) else n


def plural(n: int, unit: Unit) -> str:
    one, many = VISITS[unit]
    return one if n == 1 else many


def seconds(ms: float | None) -> str:
    """Milliseconds as seconds for people: 1.2 s, 12 s."""
    if ms is None:
        return "-"
    s = ms / 1000
    return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"


def reached(text: str, n: int, unit: Unit) -> str:
    """'reached 3 times' / 'reached by 3 sessions' (text: the count, maybe hidden)."""
    if unit == "choices":
        return f"reached {text} {'time' if n == 1 else 'times'}"
    return f"reached by {text} {plural(n, unit)}"
