"""The few reads players need: where to resume, which endings a viewer found.

Plain functions over a read-only connection the caller opened, returning the
values in `records.py`. Producer analytics live elsewhere (`analytics.py`)
and read the totals tables and views directly.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from branching.store.records import ResumePoint, Snapshot


def structure_of(text: str | None) -> dict[str, Any]:
    """The stored structure JSON as a dict (empty when absent or unreadable)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _state(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else {"value": value}


def unfinished_sessions(conn: sqlite3.Connection, story_id: str, viewer_id: str) -> list[str]:
    """The viewer's in-progress sessions of `story_id`, most recently active first."""
    rows = conn.execute(
        """SELECT s.session_id FROM sessions s
        WHERE s.viewer_id = ? AND s.story_id = ? AND s.outcome = 'in_progress'
        ORDER BY COALESCE((SELECT MAX(ts) FROM events e WHERE e.session_id = s.session_id),
                          s.started_at) DESC, s.rowid DESC""",
        [viewer_id, story_id],
    )
    return [row[0] for row in rows]


def _choice_scenes(conn: sqlite3.Connection, story_id: str, content_hash: str) -> set[str] | None:
    row = conn.execute(
        "SELECT structure FROM stories WHERE story_id = ? AND content_hash = ?",
        [story_id, content_hash],
    ).fetchone()
    scenes = structure_of(row[0] if row else None).get("scenes")
    if not isinstance(scenes, list):
        return None
    return {s.get("id") for s in scenes if isinstance(s, dict) and s.get("kind") == "choice"}


def resume_point(conn: sqlite3.Connection, session_id: str) -> ResumePoint | None:
    """Where `session_id` stopped, or None if it never showed a scene."""
    head = conn.execute(
        "SELECT story_id, content_hash, seed, started_at FROM sessions WHERE session_id = ?",
        [session_id],
    ).fetchone()
    if head is None:
        return None
    story_id, content_hash, seed, started_at = head
    choice_scenes = _choice_scenes(conn, story_id, content_hash)
    scene: str | None = None
    state: dict[str, Any] | None = None
    last_seq = 0
    history: list[Snapshot] = []
    rows = conn.execute(
        "SELECT seq, type, scene, target, state FROM events WHERE session_id = ? ORDER BY seq",
        [session_id],
    )
    for seq, kind, ev_scene, target, state_text in rows:
        last_seq = seq
        if state_text is not None:
            state = _state(state_text)
        if kind == "scene_shown" and ev_scene:
            scene = ev_scene
            if choice_scenes is None or ev_scene in choice_scenes:
                history.append(Snapshot(seq, ev_scene, _state(state_text)))
        elif kind == "rewind" and target:
            _undo_to(history, target)
    if scene is None:
        return None
    attrs = dict(conn.execute(
        "SELECT key, value FROM session_attrs WHERE session_id = ? ORDER BY key", [session_id]
    ).fetchall())
    return ResumePoint(session_id=session_id, story_id=story_id, content_hash=content_hash,
                       seed=seed, scene=scene, state=state, last_seq=last_seq,
                       started_at=started_at, choice_points=tuple(history), attrs=attrs)


def _undo_to(history: list[Snapshot], target: str) -> None:
    """Drop the latest snapshot of `target` and everything after it."""
    for index in range(len(history) - 1, -1, -1):
        if history[index].scene == target:
            del history[index:]
            return


def endings_found(conn: sqlite3.Connection, story_id: str, viewer_id: str) -> set[str]:
    """Endings reached by the viewer: finished sessions plus `ending_reached` events."""
    rows = conn.execute(
        """SELECT ending_id FROM sessions
           WHERE viewer_id = :viewer AND story_id = :story AND outcome = 'ending'
             AND ending_id IS NOT NULL
        UNION
        SELECT e.scene FROM events e JOIN sessions s ON s.session_id = e.session_id
           WHERE s.viewer_id = :viewer AND s.story_id = :story
             AND e.type = 'ending_reached' AND e.scene IS NOT NULL""",
        {"viewer": viewer_id, "story": story_id},
    )
    return {row[0] for row in rows}
