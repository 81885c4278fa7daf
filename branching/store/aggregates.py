"""The aggregates behind every filtered flowchart figure, kept in the event's transaction.

The running totals (`totals.py`) answer the unfiltered flowchart in times
taken. Any filter, or counting distinct playthroughs, used to rescan the
events. These tables hold the same figures split by everything a filter
selects on, so a filtered flowchart in sessions or times sums a few rows:

- `agg_edges`: per edge (scene, choice or '' for a route, target): times
  taken, times the clock chose, sessions that took it, sessions the clock
  chose it for;
- `agg_scenes`: per scene: times shown, sessions shown it, sessions the clock
  chose for there (a scene with choices but no view can have a row of 0 views);
- `agg_sessions`: sessions per last scene shown and ending id (`''` for none),
  which gives left-here, ended-here, sessions and completed.

Every row is keyed by the session's *class*: story, version (content hash),
day (UTC date of the session's start, `started_at[:10]`), first playthrough
of its viewer for the story (1/0), simulated (1/0) and outcome
(`in_progress` while open), and by a *slice*: `('', '')` for every session,
or one recorded attribute `(key, value)`. A session adds to the rows of its
class in its base slice and in one slice per attribute it has whose key is
kept: a key with more than `ATTR_LIMIT` distinct values in a story is dropped
(`agg_attr_keys.kept = 0`, its rows deleted) and stays out until a rebuild;
a filter on it reads the events.

The invariant: every row = the sum, over the sessions of its class and
slice, of what the session's events *still held* contribute (so a prune
takes the pruned events out, as the scan would; the pruned part stays in the
running totals only). A session counts once per edge, scene and ending in
the `sessions` columns: an event adds to them only when no other event of
its session on that edge (scene) is stored, a lookup into the session's own
events (they are clustered by session).

When a session changes class (it finishes or is reopened: outcome; an
earlier session of its viewer arrives: first playthrough), its contributions
move: subtracted under the old class, recomputed from its events and added
under the new one, O(that session's rows). Rows left at zero by a move are
deleted; so is a row of `agg_sessions` that its last session left (a
session's standing moves at each scene shown: before, every standing a
session passed stayed as a row at zero, nine rows in ten of the table on a
small file). Readers sum and drop zeros all the same. Since m020 the
running total `session_ends` is a view of `agg_sessions`' base slice.

`agg_decide` and `agg_acts` (m013: the time-to-decide histogram, and the
rewinds, pauses and skipped reveals per scene) follow the same paths, keyed
by the class without its outcome; their SQL is `decide_acts.py`'s, called
from here (`_apply`, `event_added`, `LiveCounts`, `add_grouped`), and an
outcome move leaves them alone.

Also kept here: `agg_firsts` (each viewer's first session of a story, by
start then id, as `--first-only` defines it), `agg_attr_keys` and
`agg_attr_values` (the distinct values seen), and `story_activity` (per
story: real and simulated sessions, viewers, last activity = the latest
start, event or finish of its sessions) for the story list.

Set-based SQL (`add_sessions`, `rebuild`, `prune_out`/`prune_in`) serves the
migration's backfill, the bulk writer, prune, forget and merge; the per-op
functions (`event_added`, `standing_moved`) serve the live path. A test
commits the same ops both ways and compares every row.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from branching.store import decide_acts, digests, sketch

ATTR_LIMIT = 64  # distinct values of one attribute key in a story kept in the aggregates
CLASS = "story_id, attr_key, attr_value, content_hash, day, first_play, simulated, outcome"
TABLES = ("agg_edges", "agg_scenes", "agg_sessions")
_COUNTED = "('choice_made', 'timeout_default', 'route_taken')"
_FIRST = """EXISTS (SELECT 1 FROM agg_firsts f WHERE f.story_id = s.story_id
              AND f.viewer_id = s.viewer_id AND f.session_id = s.session_id)"""


def _slices(where: str, outcome: str = "s.outcome") -> str:
    """session_id and the class columns of each slice of the sessions `s` meeting `where`."""
    head = f"""s.session_id, s.story_id AS story_id, {{key}} AS attr_key,
        {{value}} AS attr_value, s.content_hash AS content_hash,
        substr(s.started_at, 1, 10) AS day, {_FIRST} AS first_play, s.simulated AS simulated,
        {outcome} AS outcome"""
    return f"""SELECT {head.format(key="''", value="''")} FROM sessions s WHERE {where}
        UNION ALL
        SELECT {head.format(key="a.key", value="a.value")} FROM sessions s
        JOIN session_attrs a ON a.session_id = s.session_id
        JOIN agg_attr_keys k ON k.story_id = s.story_id AND k.key = a.key AND k.kept = 1
        WHERE {where}"""


# -- set-based: contributions of many sessions at once -------------------------------


def _fill(conn: sqlite3.Connection, where: str, params: Any = ()) -> None:
    """TEMP `agg_cls`: the classes and slices of the sessions `s` meeting `where`."""
    conn.execute(
        f"""CREATE TEMP TABLE IF NOT EXISTS agg_cls (
            session_id TEXT, {CLASS}, PRIMARY KEY (session_id, attr_key)) WITHOUT ROWID"""
    )
    conn.execute("DELETE FROM temp.agg_cls")
    conn.execute(f"INSERT INTO temp.agg_cls {_slices(where)}", params)


def _apply(
    conn: sqlite3.Connection, sign: int, *, sessions: bool = True, acts: bool = True
) -> None:
    """Add `sign` times the contributions of the sessions in `agg_cls`.

    `sessions` False: an outcome move, only the tables keyed by the outcome
    (`agg_sessions` moves with the standing; `decide_acts`' tables have no
    outcome). `acts` False: not `decide_acts`' tables (before m013 made them).
    """
    cls = ", ".join(f"c.{c.strip()}" for c in CLASS.split(","))
    upd = "ON CONFLICT DO UPDATE SET {}".format
    conn.execute(
        f"""INSERT INTO agg_edges ({CLASS}, scene, choice, target,
                                   times, timeouts, sessions, sessions_timed_out)
        SELECT {cls}, p.scene, p.choice, p.target, {sign} * SUM(p.n), {sign} * SUM(p.t),
               {sign} * COUNT(*), {sign} * SUM(p.t > 0)
        FROM (SELECT session_id, COALESCE(scene, '') AS scene, COALESCE(choice, '') AS choice,
                     COALESCE(target, '') AS target, COUNT(*) AS n,
                     SUM(type = 'timeout_default') AS t
              FROM events WHERE type IN {_COUNTED}
                AND session_id IN (SELECT session_id FROM temp.agg_cls)
              GROUP BY 1, 2, 3, 4) p
        JOIN temp.agg_cls c ON c.session_id = p.session_id
        GROUP BY {cls}, p.scene, p.choice, p.target
        {
            upd(
                "times = times + excluded.times, timeouts = timeouts + excluded.timeouts, "
                "sessions = sessions + excluded.sessions, "
                "sessions_timed_out = sessions_timed_out + excluded.sessions_timed_out"
            )
        }"""
    )
    conn.execute(
        f"""INSERT INTO agg_scenes ({CLASS}, scene, views, sessions, sessions_timed_out)
        SELECT {cls}, p.scene, {sign} * SUM(p.v), {sign} * SUM(p.v > 0), {sign} * SUM(p.t > 0)
        FROM (SELECT session_id, scene, SUM(type = 'scene_shown') AS v,
                     SUM(type = 'timeout_default') AS t
              FROM events WHERE type IN ('scene_shown', 'timeout_default')
                AND scene IS NOT NULL
                AND session_id IN (SELECT session_id FROM temp.agg_cls)
              GROUP BY 1, 2) p
        JOIN temp.agg_cls c ON c.session_id = p.session_id
        GROUP BY {cls}, p.scene
        {
            upd(
                "views = views + excluded.views, sessions = sessions + excluded.sessions, "
                "sessions_timed_out = sessions_timed_out + excluded.sessions_timed_out"
            )
        }"""
    )
    if not sessions:
        return
    if acts:
        decide_acts.apply(conn, sign)
    conn.execute(
        f"""INSERT INTO agg_sessions ({CLASS}, last_scene, ending_id, sessions)
        SELECT {cls}, COALESCE(s.last_scene, ''), COALESCE(s.ending_id, ''), {sign} * COUNT(*)
        FROM temp.agg_cls c JOIN sessions s ON s.session_id = c.session_id
        GROUP BY {cls}, COALESCE(s.last_scene, ''), COALESCE(s.ending_id, '')
        {upd("sessions = sessions + excluded.sessions")}"""
    )


_ZERO = (
    ("agg_edges", "times = 0 AND sessions = 0"),
    ("agg_scenes", "views = 0 AND sessions = 0 AND sessions_timed_out = 0"),
    ("agg_sessions", "sessions = 0"),
)


def _drop_zero_classes(conn: sqlite3.Connection, *, acts: bool = True) -> None:
    """Delete the rows left at zero of the classes in `agg_cls`: each class is a key
    prefix, so this reads only their rows, never the whole table (`acts`: in
    `decide_acts`' tables too)."""
    classes = conn.execute(f"SELECT DISTINCT {CLASS} FROM temp.agg_cls").fetchall()
    match = " AND ".join(f"{c.strip()} = ?" for c in CLASS.split(","))
    for table, zero in _ZERO:
        conn.executemany(f"DELETE FROM {table} WHERE {match} AND {zero}", classes)
    if acts:
        decide_acts.drop_zero(conn, classes)


def _move(conn: sqlite3.Connection, ids: Iterable[str], change: Callable[[], None]) -> None:
    """Take the contributions of sessions `ids` out, run `change`, put them back."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS agg_set (session_id TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM temp.agg_set")
    conn.executemany("INSERT OR IGNORE INTO temp.agg_set VALUES (?)", [(i,) for i in ids])
    where = "s.session_id IN (SELECT session_id FROM temp.agg_set)"
    _fill(conn, where)
    _apply(conn, -1)
    _drop_zero_classes(conn)
    change()
    _fill(conn, where)
    _apply(conn, 1)


def _register_attrs(conn: sqlite3.Connection, where: str, params: Any = ()) -> None:
    """Note the attribute values of the sessions `s` meeting `where`; drop keys over the limit."""
    conn.execute(
        f"""INSERT INTO agg_attr_keys (story_id, key, kept)
        SELECT DISTINCT s.story_id, a.key, 1 FROM sessions s
        JOIN session_attrs a ON a.session_id = s.session_id WHERE {where}
        ON CONFLICT DO NOTHING""",
        params,
    )
    touched = conn.execute(
        f"""INSERT INTO agg_attr_values (story_id, key, value)
        SELECT DISTINCT s.story_id, a.key, a.value FROM sessions s
        JOIN session_attrs a ON a.session_id = s.session_id
        JOIN agg_attr_keys k ON k.story_id = s.story_id AND k.key = a.key AND k.kept = 1
        WHERE {where} ON CONFLICT DO NOTHING""",
        params,
    ).rowcount
    if touched:
        _drop_wide_keys(conn)


def _drop_wide_keys(conn: sqlite3.Connection) -> None:
    wide = conn.execute(
        """SELECT story_id, key FROM agg_attr_values GROUP BY 1, 2 HAVING COUNT(*) > ?""",
        [ATTR_LIMIT],
    ).fetchall()
    for story_id, key in wide:
        conn.execute(
            "UPDATE agg_attr_keys SET kept = 0 WHERE story_id = ? AND key = ?", [story_id, key]
        )
        conn.execute("DELETE FROM agg_attr_values WHERE story_id = ? AND key = ?", [story_id, key])
        for table in TABLES:
            conn.execute(
                f"DELETE FROM {table} WHERE story_id = ? AND attr_key = ?", [story_id, key]
            )
        decide_acts.drop_key(conn, story_id, key)


def _new_sessions(conn: sqlite3.Connection, ids: Iterable[str]) -> str:
    """Note sessions new to the database (`temp.agg_new`), their attributes' keys and
    values and whether each is its viewer's first; the condition choosing them."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS agg_new (session_id TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM temp.agg_new")
    conn.executemany("INSERT OR IGNORE INTO temp.agg_new VALUES (?)", [(i,) for i in ids])
    where = "s.session_id IN (SELECT session_id FROM temp.agg_new)"
    _register_attrs(conn, where)
    _settle_firsts(conn, where)
    return where


def add_sessions(conn: sqlite3.Connection, ids: list[str]) -> None:
    """Count sessions new to the database (with whatever events they already have)."""
    if not ids:
        return
    where = _new_sessions(conn, ids)
    _fill(conn, where)
    _apply(conn, 1)
    conn.execute(
        f"""INSERT INTO story_activity (story_id, real_sessions, simulated_sessions, viewers,
                                        last_activity)
        SELECT s.story_id, SUM(s.simulated = 0), SUM(s.simulated <> 0), 0,
               MAX(MAX(s.started_at, COALESCE(s.ended_at, ''),
                       COALESCE((SELECT MAX(e.ts) FROM events e
                                 WHERE e.session_id = s.session_id), '')))
        FROM sessions s WHERE {where} GROUP BY 1
        ON CONFLICT DO UPDATE SET
          real_sessions = real_sessions + excluded.real_sessions,
          simulated_sessions = simulated_sessions + excluded.simulated_sessions,
          last_activity = MAX(COALESCE(last_activity, ''), excluded.last_activity)"""
    )


@dataclass(slots=True)
class Tally:
    """What one session new to the database adds, counted in memory by the bulk writer.

    `edges`: (scene, choice, target) -> [times, timeouts] of its counted events;
    `scenes`: scene -> [views, timeouts]; `decide`: (scene, bucket) -> its
    choices' times to decide; `acts`: (scene, kind) -> its rewinds, pauses and
    skipped reveals (`decide_acts.py`); `last_ts`: its latest event time.
    """

    edges: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    scenes: dict[str, list[int]] = field(default_factory=dict)
    decide: dict[tuple[str, int], int] = field(default_factory=dict)
    acts: dict[tuple[str, str], int] = field(default_factory=dict)
    last_ts: str = ""

    def add(
        self,
        kind: str,
        scene: str | None,
        choice: str | None,
        target: str | None,
        decide_ms: int | None = None,
    ) -> None:
        """Count one event of the session."""
        if scene is not None:
            if kind == "choice_made" and decide_ms is not None:
                key = (scene, sketch.bucket(decide_ms))
                self.decide[key] = self.decide.get(key, 0) + 1
            elif kind in decide_acts.KINDS:
                self.acts[(scene, kind)] = self.acts.get((scene, kind), 0) + 1
        timeout = kind == "timeout_default"
        if kind in COUNTED_TYPES:
            edge = self.edges.get((scene or "", choice or "", target or ""))
            if edge is None:
                edge = self.edges[(scene or "", choice or "", target or "")] = [0, 0]
            edge[0] += 1
            edge[1] += timeout
        if scene is not None and (timeout or kind == "scene_shown"):
            seen = self.scenes.get(scene)
            if seen is None:
                seen = self.scenes[scene] = [0, 0]
            seen[0] += not timeout
            seen[1] += timeout


COUNTED_TYPES = frozenset({"choice_made", "timeout_default", "route_taken"})


def _settle_firsts(conn: sqlite3.Connection, where: str) -> None:
    """Make `agg_firsts` name each viewer's earliest session, moving a displaced one."""
    best: dict[tuple[str, str], tuple[str, str]] = {}
    for story, viewer, started, sid in conn.execute(
        f"SELECT s.story_id, s.viewer_id, s.started_at, s.session_id FROM sessions s WHERE {where}"
    ):
        key = (story, viewer)
        best[key] = min(best.get(key, (started, sid)), (started, sid))
    fresh: list[tuple[str, str, str, str]] = []
    displaced: list[str] = []
    for (story, viewer), (started, sid) in best.items():
        cur = conn.execute(
            "SELECT started_at, session_id FROM agg_firsts WHERE story_id = ? AND viewer_id = ?",
            [story, viewer],
        ).fetchone()
        if cur is None or (started, sid) < (cur[0], cur[1]):
            fresh.append((story, viewer, sid, started))
        if cur is not None and (started, sid) < (cur[0], cur[1]):
            displaced.append(cur[1])
    new_viewers: dict[str, int] = {}
    for story, viewer, _sid, _started in fresh:
        known = conn.execute(
            "SELECT 1 FROM agg_firsts WHERE story_id = ? AND viewer_id = ?", [story, viewer]
        ).fetchone()
        new_viewers[story] = new_viewers.get(story, 0) + (known is None)

    def change() -> None:
        conn.executemany(
            """INSERT INTO agg_firsts (story_id, viewer_id, session_id, started_at)
            VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET session_id = excluded.session_id,
                                                          started_at = excluded.started_at""",
            fresh,
        )

    if displaced:
        _move(conn, displaced, change)
    else:
        change()
    conn.executemany(
        """INSERT INTO story_activity (story_id, real_sessions, simulated_sessions, viewers)
        VALUES (?, 0, 0, ?) ON CONFLICT DO UPDATE SET viewers = viewers + excluded.viewers""",
        [(story, n) for story, n in new_viewers.items() if n],
    )


def rebuild(conn: sqlite3.Connection) -> None:
    """Recount every aggregate from the sessions and the events held (in a transaction)."""
    for table in (*TABLES, "agg_firsts", "agg_attr_keys", "agg_attr_values", "story_activity"):
        conn.execute(f"DELETE FROM {table}")
    conn.execute(
        """INSERT INTO agg_attr_keys (story_id, key, kept)
        SELECT s.story_id, a.key, COUNT(DISTINCT a.value) <= ? FROM sessions s
        JOIN session_attrs a ON a.session_id = s.session_id GROUP BY 1, 2""",
        [ATTR_LIMIT],
    )
    conn.execute(
        """INSERT INTO agg_attr_values (story_id, key, value)
        SELECT DISTINCT s.story_id, a.key, a.value FROM sessions s
        JOIN session_attrs a ON a.session_id = s.session_id
        JOIN agg_attr_keys k ON k.story_id = s.story_id AND k.key = a.key AND k.kept = 1"""
    )
    conn.execute(
        """INSERT INTO agg_firsts (story_id, viewer_id, session_id, started_at)
        SELECT story_id, viewer_id, session_id, started_at FROM (
            SELECT story_id, viewer_id, session_id, started_at,
                   ROW_NUMBER() OVER (PARTITION BY story_id, viewer_id
                                      ORDER BY started_at, session_id) AS n
            FROM sessions) WHERE n = 1"""
    )
    acts = decide_acts.has_tables(conn)  # not yet when m011's backfill runs this
    if acts:
        decide_acts.clear(conn)
    _fill(conn, "true")
    _apply(conn, 1, acts=acts)
    conn.execute(
        """INSERT INTO story_activity (story_id, real_sessions, simulated_sessions, viewers,
                                       last_activity)
        SELECT s.story_id, SUM(s.simulated = 0), SUM(s.simulated <> 0),
               (SELECT COUNT(*) FROM agg_firsts f WHERE f.story_id = s.story_id),
               MAX(MAX(s.started_at, COALESCE(s.ended_at, ''), COALESCE(l.ts, '')))
        FROM sessions s LEFT JOIN (SELECT session_id, MAX(ts) AS ts FROM events GROUP BY 1) l
          ON l.session_id = s.session_id
        GROUP BY 1"""
    )
    conn.execute("DELETE FROM temp.agg_cls")
    digests.rebuild(conn)  # the per-session digests follow the same events (`digests.py`)


def rebuild_decide_acts(
    conn: sqlite3.Connection, *, decide: bool = True, acts: bool = True
) -> None:
    """Recount only `decide_acts`' tables (or the one of them asked for) from the sessions
    and events held (m013: `agg_acts`; m014: `agg_decide`)."""
    decide_acts.clear(
        conn, tuple(t for t, on in zip(decide_acts.TABLES, (decide, acts), strict=True) if on)
    )
    _fill(conn, "true")
    decide_acts.apply(conn, 1, decide=decide, acts=acts)
    conn.execute("DELETE FROM temp.agg_cls")


# -- prune: the events before a cut-off leave the aggregates ---------------------------


def prune_out(conn: sqlite3.Connection, cutoff: str) -> None:
    """Before `prune` deletes the events older than `cutoff`: uncount their sessions."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS agg_set (session_id TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM temp.agg_set")
    conn.execute(
        "INSERT INTO temp.agg_set SELECT DISTINCT session_id FROM events WHERE ts < ?", [cutoff]
    )
    _fill(conn, "s.session_id IN (SELECT session_id FROM temp.agg_set)")
    _apply(conn, -1)


def prune_in(conn: sqlite3.Connection) -> None:
    """After the delete: count those sessions again with the events they keep."""
    _fill(conn, "s.session_id IN (SELECT session_id FROM temp.agg_set)")
    _apply(conn, 1)
    _drop_zero_classes(conn)


# -- the live path: one op at a time ---------------------------------------------------

_UPSERT_EDGE = f"""INSERT INTO agg_edges ({CLASS}, scene, choice, target,
                                 times, timeouts, sessions, sessions_timed_out)
    SELECT story_id, attr_key, attr_value, content_hash, day, first_play, simulated, outcome,
           :scene, :choice, :target, 1, :timeout, :new, :new_timeout
    FROM ({_slices("s.session_id = :sid")}) WHERE true
    ON CONFLICT DO UPDATE SET times = times + 1, timeouts = timeouts + excluded.timeouts,
        sessions = sessions + excluded.sessions,
        sessions_timed_out = sessions_timed_out + excluded.sessions_timed_out"""

_UPSERT_SCENE = f"""INSERT INTO agg_scenes ({CLASS}, scene, views, sessions, sessions_timed_out)
    SELECT story_id, attr_key, attr_value, content_hash, day, first_play, simulated, outcome,
           :scene, :views, :new, :new_timeout
    FROM ({_slices("s.session_id = :sid")}) WHERE true
    ON CONFLICT DO UPDATE SET views = views + excluded.views,
        sessions = sessions + excluded.sessions,
        sessions_timed_out = sessions_timed_out + excluded.sessions_timed_out"""

_SLICES_OF_SID = _slices("s.session_id = :sid")

_UPSERT_STANDING = f"""INSERT INTO agg_sessions ({CLASS}, last_scene, ending_id, sessions)
    SELECT story_id, attr_key, attr_value, content_hash, day, first_play, simulated, outcome,
           :last, :ending, :delta
    FROM ({_slices("s.session_id = :sid", outcome=":outcome")}) WHERE true
    ON CONFLICT DO UPDATE SET sessions = sessions + excluded.sessions"""


def event_added(conn: sqlite3.Connection, op: dict[str, Any]) -> None:
    """Count one event just inserted (op as in `ops.py`) into the aggregates."""
    kind = op["type"]
    sid, seq, scene = op["session_id"], op["seq"], op["scene"]
    if kind in ("choice_made", "timeout_default", "route_taken"):
        if kind == "choice_made":
            decide_acts.event_added(conn, op, _SLICES_OF_SID)
        choice, target = op["choice"] or "", op["target"] or ""
        timeout = kind == "timeout_default"
        edge, edge_timeouts, scene_timeouts = conn.execute(
            f"""SELECT COALESCE(SUM(COALESCE(choice, '') = :choice
                                    AND COALESCE(target, '') = :target), 0),
                   COALESCE(SUM(COALESCE(choice, '') = :choice AND COALESCE(target, '') = :target
                                AND type = 'timeout_default'), 0),
                   COALESCE(SUM(type = 'timeout_default'), 0)
            FROM events WHERE session_id = :sid AND seq <> :seq AND type IN {_COUNTED}
              AND COALESCE(scene, '') = :scene""",
            {"sid": sid, "seq": seq, "scene": scene or "", "choice": choice, "target": target},
        ).fetchone()
        conn.execute(
            _UPSERT_EDGE,
            {
                "sid": sid,
                "scene": scene or "",
                "choice": choice,
                "target": target,
                "timeout": int(timeout),
                "new": int(edge == 0),
                "new_timeout": int(timeout and edge_timeouts == 0),
            },
        )
        if timeout and scene and scene_timeouts == 0:
            conn.execute(
                _UPSERT_SCENE, {"sid": sid, "scene": scene, "views": 0, "new": 0, "new_timeout": 1}
            )
    elif kind in decide_acts.KINDS:
        decide_acts.event_added(conn, op, _SLICES_OF_SID)
    elif kind == "scene_shown" and scene is not None:
        seen = conn.execute(
            """SELECT EXISTS (SELECT 1 FROM events WHERE session_id = ? AND seq <> ?
                              AND type = 'scene_shown' AND scene = ?)""",
            [sid, seq, scene],
        ).fetchone()[0]
        conn.execute(
            _UPSERT_SCENE,
            {"sid": sid, "scene": scene, "views": 1, "new": int(not seen), "new_timeout": 0},
        )
    conn.execute(
        """UPDATE story_activity SET last_activity = MAX(COALESCE(last_activity, ''), ?)
        WHERE story_id = ?""",
        [op["ts"], op["story_id"]],
    )


Standing = tuple[str | None, str, str | None, str | None]  # last scene, outcome, ending, ended


def standing(conn: sqlite3.Connection, session_id: str) -> Standing | None:
    """Where a session stands: (last scene, outcome, ending id, ended at)."""
    row = conn.execute(
        "SELECT last_scene, outcome, ending_id, ended_at FROM sessions WHERE session_id = ?",
        [session_id],
    ).fetchone()
    return None if row is None else (row[0], row[1], row[2], row[3])


def standing_moved(conn: sqlite3.Connection, session_id: str, old: Standing, new: Standing) -> None:
    """A session moved from standing `old` to `new`: move its counts (and its class)."""
    for (last, outcome, ending, _), delta in ((old, -1), (new, 1)):
        conn.execute(
            _UPSERT_STANDING,
            {
                "sid": session_id,
                "last": last or "",
                "outcome": outcome,
                "ending": ending or "",
                "delta": delta,
            },
        )
    # a standing its last session left is no row: m020's trigger agg_sessions_drop_spent
    if old[1] != new[1]:  # another outcome is another class: move what its events add
        where = "s.session_id = ?"
        conn.execute(
            f"""CREATE TEMP TABLE IF NOT EXISTS agg_cls (
                session_id TEXT, {CLASS}, PRIMARY KEY (session_id, attr_key)) WITHOUT ROWID"""
        )
        conn.execute("DELETE FROM temp.agg_cls")
        conn.execute(
            f"INSERT INTO temp.agg_cls {_slices(where, outcome='?')}",
            [old[1], session_id, old[1], session_id],
        )
        _apply(conn, -1, sessions=False)
        _drop_zero_classes(conn, acts=False)
        _fill(conn, where, [session_id, session_id])
        _apply(conn, 1, sessions=False)
    if new[3]:
        conn.execute(
            """UPDATE story_activity SET last_activity = MAX(COALESCE(last_activity, ''), ?)
            WHERE story_id = (SELECT story_id FROM sessions WHERE session_id = ?)""",
            [new[3], session_id],
        )


# -- the live path, a group of ops at a time (`ops.apply_ops`) --------------------------

_SESSION_CLASS = """SELECT EXISTS (SELECT 1 FROM forgotten_sessions WHERE session_id = ?1),
       s.story_id, s.content_hash, substr(s.started_at, 1, 10),
       EXISTS (SELECT 1 FROM agg_firsts f WHERE f.story_id = s.story_id
               AND f.viewer_id = s.viewer_id AND f.session_id = ?1), s.simulated,
       s.outcome, s.last_scene, s.last_scene_seq, s.ending_id, s.ended_at,
       (SELECT json_group_array(json_array(a.key, a.value)) FROM session_attrs a
        JOIN agg_attr_keys k ON k.story_id = s.story_id AND k.key = a.key AND k.kept = 1
        WHERE a.session_id = ?1)
FROM (SELECT 1) LEFT JOIN sessions s ON s.session_id = ?1"""

_SESSION_EVENTS = """
UNION ALL SELECT NULL, type, scene, choice, target, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM events WHERE session_id = ?1
    AND type IN ('choice_made', 'timeout_default', 'route_taken', 'scene_shown', 'pause',
                 'reveal_skipped')
    AND COALESCE(scene, '') IN ({})"""  # a literal list: faster than json_each; no DISTINCT


_SESSION_EVERY_EVENT = """
UNION ALL SELECT NULL, type, scene, choice, target, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM events WHERE session_id = ?1
    AND type IN ('choice_made', 'timeout_default', 'route_taken', 'scene_shown', 'pause',
                 'reveal_skipped')"""


def _session_query(scenes: int | None) -> str:
    """The session's row, then its events in `scenes` scenes, or in all (None; one round
    trip)."""
    if scenes is None:
        return _SESSION_CLASS + _SESSION_EVERY_EVENT
    if not scenes:
        return _SESSION_CLASS
    return _SESSION_CLASS + _SESSION_EVENTS.format(", ".join("?" * scenes))


@dataclass(slots=True)
class LiveSession:
    """A session as a group of ops sees it, read once (`read_session`) and kept in memory.

    `slices`: its class in each slice (the key columns of its aggregate rows,
    `CLASS` order); `standing`: (last scene, outcome, ending id, ended at);
    `edges`, `edge_timeouts`, `scene_timeouts`, `shown`, `acts` ((scene,
    kind) of its pauses and skipped reveals): what its events stored so far
    hold, for the "first time in this session" columns, as `event_added`'s
    lookups would find them (a rewind never joins a group: `ops._summable`).
    """

    session_id: str
    story_id: str
    content_hash: str
    slices: list[tuple[Any, ...]]
    standing: Standing
    last_seq: int
    edges: set[tuple[str, str, str]]
    edge_timeouts: set[tuple[str, str, str]]
    scene_timeouts: set[str]
    shown: set[str]
    acts: set[tuple[str, str]]


def read_session(
    conn: sqlite3.Connection, session_id: str, scenes: list[str] | None
) -> LiveSession | bool:
    """The session for a group: False when `forget` deleted it, True when it is not stored.

    What its stored events hold is read for `scenes` (`''` for none) only: the
    scenes the group's events are in; None: in every scene (a session the
    writer keeps in memory for its later groups, `ops.WriterMemory`).
    """
    if scenes is None:
        rows = conn.execute(_session_query(None), [session_id]).fetchall()
    else:
        rows = conn.execute(_session_query(len(scenes)), [session_id, *scenes]).fetchall()
    row = next(r for r in rows if r[0] is not None)  # the session's (its events have NULL)
    if row[0]:
        return False
    if row[1] is None:
        return True
    story, content_hash, day, first, simulated, outcome = row[1:7]
    base = (content_hash, day, first, simulated, outcome)
    slices = [(story, "", "", *base)]
    slices.extend((story, key, value, *base) for key, value in json.loads(row[11]))
    edges: set[tuple[str, str, str]] = set()
    edge_timeouts: set[tuple[str, str, str]] = set()
    scene_timeouts: set[str] = set()
    shown: set[str] = set()
    acts: set[tuple[str, str]] = set()
    stored = (event[1:5] for event in rows if event[0] is None)
    for kind, scene, choice, target in stored:
        if kind in decide_acts.KINDS:
            if scene is not None:
                acts.add((scene, kind))
            continue
        if kind == "scene_shown":
            if scene is not None:
                shown.add(scene)
            continue
        edge = (scene or "", choice or "", target or "")
        edges.add(edge)
        if kind == "timeout_default":
            edge_timeouts.add(edge)
            scene_timeouts.add(scene or "")
    return LiveSession(
        session_id, story, content_hash, slices, (row[7], outcome, row[9], row[10]), row[8],
        edges, edge_timeouts, scene_timeouts, shown, acts,
    )  # fmt: skip


_ADD_EDGE = f"""INSERT INTO agg_edges ({CLASS}, scene, choice, target,
                                 times, timeouts, sessions, sessions_timed_out)
    VALUES ({", ".join("?" * 15)})
    ON CONFLICT DO UPDATE SET times = times + excluded.times,
        timeouts = timeouts + excluded.timeouts, sessions = sessions + excluded.sessions,
        sessions_timed_out = sessions_timed_out + excluded.sessions_timed_out"""

_ADD_SCENE = f"""INSERT INTO agg_scenes ({CLASS}, scene, views, sessions, sessions_timed_out)
    VALUES ({", ".join("?" * 12)})
    ON CONFLICT DO UPDATE SET views = views + excluded.views,
        sessions = sessions + excluded.sessions,
        sessions_timed_out = sessions_timed_out + excluded.sessions_timed_out"""

_ADD_STANDING = f"""INSERT INTO agg_sessions ({CLASS}, last_scene, ending_id, sessions)
    VALUES ({", ".join("?" * 11)})
    ON CONFLICT DO UPDATE SET sessions = sessions + excluded.sessions"""

_LAST_ACTIVITY = """UPDATE story_activity SET last_activity = MAX(COALESCE(last_activity, ''), ?)
    WHERE story_id = ?"""


@dataclass(slots=True)
class LiveCounts:
    """What a group of ops adds to the aggregates, summed per row before one upsert each.

    Keys are a session's class (one of its `slices`) and the row's own columns;
    an addition of zero still creates the row, as the op-by-op upserts would.
    """

    edges: dict[tuple[Any, ...], list[int]] = field(default_factory=dict)
    scenes: dict[tuple[Any, ...], list[int]] = field(default_factory=dict)
    standings: dict[tuple[Any, ...], int] = field(default_factory=dict)
    activity: dict[str, str] = field(default_factory=dict)
    decisions: dict[tuple[Any, ...], int] = field(default_factory=dict)
    acts: dict[tuple[Any, ...], list[int]] = field(default_factory=dict)

    def edge(self, session: LiveSession, key: tuple[str, str, str], counts: list[int]) -> None:
        """Add [times, timeouts, sessions, sessions timed out] to an edge of `session`."""
        a, b, c, d = counts
        for klass in session.slices:
            total = self.edges.setdefault((*klass, *key), [0, 0, 0, 0])
            total[0] += a
            total[1] += b
            total[2] += c
            total[3] += d

    def scene(self, session: LiveSession, scene: str, counts: list[int]) -> None:
        """Add [views, sessions, sessions timed out] to a scene of `session`."""
        a, b, c = counts
        for klass in session.slices:
            total = self.scenes.setdefault((*klass, scene), [0, 0, 0])
            total[0] += a
            total[1] += b
            total[2] += c

    def standing(self, session: LiveSession, outcome: str, key: tuple[str, str], n: int) -> None:
        """Add `n` sessions at (last scene, ending id) under `outcome` for `session`."""
        for klass in session.slices:
            row = (*klass[:7], outcome, *key)
            self.standings[row] = self.standings.get(row, 0) + n

    def decided(self, session: LiveSession, scene: str, decide_ms: int) -> None:
        """A choice made at `scene` after `decide_ms` by `session` (`decide_acts.py`)."""
        low = sketch.bucket(decide_ms)
        for klass in session.slices:
            key = (*klass[: decide_acts.WIDTH], scene, low)
            self.decisions[key] = self.decisions.get(key, 0) + 1

    def act(self, session: LiveSession, scene: str, kind: str) -> None:
        """A pause or skipped reveal at `scene` by `session`, its first there or not."""
        new = (scene, kind) not in session.acts
        session.acts.add((scene, kind))
        for klass in session.slices:
            total = self.acts.setdefault((*klass[: decide_acts.WIDTH], scene, kind), [0, 0])
            total[0] += 1
            total[1] += new

    def active(self, story_id: str, ts: str) -> None:
        """The story saw activity at `ts`."""
        if ts > self.activity.get(story_id, ""):
            self.activity[story_id] = ts
        else:
            self.activity.setdefault(story_id, ts)

    def write(self, conn: sqlite3.Connection) -> None:
        """Upsert every summed row (plain VALUES, one statement per table)."""
        if self.edges:
            conn.executemany(_ADD_EDGE, [(*k, *v) for k, v in self.edges.items()])
        if self.scenes:
            conn.executemany(_ADD_SCENE, [(*k, *v) for k, v in self.scenes.items()])
        if self.standings:
            # a standing its last session left (or one only passed through) is no row: the
            # trigger `agg_sessions_drop_spent` (m020) deletes a row whose count reaches zero
            conn.executemany(_ADD_STANDING, [(*k, v) for k, v in self.standings.items()])
        if self.activity:
            conn.executemany(_LAST_ACTIVITY, [(ts, s) for s, ts in self.activity.items()])
        decide_acts.write(conn, self.decisions, self.acts)


_CLASS_PARAMS = ", ".join(f"?{i}" for i in range(1, 9))  # a class's 8 columns, then ?9, ?10

# what one session's events (?9) add to the edges and scenes under a class, times ?10 (1 or -1):
# `_apply`'s sums for one session, its class bound once instead of joined
_MOVE_EDGES = f"""INSERT INTO agg_edges ({CLASS}, scene, choice, target,
                                 times, timeouts, sessions, sessions_timed_out)
    SELECT {_CLASS_PARAMS}, p.scene, p.choice, p.target, ?10 * p.n, ?10 * p.t, ?10,
           ?10 * (p.t > 0)
    FROM (SELECT COALESCE(scene, '') AS scene, COALESCE(choice, '') AS choice,
                 COALESCE(target, '') AS target, COUNT(*) AS n,
                 SUM(type = 'timeout_default') AS t
          FROM events WHERE session_id = ?9 AND type IN {_COUNTED}
          GROUP BY 1, 2, 3) p
    WHERE true
    ON CONFLICT DO UPDATE SET times = times + excluded.times,
        timeouts = timeouts + excluded.timeouts, sessions = sessions + excluded.sessions,
        sessions_timed_out = sessions_timed_out + excluded.sessions_timed_out"""
_MOVE_SCENES = f"""INSERT INTO agg_scenes ({CLASS}, scene, views, sessions, sessions_timed_out)
    SELECT {_CLASS_PARAMS}, p.scene, ?10 * p.v, ?10 * (p.v > 0), ?10 * (p.t > 0)
    FROM (SELECT scene, SUM(type = 'scene_shown') AS v, SUM(type = 'timeout_default') AS t
          FROM events WHERE session_id = ?9 AND type IN ('scene_shown', 'timeout_default')
            AND scene IS NOT NULL
          GROUP BY 1) p
    WHERE true
    ON CONFLICT DO UPDATE SET views = views + excluded.views,
        sessions = sessions + excluded.sessions,
        sessions_timed_out = sessions_timed_out + excluded.sessions_timed_out"""


def class_moved(conn: sqlite3.Connection, session: LiveSession, outcome: str) -> None:
    """The session's outcome became `outcome`: what its events add moves to that class.

    `standing_moved`'s move for one session: what its events add (`_apply`'s
    sums, for this session alone) subtracted under its old class in each of
    its slices and added under the new one, summed by SQLite from its events
    (one statement per table and sign, the class bound once: no row of it
    through Python), then the old class's rows left at zero deleted
    (`session.slices` still hold the old class). (Its digest does not change:
    `digests.py` keeps it with each event.)
    """
    sid = session.session_id
    old = session.slices
    moves = [(*klass, sid, -1) for klass in old]
    moves += [(*klass[:7], outcome, sid, 1) for klass in old]
    conn.executemany(_MOVE_EDGES, moves)
    conn.executemany(_MOVE_SCENES, moves)
    match = " AND ".join(f"{c.strip()} = ?" for c in CLASS.split(","))
    classes = list(dict.fromkeys(old))  # the new class has other rows: only the old is swept
    for table, zero in _ZERO:
        conn.executemany(f"DELETE FROM {table} WHERE {match} AND {zero}", classes)


# -- the bulk writer: sessions of one class and slices summed once (M5, issue 12) ------


@dataclass(slots=True)
class _Group:
    """The summed tallies of a batch's sessions of one class and one set of slices:
    `edges` -> [times, timeouts, sessions, sessions timed out], `scenes` -> [views,
    sessions, sessions timed out], `decide` -> count, `acts` -> [times, sessions],
    `standings` (last scene, ending id) -> sessions."""

    edges: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    scenes: dict[str, list[int]] = field(default_factory=dict)
    decide: dict[tuple[str, int], int] = field(default_factory=dict)
    acts: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    standings: dict[tuple[str, str], int] = field(default_factory=dict)


def add_grouped(
    conn: sqlite3.Connection,
    sessions: dict[str, dict[str, Any]],
    attrs: list[tuple[str, str, str]],
    tallies: dict[str, Tally],
) -> set[str]:
    """`add_sessions` for sessions new to the database whose events were counted in memory
    (the bulk writer's batch): the same rows as the set-based SQL (a test compares
    them with `rebuild`'s recount).

    Each session's tally is added once into its group's (the sessions of one
    class and set of slices, keyed by the edge, scene, ... alone), and each
    group into its slices: a batch of a large simulation has a dozen sessions a
    group (the same day, viewer kind, outcome and attributes), so a key of a
    dozen columns is built per group, not per session and slice.

    Returns the sessions that are their viewer's first (`agg_firsts` names them).
    """
    if not sessions:
        return set()
    _new_sessions(conn, sessions)
    firsts = {
        row[0]
        for row in conn.execute(
            """SELECT f.session_id FROM agg_firsts f
            JOIN temp.agg_new n ON n.session_id = f.session_id"""
        )
    }
    stories = {row["story_id"] for row in sessions.values()}
    kept = {
        (story, key)
        for story, key in conn.execute("SELECT story_id, key FROM agg_attr_keys WHERE kept = 1")
        if story in stories
    }
    slices: dict[str, list[tuple[str, str]]] = {sid: [("", "")] for sid in sessions}
    for sid, key, value in attrs:
        if sid in slices and (sessions[sid]["story_id"], key) in kept:
            slices[sid].append((key, value))
    groups: dict[tuple[Any, ...], _Group] = {}
    activity: dict[str, list[Any]] = {}
    empty = Tally()
    for sid, row in sessions.items():
        story = row["story_id"]
        tally = tallies.get(sid) or empty
        head = (
            story,
            row["content_hash"],
            row["started_at"][:10],
            int(sid in firsts),
            row["simulated"],
            row["outcome"],
        )
        grouped = (head, *slices[sid])
        group = groups.get(grouped)
        if group is None:
            group = groups[grouped] = _Group()
        into_edges = group.edges
        for edge, (n, t) in tally.edges.items():
            total = into_edges.get(edge)
            if total is None:
                into_edges[edge] = [n, t, 1, int(t > 0)]
            else:
                total[0] += n
                total[1] += t
                total[2] += 1
                total[3] += t > 0
        into_scenes = group.scenes
        for scene, (v, t) in tally.scenes.items():
            seen = into_scenes.get(scene)
            if seen is None:
                into_scenes[scene] = [v, int(v > 0), int(t > 0)]
            else:
                seen[0] += v
                seen[1] += v > 0
                seen[2] += t > 0
        into_decide = group.decide
        for pair, n in tally.decide.items():
            into_decide[pair] = into_decide.get(pair, 0) + n
        into_acts = group.acts
        for done, n in tally.acts.items():
            act = into_acts.get(done)
            if act is None:
                into_acts[done] = [n, 1]
            else:
                act[0] += n
                act[1] += 1
        standing = (row["last_scene"] or "", row["ending_id"] or "")
        group.standings[standing] = group.standings.get(standing, 0) + 1
        active = activity.setdefault(story, [0, 0, ""])
        active[0 if not row["simulated"] else 1] += 1
        active[2] = max(active[2], row["started_at"], row["ended_at"] or "", tally.last_ts)
    edges: dict[tuple[Any, ...], list[int]] = {}
    scenes: dict[tuple[Any, ...], list[int]] = {}
    standings: dict[tuple[Any, ...], int] = {}
    decide: dict[tuple[Any, ...], int] = {}
    acts: dict[tuple[Any, ...], list[int]] = {}
    for (head, *sliced), group in groups.items():
        story, content_hash, day, first, simulated, outcome = head
        for attr_key, attr_value in sliced:
            klass = (story, attr_key, attr_value, content_hash, day, first, simulated, outcome)
            for edge, counts in group.edges.items():
                total = edges.get((*klass, *edge))
                if total is None:
                    edges[(*klass, *edge)] = counts.copy()
                else:
                    for i, n in enumerate(counts):
                        total[i] += n
            for scene, counts in group.scenes.items():
                seen = scenes.get((*klass, scene))
                if seen is None:
                    scenes[(*klass, scene)] = counts.copy()
                else:
                    for i, n in enumerate(counts):
                        seen[i] += n
            for standing, n in group.standings.items():
                standings[(*klass, *standing)] = standings.get((*klass, *standing), 0) + n
            unclassed = klass[: decide_acts.WIDTH]  # no outcome in `decide_acts`' key
            for (scene, low), n in group.decide.items():
                decide[(*unclassed, scene, low)] = decide.get((*unclassed, scene, low), 0) + n
            for (scene, kind), (n, s) in group.acts.items():
                act = acts.setdefault((*unclassed, scene, kind), [0, 0])
                act[0] += n
                act[1] += s
    conn.executemany(_ADD_EDGE, [(*key, *counts) for key, counts in edges.items()])
    conn.executemany(_ADD_SCENE, [(*key, *counts) for key, counts in scenes.items()])
    conn.executemany(_ADD_STANDING, [(*key, n) for key, n in standings.items()])
    decide_acts.write(conn, decide, acts)
    conn.executemany(
        """INSERT INTO story_activity (story_id, real_sessions, simulated_sessions, viewers,
                                       last_activity)
        VALUES (?, ?, ?, 0, ?)
        ON CONFLICT DO UPDATE SET
          real_sessions = real_sessions + excluded.real_sessions,
          simulated_sessions = simulated_sessions + excluded.simulated_sessions,
          last_activity = MAX(COALESCE(last_activity, ''), excluded.last_activity)""",
        [(story, real, simulated, last) for story, (real, simulated, last) in activity.items()],
    )
    return firsts
