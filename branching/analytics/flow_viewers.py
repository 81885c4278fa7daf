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

Speed: the rows are counted by `viewer_unions.ViewerUnions` (C code per
code: `str.join`, `set`, `Counter`). When the aggregates say the filters
choose `SPLIT_AT` sessions or more (`rollup.chosen_sessions`), the viewers
are read in two halves at once, the upper one in a second process
(`viewer_unions`, standard library only), and the counts added: viewers add
up. Both halves saw the same data when `PRAGMA data_version` is the same
before the second process starts and after both are in (`_halves`); if it
moved, or the second process failed, everything is read again in one
statement. At 10 M events each half takes 0.49-0.56 s of CPU where one read
takes 0.86-0.94.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from branching.analytics import viewer_unions
from branching.analytics.filters import Filters, session_conditions
from branching.analytics.graph import Counts, EdgeKey
from branching.analytics.source import Version
from branching.analytics.viewer_unions import ViewerUnions
from branching.store import db as store_db
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
SPLIT_AT = 100_000  # chosen sessions from which their viewers are read in two halves
OLD_FILE = (
    "by viewers: read from the raw events (this file's digests predate the edges "
    "they hold now: any write to it upgrades it)"
)


def viewer_counts(
    conn: sqlite3.Connection,
    story_id: str,
    chosen: list[Version],
    filters: Filters,
    sessions: int | None = None,
) -> tuple[Counts | None, str]:
    """The flowchart's counts by viewers from the digests, or (None, why not).
    `sessions`: how many the filters choose, when known (from `SPLIT_AT` on, they are
    read in two halves at once)."""
    if not has_table(conn, "session_digests") or outdated(conn):
        return None, ""
    if not has_edges(conn):
        return None, OLD_FILE
    cond, params = selection(story_id, chosen, filters)
    big = sessions is not None and sessions >= SPLIT_AT
    return _figures(conn, _count(conn, story_id, cond, params, halves=big)), ""


def _count(
    conn: sqlite3.Connection, story_id: str, cond: str, params: list[object], *, halves: bool
) -> ViewerUnions:
    """The chosen digests counted by viewer: in two halves read at once, the second in
    a process of its own (`viewer_unions`), when asked (`halves`) and both are proven
    to have read the same data; else in one read."""
    split = _split(conn, story_id) if halves else None
    path = _file(conn)
    if split is not None and path is not None and sys.executable:
        both = _halves(store_db.uri(path, "ro"), cond, [*params, split])
        if both is not None:
            return both
    tally = ViewerUnions()  # one statement: one snapshot
    tally.read(conn.execute(_READ.format(cond=cond), params))
    return tally


def _halves(uri: str, cond: str, params: list[object]) -> ViewerUnions | None:
    """The viewers below the split (the last of `params`) counted here and the others in
    a second process, at once, or None when they may have seen different data.

    Both halves read on connections of their own, each in one statement (one
    snapshot each), started after this connection's first `PRAGMA data_version`
    and ended before its second: SQLite changes that value whenever another
    connection has committed in between, so when it is unchanged nothing was
    committed while either half started, and both saw the same data. (The
    caller's connection is not used: a statement of its left open would hold an
    older snapshot for it.)"""
    job = {"uri": uri, "sql": _READ.format(cond=f"{cond} AND s.viewer_id >= ?"), "params": params}
    mine = viewer_unions.connect(uri)
    try:
        before = _version(mine)
        try:
            other = subprocess.Popen(
                [sys.executable, "-I", str(Path(viewer_unions.__file__))],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                encoding="utf-8",
            )
        except OSError:  # no second process here: one read
            return None
        try:
            assert other.stdin is not None and other.stdout is not None
            try:
                other.stdin.write(json.dumps(job))  # a few hundred bytes: never blocks
                other.stdin.close()
            except OSError:  # it has ended already (its exit status says how)
                pass
            tally = ViewerUnions()
            lower = f"{cond} AND (s.viewer_id >= ?) IS NOT 1"  # (a missing viewer too)
            tally.read(mine.execute(_READ.format(cond=lower), params))
            answer = other.stdout.read()
            other.wait()
        finally:
            if other.poll() is None:
                other.kill()
                other.wait()
        if other.returncode != 0 or _version(mine) != before:
            return None
    finally:
        mine.close()
    tally.add(ViewerUnions.from_json(answer))
    return tally


def _split(conn: sqlite3.Connection, story_id: str) -> str | None:
    """The viewer at about half the story's digests in viewer order (its sessions counted
    in the aggregates' slice of all), or None."""
    (n,) = conn.execute(
        "SELECT COALESCE(SUM(sessions), 0) FROM agg_sessions WHERE story_id = ? AND attr_key = ''",
        [story_id],
    ).fetchone()
    found = conn.execute(
        """SELECT s.viewer_id FROM session_digests s INDEXED BY session_digests_by_viewer
        WHERE s.story_id = ?
        ORDER BY s.story_id, s.viewer_id LIMIT 1 OFFSET ?""",
        [story_id, n // 2],
    ).fetchone()
    return str(found[0]) if found is not None and found[0] is not None else None


def _file(conn: sqlite3.Connection) -> Path | None:
    """The file of the connection's main database (None: in memory)."""
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main" and file:
            return Path(file)
    return None


def _version(conn: sqlite3.Connection) -> int:
    """SQLite's data version: it moves when another connection has committed since."""
    cursor = conn.execute("PRAGMA data_version")
    try:
        return int(cursor.fetchone()[0])
    finally:
        cursor.close()  # its statement done: no read left open


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


def _endings(tally: ViewerUnions) -> tuple[dict[Any, int], dict[Any, int]]:
    """The viewers per ending reached, and per last scene of a session not completed."""
    ended: dict[Any, int] = {}
    stopped: dict[Any, int] = {}
    for finish, n in tally.ends.items():
        if finish is None:
            continue
        if finish[0] == "+":
            ended[None if finish == "+\0" else finish[1:]] = n
        else:
            stopped[finish[1:]] = n
    return ended, stopped


def _figures(conn: sqlite3.Connection, tally: ViewerUnions) -> Counts:
    scenes, edge = names(conn), edge_names(conn)
    edges: dict[EdgeKey, tuple[int, int]] = {}
    visits: dict[str, int] = {}
    late: dict[int, int] = {}
    chose: dict[str, int] = {}
    for char, n in tally.clocked.items():
        code = code_of(char)
        if code in edge:
            late[code] = n
        else:
            chose[str(scenes[code])] = n
    for char, n in tally.reached.items():
        code = code_of(char)
        if code in edge:
            scene, choice, target = edge[code]
            edges[(str(scene), str(choice), str(target))] = (n, late.get(code, 0))
        else:
            visits[str(scenes[code])] = n
    decided = {scene for scene, choice, _ in edges if choice}
    ended, stopped = _endings(tally)
    # in the scan's order (its GROUP BY's: by key), which the drawings follow
    return Counts(
        dict(sorted(edges.items())),
        dict(sorted(visits.items())),
        dict(sorted(stopped.items())),
        sessions=tally.sessions,
        viewers=tally.viewers,
        completed=tally.completed,
        ended={str(end): n for end, n in sorted(ended.items(), key=_key)},
        timed_out={scene: chose.get(scene, 0) for scene in sorted(decided)},
        views=tally.views,
    )


def _key(item: tuple[Any, int]) -> tuple[bool, str]:
    """An ending id (None first, as SQL sorts NULL) for sorting."""
    return (item[0] is not None, str(item[0]))
