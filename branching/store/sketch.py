"""The time-to-decide sketch: the one definition of the median and 90th percentile.

The timing table of `branching stats` shows, per choice point, the median and
the 90th percentile of the milliseconds viewers took to decide. Keeping every
value to sort it does not scale (ten million events), so the figures are read
from a histogram that can be summed: the store keeps its buckets per class of
sessions (`agg_decide`, `decide_acts.py`), and a scan of the events (SQLite,
DuckDB, Spark) builds the same buckets from `decide_ms, COUNT(*)` grouped.
Both hand the buckets to `percentiles`, so the figures are identical whichever
path answers.

The buckets (`bucket` gives a value's lower bound, `width` its width):
100 ms wide below 10,000 ms, 1,000 ms wide below 100,000 ms, 10,000 ms wide
above. A value is its whole milliseconds (a fraction is cut off, as SQLite's
CAST does; a negative value counts as 0).

The rank rule is `at`, the definitions of Python's `statistics`: the median is
the middle value (the mean of the two middle ones for an even count); the 90th
percentile is `quantiles(n=10, method="inclusive")[8]`, interpolating between
the values at ranks around 0.9 * (n - 1). The value of rank r (from 0) inside
a bucket holding c values whose first has rank k is
`low + width * (r - k + 0.5) / c`: the c values spread evenly across the
bucket. So a figure is within one bucket width of the exact one (100 ms below
10 s), and equal to it wherever a bucket's values do spread evenly.

Standard library only: the store, the analytics and a test all import it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from itertools import accumulate

FINE, MEDIUM = 10_000, 100_000  # ms: below FINE 100 ms buckets, below MEDIUM 1 s, then 10 s


def width(low: int) -> int:
    """The width in ms of the bucket starting at `low` (a value `bucket` gave)."""
    return 100 if low < FINE else 1_000 if low < MEDIUM else 10_000


def bucket(ms: int | float) -> int:
    """The lower bound of the bucket holding `ms` milliseconds."""
    whole = max(int(ms), 0)
    step = width(whole)
    return whole - whole % step


def bucket_sql(column: str) -> str:
    """SQLite SQL for `bucket(column)` (the store's own SQL: integer division is SQLite's)."""
    ms = f"MAX(CAST({column} AS INTEGER), 0)"
    return (
        f"CASE WHEN {ms} < {FINE} THEN {ms} / 100 * 100 "
        f"WHEN {ms} < {MEDIUM} THEN {ms} / 1000 * 1000 ELSE {ms} / 10000 * 10000 END"
    )


def at(n: int, value: Callable[[int], float]) -> tuple[float | None, float | None]:
    """The median and 90th percentile of `n` sorted values, `value(i)` the i-th (from 0).

    Only the ranks the two figures need are read: the middle one or two, and
    the two around 0.9 * (n - 1).
    """
    if n == 0:
        return None, None
    if n == 1:
        return float(value(0)), float(value(0))
    half = n // 2
    median = float(value(half)) if n % 2 else (value(half - 1) + value(half)) / 2
    j, delta = divmod(9 * (n - 1), 10)
    return median, (value(j) * (10 - delta) + value(j + 1) * delta) / 10


def histogram(values: Iterable[tuple[int | float, int]]) -> dict[int, int]:
    """Bucket lower bound -> count, from (milliseconds, how many times) pairs."""
    out: dict[int, int] = {}
    for ms, count in values:
        low = bucket(ms)
        out[low] = out.get(low, 0) + int(count)
    return out


def percentiles(buckets: dict[int, int]) -> tuple[float | None, float | None]:
    """(median, 90th percentile) in ms of the values counted in `buckets` (low -> count).

    Buckets with no values (a count of 0 left by the aggregates) are skipped.
    """
    held = sorted((low, count) for low, count in buckets.items() if count > 0)
    ends = list(accumulate(count for _, count in held))  # rank after each bucket's last

    def value(rank: int) -> float:
        i = bisect_right(ends, rank)
        low, count = held[i]
        first = ends[i] - count
        return low + width(low) * (rank - first + 0.5) / count

    return at(ends[-1] if ends else 0, value)
