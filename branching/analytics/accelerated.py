"""What an accelerator hands a `stats` report, in one shape (`Accelerated`).

A report answers its tables from the events, or faster from one of three
accelerators: SQLite's aggregates by sessions (`stats_rollup.rolled_accelerated`),
its digests by viewers (`viewers_rollup.viewer_accelerated`), a Parquet export's
aggregates and lists over DuckDB (`parquet_stats.exported_accelerated`). Each
gives what it can in the raw shapes the scan uses, so the report takes each
table's figures with one rule: the accelerator's where it answers, else the
scan's. Its own module: three producers and the report share it.
"""

from __future__ import annotations

from dataclasses import dataclass

SceneCounts = dict[str, tuple[int, int]]  # scene -> (units shown it, times shown)
# (scene, choice, target or None) -> (units that took it, times, times the clock chose it)
Taken = dict[tuple[str, str, str | None], tuple[int, int, int]]
TimingCounts = dict[str, tuple[int, int, int]]  # scene -> (decisions, timeouts, units timed out)
Left = dict[str, tuple[int, int]]  # last scene -> (units that stopped there, of them unfinished)
Percentiles = dict[str, tuple[float | None, float | None]]  # scene -> (median, p90) in ms
# scene -> (sessions that rewound to it, paused at it, skipped a reveal at it; times of each)
Acts = dict[str, tuple[int, int, int, int, int, int]]
Overview = tuple[int, int, int, int, str | None, str | None]  # `digest_overview`'s


@dataclass(frozen=True, slots=True)
class Accelerated:
    """What one accelerator answers for a report without a pass over the events, in the
    raw shapes the scan uses; a field None: not answered here, the report reads the events.

    Each accelerator fills it: SQLite's aggregates by sessions (`rolled_accelerated`),
    its digests by viewers (`viewers_rollup.viewer_accelerated`), a Parquet export's
    aggregates and lists (`parquet_stats.exported_figures`,
    `exported_viewer_figures`, `exported_accelerated`). A report reads one of them
    (they never apply together: SQLite's need its connection, the export's DuckDB)."""

    counts: SceneCounts | None = None  # the reach
    taken: Taken | None = None  # the choices (decisions only)
    timing: TimingCounts | None = None  # the timing table's counts
    ms: Percentiles | None = None  # the times to decide
    acts: Acts | None = None  # the interactions
    left: Left | None = None  # the drop-off: who stopped where
    overview: Overview | None = None
    lists: bool = False  # the tags, from an export's sessions' lists

    def answered(self) -> frozenset[str]:
        """The tables whose figures these give without a pass over the events (the ones
        DuckDB's one pass, `scan.event_figures`, need not read)."""
        answered = {"tags"} if self.lists else set()
        if self.counts is None:
            return frozenset(answered)
        answered |= {"reach", "dropoff"}
        if self.taken is not None:
            answered |= {"choices", "unreached"}
            if self.timing is not None:
                answered.add("flags")
        if self.timing is not None and self.ms is not None:
            answered.add("timing")
        if self.acts is not None:
            answered.add("interactions")
        return frozenset(answered)
