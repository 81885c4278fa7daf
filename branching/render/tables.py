"""`branching stats` as tables: one neutral description, drawn as Rich, CSV, JSON or HTML.

`report_tables(report)` turns a `Report` into `Sheet`s (`render.sheet`: title,
a caption that states the denominator, typed columns, raw rows). Every output
format reads the same sheets (Rich and plain text: `render.sheet_text`; CSV
and JSON: `render.report_io`), so the terminal, the CSV and the mailed HTML
never disagree.
Columns are typed: a `count` is hidden below `--min-count`, and a `share`
names the count column it was computed from, so it is hidden with it. An `id`
column (scene and choice ids, depth bounds) is for programs: JSON and CSV ask
for it with `ids=True`; people read titles, with the id added only where two
scenes share a title.

Rows come in the story's order, except drop-off (worst first) and "how far
sessions got" (one row per depth, or buckets of depths for long stories).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from branching.analytics.rows import TABLES, Report
from branching.analytics.stories import RecordedStory
from branching.render.sheet import Column, Sheet

__all__ = [
    "TABLES",
    "UNIT_NAME",
    "Column",
    "Sheet",
    "report_tables",
    "scene_names",
    "stories_sheet",
]

UNIT_NAME = {"sessions": "sessions", "viewers": "unique viewers"}


C = Column


def report_tables(
    report: Report, names: tuple[str, ...] = TABLES, *, ids: bool = False
) -> list[Sheet]:
    """The sheets named (all by default), in the order of TABLES; with `ids`, id columns too."""
    unit = UNIT_NAME[report.overview.unit]
    builders = {name: globals()[f"_{name}"] for name in TABLES}
    sheets = [builders[name](report, unit) for name in TABLES if name in names]
    return sheets if ids else [sheet.for_people() for sheet in sheets]


def scene_names(report: Report) -> dict[str, str]:
    """Scene id -> the title people read; "Title (id)" where two scenes share a title."""
    titles = {r.scene: r.title for r in report.reach}
    seen: dict[str, int] = {}
    for title in titles.values():
        seen[title] = seen.get(title, 0) + 1
    return {sid: f"{t} ({sid})" if seen[t] > 1 else t for sid, t in titles.items()}


def _name(names: dict[str, str], scene: str) -> str:
    return names.get(scene, scene)


def _overview(r: Report, unit: str) -> Sheet:
    o = r.overview
    rows: list[tuple[Any, ...]] = [
        ("story", f"{o.title} ({o.story_id})"),
        ("versions", ", ".join(o.versions)),
        ("selection", o.filters),
        ("counted in", unit),
        ("sessions", f"{o.sessions:,}"),
        ("unique viewers", f"{o.viewers:,}"),
        ("reached an ending", f"{o.completed:,} of {o.started:,} {unit}"),
        ("first / last session", f"{o.first_started or '-'} / {o.last_started or '-'}"),
    ]
    if o.pruned_choices:
        rows.append(
            (
                "pruned",
                f"{o.pruned_choices:,} older choices are no longer in the raw "
                "events; these figures leave them out",
            )
        )
    completion = Sheet("overview", "Overview", "", (C("what"), C("value")), tuple(rows))
    if o.started and o.completed is not None:
        completion = Sheet(
            "overview",
            "Overview",
            f"Completion: {o.completed / o.started * 100:.1f}% of {unit}",
            completion.columns,
            completion.rows,
        )
    return completion


def _reach(r: Report, unit: str) -> Sheet:
    names = scene_names(r)
    return Sheet(
        "reach",
        "Reach of each scene",
        f"{unit} that entered the scene, of the {r.overview.started:,} {unit} that started",
        (
            C("scene"),
            C("chapter"),
            C("kind"),
            C(unit, "count"),
            C("reach", "share", 3),
            C("visits (every time)", "count"),
            C("scene id", "id"),
        ),
        tuple(
            (names[x.scene], x.chapter or "", x.kind, x.reached, x.share, x.visits, x.scene)
            for x in r.reach
        ),
    )


def _choices(r: Report, unit: str) -> Sheet:
    names = scene_names(r)
    return Sheet(
        "choices",
        "Choices at each choice point",
        f"{unit} that took the choice, of the {unit} that reached its scene "
        "(a looping viewer can take two, so a scene can add up to more than 100%)",
        (
            C("scene"),
            C("choice"),
            C("goes to"),
            C(unit, "count"),
            C("share", "share", 3),
            C("times taken", "count"),
            C("by the clock", "count"),
            C("scene id", "id"),
            C("choice id", "id"),
            C("goes to id", "id"),
        ),
        tuple(
            (
                _name(names, x.scene),
                x.label + (" (retired)" if x.retired else ""),
                _name(names, x.target),
                x.count,
                x.share,
                x.times,
                x.timeouts,
                x.scene,
                x.choice,
                x.target,
            )
            for x in r.choices
        ),
    )


def _timing(r: Report, unit: str) -> Sheet:
    names = scene_names(r)
    return Sheet(
        "timing",
        "Time to decide and timeouts",
        "timeouts of all decisions made there (the clock 'chose' when the timer ran "
        "out and the default was taken); time to decide over the choices viewers "
        "made themselves",
        (
            C("choice point"),
            C("timer"),
            C("decisions", "count"),
            C("timeouts", "count"),
            C("rate", "share", 3),
            C(f"{unit} timed out", "count"),
            C("median", "ms"),
            C("p90", "ms"),
            C("scene id", "id"),
        ),
        tuple(
            (
                _name(names, t.scene),
                f"{t.timer:g} s" if t.timer else "none",
                t.decisions,
                t.timeouts,
                t.timeout_rate,
                t.timed_out,
                t.median_ms,
                t.p90_ms,
                t.scene,
            )
            for t in r.timing
        ),
    )


def _dropoff(r: Report, unit: str) -> Sheet:
    names = scene_names(r)
    # worst first: the highest drop-off, then the most who left; unreached scenes last
    worst = sorted(r.dropoff, key=lambda d: (d.rate is None, -(d.rate or 0.0), -d.left))
    return Sheet(
        "dropoff",
        "Where viewers stopped",
        f"{unit} whose last scene was this one without an ending, of the {unit} "
        "that reached it (unfinished sessions may still resume); worst first",
        (
            C("scene"),
            C(f"{unit} reached", "count"),
            C("left here", "count"),
            C("drop-off", "share", 2),
            C("of which unfinished", "count"),
            C("scene id", "id"),
        ),
        tuple(
            (_name(names, d.scene), d.reached, d.left, d.rate, d.unfinished, d.scene) for d in worst
        ),
    )


def _endings(r: Report, unit: str) -> Sheet:
    rows: list[tuple[Any, ...]] = [(e.title, e.kind, e.count, e.share, e.ending) for e in r.endings]
    rows += [(f"all {k.kind} endings", k.kind, k.count, k.share, None) for k in r.ending_kinds]
    return Sheet(
        "endings",
        "Endings",
        f"{unit} whose playthrough ended there, of the {r.overview.started:,} {unit} "
        "that started (the last ending reached counts)",
        (C("ending"), C("kind"), C(unit, "count"), C("share", "share", 2), C("ending id", "id")),
        tuple(rows),
    )


def _paths(r: Report, unit: str) -> Sheet:
    rows = [
        ("other paths" if p.other else " › ".join(p.steps), p.ending, p.count, p.share)
        for p in r.paths
    ]
    return Sheet(
        "paths",
        "Most common complete paths",
        f"{unit} that reached an ending by exactly these choices (after going back), "
        "of all who reached an ending",
        (C("choices taken"), C("ending"), C(unit, "count"), C("share", "share", 2)),
        tuple(rows),
    )


def _interactions(r: Report, unit: str) -> Sheet:
    names = scene_names(r)
    return Sheet(
        "interactions",
        "Going back, pauses and skipped text",
        f"{unit} who went back to the scene, paused or skipped its text reveal there",
        (
            C("scene"),
            C(f"{unit} reached", "count"),
            C("went back here", "count"),
            C("paused", "count"),
            C("skipped text", "count"),
            C("scene id", "id"),
        ),
        tuple(
            (_name(names, i.scene), i.reached, i.rewinds, i.pauses, i.skips, i.scene)
            for i in r.interactions
        ),
    )


def _progress(r: Report, unit: str) -> Sheet:
    bucketed = any(p.upto is not None for p in r.progress)
    return Sheet(
        "progress",
        "How far sessions got",
        f"{unit} by the number of choices made (net of going back) before the "
        "playthrough ended or stopped"
        + ("; deeper sessions in buckets (1-2, 3-5, 6-10, 11-20...)" if bucketed else ""),
        (
            C("choices made"),
            C("reached an ending", "count"),
            C("stopped", "count"),
            C("from", "id"),
            C("to", "id"),
        ),
        tuple(
            (
                str(p.choices) if p.upto is None else f"{p.choices}-{p.upto}",
                p.ended,
                p.left,
                p.choices,
                p.choices if p.upto is None else p.upto,
            )
            for p in r.progress
        ),
    )


def _segments(r: Report, unit: str) -> Sheet:
    return Sheet(
        "segments",
        "Breakdowns",
        f"{unit} in each segment and how many reached an ending; local time is the "
        "session's start in the viewer's own time zone",
        (
            C("by"),
            C("segment"),
            C(unit, "count"),
            C("reached an ending", "count"),
            C("completion", "share", 2),
            C("choices per session", "number"),
        ),
        tuple(
            (s.dimension, s.value, s.count, s.completed, s.completion_rate, s.choices_per_session)
            for s in r.segments
        ),
    )


def _tags(r: Report, unit: str) -> Sheet:
    rows = [
        (
            t.tag,
            "taken when offered" if t.where == "choice" else "scenes reached",
            t.base,
            t.count,
            t.share,
        )
        for t in r.tags
    ]
    return Sheet(
        "tags",
        "By tag",
        f"choice tags: {unit} that took a tagged choice, of those who reached a scene "
        f"offering one; scene tags: {unit} that entered a tagged scene, of all",
        (
            C("tag"),
            C("measure"),
            C(f"{unit} (base)", "count"),
            C(unit, "count"),
            C("share", "share", 3),
        ),
        tuple(rows),
    )


def _flags(r: Report, unit: str) -> Sheet:
    names = scene_names(r)
    return Sheet(
        "flags",
        "Worth a look",
        "lopsided: one option over 90% of decisions; timeouts: the clock chose over "
        "a third of the time; no-difference: proof explorer, everything after either option "
        "is the same (proven on the story file); proof observed, the sessions seen met again",
        (C("flag"), C("scene"), C("why"), C("proof"), C("scene id", "id")),
        tuple((f.kind, _name(names, f.scene), f.detail, f.proof, f.scene) for f in r.flags),
    )


def _unreached(r: Report, unit: str) -> Sheet:
    names = scene_names(r)
    labels = {(c.scene, c.choice): c.label for c in r.choices}
    rows: list[tuple[Any, ...]] = [
        ("scene", _name(names, s), "", s, None) for s in r.unreached_scenes
    ]
    rows += [
        ("choice", _name(names, s), labels.get((s, c), c), s, c) for s, c in r.unreached_choices
    ]
    return Sheet(
        "unreached",
        "Never reached",
        "scenes no selected session entered, and choices nobody took",
        (C("what"), C("scene"), C("choice"), C("scene id", "id"), C("choice id", "id")),
        tuple(rows),
    )


def stories_sheet(stories: Sequence[RecordedStory], db: str) -> Sheet:
    """The stories a database holds (`branching stats` without a STORY)."""
    return Sheet(
        "stories",
        f"Stories in {db}",
        "sessions recorded for each story, by real viewers and by branching simulate; "
        "last activity in UTC; branching stats STORY shows one story's figures",
        (
            C("story"),
            C("title"),
            C("versions", "integer"),
            C("real sessions", "count"),
            C("simulated sessions", "count"),
            C("last activity", "when"),
        ),
        tuple(
            (s.story_id, s.title, s.versions, s.real, s.simulated, s.last_activity) for s in stories
        ),
    )
