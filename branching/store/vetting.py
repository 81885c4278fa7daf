"""Vetting a merge source: every row checked against the schema before any is copied.

`merge` copies another kiosk's database, which may be damaged, edited by hand
or built to harm: a value of the wrong type (`decide_ms = 'x'`), a choice
event without its scene, JSON nested 100,000 deep or not JSON at all, text
that is not UTF-8, or a view named `events` that yields millions of rows from
a few KB. Anything of that kind, once copied, would break `stats`,
`flowchart` or `export` later, far from its cause. So a source is vetted in
the merge's transaction (one snapshot of it), and what fails is left out and
reported, never copied:

- Tables (`check_tables`, before anything is merged and again on the copy
  an old schema is upgraded in): each table read must be the very table
  branching creates (same type and SQL as the migrations make), so a view, a
  table with other columns or constraints, or a source with triggers other
  than branching's own is refused whole.
- Rows (`refuse`): the rules below mirror what the store itself writes
  (`ops.event_op`, `Session.finish`, `context.check_attrs`): SQLite types,
  lengths, timestamps in the stored form, known event types, inputs and
  outcomes, the scene, choice or target an event needs, and JSON that
  Python reads back (`state`, `structure`) at most `MAX_JSON_DEPTH` deep
  (an event's `state` is a JSON object: a snapshot or a patch, `states.py`).
  What a text says is not judged (an attribute name with an escape code is
  merged): every output escapes recorded text (`branching.escape`).
  The cheap checks are SQL; one Python function per row checks that its text
  is UTF-8 and, when the JSON could surprise (escapes, long, deeply
  bracketed, non-ASCII), parses it: about 2 s on 450,000 events.
- The unit left out is the playthrough: a session whose row, or any of whose
  events or attributes breaks a rule, is not merged at all (a playthrough
  with a hole would skew paths and progress). A story version that breaks a
  rule is left out, and with it the sessions that need it (unless the
  target already holds that version). Events and attributes of a
  playthrough that is in neither database are left out too, and so is a
  viewer key fingerprint that is not one.

`refused()` reports what was left out, grouped by the first rule broken.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from branching.store.context import ATTR_VALUE_MAX, ATTRS_MAX
from branching.store.errors import ForeignDatabase
from branching.store.migrations import expected_schema, expected_triggers
from branching.store.ops import EVENT_TYPES, INPUTS, MAX_LABEL, NEEDS_SCENE, OUTCOMES
from branching.store.records import Refused

MAX_ID = 1_000  # characters: ids, hashes, scene and choice names
MAX_TEXT = 4_096  # characters: titles, labels, terminal and locale names
MAX_STATE_BYTES = 1 << 20
MAX_STRUCTURE_BYTES = 64 << 20
MAX_JSON_DEPTH = 64  # as for story files (`yamlread.MAX_DEPTH`)
MAX_WHOLE = 2**53 - 1  # the largest whole number every JSON reader keeps exactly
_FAST_JSON_BYTES = 4_096  # shorter plain-ASCII JSON without escapes: json_valid is enough

# The tables merge reads from a source.
SOURCE_TABLES = (
    "stories",
    "sessions",
    "session_attrs",
    "events",
    "pruned_traversals",
    "pruned_scene_views",
    "viewer_keys",
)

Rule = tuple[str, str]  # (SQL that must be true, what is wrong when it is not)

_STAMP = (
    "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z"
)


def _sql_list(values: Iterable[str]) -> str:
    return ", ".join(_quote(v) for v in sorted(values))


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _text(
    noun: str, col: str, most: int = MAX_ID, *, null: bool = False, empty: bool = False
) -> Rule:
    low = 0 if empty else 1
    cond = f"typeof({col}) = 'text' AND length({col}) BETWEEN {low} AND {most}"
    why = f"{noun} {col} is not text of {low} to {most:,} characters"
    return (f"({col} IS NULL OR ({cond}))" if null else f"({cond})"), why


def _whole(noun: str, col: str, low: int = 0, high: int = MAX_WHOLE, *, null: bool = False) -> Rule:
    cond = f"typeof({col}) = 'integer' AND {col} BETWEEN {low} AND {high}"
    why = f"{noun} {col} is not a whole number from {low:,} to {high:,}"
    return (f"({col} IS NULL OR ({cond}))" if null else f"({cond})"), why


def _stamp(noun: str, col: str, *, null: bool = False) -> Rule:
    cond = f"typeof({col}) = 'text' AND {col} GLOB '{_STAMP}'"
    why = f"{noun} {col} is not a timestamp like 2025-01-31T18:04:05.123Z"
    return (f"({col} IS NULL OR ({cond}))" if null else f"({cond})"), why


def _one_of(noun: str, col: str, values: Iterable[str], *, null: bool = False) -> Rule:
    known = sorted(values)
    cond = f"typeof({col}) = 'text' AND {col} IN ({_sql_list(known)})"
    why = f"{noun} {col} is not one of {', '.join(known)}"
    return (f"({col} IS NULL OR ({cond}))" if null else f"({cond})"), why


def _json(noun: str, col: str, most: int, *, null: bool = False) -> tuple[Rule, Rule]:
    size = f"typeof({col}) = 'text' AND length(CAST({col} AS BLOB)) <= {most}"
    valid = f"json_valid({col})"
    if null:
        size, valid = f"{col} IS NULL OR ({size})", f"{col} IS NULL OR {valid}"
    return (
        (f"({size})", f"{noun} {col} is not text of at most {most:,} bytes"),
        (f"({valid})", f"{noun} {col} is not JSON (malformed, or nested too deep)"),
    )


STORY_RULES: tuple[Rule, ...] = (
    _text("story", "story_id"),
    _text("story", "content_hash"),
    _text("story", "title", MAX_TEXT, empty=True),
    _text("story", "author", MAX_TEXT, null=True, empty=True),
    _text("story", "version_label", MAX_TEXT, null=True, empty=True),
    *_json("story", "structure", MAX_STRUCTURE_BYTES),
    _stamp("story", "registered_at"),
)
STORY_TEXTS = ("story_id", "content_hash", "title", "author", "version_label", "registered_at")

SESSION_RULES: tuple[Rule, ...] = (
    _text("playthrough", "session_id"),
    _text("playthrough", "story_id"),
    _text("playthrough", "content_hash"),
    _text("playthrough", "viewer_id"),
    _stamp("playthrough", "started_at"),
    _stamp("playthrough", "ended_at", null=True),
    _one_of("playthrough", "outcome", {"in_progress", *OUTCOMES}),
    _text("playthrough", "ending_id", null=True),
    ("(outcome <> 'ending' OR ending_id IS NOT NULL)", "playthrough ended without its ending"),
    _text("playthrough", "ending_kind", MAX_TEXT, null=True, empty=True),
    ("(seed IS NULL OR typeof(seed) = 'integer')", "playthrough seed is not a whole number"),
    _text("playthrough", "last_scene", null=True),
    _whole("playthrough", "last_scene_seq"),
    _text("playthrough", "terminal", MAX_TEXT, null=True, empty=True),
    _text("playthrough", "term_program", MAX_TEXT, null=True, empty=True),
    _whole("playthrough", "term_cols", 0, 1_000_000, null=True),
    _whole("playthrough", "term_rows", 0, 1_000_000, null=True),
    _text("playthrough", "platform", MAX_TEXT, null=True, empty=True),
    _text("playthrough", "locale", MAX_TEXT, null=True, empty=True),
    _whole("playthrough", "utc_offset_min", -1440, 1440, null=True),
    _text("playthrough", "app_version", MAX_TEXT, null=True, empty=True),
    _whole("playthrough", "simulated", 0, 1),
)
SESSION_TEXTS = (
    "session_id",
    "story_id",
    "content_hash",
    "viewer_id",
    "started_at",
    "ended_at",
    "outcome",
    "ending_id",
    "ending_kind",
    "last_scene",
    "terminal",
    "term_program",
    "platform",
    "locale",
    "app_version",
)

ATTR_RULES: tuple[Rule, ...] = (
    _text("attribute", "session_id"),
    # types and lengths only: what the text says is escaped on every output (`escape`)
    _text("attribute", "key", 32),
    (
        f"(typeof(value) = 'text' AND length(value) BETWEEN 1 AND {ATTR_VALUE_MAX} "
        "AND trim(value) <> '')",
        f"attribute value is not text of 1 to {ATTR_VALUE_MAX} characters",
    ),
)
ATTR_TEXTS = ("session_id", "key", "value")

EVENT_RULES: tuple[Rule, ...] = (
    _text("event", "session_id"),
    _whole("event", "seq"),
    _stamp("event", "ts"),
    _one_of("event", "type", EVENT_TYPES),
    _text("event", "scene", null=True, empty=True),
    _text("event", "choice", null=True, empty=True),
    _text("event", "target", null=True, empty=True),
    _whole("event", "decide_ms", null=True),
    _one_of("event", "input", INPUTS, null=True),
    *_json("event", "state", MAX_STATE_BYTES, null=True),
    ("(state IS NULL OR json_type(state) = 'object')", "event state is not a JSON object"),
    (
        f"(type NOT IN ({_sql_list(NEEDS_SCENE)}) OR length(scene) > 0)",
        f"event of type {', '.join(sorted(NEEDS_SCENE))} without its scene",
    ),
    (
        "(type NOT IN ('choice_made', 'timeout_default') OR length(choice) > 0)",
        "event of type choice_made or timeout_default without its choice",
    ),
    (
        "(type <> 'route_taken' OR length(target) > 0)",
        "event of type route_taken without its target",
    ),
    _text("event", "label", MAX_LABEL, null=True),
    (
        "(label IS NULL OR type IN ('choice_made', 'timeout_default'))",
        "event label on an event that is not a choice",
    ),
)
EVENT_TEXTS = ("session_id", "ts", "type", "scene", "choice", "target", "input", "label")

KEY_RULES: tuple[Rule, ...] = (
    (
        "(typeof(fingerprint) = 'text' AND length(fingerprint) BETWEEN 1 AND 64 "
        "AND fingerprint NOT GLOB '*[^0-9a-f]*')",
        "viewer key fingerprint is not 1 to 64 lowercase hex digits",
    ),
    _stamp("viewer key", "first_used"),
)


def _verdict(rules: tuple[Rule, ...], texts: tuple[str, ...], noun: str, data: str | None) -> str:
    """SQL giving the first rule a row breaks (NULL when it keeps them all)."""
    whens = " ".join(f"WHEN NOT coalesce({cond}, 0) THEN {_quote(why)}" for cond, why in rules)
    joined = " || ".join(f"coalesce({c}, '')" for c in texts)
    payload = f"CAST({data} AS BLOB)" if data else "NULL"
    kind = _quote(data or "")
    return (
        f"CASE {whens} ELSE branching_vet({_quote(noun)}, CAST({joined} AS BLOB), "
        f"{payload}, {kind}) END"
    )


# -- the Python half: UTF-8, and JSON as Python reads it --------------------------------

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(data: bytes, limit: int = MAX_JSON_DEPTH) -> int:
    """How deep JSON text nests (stops counting past `limit`), without recursion."""
    depth = deepest = 0
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub(b'""', data)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        else:
            depth -= 1
    return deepest


def _plain_json(data: bytes) -> bool:
    """JSON that SQLite's json_valid and Python's json read alike (no need to parse it)."""
    return (
        len(data) <= _FAST_JSON_BYTES
        and data.isascii()
        and b"\\" not in data
        and b"\0" not in data
        and data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH
    )


def _utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def vet_json(data: bytes, noun: str, col: str) -> tuple[Any, str | None]:
    """(the value, None) for JSON Python reads back and writes out, else (None, what is wrong)."""
    if not _utf8(data):
        return None, f"{noun} {col} is not UTF-8 text"
    if json_depth(data) > MAX_JSON_DEPTH:
        return None, f"{noun} {col} is nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        value = json.loads(data.decode("utf-8"))
        # a lone surrogate (\ud800) reads, but can never be written out as UTF-8
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError, UnicodeError):
        return None, f"{noun} {col} is not JSON that Python reads"
    return value, None


def _vet(noun: str, texts: bytes | None, data: bytes | None, col: str) -> str | None:
    """What is wrong with a row's text and JSON (None if nothing); never raises."""
    try:
        if texts is not None and not _utf8(texts):
            return f"{noun} text is not UTF-8"
        if data is None or (col != "structure" and _plain_json(data)):
            return None
        value, problem = vet_json(data, noun, col)
        if problem is None and col == "structure":
            problem = structure_problem(value)
        return problem
    except Exception:  # a rule must never abort the merge: the row is simply refused
        return f"{noun} {col or 'text'} cannot be checked"


def structure_problem(data: Any) -> str | None:
    """What keeps `data` from being a story graph as analytics read it (None if nothing)."""
    if not isinstance(data, dict) or not isinstance(data.get("scenes"), list):
        return "story structure has no list of scenes"
    if not isinstance(data.get("chapters") or [], list):
        return "story structure chapters is not a list"
    for scene in data["scenes"]:
        if not isinstance(scene, dict) or not isinstance(scene.get("id"), str):
            return "story structure has a scene without an id"
        for key in ("choices", "routes", "tags", "rewind"):
            if not isinstance(scene.get(key) or [], list):
                return f"story structure scene {key} is not a list"
        if not isinstance(scene.get("ending") or {}, dict):
            return "story structure scene ending is not an object"
        for choice in scene.get("choices") or []:
            if not isinstance(choice, dict) or not all(
                isinstance(choice.get(k), str) for k in ("id", "goto")
            ):
                return "story structure has a choice without its id and goto"
        for route in scene.get("routes") or []:
            if not isinstance(route, dict) or not isinstance(route.get("goto"), str):
                return "story structure has a route without its goto"
    return None


# -- the tables ---------------------------------------------------------------------------


def check_tables(
    conn: sqlite3.Connection, source: Path, *, schema: str = "src", applied: list[str] | None = None
) -> None:
    """Refuse a source whose tables are not exactly the ones branching creates.

    `schema` is where the source is open on `conn`; `applied` its schema steps
    (default: all). Every table merge reads that those steps create must be
    there with the very type and SQL the steps give it (so not a view, nor a
    table with other columns or constraints), and the file must hold no
    trigger but the steps' own, word for word (m015's): another would run on
    an upgrade's writes.
    """
    ours = expected_triggers(applied)
    for name, sql in conn.execute(
        f"SELECT name, sql FROM {schema}.sqlite_master WHERE type = 'trigger'"
    ):
        if ours.get(name) != sql:
            raise ForeignDatabase(
                f"{source} cannot be merged: it has triggers branching does not create ({name!r})"
            )
    expected = expected_schema(applied)
    found = {
        row[0]: (row[1], row[2])
        for row in conn.execute(
            f"SELECT name, type, sql FROM {schema}.sqlite_master WHERE name IN "
            f"({_sql_list(SOURCE_TABLES)})"
        )
    }
    for name in SOURCE_TABLES:
        want, have = expected.get(name), found.get(name)
        if have == want or (want is None and have is None):
            continue
        what = (
            "is missing"
            if have is None
            else f"is a {have[0]}, not a table"
            if have[0] != "table"
            else "is not the table branching creates (other columns or constraints)"
        )
        raise ForeignDatabase(f"{source} cannot be merged: its '{name}' {what}")


# -- the rows -----------------------------------------------------------------------------


def refuse(conn: sqlite3.Connection) -> None:
    """Fill temp.refused_stories and temp.refused_sessions for the source attached as `src`.

    Runs inside the merge's transaction, before any row is copied.
    """
    conn.create_function("branching_vet", 4, _vet, deterministic=True)
    conn.execute("DROP TABLE IF EXISTS temp.refused_stories")
    conn.execute("DROP TABLE IF EXISTS temp.refused_sessions")
    conn.execute("DROP TABLE IF EXISTS temp.refused_keys")
    conn.execute("CREATE TEMP TABLE refused_stories (rid INTEGER PRIMARY KEY, reason TEXT)")
    # untyped key: holds a session id of any type, compared exactly as stored
    conn.execute("CREATE TEMP TABLE refused_sessions (session_id PRIMARY KEY, reason TEXT)")
    conn.execute("CREATE TEMP TABLE refused_keys (fingerprint PRIMARY KEY, reason TEXT)")
    keys = _verdict(KEY_RULES, ("first_used",), "viewer key", None)
    conn.execute(f"""INSERT INTO temp.refused_keys
        SELECT fingerprint, reason FROM (SELECT fingerprint, {keys} AS reason FROM src.viewer_keys)
        WHERE reason IS NOT NULL""")
    story = _verdict(STORY_RULES, STORY_TEXTS, "story", "structure")
    conn.execute(f"""INSERT INTO temp.refused_stories
        SELECT rid, reason FROM (SELECT rowid AS rid, {story} AS reason FROM src.stories)
        WHERE reason IS NOT NULL""")
    known = """(EXISTS (SELECT 1 FROM src.sessions s WHERE s.session_id = x.session_id)
        OR EXISTS (SELECT 1 FROM main.sessions m WHERE m.session_id = x.session_id))"""
    steps = (
        f"""SELECT session_id, reason FROM
        (SELECT session_id, {_verdict(SESSION_RULES, SESSION_TEXTS, "playthrough", None)}
         AS reason FROM src.sessions) WHERE reason IS NOT NULL""",
        """SELECT x.session_id, CASE WHEN EXISTS (SELECT 1 FROM src.stories t
              WHERE t.story_id = x.story_id AND t.content_hash = x.content_hash)
            THEN 'playthrough of a story version that was refused'
            ELSE 'playthrough of a story version in neither database' END
        FROM src.sessions x
        WHERE NOT EXISTS (SELECT 1 FROM main.stories m
              WHERE m.story_id = x.story_id AND m.content_hash = x.content_hash)
          AND NOT EXISTS (SELECT 1 FROM src.stories t
              WHERE t.story_id = x.story_id AND t.content_hash = x.content_hash
              AND t.rowid NOT IN (SELECT rid FROM temp.refused_stories))""",
        f"""SELECT session_id, reason FROM
        (SELECT session_id, {_verdict(EVENT_RULES, EVENT_TEXTS, "event", "state")} AS reason
         FROM src.events) x WHERE reason IS NOT NULL AND {known}""",
        f"""SELECT session_id, reason FROM
        (SELECT session_id, {_verdict(ATTR_RULES, ATTR_TEXTS, "attribute", None)} AS reason
         FROM src.session_attrs) x WHERE reason IS NOT NULL AND {known}""",
        f"""SELECT session_id, 'playthrough with more than {ATTRS_MAX} attributes'
        FROM src.session_attrs GROUP BY session_id HAVING COUNT(*) > {ATTRS_MAX}""",
    )
    for select in steps:  # the first rule a playthrough breaks is the one reported
        conn.execute(f"INSERT OR IGNORE INTO temp.refused_sessions {select}")


# SQL conditions the copy adds: rows of refused stories and playthroughs stay behind.
STORY_KEPT = "rowid NOT IN (SELECT rid FROM temp.refused_stories)"
KEY_KEPT = "fingerprint NOT IN (SELECT fingerprint FROM temp.refused_keys)"
SESSION_KEPT = (
    "NOT EXISTS (SELECT 1 FROM temp.refused_sessions r WHERE r.session_id = {alias}.session_id)"
)
# ... and rows of playthroughs in neither database (once sessions are copied, main has them all).
IN_TARGET = "EXISTS (SELECT 1 FROM main.sessions m WHERE m.session_id = {alias}.session_id)"


def refused(conn: sqlite3.Connection) -> tuple[Refused, ...]:
    """What `refuse` and the copy left out, grouped by reason (call before copying)."""
    out = [
        Refused("story version", int(n), str(reason))
        for reason, n in conn.execute(
            "SELECT reason, COUNT(*) FROM temp.refused_stories GROUP BY reason ORDER BY MIN(rid)"
        )
    ]
    out += [
        Refused("viewer key fingerprint", int(n), str(reason))
        for reason, n in conn.execute(
            "SELECT reason, COUNT(*) FROM temp.refused_keys GROUP BY reason ORDER BY MIN(rowid)"
        )
    ]
    out += [
        Refused("playthrough", int(n), str(reason), events=int(events or 0))
        for reason, n, events in conn.execute(
            """SELECT reason, COUNT(*),
                      SUM((SELECT COUNT(*) FROM src.events e WHERE e.session_id = r.session_id))
            FROM temp.refused_sessions r GROUP BY reason ORDER BY MIN(rowid)"""
        )
    ]
    nowhere = "playthrough in neither database"
    for noun, table in (("event", "events"), ("attribute", "session_attrs")):
        (n,) = conn.execute(
            f"""SELECT COUNT(*) FROM src.{table} x
            WHERE NOT EXISTS (SELECT 1 FROM src.sessions s WHERE s.session_id = x.session_id)
              AND NOT EXISTS (SELECT 1 FROM main.sessions m WHERE m.session_id = x.session_id)"""
        ).fetchone()
        if n:
            out.append(Refused(noun, int(n), f"{noun} of a {nowhere}"))
    return tuple(out)
