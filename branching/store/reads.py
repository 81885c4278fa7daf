"""The few reads players need: where to resume, which endings a viewer found.

Plain functions over a read-only connection the caller opened, returning the
values in `records.py`. Producer analytics live elsewhere (`analytics.py`)
and read the totals tables and views directly.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from branching.store.records import ResumePoint
from branching.store.states import StateReader


def structure_of(text: str | None) -> dict[str, Any]:
    """The stored structure JSON as a dict (empty when absent or unreadable)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


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


def _frame_scenes(conn: sqlite3.Connection, story_id: str, content_hash: str) -> set[str] | None:
    """Scenes where the engine stops (choice points and endings), from the structure."""
    row = conn.execute(
        "SELECT structure FROM stories WHERE story_id = ? AND content_hash = ?",
        [story_id, content_hash],
    ).fetchone()
    scenes = structure_of(row[0] if row else None).get("scenes")
    if not isinstance(scenes, list):
        return None
    return {
        str(s.get("id"))
        for s in scenes
        if isinstance(s, dict) and s.get("kind") in ("choice", "ending")
    }


def resume_point(conn: sqlite3.Connection, session_id: str) -> ResumePoint | None:
    """Where `session_id` stopped, or None if it never recorded a stop with its state.

    The state at each event is rebuilt from the stored snapshots and patches
    (`states.StateReader`). A `scene_shown` event at a choice point or ending
    (per the stored structure; every scene if the structure does not say) with
    a state is a frame; scenes passed through on the way are not. A choice event's state is
    the state it leads to, so it stands in for the next frame until that
    frame's `scene_shown` arrives: a player killed between the two commits
    resumes after the choice, not before it. A `rewind` event to scene T (its
    `target`, else its `scene`) keeps the frames up to the latest earlier
    frame at T, as the engine's go-back and rewind do.
    """
    head = conn.execute(
        "SELECT story_id, content_hash, seed, started_at FROM sessions WHERE session_id = ?",
        [session_id],
    ).fetchone()
    if head is None:
        return None
    story_id, content_hash, seed, started_at = head
    stops = _frame_scenes(conn, story_id, content_hash)
    frames: list[tuple[str, dict[str, Any]]] = []
    provisional = False  # the last frame came from a choice, not yet from its scene_shown
    state: dict[str, Any] | None = None
    last_seq = 0
    reader = StateReader()
    rows = conn.execute(
        "SELECT seq, type, scene, target, state FROM events WHERE session_id = ? ORDER BY seq",
        [session_id],
    )
    for seq, kind, scene, target, stored in rows:
        last_seq = seq
        state = reader.read_text(seq, stored)
        if state is None:
            if kind == "rewind" and (target or scene):
                _back_to(frames, target or scene)
                provisional = False
            continue
        if kind == "scene_shown" and scene and (stops is None or scene in stops):
            if provisional:
                frames.pop()
            frames.append((scene, state))
            provisional = False
        elif kind in ("choice_made", "timeout_default") and frames:
            if provisional:
                frames.pop()
            frames.append((_scene_of(state, target), state))
            provisional = True
        elif kind == "rewind" and (target or scene):
            _back_to(frames, target or scene)
            provisional = False
    if not frames:
        return None
    attrs = dict(
        conn.execute(
            "SELECT key, value FROM session_attrs WHERE session_id = ? ORDER BY key", [session_id]
        ).fetchall()
    )
    return ResumePoint(
        session_id=session_id,
        story_id=story_id,
        content_hash=content_hash,
        seed=seed,
        scene=frames[-1][0],
        state=state,
        last_seq=last_seq,
        started_at=started_at,
        frames=tuple(f for _, f in frames),
        attrs=attrs,
    )


def _scene_of(state: dict[str, Any] | None, target: str | None) -> str:
    """The scene a choice led to: the state's own `scene` if it names one, else the target."""
    scene = state.get("scene") if state else None
    return scene if isinstance(scene, str) else (target or "")


def _back_to(frames: list[tuple[str, dict[str, Any]]], scene: str) -> None:
    """Keep the frames up to the latest one at `scene` before the current one."""
    for index in range(len(frames) - 2, -1, -1):
        if frames[index][0] == scene:
            del frames[index + 1 :]
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
