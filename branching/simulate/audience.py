"""What a simulated audience is: its size, how its viewers behave, who they are, and when.

Plain data with checked values, so the command line and tests build one the
same way; `run.py` reads it. Shares are fractions from 0 to 1. The defaults
describe an ordinary audience: most viewers play once, some come back to find
other endings, a few give up on the way, one decision in ten runs out the clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from branching.errors import UsageProblem
from branching.simulate.personas import Persona
from branching.store.context import check_attrs
from branching.store.errors import InvalidInput

STRATEGIES = ("random", "least-used", "default")

# Sessions started per hour of the day (UTC), an evening-heavy rhythm.
DAILY_RHYTHM = (
    1, 1, 1, 1, 1, 1, 2, 3, 4, 4, 4, 5,
    6, 5, 5, 5, 6, 8, 10, 12, 12, 10, 6, 3,
)  # fmt: skip

DEFAULT_ATTRS: dict[str, dict[str, float]] = {
    "region": {"NL": 0.3, "UK": 0.25, "DE": 0.2, "FR": 0.15, "US": 0.1},
    "device": {"laptop": 0.55, "desktop": 0.35, "ssh": 0.1},
}


@dataclass(frozen=True)
class Audience:
    """Everything that shapes a simulated audience; `seed` makes it reproducible."""

    sessions: int
    viewers: int
    seed: int = 0
    strategy: str = "random"
    personas: tuple[Persona, ...] = ()
    abandon: float = 0.03  # chance, at each choice point, that the viewer gives up
    timeouts: float = 0.1  # share of timed decisions where the clock chooses
    back: float = 0.02  # chance, at each choice point, of going back one choice first
    pause: float = 0.01  # chance, at each choice point, of pausing before choosing
    replay: float = 0.5  # chance that a viewer who reached an ending plays again
    rewind: float = 0.15  # chance that a viewer at an ending goes back to an offered choice
    # the last 30 whole days (UTC), so no session starts in the future
    start: date = field(default_factory=lambda: datetime.now(UTC).date() - timedelta(days=30))
    end: date = field(default_factory=lambda: datetime.now(UTC).date() - timedelta(days=1))
    attrs: dict[str, dict[str, float]] = field(default_factory=lambda: dict(DEFAULT_ATTRS))
    decide_median_ms: int = 3500

    def __post_init__(self) -> None:
        if self.sessions < 1:
            raise UsageProblem("--sessions must be at least 1")
        if self.viewers < 1:
            raise UsageProblem("--viewers must be at least 1")
        if self.strategy not in STRATEGIES:
            raise UsageProblem(f"unknown strategy {self.strategy!r}; use {', '.join(STRATEGIES)}")
        for name in ("abandon", "timeouts", "back", "pause", "replay", "rewind"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise UsageProblem(f"--{name} must be a share from 0 to 1, not {value}")
        if self.end < self.start:
            raise UsageProblem("the date range ends before it starts (--from is after --to)")

    def fingerprint(self) -> int:
        """128 bits that tell this audience from any other, the seed and all else included.

        Mixed into the simulated session ids, so running the same command with
        the same dates again into the same file finds its sessions there already
        (nothing is added twice), and another audience with the same seed (more
        sessions, other dates or shares) adds its own sessions instead of
        colliding with them. The fields are listed one by one, in a fixed order
        and form, so that a field added later (left out here while it has its
        default) changes no existing audience's ids.
        """
        personas = tuple(
            (p.name, p.share, p.strategy, sorted(p.exact.items()), sorted(p.by_id.items()),
             sorted(p.by_tag.items()))
            for p in self.personas
        )  # fmt: skip
        attrs = tuple((key, sorted(shares.items())) for key, shares in sorted(self.attrs.items()))
        spec = (
            "audience/1", self.sessions, self.viewers, self.seed, self.strategy, personas,
            self.abandon, self.timeouts, self.back, self.pause, self.replay, self.rewind,
            self.start.isoformat(), self.end.isoformat(), attrs, self.decide_median_ms,
        )  # fmt: skip
        return int.from_bytes(hashlib.sha256(repr(spec).encode()).digest()[:16], "big")


def parse_share_option(text: str) -> tuple[str, dict[str, float]]:
    """`region=NL:0.5,UK:0.3,FR:0.2` -> ('region', {...}), shares scaled to sum to 1."""
    key, sep, rest = text.partition("=")
    key = key.strip()
    if not sep or not key or not rest.strip():
        raise UsageProblem(f"--attr-share {text!r} must look like KEY=VALUE:SHARE,VALUE:SHARE")
    shares: dict[str, float] = {}
    for part in rest.split(","):
        value, colon, weight = part.partition(":")
        value = value.strip()
        try:
            share = float(weight) if colon else 1.0
        except ValueError:
            raise UsageProblem(f"--attr-share {key}: {weight!r} is not a number") from None
        if not value or share < 0 or share != share or share == float("inf"):
            raise UsageProblem(f"--attr-share {key}: {part.strip()!r} needs VALUE:SHARE >= 0")
        if value in shares:
            raise UsageProblem(f"--attr-share {key}: {value!r} is given twice")
        shares[value] = share
    total = sum(shares.values())
    if total <= 0:
        raise UsageProblem(f"--attr-share {key}: the shares add up to 0")
    for value in shares:  # the same rules as a player's --attr KEY=VALUE
        try:
            check_attrs({key: value})
        except InvalidInput as exc:
            raise UsageProblem(f"--attr-share {key}: {exc}") from None
    return key, {v: s / total for v, s in shares.items()}
