"""The four writes the store performs, as plain dicts, and how each is applied.

An op is what the writer thread commits, what the spool file holds (one JSON
line per op) and what a spool load replays, so all three share this code.
Every op is idempotent: stories and sessions are inserted once, events are
keyed by (session, sequence number) and only a newly inserted event adds to
the running totals, so replaying a spool that was partly written already
counts nothing twice. A different event at a (session, seq) already taken is
refused (`InvalidInput`: a spool sets it aside). Each op is applied inside the
caller's `BEGIN IMMEDIATE` transaction.

An event op (version 2) is `{"v": 2, "op": "event", "session_id", "story_id",
"content_hash", "seq", "ts", "type", "scene", "choice", "target",
"decide_ms", "input", "state", "label"}`, where `state` is the JSON text
of the stored form (`states.py`: a snapshot, a patch against event `seq - 1`,
or None for no change) or None, and `label` the choice's label as the viewer
saw it, only where it differs from the template (else None; older ops have no
`label`). Version 1 ops (older spool files) carried an `event_id` UUID, now
ignored, and the whole state, which is stored as a snapshot.

Every change to a session row (created, its last scene, finished, reopened by
a rewind from an ending) also moves its count in `session_ends`, in the same
transaction (`totals.session_moved`).

An op for a playthrough that `forget` deleted (listed in `forgotten_sessions`)
is dropped and counts as done: a player still open when its viewer was
forgotten carries on, and nothing it sends afterwards is kept or spooled.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from branching.store.errors import InvalidInput
from branching.store.states import StateChain, snapshot
from branching.store.totals import count_session, event_added, session_added, session_moved

Op = dict[str, Any]
SPOOL_VERSION = 2  # 2: events keyed by (session, seq), state as snapshot/patch (m007)

EVENT_TYPES = frozenset(
    {
        "session_started",
        "scene_shown",
        "reveal_skipped",
        "choice_made",
        "timeout_default",
        "route_taken",
        "rewind",
        "pause",
        "resume",
        "ending_reached",
        "stuck",
        "quit",
    }
)
INPUTS = frozenset({"key", "mouse", "timeout", "scripted"})
OUTCOMES = frozenset({"ending", "abandoned", "stuck", "quit"})
COUNTED = frozenset({"choice_made", "timeout_default", "route_taken"})
NEEDS_SCENE = COUNTED | {"scene_shown", "ending_reached"}
MAX_LABEL = 1000  # characters of a rendered choice label


def to_json(value: Any, what: str) -> str:
    """Compact JSON text for `value`, or InvalidInput naming `what`."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} cannot be recorded as JSON: {exc}") from None


def event_op(
    session: dict[str, Any],
    seq: int,
    ts: str,
    kind: str,
    fields: dict[str, Any],
    chain: StateChain | None = None,
) -> Op:
    """A validated event op for `session` (its ids) with sequence number `seq`.

    `fields["state"]` is the whole engine state after the event (a JSON-able
    dict) or None. With `chain` (one per session, fed in `seq` order) it is
    stored as a patch against the previous event's state, or nothing when
    unchanged; without, as a snapshot (None stays None: no change).
    """
    if kind not in EVENT_TYPES:
        raise InvalidInput(f"unknown event type {kind!r}; known: {', '.join(sorted(EVENT_TYPES))}")
    input_ = fields.get("input")
    if input_ is not None and input_ not in INPUTS:
        raise InvalidInput(f"unknown input {input_!r}; known: {', '.join(sorted(INPUTS))}")
    if kind in NEEDS_SCENE and not fields.get("scene"):
        raise InvalidInput(f"a {kind} event needs the scene")
    if kind in ("choice_made", "timeout_default") and not fields.get("choice"):
        raise InvalidInput(f"a {kind} event needs the choice id")
    if kind == "route_taken" and not fields.get("target"):
        raise InvalidInput("a route_taken event needs the target scene")
    decide_ms = fields.get("decide_ms")
    if decide_ms is not None and (type(decide_ms) is not int or decide_ms < 0):
        raise InvalidInput(f"decide_ms must be whole milliseconds >= 0, not {decide_ms!r}")
    label = fields.get("label")
    if label is not None and (
        kind not in ("choice_made", "timeout_default")
        or not isinstance(label, str)
        or not 0 < len(label) <= MAX_LABEL
    ):
        raise InvalidInput(f"a label (1 to {MAX_LABEL} characters) goes only with a choice event")
    state = fields.get("state")
    if state is not None and not isinstance(state, dict):
        raise InvalidInput(f"the state must be a JSON object, not {type(state).__name__}")
    if chain is not None:
        try:
            text = chain.encode_text(state)
        except (TypeError, ValueError, RecursionError) as exc:
            chain.restart()  # nothing of it is stored: the next state is a snapshot
            raise InvalidInput(f"the state cannot be recorded as JSON: {exc}") from None
    else:
        text = None if state is None else to_json(snapshot(state), "the state")
    return {
        "v": SPOOL_VERSION,
        "op": "event",
        "session_id": session["session_id"],
        "story_id": session["story_id"],
        "content_hash": session["content_hash"],
        "seq": seq,
        "ts": ts,
        "type": kind,
        "scene": fields.get("scene"),
        "choice": fields.get("choice"),
        "target": fields.get("target"),
        "decide_ms": decide_ms,
        "input": input_,
        "label": label,
        "state": text,
    }


def apply_op(conn: sqlite3.Connection, op: Op) -> bool:
    """Apply one op inside the caller's transaction; True if it changed anything."""
    kind = op.get("op")
    handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise InvalidInput(f"unknown store operation {kind!r}")
    if kind != "story" and _forgotten(conn, op.get("session_id")):
        return False  # `forget` deleted this playthrough: what its player sends later is dropped
    return handler(conn, op)


def _forgotten(conn: sqlite3.Connection, session_id: object) -> bool:
    if not isinstance(session_id, str):
        return False  # the handler reports a malformed op
    row = conn.execute(
        "SELECT 1 FROM forgotten_sessions WHERE session_id = ?", [session_id]
    ).fetchone()
    return row is not None


def _apply_story(conn: sqlite3.Connection, op: Op) -> bool:
    cur = conn.execute(
        """INSERT INTO stories (story_id, content_hash, title, author, version_label,
                                structure, registered_at)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        [
            op["story_id"],
            op["content_hash"],
            op["title"],
            op["author"],
            op["version_label"],
            op["structure"],
            op["registered_at"],
        ],
    )
    return cur.rowcount > 0


CONTEXT_COLUMNS = (
    "terminal",
    "term_program",
    "term_cols",
    "term_rows",
    "platform",
    "locale",
    "utc_offset_min",
    "app_version",
)


def _apply_session(conn: sqlite3.Connection, op: Op) -> bool:
    context = op.get("context") or {}
    cur = conn.execute(
        f"""INSERT INTO sessions (session_id, story_id, content_hash, viewer_id, started_at,
                                  seed, simulated, {", ".join(CONTEXT_COLUMNS)})
        VALUES (?, ?, ?, ?, ?, ?, ?, {", ".join("?" for _ in CONTEXT_COLUMNS)})
        ON CONFLICT DO NOTHING""",
        [
            op["session_id"],
            op["story_id"],
            op["content_hash"],
            op["viewer_id"],
            op["started_at"],
            op.get("seed"),
            int(op.get("simulated") is True),  # only `branching simulate` marks its sessions
            *(context.get(c) for c in CONTEXT_COLUMNS),
        ],
    )
    if cur.rowcount == 0:
        return False
    count_session(conn, op["session_id"], 1)
    conn.executemany(
        "INSERT INTO session_attrs (session_id, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [(op["session_id"], key, value) for key, value in sorted(op.get("attrs", {}).items())],
    )
    session_added(conn, op["session_id"])
    return True


def _apply_event(conn: sqlite3.Connection, op: Op) -> bool:
    state = op["state"]
    if op.get("v", SPOOL_VERSION) < 2 and "event_id" in op:
        # a version 1 op (an older spool) carries the whole state, or none at all
        state = '{"=":null}' if state is None else '{"=":' + state + "}"
    row = [
        op["session_id"],
        op["seq"],
        op["ts"],
        op["type"],
        op["scene"],
        op["choice"],
        op["target"],
        op["decide_ms"],
        op["input"],
        state,
        op.get("label"),  # ops before labels were recorded have none
    ]
    cur = conn.execute(
        """INSERT INTO events (session_id, seq, ts, type, scene, choice, target,
                               decide_ms, input, state, label)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session_id, seq) DO NOTHING""",
        row,
    )
    if cur.rowcount == 0:
        _check_same_event(conn, row)
        return False
    kind = op["type"]
    event_added(conn, op)
    if op.get("label") is not None:
        conn.execute(
            """INSERT INTO choice_labels (story_id, content_hash, scene, choice, label, count)
            VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT DO UPDATE SET count = count + 1""",
            [op["story_id"], op["content_hash"], op["scene"], op["choice"], op["label"]],
        )
    if kind in COUNTED:
        conn.execute(
            """INSERT INTO traversals (story_id, content_hash, scene, choice, target,
                                       count, timeouts)
            VALUES (?, ?, ?, ?, ?, 1, ?)
            ON CONFLICT DO UPDATE SET count = count + 1, timeouts = timeouts + excluded.timeouts""",
            [
                op["story_id"],
                op["content_hash"],
                op["scene"] or "",
                op["choice"] or "",
                op["target"] or "",
                int(kind == "timeout_default"),
            ],
        )
    elif kind == "rewind":  # going back from an ending continues the same playthrough
        session_moved(
            conn,
            op["session_id"],
            """UPDATE sessions SET outcome = 'in_progress', ending_id = NULL,
                                   ending_kind = NULL, ended_at = NULL
            WHERE session_id = ? AND outcome = 'ending'""",
            [op["session_id"]],
        )
    elif kind == "scene_shown":
        conn.execute(
            """INSERT INTO scene_views (story_id, content_hash, scene, count) VALUES (?, ?, ?, 1)
            ON CONFLICT DO UPDATE SET count = count + 1""",
            [op["story_id"], op["content_hash"], op["scene"]],
        )
        session_moved(
            conn,
            op["session_id"],
            """UPDATE sessions SET last_scene = ?, last_scene_seq = ?
            WHERE session_id = ? AND last_scene_seq < ?""",
            [op["scene"], op["seq"], op["session_id"], op["seq"]],
        )
    return True


def _check_same_event(conn: sqlite3.Connection, row: list[Any]) -> None:
    """An event already stored at this (session, seq) must be this one (a replay)."""
    found = conn.execute(
        "SELECT ts, type, scene, choice, target FROM events WHERE session_id = ? AND seq = ?",
        row[:2],
    ).fetchone()
    if found is not None and list(found) != [row[2], row[3], row[4], row[5], row[6]]:
        raise InvalidInput(
            f"event {row[1]} of playthrough {row[0]} is already recorded as a different event"
        )


def _apply_finish(conn: sqlite3.Connection, op: Op) -> bool:
    changed = session_moved(
        conn,
        op["session_id"],
        """UPDATE sessions SET outcome = ?, ending_id = ?, ending_kind = ?, ended_at = ?
        WHERE session_id = ?""",
        [op["outcome"], op["ending_id"], op["ending_kind"], op["ended_at"], op["session_id"]],
    )
    return changed > 0


_HANDLERS = {
    "story": _apply_story,
    "session": _apply_session,
    "event": _apply_event,
    "finish": _apply_finish,
}
