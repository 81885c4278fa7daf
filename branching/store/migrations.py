"""The schema, created and upgraded only through named sqlite-utils migrations.

sqlite-utils 4 ships `Migrations` (records applied names in
`_sqlite_migrations`). Its own transactions start with a deferred `BEGIN`, so
`migrate()` wraps the whole run in one `BEGIN IMMEDIATE`: the nested
`db.atomic()` blocks become savepoints, and several processes opening a new
file at once queue on the write lock, the first applies everything and the
others then find nothing pending. Migrations run at open, never lazily.

Every open checks the file against the steps (`check_ours`): the tables and
views its recorded steps make must be there, by name and kind. What each step
makes is read from `schema_steps.py`, generated from the steps (`python -m
branching.store.migrations`) and proved equal to replaying them by a test,
so a read-only command neither replays the steps on an in-memory database
(about 30 ms) nor imports sqlite-utils (about 30 ms more): `migrations` (the
sqlite-utils `Migrations`) is built when a file is upgraded or the steps are
replayed. `merge`'s vetting compares every table's SQL too (`expected_schema`),
from the replay itself.

Never edit a migration that has shipped: add a new one. Each migration carries
its own SQL (no calls into code that may change later).

Tables:
- `stories`: one row per (story id, content hash) with the structure as JSON.
- `sessions`: one playthrough, its viewer (keyed hash), context and outcome.
- `session_attrs`: coarse viewer attributes given with `--attr KEY=VALUE`.
- `events`: append-only, keyed by (session, sequence number): since m007 a
  `WITHOUT ROWID` table clustered on that key (no UUID, no other index), its
  `state` a snapshot, a patch against the event before, or NULL for no
  change (see `states.py`).
- `traversals`, `scene_views`: running totals kept in the event's transaction;
  since m020 views of the aggregates' base slice plus the pruned part.
- `pruned_traversals`, `pruned_scene_views`: the part of the totals whose raw
  events were pruned, so totals = pruned part + recount of the raw events.
- `session_ends`: sessions per (story, version, last scene, outcome, ending),
  so where sessions stand is read without scanning them (`''` stands for no
  last scene / no ending); since m020 a view of `agg_sessions`' base slice.
- `viewer_keys`: fingerprints of the viewer keys that recorded the viewers
  (see `viewers.py`), so a lost or different key is an error, not new ids.
- `sessions.simulated` (m008): 1 for a playthrough `branching simulate`
  played, so every figure can leave synthetic audiences out.
- `events.label`, `choice_labels` (m009): the label of a choice as the viewer
  saw it, kept only where interpolation made it differ from the template
  (`Play "{song}"` seen as `Play "Wonderwall"`), and how often each rendering
  was taken, so every output can show labels as viewers saw them.
- the views (m003, changed by m010): `choice_shares` (times taken, shares of
  every way a scene was left), `choice_sessions` (sessions, shares of those
  shown the scene), `sessions_per_ending`, `scene_dropoff`; completed means
  outcome `ending` in every one, as in every output.
- `forgotten_sessions`: ids of playthroughs `forget` deleted (random UUIDs,
  no viewer id): ops that arrive for them later are dropped (see `ops.py`).
- `agg_edges`, `agg_scenes`, `agg_sessions`, `agg_firsts`, `agg_attr_keys`,
  `agg_attr_values`, `story_activity` (m011): the aggregates behind filtered
  figures, per story, version, day, first playthrough, audience, outcome and
  attribute value, kept in each op's transaction (see `aggregates.py`).
- `session_digests`, `digest_names` (m012): per session, what the path
  analysis replays from its events (decisions made, depth, path, scenes
  shown, choices taken, as codes that `digest_names` spells out), kept in
  the transaction of each event that changes it (see `digests.py`).
- `agg_decide`, `agg_acts` (m013): per story, version, day, first playthrough,
  audience and attribute value (no outcome), the time-to-decide sketch's
  buckets and the rewinds, pauses and skipped reveals per scene, for the
  timing and interactions tables (see `decide_acts.py`); `agg_decide`
  packed (m014): one row per class and scene, its buckets in one text.
- `session_digests` copies (m015): each digest also holds its session's
  story, version, start, audience, outcome, ending and terminal columns,
  its attributes and whether it is its viewer's first (`agg_firsts`), kept
  by triggers (the bulk writer inserts a new session's digest with them
  already in: `digests.insert_whole`), so the per-session tables of
  `stats` read the digests without the sessions.
- `session_digests` edges (m018): each digest also lists the edges its
  session walked and those the clock chose, its views and (a trigger-kept
  copy) its last scene, so the flowchart by viewers reads the digests, not
  the events (see `analytics/flow_viewers.py`).
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from branching.store.db import immediate, translate
from branching.store.errors import CorruptDatabase, ForeignDatabase, NewerSchema

if TYPE_CHECKING:
    from sqlite_utils import Database, Migrations

MIGRATION_SET = "branching.store"
_NAMES: list[str] = []
_STEPS: list[Callable[[Database], None]] = []


def _step(fn: Callable[[Database], None]) -> Callable[[Database], None]:
    """Register `fn` as the next named migration (and remember its name)."""
    _NAMES.append(fn.__name__)
    _STEPS.append(fn)
    return fn


@functools.cache
def _migrations() -> Migrations:
    """The steps as sqlite-utils `Migrations`, built (and sqlite-utils imported) when first
    needed: to upgrade a file or replay the steps, never to check a file that is current."""
    from sqlite_utils import Migrations

    found = Migrations(MIGRATION_SET)
    for fn in _STEPS:
        found()(fn)
    return found


def __getattr__(name: str) -> Any:
    """`migrations`, the sqlite-utils `Migrations` of every step (built on first use)."""
    if name == "migrations":
        return _migrations()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@_step
def m001_raw_tables(db: Database) -> None:
    """Stories, sessions, their attributes and the append-only events."""
    for sql in _M001:
        db.execute(sql)


_M001 = (
    """CREATE TABLE stories (
        story_id TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        title TEXT NOT NULL,
        author TEXT,
        version_label TEXT,
        structure TEXT NOT NULL,
        registered_at TEXT NOT NULL,
        PRIMARY KEY (story_id, content_hash)
    )""",
    """CREATE TABLE sessions (
        session_id TEXT PRIMARY KEY NOT NULL,
        story_id TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        viewer_id TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        outcome TEXT NOT NULL DEFAULT 'in_progress',
        ending_id TEXT,
        ending_kind TEXT,
        seed INTEGER,
        last_scene TEXT,
        last_scene_seq INTEGER NOT NULL DEFAULT 0,
        terminal TEXT,
        term_program TEXT,
        term_cols INTEGER,
        term_rows INTEGER,
        platform TEXT,
        locale TEXT,
        utc_offset_min INTEGER,
        app_version TEXT,
        FOREIGN KEY (story_id, content_hash) REFERENCES stories (story_id, content_hash)
    )""",
    """CREATE TABLE session_attrs (
        session_id TEXT NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (session_id, key)
    ) WITHOUT ROWID""",
    """CREATE TABLE events (
        event_id TEXT PRIMARY KEY NOT NULL,
        session_id TEXT NOT NULL REFERENCES sessions (session_id),
        seq INTEGER NOT NULL,
        ts TEXT NOT NULL,
        type TEXT NOT NULL,
        scene TEXT,
        choice TEXT,
        target TEXT,
        decide_ms INTEGER,
        input TEXT,
        state TEXT,
        UNIQUE (session_id, seq)
    )""",
    "CREATE INDEX sessions_by_viewer ON sessions (viewer_id, story_id)",
    "CREATE INDEX sessions_by_outcome ON sessions (story_id, content_hash, outcome, ending_id)",
    "CREATE INDEX sessions_by_last_scene ON sessions (story_id, content_hash, last_scene)",
    "CREATE INDEX sessions_by_start ON sessions (started_at)",
    "CREATE INDEX events_by_ts ON events (ts)",
)


@_step
def m002_running_totals(db: Database) -> None:
    """Totals per (story, version, scene, choice, target) and scene views, backfilled."""
    for table in ("traversals", "pruned_traversals"):
        db.execute(
            f"""CREATE TABLE {table} (
                story_id TEXT NOT NULL,
                content_hash TEXT NOT NULL,
                scene TEXT NOT NULL,
                choice TEXT NOT NULL,
                target TEXT NOT NULL,
                count INTEGER NOT NULL DEFAULT 0,
                timeouts INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (story_id, content_hash, scene, choice, target)
            ) WITHOUT ROWID"""
        )
    for table in ("scene_views", "pruned_scene_views"):
        db.execute(
            f"""CREATE TABLE {table} (
                story_id TEXT NOT NULL,
                content_hash TEXT NOT NULL,
                scene TEXT NOT NULL,
                count INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (story_id, content_hash, scene)
            ) WITHOUT ROWID"""
        )
    db.execute(
        """INSERT INTO traversals (story_id, content_hash, scene, choice, target, count, timeouts)
        SELECT s.story_id, s.content_hash, COALESCE(e.scene, ''), COALESCE(e.choice, ''),
               COALESCE(e.target, ''), COUNT(*), SUM(e.type = 'timeout_default')
        FROM events e JOIN sessions s ON s.session_id = e.session_id
        WHERE e.type IN ('choice_made', 'timeout_default', 'route_taken')
        GROUP BY 1, 2, 3, 4, 5"""
    )
    db.execute(
        """INSERT INTO scene_views (story_id, content_hash, scene, count)
        SELECT s.story_id, s.content_hash, e.scene, COUNT(*)
        FROM events e JOIN sessions s ON s.session_id = e.session_id
        WHERE e.type = 'scene_shown' AND e.scene IS NOT NULL
        GROUP BY 1, 2, 3"""
    )


@_step
def m003_views(db: Database) -> None:
    """Views for any SQLite client: choice shares, sessions per ending, drop-off."""
    db.execute(
        """CREATE VIEW choice_shares AS
        SELECT t.story_id, t.content_hash, st.version_label, t.scene, t.choice, t.target,
               t.count AS traversals, t.timeouts,
               CAST(t.count AS REAL)
                 / SUM(t.count) OVER (PARTITION BY t.story_id, t.content_hash, t.scene) AS share
        FROM traversals t
        LEFT JOIN stories st ON st.story_id = t.story_id AND st.content_hash = t.content_hash"""
    )
    db.execute(
        """CREATE VIEW sessions_per_ending AS
        SELECT story_id, content_hash, outcome, ending_id, ending_kind, COUNT(*) AS sessions,
               CAST(COUNT(*) AS REAL)
                 / SUM(COUNT(*)) OVER (PARTITION BY story_id, content_hash) AS share
        FROM sessions
        GROUP BY story_id, content_hash, outcome, ending_id, ending_kind"""
    )
    db.execute(
        """CREATE VIEW scene_dropoff AS
        WITH stopped AS (
            SELECT story_id, content_hash, last_scene AS scene,
                   SUM(outcome IN ('abandoned', 'quit', 'stuck')) AS sessions_left,
                   SUM(outcome = 'in_progress') AS sessions_unfinished
            FROM sessions WHERE last_scene IS NOT NULL
            GROUP BY story_id, content_hash, last_scene
        )
        SELECT v.story_id, v.content_hash, v.scene, v.count AS views,
               COALESCE(p.sessions_left, 0) AS sessions_left,
               COALESCE(p.sessions_unfinished, 0) AS sessions_unfinished,
               CAST(COALESCE(p.sessions_left, 0) AS REAL) / v.count AS dropoff_rate
        FROM scene_views v
        LEFT JOIN stopped p
          ON p.story_id = v.story_id AND p.content_hash = v.content_hash AND p.scene = v.scene"""
    )


@_step
def m004_session_end_totals(db: Database) -> None:
    """Sessions per (story, version, last scene, outcome, ending), backfilled from sessions."""
    db.execute(
        """CREATE TABLE session_ends (
            story_id TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            last_scene TEXT NOT NULL,
            outcome TEXT NOT NULL,
            ending_id TEXT NOT NULL,
            count INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (story_id, content_hash, last_scene, outcome, ending_id)
        ) WITHOUT ROWID"""
    )
    # One pass over the sessions, each added into the small table (no sort): on
    # 833,333 sessions this takes about 0.7 s where a GROUP BY takes about 1.1 s.
    db.execute(
        """INSERT INTO session_ends (story_id, content_hash, last_scene, outcome, ending_id, count)
        SELECT story_id, content_hash, COALESCE(last_scene, ''), outcome,
               COALESCE(ending_id, ''), 1
        FROM sessions WHERE true
        ON CONFLICT DO UPDATE SET count = count + excluded.count"""
    )


@_step
def m005_viewer_keys(db: Database) -> None:
    """Fingerprints of the viewer keys that recorded the viewers (never the keys)."""
    db.execute(
        """CREATE TABLE viewer_keys (
            fingerprint TEXT PRIMARY KEY NOT NULL,
            first_used TEXT NOT NULL
        ) WITHOUT ROWID"""
    )


@_step
def m006_forgotten_sessions(db: Database) -> None:
    """Playthroughs `forget` deleted: what their players send later is dropped."""
    db.execute(
        """CREATE TABLE forgotten_sessions (
            session_id TEXT PRIMARY KEY NOT NULL,
            forgotten_at TEXT NOT NULL
        ) WITHOUT ROWID"""
    )


@_step
def m007_small_events(db: Database) -> None:
    """Events without UUIDs, clustered on (session, seq), with patches for the state.

    The rows are rewritten in one pass, session by session in sequence order:
    a state equal to the one before becomes NULL, a changed one a patch (or a
    snapshot at a session's first state, every 500 events, and where a patch
    would be no smaller), exactly as `states.StateChain` recorded them then;
    the encoder below is this step's own frozen copy. The UUIDs go: the key
    is (session_id, seq), which export shows as `session_id:seq`.
    """
    conn = db.conn
    conn.execute("ALTER TABLE events RENAME TO events_m006")
    conn.execute(_M007_EVENTS)
    rows = conn.execute(
        """SELECT session_id, seq, ts, type, scene, choice, target, decide_ms, input, state
        FROM events_m006 ORDER BY session_id, seq"""
    )
    insert = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    batch: list[tuple[Any, ...]] = []
    for row in _m007_rows(rows):
        batch.append(row)
        if len(batch) >= 10_000:
            conn.executemany(insert, batch)
            batch.clear()
    conn.executemany(insert, batch)
    conn.execute("DROP TABLE events_m006")


_M007_EVENTS = """CREATE TABLE events (
        session_id TEXT NOT NULL REFERENCES sessions (session_id),
        seq INTEGER NOT NULL,
        ts TEXT NOT NULL,
        type TEXT NOT NULL,
        scene TEXT,
        choice TEXT,
        target TEXT,
        decide_ms INTEGER,
        input TEXT,
        state TEXT,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID"""


def _m007_rows(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """m006 rows (full state each) as m007 rows (snapshot, patch or NULL), in order."""
    session: object = None
    text: str | None = None  # the previous row's state text
    last: Any = None  # ... and its value
    since = 0
    for *head, state in rows:
        if head[0] != session:
            session, text, last, since = head[0], None, None, 0
        if state is None:
            stored, last = (None if last is None else '{"=":null}'), None
        elif state == text:
            stored = None
        else:
            value = _m007_value(state)
            patch = None if last is None else _m007_diff(last, value)
            whole = _m007_dump({"=": value})
            if last is not None and patch is None:
                stored = None  # the same value written differently
            else:
                since += 1
                if patch is None or since >= 500 or len(_m007_dump(patch)) >= len(whole):
                    stored, since = whole, 0
                else:
                    stored = _m007_dump(patch)
            last = value
        text = state
        yield (*head, stored)


def _m007_value(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return {"value": text}  # unreadable: kept as it was, under one key
    return value if isinstance(value, dict) else {"value": value}


def _m007_dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _m007_same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_m007_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(_m007_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _m007_set(values: list[Any]) -> list[Any] | None:
    keys: list[Any] = []
    for v in values:
        if type(v) is str:
            keys.append(v)
        elif type(v) is list and all(type(x) is str for x in v):
            keys.append(tuple(v))
        else:
            return None
    if len({type(k) for k in keys}) > 1 or any(
        a >= b for a, b in zip(keys, keys[1:], strict=False)
    ):
        return None
    return keys


def _m007_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    changed: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    added: dict[str, Any] = {}
    dropped: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key, _m007_diff)
        if before is _m007_diff:
            changed[key] = value
        elif _m007_same(before, value):
            continue
        elif type(before) is dict and type(value) is dict:
            nested[key] = _m007_diff(before, value)
        elif type(before) is list and type(value) is list:
            a, b = _m007_set(before), _m007_set(value)
            if a is None or b is None or (a and b and type(a[0]) is not type(b[0])):
                changed[key] = value
                continue
            plus, minus = set(b) - set(a), set(a) - set(b)
            if plus:
                added[key] = [k if isinstance(k, str) else list(k) for k in sorted(plus)]
            if minus:
                dropped[key] = [k if isinstance(k, str) else list(k) for k in sorted(minus)]
        else:
            changed[key] = value
    removed = [key for key in old if key not in new]
    parts = (("~", changed), ("-", removed), (">", nested), ("+", added), ("<", dropped))
    return {mark: part for mark, part in parts if part} or None


@_step
def m008_simulated_sessions(db: Database) -> None:
    """Sessions `branching simulate` played are marked, so analytics can leave them out."""
    db.execute("ALTER TABLE sessions ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX sessions_by_audience ON sessions (story_id, simulated)")


@_step
def m009_rendered_labels(db: Database) -> None:
    """The label a viewer saw where it differs from the template, and its running totals."""
    db.execute("ALTER TABLE events ADD COLUMN label TEXT")
    db.execute(
        """CREATE TABLE choice_labels (
            story_id TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            scene TEXT NOT NULL,
            choice TEXT NOT NULL,
            label TEXT NOT NULL,
            count INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (story_id, content_hash, scene, choice, label)
        ) WITHOUT ROWID"""
    )


@_step
def m010_one_unit_views(db: Database) -> None:
    """Views in the units every output uses, with one meaning of completed.

    A session completed when its outcome is `ending`; one that did not left at
    its last scene shown (whatever its outcome, an ending scene included when
    it went back from there and stopped).
    - `choice_shares`: times taken (`traversals`, from the running totals); the
      share is of every way the scene was left (the choices and routes taken
      and the sessions that stopped there), as `flowchart --by times` shows;
    - `choice_sessions` (new): sessions that took each choice, of the sessions
      shown its scene, as `stats` and the flowchart show (reads raw events);
    - `scene_dropoff`: adds `sessions_reached` (sessions shown the scene, from
      raw events); `dropoff_rate` is of those sessions, no longer of views.
    """
    db.execute("DROP VIEW IF EXISTS choice_shares")
    db.execute(
        """CREATE VIEW choice_shares AS
        WITH stopped AS (
            SELECT story_id, content_hash, last_scene AS scene, SUM(count) AS sessions
            FROM session_ends WHERE outcome <> 'ending' AND last_scene <> ''
            GROUP BY 1, 2, 3
        ), ways AS (
            SELECT story_id, content_hash, scene, SUM(count) AS taken
            FROM traversals GROUP BY 1, 2, 3
        )
        SELECT t.story_id, t.content_hash, st.version_label, t.scene, t.choice, t.target,
               t.count AS traversals, t.timeouts,
               CAST(t.count AS REAL) / (w.taken + COALESCE(p.sessions, 0)) AS share
        FROM traversals t
        JOIN ways w ON w.story_id = t.story_id AND w.content_hash = t.content_hash
          AND w.scene = t.scene
        LEFT JOIN stopped p ON p.story_id = t.story_id AND p.content_hash = t.content_hash
          AND p.scene = t.scene
        LEFT JOIN stories st ON st.story_id = t.story_id AND st.content_hash = t.content_hash"""
    )
    db.execute(
        """CREATE VIEW choice_sessions AS
        WITH reached AS (
            SELECT s.story_id, s.content_hash, e.scene, COUNT(DISTINCT e.session_id) AS sessions
            FROM events e JOIN sessions s ON s.session_id = e.session_id
            WHERE e.type = 'scene_shown' GROUP BY 1, 2, 3
        ), took AS (
            SELECT s.story_id, s.content_hash, e.scene, COALESCE(e.choice, '') AS choice,
                   COALESCE(e.target, '') AS target, COUNT(DISTINCT e.session_id) AS sessions,
                   COUNT(DISTINCT CASE WHEN e.type = 'timeout_default'
                                       THEN e.session_id END) AS sessions_timed_out
            FROM events e JOIN sessions s ON s.session_id = e.session_id
            WHERE e.type IN ('choice_made', 'timeout_default', 'route_taken')
            GROUP BY 1, 2, 3, 4, 5
        )
        SELECT t.story_id, t.content_hash, t.scene, t.choice, t.target, t.sessions,
               t.sessions_timed_out, COALESCE(r.sessions, 0) AS sessions_reached,
               CAST(t.sessions AS REAL) / r.sessions AS share
        FROM took t LEFT JOIN reached r ON r.story_id = t.story_id
          AND r.content_hash = t.content_hash AND r.scene = t.scene"""
    )
    db.execute("DROP VIEW IF EXISTS scene_dropoff")
    db.execute(
        """CREATE VIEW scene_dropoff AS
        WITH stopped AS (
            SELECT story_id, content_hash, last_scene AS scene,
                   SUM(outcome NOT IN ('ending', 'in_progress')) AS sessions_left,
                   SUM(outcome = 'in_progress') AS sessions_unfinished
            FROM sessions WHERE last_scene IS NOT NULL
            GROUP BY story_id, content_hash, last_scene
        ), reached AS (
            SELECT s.story_id, s.content_hash, e.scene, COUNT(DISTINCT e.session_id) AS sessions
            FROM events e JOIN sessions s ON s.session_id = e.session_id
            WHERE e.type = 'scene_shown' GROUP BY 1, 2, 3
        )
        SELECT v.story_id, v.content_hash, v.scene, v.count AS views,
               COALESCE(r.sessions, 0) AS sessions_reached,
               COALESCE(p.sessions_left, 0) AS sessions_left,
               COALESCE(p.sessions_unfinished, 0) AS sessions_unfinished,
               CAST(COALESCE(p.sessions_left, 0) + COALESCE(p.sessions_unfinished, 0) AS REAL)
                 / r.sessions AS dropoff_rate
        FROM scene_views v
        LEFT JOIN stopped p
          ON p.story_id = v.story_id AND p.content_hash = v.content_hash AND p.scene = v.scene
        LEFT JOIN reached r
          ON r.story_id = v.story_id AND r.content_hash = v.content_hash AND r.scene = v.scene"""
    )


@_step
def m011_aggregates(db: Database) -> None:
    """Aggregates for filtered figures (see `aggregates.py`), backfilled in one pass.

    Rows are keyed by the session's class (story, version, UTC day of its
    start, first playthrough, simulated, outcome) and a slice ('' '' for every
    session, or one attribute key and value). The backfill is the module's
    `rebuild`: set-based SQL over the events in their stored order. (This step
    calls that code rather than carrying a frozen copy: a later change to what
    the tables hold must come with a step of its own that rebuilds them.)
    """
    klass = """story_id TEXT NOT NULL, attr_key TEXT NOT NULL, attr_value TEXT NOT NULL,
        content_hash TEXT NOT NULL, day TEXT NOT NULL, first_play INTEGER NOT NULL,
        simulated INTEGER NOT NULL, outcome TEXT NOT NULL"""
    key = "story_id, attr_key, attr_value, content_hash, day, first_play, simulated, outcome"
    for sql in (
        f"""CREATE TABLE agg_edges ({klass}, scene TEXT NOT NULL, choice TEXT NOT NULL,
            target TEXT NOT NULL, times INTEGER NOT NULL DEFAULT 0,
            timeouts INTEGER NOT NULL DEFAULT 0, sessions INTEGER NOT NULL DEFAULT 0,
            sessions_timed_out INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY ({key}, scene, choice, target)) WITHOUT ROWID""",
        f"""CREATE TABLE agg_scenes ({klass}, scene TEXT NOT NULL,
            views INTEGER NOT NULL DEFAULT 0, sessions INTEGER NOT NULL DEFAULT 0,
            sessions_timed_out INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY ({key}, scene)) WITHOUT ROWID""",
        f"""CREATE TABLE agg_sessions ({klass}, last_scene TEXT NOT NULL,
            ending_id TEXT NOT NULL, sessions INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY ({key}, last_scene, ending_id)) WITHOUT ROWID""",
        """CREATE TABLE agg_firsts (
            story_id TEXT NOT NULL, viewer_id TEXT NOT NULL, session_id TEXT NOT NULL,
            started_at TEXT NOT NULL, PRIMARY KEY (story_id, viewer_id)) WITHOUT ROWID""",
        """CREATE TABLE agg_attr_keys (
            story_id TEXT NOT NULL, key TEXT NOT NULL, kept INTEGER NOT NULL,
            PRIMARY KEY (story_id, key)) WITHOUT ROWID""",
        """CREATE TABLE agg_attr_values (
            story_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
            PRIMARY KEY (story_id, key, value)) WITHOUT ROWID""",
        """CREATE TABLE story_activity (
            story_id TEXT PRIMARY KEY NOT NULL,
            real_sessions INTEGER NOT NULL DEFAULT 0,
            simulated_sessions INTEGER NOT NULL DEFAULT 0,
            viewers INTEGER NOT NULL DEFAULT 0,
            last_activity TEXT) WITHOUT ROWID""",
    ):
        db.execute(sql)
    from branching.store import aggregates

    aggregates.rebuild(db.conn)


@_step
def m012_session_digests(db: Database) -> None:
    """Per-session digests of every session (see `digests.py`), backfilled in one pass.

    The backfill is the module's `rebuild`: every session's events streamed
    in the table's own order, a batch of rows written at a time. (Like m011,
    this step calls that code: a later change to what a digest holds must
    come with a step of its own that rebuilds the table.) Changed in place
    before any release: a file whose m012 kept finished sessions only (no
    `seq` column) is rebuilt once at open by `digests.upgrade` (`migrate`).
    """
    db.execute(
        """CREATE TABLE session_digests (
            session_id TEXT PRIMARY KEY NOT NULL
                REFERENCES sessions (session_id) ON DELETE CASCADE,
            made INTEGER NOT NULL,
            depth INTEGER NOT NULL,
            path TEXT NOT NULL,
            shown TEXT NOT NULL,
            took TEXT NOT NULL,
            seq INTEGER NOT NULL DEFAULT -1) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE digest_names (
            code INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE)"""
    )
    from branching.store import digests

    digests.rebuild(db.conn)


@_step
def m013_decide_and_acts(db: Database) -> None:
    """Aggregates for the timing and interactions tables (see `decide_acts.py`), backfilled.

    Keyed like m011's tables without the outcome. `agg_decide` counts the
    `choice_made` times per bucket of the time-to-decide sketch (`sketch.py`);
    `agg_acts` counts rewinds, pauses and skipped reveals per scene, in events
    and in sessions. The backfill is `aggregates.rebuild_decide_acts`: the
    set-based SQL of the other aggregates, over `agg_acts` only. (Like m011,
    this step calls that code: a later change to what the tables hold must
    come with a step of its own that rebuilds them.) `agg_decide` is created
    in this step's layout, a row per bucket, and left empty: m014, which
    packs it, fills it (the code that fills it writes that layout only).
    Files this step filled before m014 existed are converted by m014.
    """
    klass = """story_id TEXT NOT NULL, attr_key TEXT NOT NULL, attr_value TEXT NOT NULL,
        content_hash TEXT NOT NULL, day TEXT NOT NULL, first_play INTEGER NOT NULL,
        simulated INTEGER NOT NULL"""
    key = "story_id, attr_key, attr_value, content_hash, day, first_play, simulated"
    db.execute(
        f"""CREATE TABLE agg_decide ({klass}, scene TEXT NOT NULL, bucket INTEGER NOT NULL,
            count INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY ({key}, scene, bucket)) WITHOUT ROWID"""
    )
    db.execute(
        f"""CREATE TABLE agg_acts ({klass}, scene TEXT NOT NULL, kind TEXT NOT NULL,
            times INTEGER NOT NULL DEFAULT 0, sessions INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY ({key}, scene, kind)) WITHOUT ROWID"""
    )
    from branching.store import aggregates

    aggregates.rebuild_decide_acts(db.conn, decide=False)


@_step
def m014_packed_decide(db: Database) -> None:
    """`agg_decide` packed: one row per class and scene, its buckets in one text.

    m013 kept a row per bucket (1.59 M rows, 116 MB of a 10-million-event
    file, most of each row its key). The text is `decide_acts.encode`'s
    (`low:count` pairs by `low`, no zero counts). A file whose m013 filled
    the table is converted from its rows (the same counts, regrouped: no
    event is read); a file m013 left empty (see m013) is backfilled from
    its events by `aggregates.rebuild_decide_acts`.
    """
    from branching.store import aggregates, decide_acts

    decide_acts.ready(db.conn)
    key = "story_id, attr_key, attr_value, content_hash, day, first_play, simulated"
    db.execute("ALTER TABLE agg_decide RENAME TO agg_decide_m013")
    db.execute(
        f"""CREATE TABLE agg_decide (story_id TEXT NOT NULL, attr_key TEXT NOT NULL,
            attr_value TEXT NOT NULL, content_hash TEXT NOT NULL, day TEXT NOT NULL,
            first_play INTEGER NOT NULL, simulated INTEGER NOT NULL, scene TEXT NOT NULL,
            buckets TEXT NOT NULL DEFAULT '',
            PRIMARY KEY ({key}, scene)) WITHOUT ROWID"""
    )
    filled = db.conn.execute("SELECT EXISTS (SELECT 1 FROM agg_decide_m013)").fetchone()[0]
    if filled:  # the rows are in key order: each class and scene's buckets are adjacent
        db.execute(
            f"""INSERT INTO agg_decide ({key}, scene, buckets)
            SELECT {key}, scene, {decide_acts.ADD}('', group_concat(bucket || ':' || count, ' '))
            FROM agg_decide_m013 WHERE count <> 0 GROUP BY {key}, scene"""
        )
    db.execute("DROP TABLE agg_decide_m013")
    if not filled:
        aggregates.rebuild_decide_acts(db.conn, acts=False)


@_step
def m015_digests_carry_their_session(db: Database) -> None:
    """Each digest carries a copy of its session's columns the per-session tables read.

    `stats` joined every chosen session to its digest (and, for segments, to
    its terminal and start): at 180,000 sessions that join was most of a
    table's time (0.45 s of reading against 0.1 s for the digests alone).
    With these copies (named as in `sessions`, so the same SQL applies to
    either) and `first_play` (1: the session is its viewer's first of the
    story, as `agg_firsts` names it), paths, progress, tags and segments read
    the digests alone; `attrs` is the session's attributes as one text, SQL
    literals by key (`'device'='ssh','region'='NL'`, `''` for none), so
    segments need no join to `session_attrs` either.
    Triggers keep the copies, so no writer changes: a digest row inserted
    takes its session's values (a new session, a rebuild; since then the
    bulk writer inserts its new sessions' digests with the values in, which
    leaves the triggers nothing to copy: `digests.insert_whole`);
    an update of one of these columns of a session (its finish or reopening)
    is copied to its digest, as is any change to its attributes; a row of
    `agg_firsts` added, moved or deleted sets or clears the flag of the
    digests it names.
    The backfill copies them from the sessions; no event is read.
    """
    for name, kind in (*_M015_COPIED, ("first_play", "INTEGER"), ("attrs", "TEXT")):
        db.execute(f"ALTER TABLE session_digests ADD COLUMN {name} {kind}")
    names = ", ".join(name for name, _ in _M015_COPIED)
    picked = ", ".join(f"s.{name}" for name, _ in _M015_COPIED)
    fresh = ", ".join(f"NEW.{name}" for name, _ in _M015_COPIED)
    first = """EXISTS (SELECT 1 FROM agg_firsts f WHERE f.story_id = s.story_id
        AND f.viewer_id = s.viewer_id AND f.session_id = s.session_id)"""
    # not JSON: the triggers run with `trusted_schema=OFF`, and SQLite's JSON functions
    # are not marked innocuous; `quote` and `group_concat` are
    attrs = """(SELECT COALESCE(group_concat(quote(a.key) || '=' || quote(a.value), ','), '')
        FROM (SELECT key, CAST(value AS TEXT) AS value FROM session_attrs
              WHERE session_id = {} ORDER BY key) a)""".format
    db.execute(
        f"""UPDATE session_digests AS d SET ({names}, first_play, attrs) = (
            {picked}, {first}, {attrs("d.session_id")})
        FROM sessions s WHERE s.session_id = d.session_id"""
    )
    db.execute(
        f"""CREATE TRIGGER session_digests_copy_session AFTER INSERT ON session_digests
        WHEN NEW.story_id IS NULL BEGIN
            UPDATE session_digests SET ({names}, first_play, attrs) = (
                SELECT {picked}, {first}, {attrs("NEW.session_id")}
                FROM sessions s WHERE s.session_id = NEW.session_id)
            WHERE session_id = NEW.session_id;
        END"""
    )
    for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
        db.execute(
            f"""CREATE TRIGGER session_attrs_{event.lower()}_copy AFTER {event} ON session_attrs
            BEGIN
                UPDATE session_digests SET attrs = {attrs(f"{row}.session_id")}
                WHERE session_id = {row}.session_id;
            END"""
        )
    db.execute(
        f"""CREATE TRIGGER sessions_copy_to_digest AFTER UPDATE OF {names} ON sessions
        BEGIN
            UPDATE session_digests SET ({names}) = ({fresh})
            WHERE session_id = NEW.session_id;
        END"""
    )
    db.execute(
        """CREATE TRIGGER agg_firsts_flag_added AFTER INSERT ON agg_firsts BEGIN
            UPDATE session_digests SET first_play = 1 WHERE session_id = NEW.session_id;
        END"""
    )
    db.execute(
        """CREATE TRIGGER agg_firsts_flag_moved AFTER UPDATE OF session_id ON agg_firsts
        BEGIN
            UPDATE session_digests SET first_play = 0 WHERE session_id = OLD.session_id;
            UPDATE session_digests SET first_play = 1 WHERE session_id = NEW.session_id;
        END"""
    )
    db.execute(
        """CREATE TRIGGER agg_firsts_flag_gone AFTER DELETE ON agg_firsts BEGIN
            UPDATE session_digests SET first_play = 0 WHERE session_id = OLD.session_id;
        END"""
    )


@_step
def m016_digests_carry_their_viewer_and_acts(db: Database) -> None:
    """Each digest carries its session's viewer, and the scenes of its timeouts and acts.

    Counting unique viewers (`stats --by viewers`), the per-scene tables read
    every chosen session joined to the sessions in viewer order, and the
    timing, interactions and flags tables read the events, to tell which
    viewers timed out, rewound, paused or skipped at each scene. Now each
    digest holds `viewer_id` (a copy of its session's, kept by triggers as
    m015's copies are: a row inserted takes its session's, a change to the
    session's follows), indexed with the story (`session_digests_by_viewer`:
    the digests of a story in viewer order, and its distinct viewers, without
    the sessions), and four lists written as `shown` is (sorted scene codes):
    `timed_out` (scenes of its `timeout_default` events), `rewound` (scenes a
    `rewind` went back to), `paused` and `skipped` (scenes of its `pause` and
    `reveal_skipped` events); the digest's `seq` counts those events too.
    The writers keep the lists with the rest of the digest (`digests.py`).
    The index covers what a count of viewers reads (the selection's columns:
    outcome, start, first play, audience, version, attributes; and the lists):
    at 180,000 sessions reading the story's digests in viewer order from it
    takes 0.2 s of CPU against 0.7 s from the table (rows three times as wide,
    with each session's path and terminal), for 60 MB more on disk; a key
    press that changes a digest's lists rewrites its index entry too.
    The backfill copies the viewers from the sessions and reads the events
    of those four types only, in the table's own order (at 10 million events,
    one pass over the events table: `digests.fill_acts`).
    """
    db.execute("ALTER TABLE session_digests ADD COLUMN viewer_id TEXT")
    for name in ("timed_out", "rewound", "paused", "skipped"):
        db.execute(f"ALTER TABLE session_digests ADD COLUMN {name} TEXT NOT NULL DEFAULT '[]'")
    db.execute(
        """UPDATE session_digests AS d SET viewer_id = s.viewer_id
        FROM sessions s WHERE s.session_id = d.session_id"""
    )
    from branching.store import digests

    if not digests.outdated(db.conn):  # else `migrate` rebuilds every digest (`upgrade`)
        digests.fill_acts(db.conn)
    db.execute(
        """CREATE INDEX session_digests_by_viewer ON session_digests (story_id, viewer_id,
            outcome, started_at, first_play, simulated, content_hash, attrs,
            shown, took, timed_out, rewound, paused, skipped)"""
    )
    db.execute(
        """CREATE TRIGGER session_digests_copy_viewer AFTER INSERT ON session_digests
        WHEN NEW.viewer_id IS NULL BEGIN
            UPDATE session_digests SET viewer_id = (
                SELECT s.viewer_id FROM sessions s WHERE s.session_id = NEW.session_id)
            WHERE session_id = NEW.session_id;
        END"""
    )
    db.execute(
        """CREATE TRIGGER sessions_viewer_to_digest AFTER UPDATE OF viewer_id ON sessions
        BEGIN
            UPDATE session_digests SET viewer_id = NEW.viewer_id
            WHERE session_id = NEW.session_id;
        END"""
    )


@_step
def m017_no_last_scene_index(db: Database) -> None:
    """Drop `sessions_by_last_scene`: every key press wrote it, and no query needs it.

    Each scene shown moves the session's `last_scene`, so the index's entry
    moved at every key press (one more page in the press's commit, two at
    scale where the old and new places are in different leaves). Its one use
    was the `(story_id, content_hash)` prefix it shares with
    `sessions_by_outcome`, which serves those searches as well (neither
    covers `last_scene` with the outcome, so both read the rows); no query
    orders or searches by the last scene itself. Nothing else changes.
    """
    db.execute("DROP INDEX IF EXISTS sessions_by_last_scene")


@_step
def m018_digests_carry_their_edges(db: Database) -> None:
    """Each digest carries the edges its session walked, the clock's, its views and its
    last scene: the flowchart by viewers without the events.

    The flowchart counts by viewers who walked each edge (scene, choice,
    target: routes and the choice's target too, which `took` lacks), who the
    clock chose for on it, who was shown each scene, how many times scenes
    were shown, and who stopped at each last scene or ended at each ending.
    Four columns hold what the digests lacked: `reached` (the codes of the
    scenes shown, as `shown`, and of the edges walked: the (scene, choice or
    "", target or "") of its `choice_made`, `timeout_default` and
    `route_taken` events; `digest_names` names an edge by its JSON triple),
    `clocked` (the codes of the scenes and the edges of its `timeout_default`
    events), each sorted and written a character per code (`digests.chars`:
    a viewer's union and the counts are then C code, at ten million events
    2.5 times faster than splitting JSON arrays, and the text is a third of
    their length), `views` (its `scene_shown` events) and `last_scene` (a
    copy of its session's, kept by triggers as m015's copies are). Routes now
    count in the digest's `seq`. The index by story and viewer (m016) is made
    again with `ending_id`, `last_scene`, `views`, `reached` and `clocked`
    after its columns, so one read of it in viewer order answers the whole
    flowchart. The backfill copies the last scenes from the sessions and
    reads the events of those four types in the table's own order
    (`digests.fill_edges`).
    """
    db.execute("ALTER TABLE session_digests ADD COLUMN reached TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE session_digests ADD COLUMN clocked TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE session_digests ADD COLUMN views INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE session_digests ADD COLUMN last_scene TEXT")
    db.execute("DROP INDEX IF EXISTS session_digests_by_viewer")
    db.execute(
        """UPDATE session_digests AS d SET last_scene = s.last_scene
        FROM sessions s WHERE s.session_id = d.session_id AND s.last_scene IS NOT NULL"""
    )
    from branching.store import digests

    if not digests.outdated(db.conn):  # else `migrate` rebuilds every digest (`upgrade`)
        digests.fill_edges(db.conn)
    db.execute(
        """CREATE INDEX session_digests_by_viewer ON session_digests (story_id, viewer_id,
            outcome, started_at, first_play, simulated, content_hash, attrs,
            shown, took, timed_out, rewound, paused, skipped,
            ending_id, last_scene, views, reached, clocked)"""
    )
    db.execute(
        """CREATE TRIGGER session_digests_copy_last_scene AFTER INSERT ON session_digests
        WHEN NEW.last_scene IS NULL AND (
            SELECT s.last_scene FROM sessions s WHERE s.session_id = NEW.session_id
        ) IS NOT NULL BEGIN
            UPDATE session_digests SET last_scene = (
                SELECT s.last_scene FROM sessions s WHERE s.session_id = NEW.session_id)
            WHERE session_id = NEW.session_id;
        END"""
    )
    db.execute(
        """CREATE TRIGGER sessions_last_scene_to_digest AFTER UPDATE OF last_scene ON sessions
        WHEN NEW.last_scene IS NOT OLD.last_scene BEGIN
            UPDATE session_digests SET last_scene = NEW.last_scene
            WHERE session_id = NEW.session_id;
        END"""
    )


@_step
def m020_running_totals_from_the_aggregates(db: Database) -> None:
    """`traversals`, `scene_views` and `session_ends` become views of the aggregates' base
    slice: a key press writes three b-trees and five or six rows fewer (issue 14).

    Each running total counted what the class-keyed aggregates count too, in
    the same transactions: `agg_edges` and `agg_scenes` the events still held
    (times taken, timeouts, views), `agg_sessions` the sessions by where they
    stand, each split further by day, first playthrough, simulated and
    outcome, and their base slice (`attr_key = attr_value = ''`) holds every
    session once. So a total is the sum of the base slice's rows, plus the
    pruned part (`pruned_traversals`, `pruned_scene_views`, which prune keeps
    as before) for the events: the same figures (checked on the
    ten-million-event file: the same rows both ways). The views keep the
    names, columns and keys of the tables, so readers read them as before: a
    story's rows are a search of the aggregate's key, summed (at ten million
    events 40 ms for `traversals`, 15 ms for `scene_views`, 8 ms for
    `session_ends`, against about 1 ms each for the tables); the pruned rows
    no aggregate row matches are a second branch, whose lookup list is read
    only when there are pruned rows. Nothing writes them any more. An edge or
    scene with nothing left but its pruned part keeps its row; a standing
    whose sessions sum to zero can show as a row of 0, as the table kept its
    zero rows.

    And a row of `agg_sessions` its last session leaves is deleted by a
    trigger as its count reaches zero (in SQLite's own code, within the
    upsert), where each key press ran a DELETE of the standing it left after
    its upserts: every path already deleted those rows (`aggregates.py`), so
    no row changes.
    """
    for name in ("traversals", "scene_views", "session_ends"):
        kind = db.execute(
            "SELECT type FROM sqlite_master WHERE name = ? AND type IN ('table', 'view')", [name]
        ).fetchone()
        if kind is not None:  # a table; a view when a step before was applied again
            db.execute(f"DROP {kind[0].upper()} {name}")
    db.execute(
        """CREATE VIEW traversals AS
        SELECT a.story_id, a.content_hash, a.scene, a.choice, a.target,
               a.count + COALESCE(p.count, 0) AS count,
               a.timeouts + COALESCE(p.timeouts, 0) AS timeouts
        FROM (SELECT story_id, content_hash, scene, choice, target, SUM(times) AS count,
                     SUM(timeouts) AS timeouts
              FROM agg_edges WHERE attr_key = '' AND attr_value = '' AND times > 0
              GROUP BY story_id, content_hash, scene, choice, target) a
        LEFT JOIN pruned_traversals p ON p.story_id = a.story_id
          AND p.content_hash = a.content_hash AND p.scene = a.scene AND p.choice = a.choice
          AND p.target = a.target
        UNION ALL
        SELECT story_id, content_hash, scene, choice, target, count, timeouts
        FROM pruned_traversals
        WHERE (story_id, content_hash, scene, choice, target) NOT IN (
            SELECT story_id, content_hash, scene, choice, target FROM agg_edges
            WHERE attr_key = '' AND attr_value = '' AND times > 0)"""
    )
    db.execute(
        """CREATE VIEW scene_views AS
        SELECT a.story_id, a.content_hash, a.scene, a.count + COALESCE(p.count, 0) AS count
        FROM (SELECT story_id, content_hash, scene, SUM(views) AS count
              FROM agg_scenes WHERE attr_key = '' AND attr_value = '' AND views > 0
              GROUP BY story_id, content_hash, scene) a
        LEFT JOIN pruned_scene_views p ON p.story_id = a.story_id
          AND p.content_hash = a.content_hash AND p.scene = a.scene
        UNION ALL
        SELECT story_id, content_hash, scene, count FROM pruned_scene_views
        WHERE (story_id, content_hash, scene) NOT IN (
            SELECT story_id, content_hash, scene FROM agg_scenes
            WHERE attr_key = '' AND attr_value = '' AND views > 0)"""
    )
    db.execute(
        """CREATE VIEW session_ends AS
        SELECT story_id, content_hash, last_scene, outcome, ending_id, SUM(sessions) AS count
        FROM agg_sessions WHERE attr_key = '' AND attr_value = ''
        GROUP BY story_id, content_hash, last_scene, outcome, ending_id"""
    )
    db.execute("DROP TRIGGER IF EXISTS agg_sessions_drop_spent")  # made again, as the views
    db.execute(
        """CREATE TRIGGER agg_sessions_drop_spent AFTER UPDATE OF sessions ON agg_sessions
        WHEN NEW.sessions = 0 BEGIN
            DELETE FROM agg_sessions WHERE story_id = NEW.story_id
              AND attr_key = NEW.attr_key AND attr_value = NEW.attr_value
              AND content_hash = NEW.content_hash AND day = NEW.day
              AND first_play = NEW.first_play AND simulated = NEW.simulated
              AND outcome = NEW.outcome AND last_scene = NEW.last_scene
              AND ending_id = NEW.ending_id;
        END"""
    )


# the columns m015 copies from `sessions` to `session_digests` (name, type), as m015 wrote them
_M015_COPIED = (
    ("story_id", "TEXT"),
    ("content_hash", "TEXT"),
    ("started_at", "TEXT"),
    ("simulated", "INTEGER"),
    ("outcome", "TEXT"),
    ("ending_id", "TEXT"),
    ("term_program", "TEXT"),
    ("terminal", "TEXT"),
    ("platform", "TEXT"),
    ("term_cols", "INTEGER"),
    ("term_rows", "INTEGER"),
    ("utc_offset_min", "INTEGER"),
)


def _user_tables(conn: sqlite3.Connection, schema: str = "main") -> dict[str, str]:
    """Every table and view of `schema`: name -> 'table' or 'view'."""
    rows = conn.execute(
        f"SELECT name, type FROM {schema}.sqlite_master "
        "WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'"
    )
    return {row[0]: row[1] for row in rows}


@functools.cache
def _schema_after_each_step() -> dict[str, dict[str, tuple[str, str]]]:
    """step -> {name: (type, SQL)} of every table, view and trigger once that step is applied.

    Learned once per process by applying the steps one by one to an in-memory
    database (a few milliseconds), so it never disagrees with the steps.
    """
    from sqlite_utils import Database

    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        db = Database(conn, execute_plugins=False)
        after: dict[str, dict[str, tuple[str, str]]] = {}
        for name, following in zip(_NAMES, [*_NAMES[1:], None], strict=True):
            _migrations().apply(db, stop_before=following)
            rows = conn.execute(
                "SELECT name, type, sql FROM sqlite_master "
                "WHERE type IN ('table', 'view', 'trigger') "
                "AND name NOT LIKE 'sqlite_%' AND name <> '_sqlite_migrations'"
            )
            after[name] = {row[0]: (row[1], row[2]) for row in rows}
        return after
    finally:
        conn.close()


def expected_schema(applied: list[str] | None = None) -> dict[str, tuple[str, str]]:
    """{name: (type, SQL)} of the tables and views `applied` steps leave (default: all).

    Each applied step adds what it creates (or changes) and takes away what it
    drops, in the steps' order, so a set with a gap (a test's file, a step
    recorded out of order) expects only what its own steps made.
    """
    wanted = set(applied if applied is not None else _NAMES)
    after = _schema_after_each_step()
    schema: dict[str, tuple[str, str]] = {}
    before: dict[str, tuple[str, str]] = {}
    for name in _NAMES:
        now = after[name]
        if name in wanted:
            for gone in set(before) - set(now):
                schema.pop(gone, None)
            schema.update({k: v for k, v in now.items() if before.get(k) != v})
        before = now
    return {k: v for k, v in schema.items() if v[0] in ("table", "view")}


def expected_triggers(applied: list[str] | None = None) -> dict[str, str]:
    """{name: SQL} of the triggers `applied` steps leave (default: all): m015's, which
    keep the digests' copies of their sessions' columns."""
    wanted = set(applied if applied is not None else _NAMES)
    after = _schema_after_each_step()
    found: dict[str, str] = {}
    for name in _NAMES:
        if name in wanted:
            found.update((k, sql) for k, (kind, sql) in after[name].items() if kind == "trigger")
    return found


def replayed_steps() -> dict[str, tuple[dict[str, str], tuple[str, ...]]]:
    """step -> ({name: kind} of what it creates or changes, names it drops), from the replay.

    What `schema_steps.STEPS` holds, generated by `python -m branching.store.migrations`.
    """
    after = _schema_after_each_step()
    steps: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {}
    before: dict[str, tuple[str, str]] = {}
    for name in _NAMES:
        now = after[name]
        made = {k: v[0] for k, v in now.items() if before.get(k) != v}  # in creation order
        steps[name] = (made, tuple(sorted(set(before) - set(now))))
        before = now
    return steps


def _steps_made() -> dict[str, tuple[dict[str, str], tuple[str, ...]]]:
    """What each step makes and drops: the checked-in snapshot, or the replay if it is stale.

    A file is checked at every open, read-only ones too; replaying the steps
    on an in-memory database costs about 30 ms (and sqlite-utils' import), so
    the snapshot (names and kinds only: what the check compares) is read
    instead. A step added without regenerating it falls back to the replay,
    and the test that the snapshot equals the replay fails.
    """
    from branching.store.schema_steps import STEPS

    return STEPS if list(STEPS) == _NAMES else replayed_steps()


def expected_kinds(applied: list[str] | None = None) -> dict[str, str]:
    """{name: 'table' or 'view'} of what `applied` steps leave (default: all).

    The names and kinds of `expected_schema(applied)`, by the same rule (each
    applied step adds what it creates or changes, takes away what it drops).
    """
    wanted = set(applied if applied is not None else _NAMES)
    kinds: dict[str, str] = {}
    for name, (made, dropped) in _steps_made().items():
        if name in wanted:
            for gone in dropped:
                kinds.pop(gone, None)
            kinds.update(made)
    return {k: v for k, v in kinds.items() if v in ("table", "view")}


def write_steps(path: Path) -> None:
    """Write `schema_steps.py` (what each step makes and drops) from the replay."""
    lines = [
        '"""What each schema step makes and drops, by name and kind: generated, do not edit.',
        "",
        "`migrations.check_ours` reads this at every open instead of replaying the",
        "steps; regenerate it with `python -m branching.store.migrations` after",
        "adding a step (tests/test_store_migrations.py proves it equals the replay).",
        '"""',
        "",
        "STEPS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {",
    ]
    text = json.dumps  # names and kinds are plain ASCII: JSON strings are Python strings
    for name, (made, dropped) in replayed_steps().items():
        gone = ", ".join(text(d) for d in dropped) + ("," if len(dropped) == 1 else "")
        lines.append(f"    {text(name)}: (")
        if made:
            lines.append("        {")
            lines += [f"            {text(k)}: {text(v)}," for k, v in made.items()]
            lines.append("        },")
        else:  # a step that only drops (an index): as `ruff format` writes it
            lines.append("        {},")
        lines.append(f"        ({gone}),")
        lines.append("    ),")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _check_complete(tables: dict[str, str], applied: list[str], path: Path) -> None:
    """Refuse a file whose record of steps names one whose tables or views are not there."""
    for name, kind in expected_kinds(applied).items():
        found = tables.get(name)
        if found == kind:
            continue
        what = "missing" if found is None else f"a {found}, not a {kind}"
        raise CorruptDatabase(
            f"{path} is damaged: its schema records {len(applied)} steps, but the {kind} "
            f"'{name}' they create is {what}; restore a backup, or move it aside to "
            "start afresh"
        )


def _applied_names(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM _sqlite_migrations WHERE migration_set = ? ORDER BY rowid",
        [MIGRATION_SET],
    )
    return [row[0] for row in rows]


def check_ours(conn: sqlite3.Connection, path: Path) -> list[str]:
    """Names of our migrations applied to `path`; refuse foreign or newer databases."""
    tables = _user_tables(conn)
    if not tables:
        return []
    applied = _applied_names(conn) if "_sqlite_migrations" in tables else []
    if not applied:
        raise ForeignDatabase(
            f"{path} is an SQLite database that branching did not create "
            f"(it holds {', '.join(sorted(tables)[:5])}); point --db at another file"
        )
    known = set(_NAMES)
    unknown = [name for name in applied if name not in known]
    if unknown:
        raise NewerSchema(
            f"{path} was written by a newer version of branching "
            f"(schema step {unknown[0]} is unknown here); upgrade branching to use it"
        )
    _check_complete(tables, applied, path)
    return applied


def migrate(conn: sqlite3.Connection, path: Path, *, stop_before: str | None = None) -> None:
    """Check the file is ours and apply pending migrations, all in one BEGIN IMMEDIATE."""
    from sqlite_utils import Database

    db = Database(conn, execute_plugins=False)
    _steps_made()  # learned before the write lock is taken, not while holding it
    try:
        with immediate(conn):
            check_ours(conn, path)
            _migrations().apply(db, stop_before=stop_before)
            from branching.store import digests

            digests.upgrade(conn)  # an m012 from before every session had a digest
    except sqlite3.Error as exc:
        raise translate(exc, path) from None


def migration_names() -> list[str]:
    """Every migration this version knows, in order."""
    return list(_NAMES)


@_step
def m022_one_digest_write_per_key_press(db: Database) -> None:
    """The trigger that copies a session's last scene to its digest skips the copy when
    the digest holds that scene already: a key press writes its digest once (issue 14).

    m018's `sessions_last_scene_to_digest` rewrote the digest's row (and its
    entry in `session_digests_by_viewer`, which holds the row's long lists)
    each time a scene shown moved the session's `last_scene`, right after
    the key press had written the same row for its events. The key press now
    writes the new last scene with the rest of its digest, before it moves the
    session (`ops._GroupSums.write`), and the trigger, made again with one more
    condition (the digest's `last_scene` differs), then writes nothing. Every
    other path that moves a last scene (`merge`, the one-op path) is copied as
    before. No row changes: the same copy, written once.
    """
    db.execute("DROP TRIGGER IF EXISTS sessions_last_scene_to_digest")
    db.execute(
        """CREATE TRIGGER sessions_last_scene_to_digest AFTER UPDATE OF last_scene ON sessions
        WHEN NEW.last_scene IS NOT OLD.last_scene AND NEW.last_scene IS NOT (
            SELECT d.last_scene FROM session_digests d WHERE d.session_id = NEW.session_id
        ) BEGIN
            UPDATE session_digests SET last_scene = NEW.last_scene
            WHERE session_id = NEW.session_id;
        END"""
    )


if __name__ == "__main__":
    write_steps(Path(__file__).with_name("schema_steps.py"))
