"""`build_report()`: the one call behind `branching stats`, and the flags.

It opens the database read-only, resolves the story and version, picks the
sessions the filters choose and runs every query of `metrics`, `walks` and
`segments` over them. Flags point at what a producer should look at:
- lopsided: at a choice point with at least `flag_min` decisions, one option
  took more than 90% of them;
- timeouts: the clock chose more than a third of the time;
- no-difference: two options after which everything that can happen is the
  same. Said only where the explorer proved it on the story file
  (`verify.choices`, within `CHECK_LIMITS`); pairs it proved different are
  never flagged; pairs the sessions always rejoined on that it could not
  decide (or a story named by id, whose conditions are not stored) are worded
  as what was seen, with proof "observed".
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from branching.analytics import metrics, segments, walks
from branching.analytics.filters import Filters, Unit, pick_sessions, settle_audience
from branching.analytics.rows import ChoiceShare, Flag, Overview, Report, Timing
from branching.analytics.shape import AnalyticsError, Shape, shape_from_structure, with_seen_labels
from branching.analytics.source import (
    looks_like_path,
    open_readonly,
    resolve_versions,
    stored_shape,
)
from branching.story.loader import load_story
from branching.story.model import Story
from branching.verify import choices as verify_choices
from branching.verify.choices import ChoicePairVerdict, compare_choices

LOPSIDED = 0.9
TIMEOUTS = 1 / 3


def build_report(
    story: str,
    *,
    db: str | Path | None,
    filters: Filters | None = None,
    unit: Unit = "sessions",
    top: int = 10,
    flag_min: int = 10,
) -> Report:
    """Every figure of `branching stats` for `story` (a YAML path or a story id)."""
    if unit not in ("sessions", "viewers"):
        raise AnalyticsError("stats count sessions or viewers (--by sessions|viewers)")
    if db is None:
        raise AnalyticsError("name the telemetry database with --db (or set BRANCHING_DB)")
    filters = filters or Filters()
    loaded = load_story(story) if looks_like_path(story) else None
    shape = shape_from_structure(loaded.structure()) if loaded is not None else None
    conn = open_readonly(db)
    try:
        story_id = shape.id if shape is not None else story
        chosen = resolve_versions(conn, story_id, filters.version)
        if shape is None:
            shape = stored_shape(conn, story_id, chosen)
        shape = with_seen_labels(conn, shape, [v.content_hash for v in chosen])
        filters = settle_audience(conn, story_id, filters)
        pick_sessions(conn, story_id, chosen, filters)
        sessions, viewers, started = metrics.started(conn, unit)
        first, last = conn.execute(
            "SELECT MIN(s.started_at), MAX(s.started_at) FROM temp.picked p "
            "JOIN sessions s ON s.session_id = p.session_id"
        ).fetchone()
        pruned = conn.execute(
            "SELECT COALESCE(SUM(count), 0) FROM pruned_traversals WHERE story_id = ?", [story_id]
        ).fetchone()[0]
        counts = metrics.scene_counts(conn, unit)
        reached = metrics.reached_of(counts)
        choices = metrics.choice_shares(conn, shape, unit, reached)
        verdicts = _verdicts(loaded)
        taken = ((c.scene, c.choice) for c in choices if c.times)
        walked = walks.walk(conn, unit, observe=walks.needs_observing(taken, verdicts))
        overview = Overview(
            story_id,
            shape.title,
            unit,
            filters.describe(chosen),
            tuple(v.describe() for v in chosen),
            sessions,
            viewers,
            started,
            walked.completed,
            first,
            last,
            int(pruned),
        )
        timing = metrics.timing(conn, shape, unit)
        reach = metrics.scene_reach(conn, shape, unit, started, counts)
        ends, kinds = metrics.endings(conn, shape, unit, started)
        return Report(
            overview=overview,
            reach=tuple(reach),
            choices=tuple(choices),
            timing=tuple(timing),
            dropoff=tuple(metrics.dropoff(conn, shape, unit, reached)),
            endings=tuple(ends),
            ending_kinds=tuple(kinds),
            paths=tuple(walks.paths(walked, shape, top)),
            interactions=tuple(metrics.interactions(conn, shape, unit, reached)),
            progress=tuple(walks.progress(walked)),
            segments=tuple(segments.segments(conn, unit)),
            tags=tuple(segments.tags(conn, shape, unit, started)),
            flags=tuple(flags(shape, choices, timing, walked, flag_min, verdicts)),
            unreached_scenes=tuple(r.scene for r in reach if not r.reached and sessions),
            unreached_choices=tuple(
                (c.scene, c.choice) for c in choices if not c.times and sessions
            ),
        )
    finally:
        conn.close()


def flags(
    shape: Shape,
    choices: list[ChoiceShare],
    timing: list[Timing],
    walked: walks.Walks,
    flag_min: int,
    verdicts: Mapping[tuple[str, str, str], ChoicePairVerdict] | None = None,
) -> list[Flag]:
    """Lopsided choices, choice points that time out, choices that make no difference."""
    out: list[Flag] = []
    by_scene: dict[str, list[ChoiceShare]] = {}
    for c in choices:
        by_scene.setdefault(c.scene, []).append(c)
    for scene, rows in by_scene.items():
        decisions = sum(c.times for c in rows)
        if len(rows) < 2 or decisions < flag_min:
            continue
        top = max(rows, key=lambda c: c.times)
        if top.times / decisions > LOPSIDED:
            out.append(
                Flag(
                    "lopsided",
                    scene,
                    shape.title_of(scene),
                    f"'{top.label}' took {top.times} of {decisions} decisions",
                    top.times / decisions,
                )
            )
    for t in timing:
        rate = t.timeout_rate
        if t.decisions >= flag_min and rate is not None and rate > TIMEOUTS:
            out.append(
                Flag(
                    "timeouts",
                    t.scene,
                    t.title,
                    f"the clock chose {t.timeouts} of {t.decisions} times",
                    rate,
                )
            )
    out += walks.no_difference(walked, shape, verdicts)
    return out


_VERDICTS: dict[tuple[str, str, object], dict[tuple[str, str, str], ChoicePairVerdict]] = {}


def _verdicts(story: Story | None) -> dict[tuple[str, str, str], ChoicePairVerdict] | None:
    """The explorer's verdict on every pair of choices of `story` (None: no story file).

    Decided verdicts depend only on the story's content and the budget, so a
    process that reads the figures again (the dashboard's refresh) explores
    each version once.
    """
    if story is None:
        return None
    key = (story.id, story.content_hash, verify_choices.CHECK_LIMITS)
    known = _VERDICTS.get(key)
    if known is not None:
        return known
    found = compare_choices(story, limits=verify_choices.CHECK_LIMITS)
    verdicts = {(v.scene, v.a, v.b): v for v in found}
    if all(v.verdict != "unknown" for v in found):  # a check cut short may finish next time
        _VERDICTS[key] = verdicts
    return verdicts
