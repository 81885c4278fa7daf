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
from branching.analytics.graph import FlowScene

# the vocabulary of the README's "What the numbers count", one sentence a unit
UNIT_SENTENCE: dict[str, str] = {
    "sessions": (
        "Counts are sessions (playthroughs); percentages are of the sessions "
        "that reached each scene. Completed: the session reached an ending."
    ),
    "viewers": (
        "Counts are unique viewers; percentages are of the viewers who reached "
        "each scene. Completed: at least one of the viewer's sessions reached an ending."
    ),
    "times": (
        "Counts are times taken: every pass through a choice (a viewer who loops "
        "back or rewinds counts again); percentages are of all the ways each "
        "scene was left, by a choice or by stopping there. Endings and 'left "
        "here' count sessions."
    ),
}

UNIT_SHORT: dict[str, str] = {
    "sessions": "counts: sessions; shares of the sessions reaching each scene",
    "viewers": "counts: unique viewers; shares of the viewers reaching each scene",
    "times": "counts: times taken (loops and rewinds count again); shares of each scene's exits",
}

VISITS: dict[str, tuple[str, str]] = {
    "sessions": ("session", "sessions"),
    "viewers": ("viewer", "viewers"),
    "times": ("visit", "visits"),
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
    if unit == "times":
        return f"reached {text} {'time' if n == 1 else 'times'}"
    return f"reached by {text} {plural(n, unit)}"


def ended_here(scene: FlowScene, unit: Unit, figures: Figures) -> str:
    """An ending's figure: '9 sessions ended here', and who else reached it.

    Ended: completed there (the same count as the endings of `branching
    stats`); reached: shown the ending, some of whom went back from it.
    """
    if scene.ended is None:  # counts from elsewhere that do not say who ended where
        return reached(figures.count(scene.visits), scene.visits, unit)
    who = "sessions" if unit == "times" else unit  # endings count sessions in `times`
    text = f"{figures.count(scene.ended)} {plural(scene.ended, who)} ended here"
    if unit == "times":
        return f"{text}, shown {figures.count(scene.visits)} times"
    if scene.visits != scene.ended:
        text += f" (reached by {figures.count(scene.visits)}"
        if scene.left:
            text += f"; {figures.count(scene.left)} went back and stopped here"
        text += ")"
    return text


def timed_out(scene: FlowScene, unit: Unit, figures: Figures) -> str:
    """'the clock chose for 3 sessions' / '3 of 40 timed out' (the `times` unit)."""
    if unit == "times":
        taken = sum(e.count for e in scene.edges)
        return f"{figures.count(scene.timed_out)} of {figures.count(taken)} timed out"
    if scene.timed_out == 0:
        return "the clock never chose"
    return f"the clock chose for {figures.count(scene.timed_out)} {plural(scene.timed_out, unit)}"
