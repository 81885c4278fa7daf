"""The flowchart's figures by viewers on SQLite, from the session digests, not the events.

`scan.event_counts` counts unique viewers per edge, scene and outcome by
reading every chosen session's events (at ten million events about 27 s).
The store keeps what that needs in each session's digest (`store/digests.py`,
m018): the edges it walked (scene, choice or "", target or "": choices and
routes), those the clock chose, the scenes it was shown (`shown`), the scenes
where the clock chose (`timed_out`), how many times scenes were shown
(`views`), and copies of its session's viewer, outcome, ending and last
scene. So one read of the chosen sessions' digests, in viewer order from the
index that holds all of these (`session_digests_by_viewer`), gives every
figure: each viewer's codes are the union of their sessions' (a viewer
counts once per code), and the counts are taken over those unions.

The selection is made over the digests' copies of their sessions' columns
(m015): story, version, start (to the millisecond, so a `--since` with a
time of day too), audience, each `--where` (found in the copied attributes,
so several of them too) and `--first-only` (the copied flag `agg_firsts`
keeps). The figures equal the scan's (the consistency suite holds them so):

- an edge: the viewers with a session that walked it, and of them those the
  clock chose for on it; a scene's visits: the viewers shown it;
- a scene where decisions were made: the viewers the clock chose for there;
- stopped: per last scene, the viewers with a session not completed that
  stopped there; ended: per ending, the viewers with a session that ended
  there; completed: the viewers with a session that reached an ending;
- sessions, viewers, and views (every time a scene was shown).

A file whose digests predate m018 (opened read-only, never upgraded) is
read from the events, with a note saying so.

Speed: the work per code is done by C code (`str.join`, `str.split`,
`Counter`): a viewer with one session (most of them) passes its texts on
untouched, one with several passes the union of theirs; every text of a
column is then split and counted at once.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from itertools import groupby
from operator import itemgetter
from typing import Any

from branching.analytics.filters import Filters, session_conditions
from branching.analytics.graph import Counts, EdgeKey
from branching.analytics.source import Version
from branching.store.db import has_table
from branching.store.digests import code_of, edge_names, has_edges, names, outdated

# how a session ended, one text: "+" and its ending (NUL for none) when it reached one,
# else "-" and its last scene (NULL: none); one column instead of three is fewer
# Python objects per row, and a viewer's ends are then a set of these texts
_READ = """SELECT s.viewer_id, CASE WHEN s.outcome = 'ending' THEN '+' || COALESCE(s.ending_id,
       char(0)) WHEN s.last_scene IS NOT NULL THEN '-' || s.last_scene END, s.views,
       s.reached, s.clocked
FROM session_digests s INDEXED BY session_digests_by_viewer
WHERE {cond} ORDER BY s.story_id, s.viewer_id"""
_FLUSH = 4096  # viewers' texts counted at a time (memory stays small)
OLD_FILE = (
    "by viewers: read from the raw events (this file's digests predate the edges "
    "they hold now: any write to it upgrades it)"
)


def viewer_counts(
    conn: sqlite3.Connection, story_id: str, chosen: list[Version], filters: Filters
) -> tuple[Counts | None, str]:
    """The flowchart's counts by viewers from the digests, or (None, why not)."""
    if not has_table(conn, "session_digests") or outdated(conn):
        return None, ""
    if not has_edges(conn):
        return None, OLD_FILE
    cond, params = selection(story_id, chosen, filters)
    tally = ViewerUnions()
    tally.read(conn.execute(_READ.format(cond=cond), params))
    return tally.counts(conn), ""


def selection(
    story_id: str, chosen: list[Version], filters: Filters, *, firsts: bool = True
) -> tuple[str, list[object]]:
    """SQL choosing the digests (named `s`) of the sessions `filters` choose, over their
    copies of the sessions' columns (m015); and its parameters. Each `--where` is
    found in the copied attributes (`'key'='value'` between commas: quotes inside a
    literal are doubled, so a pair is found only where it is one); `--first-only` by
    the copied flag (`firsts`; else by numbering the sessions, as `session_conditions`
    does)."""
    first_play = filters.first_only and firsts
    own = replace(filters, where=(), first_only=filters.first_only and not firsts)
    cond, params = session_conditions(story_id, chosen, own)
    for key, value in filters.where:
        cond += " AND instr(',' || s.attrs || ',', ?) > 0"
        params.append(f",{_literal(key)}={_literal(value)},")
    if first_play:
        cond += " AND s.first_play = 1"
    return cond, params


def _literal(text: str) -> str:
    """`text` as SQLite's `quote` writes it (the digests' `attrs`)."""
    return "'" + text.replace("'", "''") + "'"


class ViewerUnions:
    """The figures of the digests read in viewer order, counted by viewer."""

    def __init__(self) -> None:
        self.sessions = self.viewers = self.views = self.completed = 0
        self.ends: Counter[str | None] = Counter()  # an end (`_READ`'s) -> viewers
        self.reached: Counter[str] = Counter()  # code (a character) -> viewers
        self.clocked: Counter[str] = Counter()

    def read(self, rows: Iterator[tuple[Any, ...]]) -> None:
        reached, clocked = self.reached, self.clocked
        # each viewer's ends and codes (texts of characters), counted a batch at a
        # time: a `Counter.update` per viewer costs more than the counting itself
        ends: list[str | None] = []
        walks: list[str] = []
        clocks: list[str] = []
        end, walk, clock = ends.append, walks.append, clocks.append
        viewers = sessions = views = completed = 0
        for _, group in groupby(rows, key=itemgetter(0)):
            held = list(group)
            viewers += 1
            if len(held) == 1:  # one session: its own lists and end
                _, finish, seen, walked, late = held[0]
                sessions += 1
                views += seen
                end(finish)
                if finish is not None and finish[0] == "+":
                    completed += 1
                walk(walked)
                if late:
                    clock(late)
            else:  # several: the union of their lists, each end once
                sessions += len(held)
                views += sum(row[2] for row in held)
                mine = {row[1] for row in held}
                ends += mine
                completed += any(f is not None and f[0] == "+" for f in mine)
                walk("".join(set("".join([row[3] for row in held]))))
                clock("".join(set("".join([row[4] for row in held]))))
            if len(walks) >= _FLUSH:
                self.ends.update(ends)
                reached.update("".join(walks))
                clocked.update("".join(clocks))
                ends.clear()
                walks.clear()
                clocks.clear()
        self.ends.update(ends)
        reached.update("".join(walks))
        clocked.update("".join(clocks))
        self.viewers += viewers
        self.sessions += sessions
        self.views += views
        self.completed += completed

    def _endings(self) -> tuple[dict[Any, int], dict[Any, int]]:
        """The viewers per ending reached, and per last scene of a session not completed."""
        ended: dict[Any, int] = {}
        stopped: dict[Any, int] = {}
        for finish, n in self.ends.items():
            if finish is None:
                continue
            if finish[0] == "+":
                ended[None if finish == "+\0" else finish[1:]] = n
            else:
                stopped[finish[1:]] = n
        return ended, stopped

    def counts(self, conn: sqlite3.Connection) -> Counts:
        scenes, edge = names(conn), edge_names(conn)
        edges: dict[EdgeKey, tuple[int, int]] = {}
        visits: dict[str, int] = {}
        late: dict[int, int] = {}
        chose: dict[str, int] = {}
        for char, n in self.clocked.items():
            code = code_of(char)
            if code in edge:
                late[code] = n
            else:
                chose[str(scenes[code])] = n
        for char, n in self.reached.items():
            code = code_of(char)
            if code in edge:
                scene, choice, target = edge[code]
                edges[(str(scene), str(choice), str(target))] = (n, late.get(code, 0))
            else:
                visits[str(scenes[code])] = n
        decided = {scene for scene, choice, _ in edges if choice}
        ended, stopped = self._endings()
        # in the scan's order (its GROUP BY's: by key), which the drawings follow
        return Counts(
            dict(sorted(edges.items())),
            dict(sorted(visits.items())),
            dict(sorted(stopped.items())),
            sessions=self.sessions,
            viewers=self.viewers,
            completed=self.completed,
            ended={str(end): n for end, n in sorted(ended.items(), key=_key)},
            timed_out={scene: chose.get(scene, 0) for scene in sorted(decided)},
            views=self.views,
        )


def _key(item: tuple[Any, int]) -> tuple[bool, str]:
    """An ending id (None first, as SQL sorts NULL) for sorting."""
    return (item[0] is not None, str(item[0]))
