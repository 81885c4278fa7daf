"""A hand-checkable telemetry database for the analytics and render tests.

`known_db(path)` records six playthroughs of the small "heist" story below by
four viewers, through the real engine, the real recorder (`StoreRecorder`) and
the store's own write operations (`ops.apply_op`, which keeps the running
totals), into a file created by `Store.open`. Only the clock is ours, so dates,
hours and weekdays are known. Every figure the tests assert is worked out by
hand in the table at the bottom of this docstring.

Sessions (ts in UTC; local = ts + offset):
  S1 v1 Mon 2025-03-03 10:00 (+60, local 11h Mon) region=NL, xterm:
     quiet(1000 ms), left(2000 ms) -> hall -> escape (good)
  S2 v1 Tue 2025-03-04 20:00 (+60, local 21h Tue) region=NL, xterm:
     loud by timeout (10000 ms), right(3000 ms) -> hall -> caught (bad)
  S3 v2 Tue 2025-03-04 09:00 (+0, local 9h Tue) region=UK, kitty:
     coffee(4000) -> cafe -> briefing, quiet(1500), left(500) -> escape (good)
  S4 v3 Wed 2025-03-05 12:00 (+0) region=UK, kitty: quiet(2500), quit at vault
  S5 v3 Thu 2025-03-06 12:00 (+0) no attrs, xterm: pause at briefing,
     coffee(6000) -> cafe -> briefing, then abandoned there
  S6 v4 Fri 2025-03-07 12:00 (+0) no attrs, kitty: skip reveal at briefing,
     loud(800), left(700) -> hall -> caught, rewind to briefing,
     quiet(900), right(1100) -> escape (good)

Hand counts (choices unit = every event; sessions; viewers):
  briefing choices: quiet 4 (S1,S3,S4,S6) / loud 2 (S2 timeout, S6) /
     coffee 2 (S3,S5); left here 1 (S5) -> base 9 in the choices unit
  vault choices: left 3 (S1,S3,S6) / right 2 (S2,S6); left here 1 (S4)
  endings: escape S1,S3,S6 (3 sessions, viewers v1,v2,v4); caught S2 (outcome
     of S6 is its last ending, escape); completion 4 of 6 sessions, 3 of 4 viewers
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from branching.play.engine import Playthrough
from branching.recording import StoreRecorder
from branching.store import Store
from branching.store import db as store_db
from branching.store.clock import format_ts
from branching.store.ops import SPOOL_VERSION, apply_op, event_op, to_json
from branching.story.loader import load_story
from branching.story.model import Story

HEIST = """\
branching: 1
id: heist
title: The Heist
version: "2"
start: briefing
timer: 10
state:
  loud: false
scenes:
  briefing:
    title: Briefing
    chapter: Plan
    text: The crew waits for your call.
    choices:
      - id: quiet
        label: Go in quietly
        goto: vault
      - id: loud
        label: Go in loud
        goto: vault
        set: {loud: true}
        default: true
      - id: coffee
        label: Grab a coffee first
        goto: cafe
        tags: [product-placement]
  cafe:
    title: Cafe
    chapter: Plan
    tags: [product-placement]
    text: A barista hands you a branded cup.
    next: briefing
  vault:
    title: The Vault
    chapter: Job
    text: Two doors.
    choices:
      - id: left
        label: Left door
        goto: hall
      - id: right
        label: Right door
        goto: hall
  hall:
    title: The Hall
    chapter: Job
    text: Are the alarms on?
    next:
      - if: loud
        goto: caught
      - goto: escape
  caught:
    title: Caught
    chapter: Job
    text: Sirens.
    ending: {kind: bad, title: Caught}
    rewind: [briefing]
  escape:
    title: Clean getaway
    chapter: Job
    text: You vanish.
    ending: {kind: good, title: Clean getaway}
"""


def heist_story(tmp: Path) -> tuple[Path, Story]:
    path = tmp / "heist.yaml"
    path.write_text(HEIST, encoding="utf-8")
    return path, load_story(str(path))


class _Session:
    """Stands in for the store's SessionWriter: same ops, our clock."""

    def __init__(self, conn: sqlite3.Connection, ids: dict[str, Any], start: datetime) -> None:
        self.conn, self.ids, self.clock, self.seq = conn, ids, start, 0

    def tick(self, seconds: float = 1.0) -> None:
        self.clock += timedelta(seconds=seconds)

    def begin_group(self) -> None:
        """Each op is committed at once here: a key press needs no grouping."""

    def end_group(self) -> None:
        """Nothing held."""

    def _apply(self, op: dict[str, Any]) -> Future[bool]:
        with store_db.immediate(self.conn):
            apply_op(self.conn, op)
        done: Future[bool] = Future()
        done.set_result(True)
        return done

    def record(self, type: str, **fields: Any) -> Future[bool]:
        self.seq += 1
        self.tick()
        full = {
            k: fields.get(k) for k in ("scene", "choice", "target", "decide_ms", "input", "state")
        }
        return self._apply(event_op(self.ids, self.seq, format_ts(self.clock), type, full))

    def finish(
        self, outcome: str, *, ending: str | None = None, ending_kind: str | None = None
    ) -> Future[bool]:
        return self._apply(
            {
                "v": SPOOL_VERSION,
                "op": "finish",
                **self.ids,
                "outcome": outcome,
                "ending_id": ending,
                "ending_kind": ending_kind,
                "ended_at": format_ts(self.clock),
            }
        )

    def close(self) -> None:
        pass


def register(
    conn: sqlite3.Connection,
    story: Story,
    *,
    content_hash: str | None = None,
    label: str | None = None,
    when: str = "2025-01-01T00:00:00.000Z",
) -> None:
    with store_db.immediate(conn):
        apply_op(
            conn,
            {
                "v": SPOOL_VERSION,
                "op": "story",
                "story_id": story.id,
                "content_hash": content_hash or story.content_hash,
                "title": story.title,
                "author": story.author,
                "version_label": label or story.version,
                "structure": to_json(story.structure(), "structure"),
                "registered_at": when,
            },
        )


def play(
    conn: sqlite3.Connection,
    story: Story,
    steps: list[tuple[Any, ...]],
    *,
    session_id: str,
    viewer: str,
    started: str,
    offset: int = 0,
    attrs: dict[str, str] | None = None,
    terminal: str = "xterm",
    content_hash: str | None = None,
) -> None:
    """Record one playthrough: steps are ("choose", id, ms), ("timeout", ms), ("back",),
    ("rewind", scene), ("pause",), ("skip",), ("quit",), ("abandon",)."""
    start = datetime.fromisoformat(started.replace("Z", "+00:00")).astimezone(UTC)
    ids = {
        "session_id": session_id,
        "story_id": story.id,
        "content_hash": content_hash or story.content_hash,
    }
    session = _Session(conn, ids, start)
    context = {
        "terminal": terminal,
        "term_program": None,
        "term_cols": 100,
        "term_rows": 30,
        "platform": "Linux x86_64",
        "locale": "en_GB",
        "utc_offset_min": offset,
        "app_version": "test",
    }
    session._apply(
        {
            "v": SPOOL_VERSION,
            "op": "session",
            **ids,
            "viewer_id": viewer,
            "started_at": format_ts(start),
            "seed": 1,
            "attrs": attrs or {},
            "context": context,
        }
    )
    run = Playthrough.start(story, seed=1)
    rec = StoreRecorder(session)
    rec.started(run)
    for step in steps:
        kind = step[0]
        if kind in ("choose", "timeout"):
            view = run.view
            choice = step[1] if kind == "choose" else view.default.id  # type: ignore[union-attr]
            ms = step[2] if kind == "choose" else step[1]
            target = next(c.target for c in view.choices if c.id == choice)
            run.choose(choice)
            rec.chose(
                run,
                view.scene,
                choice,
                target,
                decide_ms=ms,
                input="key" if kind == "choose" else "timeout",
                timeout=kind == "timeout",
            )
            rec.shown(run)
        elif kind == "back":
            run.back()
            rec.rewound(run, run.view.scene, input="key")
        elif kind == "rewind":
            run.rewind_to(step[1])
            rec.rewound(run, step[1], input="key")
        elif kind == "pause":
            rec.event("pause", run, scene=run.view.scene)
            rec.event("resume", run, scene=run.view.scene)
        elif kind == "skip":
            rec.event("reveal_skipped", run, scene=run.view.scene)
        elif kind == "quit":
            rec.quit(run)
            session.finish("quit")
        elif kind == "abandon":
            session.finish("abandoned")


def known_db(tmp: Path) -> tuple[Path, Path]:
    """The six playthroughs of the docstring; returns (database, story file)."""
    story_path, story = heist_story(tmp)
    db_path = tmp / "known.db"
    Store.open(db_path).close()
    conn = store_db.connect(db_path)
    try:
        register(conn, story)
        nl, uk = {"region": "NL"}, {"region": "UK"}
        plays: list[tuple[str, str, str, int, dict[str, str], str, list[tuple[Any, ...]]]] = [
            (
                "S1",
                "v1",
                "2025-03-03T10:00:00Z",
                60,
                nl,
                "xterm",
                [("choose", "quiet", 1000), ("choose", "left", 2000)],
            ),
            (
                "S2",
                "v1",
                "2025-03-04T20:00:00Z",
                60,
                nl,
                "xterm",
                [("timeout", 10000), ("choose", "right", 3000)],
            ),
            (
                "S3",
                "v2",
                "2025-03-04T09:00:00Z",
                0,
                uk,
                "kitty",
                [("choose", "coffee", 4000), ("choose", "quiet", 1500), ("choose", "left", 500)],
            ),
            (
                "S4",
                "v3",
                "2025-03-05T12:00:00Z",
                0,
                uk,
                "kitty",
                [("choose", "quiet", 2500), ("quit",)],
            ),
            (
                "S5",
                "v3",
                "2025-03-06T12:00:00Z",
                0,
                {},
                "xterm",
                [("pause",), ("choose", "coffee", 6000), ("abandon",)],
            ),
            (
                "S6",
                "v4",
                "2025-03-07T12:00:00Z",
                0,
                {},
                "kitty",
                [
                    ("skip",),
                    ("choose", "loud", 800),
                    ("choose", "left", 700),
                    ("rewind", "briefing"),
                    ("choose", "quiet", 900),
                    ("choose", "right", 1100),
                ],
            ),
        ]
        for sid, viewer, started, offset, attrs, term, steps in plays:
            play(
                conn,
                story,
                steps,
                session_id=sid,
                viewer=viewer,
                started=started,
                offset=offset,
                attrs=attrs,
                terminal=term,
            )
    finally:
        conn.close()
    return db_path, story_path


def test_known_db_totals_match_a_recount(tmp_path: Path) -> None:
    from branching.store.totals import recount_matches

    db_path, _ = known_db(tmp_path)
    conn = store_db.connect(db_path)
    try:
        assert recount_matches(conn)
        outcomes = dict(conn.execute("SELECT session_id, outcome FROM sessions").fetchall())
    finally:
        conn.close()
    assert outcomes == {
        "S1": "ending",
        "S2": "ending",
        "S3": "ending",
        "S4": "quit",
        "S5": "abandoned",
        "S6": "ending",
    }
