"""The aggregated story graph every flowchart format draws: `FlowGraph`.

One value, three ways to fill it, so no renderer knows where the counts came
from:
- `from_totals`: the running totals (`traversals`, `scene_views`,
  `session_ends`), when the figures are in the `times` unit and at most a
  version is chosen; this reads neither the events nor the sessions, so it
  stays fast at any size;
- `scan.event_counts`: raw events of the sessions chosen by filters, in any
  unit, in portable SQL (SQLite, DuckDB or Spark);
- `from_counts`: per-choice counts computed elsewhere (`--counts FILE.csv`).

Shares at a scene are of its `base`: in the `times` unit, every way the
scene was left (each choice taken, and each session that stopped there), so
they add up to 100%; in the `sessions`/`viewers` units, the sessions or
viewers that reached the scene (a looping session may take two choices, so
shares can add up to more than 100%).

A session **completed** when it reached an ending: its outcome is `ending` as
the store keeps it (going back from an ending undoes that), the one definition
`stats`, the dashboard and the SQL views share. Each ending counts the
sessions that ended there (`ended`), which can be fewer than those shown it
(`visits`: some went back). A session that did not complete "left here" at its
last scene shown (`sessions.last_scene`): quit, abandoned, stuck, not finished
yet, or gone back from an ending and stopped (then the ending scene is the
last one shown). So every session is counted once: completed, or left at one
scene (or never shown a scene). The fast path reads that from the running total
`session_ends` (sessions per version and last scene, kept by the store in the
transaction that moves a session), so it never scans the sessions; only a
database opened read-only before the store added that total (its migration
runs when a `Store` opens the file) falls back to one covering-index scan of
the sessions, with the same result.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field

from branching.analytics.filters import Unit
from branching.analytics.shape import Shape, ShapeScene, with_unknown

EdgeKey = tuple[str, str, str]  # (scene, choice or '' for a route, target)
# kinds of the boxes `analytics.overview` draws in place of scenes
BOX_KINDS = frozenset({"chapter", "chain", "folded", "entry", "exit"})


@dataclass(frozen=True, slots=True)
class FlowEdge:
    """A way out of a scene: a choice (or a route, with `choice` empty) and its traffic."""

    choice: str
    label: str
    target: str
    count: int
    timeouts: int = 0
    default: bool = False
    tags: tuple[str, ...] = ()
    retired: bool = False
    condition: str = ""  # the story map: when it is offered ("if ...", "requires ...")
    template: str | None = None  # the label as written, where `label` is how viewers saw it

    @property
    def is_route(self) -> bool:
        return not self.choice


@dataclass(frozen=True, slots=True)
class FlowScene:
    """A scene with its traffic: arrivals, ways out, and those who stopped here."""

    id: str
    title: str
    kind: str
    chapter: str | None
    visits: int  # reached it: in the unit (`times`: every time it was shown)
    left: int  # did not complete and stopped here (sessions, or viewers in that unit)
    base: int  # denominator of the shares of this scene's edges and of `left`
    edges: tuple[FlowEdge, ...] = ()
    tags: tuple[str, ...] = ()
    ending_kind: str | None = None
    ending_title: str | None = None
    timer: float | None = None
    retired: bool = False
    members: tuple[str, ...] = ()  # a box of a reduced picture: the scenes it stands for
    ended: int | None = None  # an ending: completed here (sessions; viewers in that unit);
    # None where the counts do not say (a counts file without the row)
    timed_out: int = 0  # the clock chose here for this many (`times`: this many times)

    def share(self, count: int) -> float | None:
        """`count` as a fraction of this scene's base (None when nobody was here)."""
        return count / self.base if self.base else None

    @property
    def is_ending(self) -> bool:
        return self.kind == "ending"

    @property
    def is_box(self) -> bool:
        """A box of a reduced picture (chapter, chain, folded scenes, way in or out)."""
        return self.kind in BOX_KINDS


@dataclass(frozen=True, slots=True)
class FlowGraph:
    """A story graph with the traffic of every scene and edge."""

    story_id: str
    title: str
    start: str
    chapters: tuple[str, ...]
    scenes: Mapping[str, FlowScene]
    unit: Unit
    source: str  # "running totals", "raw events" or "counts file NAME"
    filters: str
    sessions: int | None = None
    viewers: int | None = None
    completed: int | None = None  # sessions (viewers in that unit) that reached an ending
    notes: tuple[str, ...] = field(default=())
    telemetry: bool = True  # False: the story map, counts absent (not zero)
    views: int | None = None  # every time a scene was shown in the selection (raw events)

    @property
    def max_edge(self) -> int:
        return max((e.count for s in self.scenes.values() for e in s.edges), default=0)

    def edge_count(self) -> int:
        return sum(len(s.edges) for s in self.scenes.values())


@dataclass(frozen=True, slots=True)
class Counts:
    """Raw figures before they are laid on the story graph."""

    edges: dict[EdgeKey, tuple[int, int]]  # -> (count, timeouts)
    visits: dict[str, int]
    stopped: dict[str, int]  # last scene -> sessions (or viewers) that did not complete
    sessions: int | None = None
    viewers: int | None = None
    completed: int | None = None  # sessions (or viewers) whose outcome is an ending
    ended: dict[str, int] = field(default_factory=dict)  # ending -> completed there
    timed_out: dict[str, int] = field(default_factory=dict)  # scene -> the clock chose
    views: int | None = None  # every time a scene was shown


def _edges_of(scene: ShapeScene, counts: Counts) -> tuple[FlowEdge, ...]:
    out: list[FlowEdge] = []
    seen: set[EdgeKey] = set()
    for c in scene.choices:
        key = (scene.id, c.id, c.goto)
        seen.add(key)
        n, t = counts.edges.get(key, (0, 0))
        out.append(
            FlowEdge(c.id, c.label, c.goto, n, t, c.default, c.tags, c.retired, template=c.template)
        )
    for r in scene.routes:
        key = (scene.id, "", r.goto)
        if key not in seen:
            seen.add(key)
            n, t = counts.edges.get(key, (0, 0))
            out.append(FlowEdge("", "", r.goto, n, t))
    for key, (n, t) in counts.edges.items():  # a choice seen going somewhere else
        if key[0] == scene.id and key not in seen:
            known = scene.choice(key[1])
            label = known.label if known else key[1]
            out.append(FlowEdge(key[1], label, key[2], n, t, retired=True))
    return tuple(out)


def _ended(sid: str, kind: str, counts: Counts) -> int | None:
    if kind != "ending":
        return None
    if sid in counts.ended or counts.sessions is not None:
        return counts.ended.get(sid, 0)
    return None


def assemble(
    shape: Shape,
    counts: Counts,
    *,
    unit: Unit,
    source: str,
    filters: str,
    notes: tuple[str, ...] = (),
) -> FlowGraph:
    """Lay `counts` on `shape` (adding whatever the data holds that the shape lacks)."""
    shape = with_unknown(shape, counts.edges)
    incoming: dict[str, int] = {}
    for (_, _, target), (n, _) in counts.edges.items():
        incoming[target] = incoming.get(target, 0) + n
    scenes: dict[str, FlowScene] = {}
    for sid, sc in shape.scenes.items():
        edges = _edges_of(sc, counts)
        left = counts.stopped.get(sid, 0)
        out = sum(e.count for e in edges)
        visits = counts.visits.get(sid)
        if visits is None:  # counts from elsewhere: arrivals are what came in or went out
            visits = max(incoming.get(sid, 0), out + left)
        base = out + left if unit == "times" else visits
        timed_out = counts.timed_out.get(sid)
        if timed_out is None:  # counts from elsewhere: every time the clock chose
            timed_out = sum(e.timeouts for e in edges)
        scenes[sid] = FlowScene(
            id=sid,
            title=sc.title,
            kind=sc.kind,
            chapter=sc.chapter,
            visits=visits,
            left=left,
            base=base,
            edges=edges,
            tags=sc.tags,
            ending_kind=sc.ending_kind,
            ending_title=sc.ending_title,
            timer=sc.timer,
            retired=sc.retired,
            ended=_ended(sid, sc.kind, counts),
            timed_out=timed_out,
        )
    completed = counts.completed
    if completed is None:
        completed = sum(counts.ended.values())
    return FlowGraph(
        story_id=shape.id,
        title=shape.title,
        start=shape.start,
        chapters=shape.chapters,
        scenes=scenes,
        unit=unit,
        source=source,
        filters=filters,
        sessions=counts.sessions,
        viewers=counts.viewers,
        completed=completed if counts.sessions is not None else None,
        notes=notes,
        views=counts.views,
    )


# -- from the running totals ----------------------------------------------------------


def _hash_clause(hashes: list[str] | None) -> tuple[str, list[object]]:
    if not hashes:
        return "", []
    return f" AND content_hash IN ({', '.join('?' for _ in hashes)})", list(hashes)


def totals_counts(conn: sqlite3.Connection, story_id: str, hashes: list[str] | None) -> Counts:
    """Counts in the `times` unit from the running totals and the sessions' outcomes."""
    clause, extra = _hash_clause(hashes)
    params = [story_id, *extra]
    edges = {
        (r[0], r[1], r[2]): (int(r[3]), int(r[4]))
        for r in conn.execute(
            f"""SELECT scene, choice, target, SUM(count), SUM(timeouts) FROM traversals
            WHERE story_id = ?{clause} GROUP BY 1, 2, 3""",
            params,
        )
    }
    visits = {
        r[0]: int(r[1])
        for r in conn.execute(
            f"SELECT scene, SUM(count) FROM scene_views WHERE story_id = ?{clause} GROUP BY 1",
            params,
        )
    }
    stopped: dict[str, int] = {}
    ended: dict[str, int] = {}
    total = 0
    for last, outcome, ending, n in _stopped_rows(conn, clause, params):
        total += n
        if outcome == "ending":
            ended[ending or ""] = ended.get(ending or "", 0) + n
        elif last:  # '' (session_ends) or None (sessions): no scene shown yet
            stopped[last] = stopped.get(last, 0) + n
    timed_out: dict[str, int] = {}
    for (scene, _, _), (_, t) in edges.items():
        timed_out[scene] = timed_out.get(scene, 0) + t
    return Counts(
        edges,
        visits,
        stopped,
        sessions=total,
        completed=sum(ended.values()),
        ended=ended,
        timed_out=timed_out,
        views=sum(visits.values()),
    )


def _stopped_rows(
    conn: sqlite3.Connection, clause: str, params: list[object]
) -> list[tuple[str | None, str, str | None, int]]:
    """(last scene, outcome, ending, sessions) of the story: from `session_ends`, else a
    scan of the sessions."""
    if conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = 'session_ends'"
    ).fetchone():
        sql = f"""SELECT last_scene, outcome, ending_id, SUM(count) FROM session_ends
            WHERE story_id = ?{clause} GROUP BY 1, 2, 3"""
    else:  # not upgraded yet: one scan of the sessions
        sql = f"""SELECT last_scene, outcome, ending_id, COUNT(*) FROM sessions
            WHERE story_id = ?{clause} GROUP BY 1, 2, 3"""
    return [(r[0], str(r[1]), r[2], int(r[3])) for r in conn.execute(sql, params)]
