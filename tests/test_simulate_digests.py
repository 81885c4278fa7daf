"""The bulk writer's digests written whole (`digests.insert_whole`): each new session's
digest goes in with its copies of the session (m015's columns, `first_play`, `attrs`,
`viewer_id`, `last_scene`) already in the row, so no insert trigger has work left. The
rows must be exactly those the live path (op by op, the triggers copying) gives,
attributes that need quoting, or are not text at all, included."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

from branching.simulate.audience import Audience
from branching.simulate.run import simulate
from branching.store import digests
from branching.store.bulk import BulkWriter, prepare
from branching.store.db import columns as db_columns
from branching.store.ops import Op
from branching.story.loader import load_story
from tests.test_simulate import live_path

SIGNAL = Path(__file__).resolve().parent.parent / "stories" / "signal"


COPIES = ("session_id", *digests.COPIED, "first_play", "attrs")


def _copies(path: Path) -> list[tuple[object, ...]]:
    """Each digest's copies of its session (the codes differ from one path to another:
    they are given a transaction at a time)."""
    conn = sqlite3.connect(path)
    try:
        sql = f"SELECT {', '.join(COPIES)} FROM session_digests ORDER BY session_id"
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _through_the_triggers(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The digests as stored, and as they are once inserted again without their copies
    (m015's and m018's triggers filling them, as `digests.write` leaves them to)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        stored = conn.execute("SELECT * FROM session_digests ORDER BY session_id").fetchall()
        own = ", ".join(c for c in db_columns(conn, "session_digests") if c not in COPIES[1:])
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(f"CREATE TEMP TABLE kept AS SELECT {own} FROM session_digests")
        conn.execute("DELETE FROM session_digests")
        conn.execute(f"INSERT INTO session_digests ({own}) SELECT {own} FROM temp.kept")
        again = conn.execute("SELECT * FROM session_digests ORDER BY session_id").fetchall()
        conn.execute("ROLLBACK")
        return stored, again
    finally:
        conn.close()


def _audience() -> list[list[Op]]:
    """A small audience whose attributes need quoting; some sessions with an attribute
    that is a number (the triggers' copy, not `attrs_literal`), some with none."""
    story = load_story(SIGNAL)
    audience = Audience(
        sessions=70, viewers=25, seed=6, start=date(2026, 1, 1), end=date(2026, 1, 3),
        attrs={"viewer's region": {"N'L": 0.5, "UK": 0.5}, "device": {"tv": 1.0}},
    )  # fmt: skip
    batches = list(simulate(story, audience))
    n = 0
    for ops in batches:
        for op in ops:
            if op.get("op") == "session":
                n += 1
                if n % 5 == 0:
                    op["attrs"] = {}
                elif n % 3 == 0:
                    op["attrs"] = {**op["attrs"], "level": 7}
    return batches


def test_bulk_digests_hold_what_the_triggers_copy_on_the_live_path(tmp_path: Path) -> None:
    batches = _audience()
    live = _copies(live_path(tmp_path / "live.db", batches))
    attrs = {str(row[-1]) for row in live}
    assert "" in attrs and any("'viewer''s region'='N''L'" in a for a in attrs)
    assert any("'level'='7'" in a for a in attrs)  # a number, copied by the trigger
    assert {row[-2] for row in live} == {0, 1}  # first sessions and later ones
    assert all(row[-3] for row in live)  # every session has shown a scene
    for name, batch, prepared in (("bulk.db", 97, False), ("prepared.db", 500, True)):
        with BulkWriter(tmp_path / name, batch=batch) as writer:
            for ops in batches:
                writer.add(prepare(ops) if prepared else ops)
        assert _copies(tmp_path / name) == live, name
        stored, again = _through_the_triggers(tmp_path / name)
        assert len(stored) == 70 and stored == again, name


def test_attrs_literal_quotes_as_sqlite_does() -> None:
    conn = sqlite3.connect(":memory:")
    pairs = [("b", "it's"), ("a", "x=y,z"), ("c'", "")]
    want = conn.execute(
        "SELECT group_concat(quote(k) || '=' || quote(v), ',') FROM (SELECT ?1 AS k, ?2 AS v"
        " UNION ALL SELECT ?3, ?4 UNION ALL SELECT ?5, ?6 ORDER BY k)",
        [x for pair in pairs for x in pair],
    ).fetchone()[0]
    assert digests.attrs_literal(pairs) == want
    assert digests.attrs_literal([]) == ""
    assert digests.attrs_literal([("n", 7)]) is None  # not text: left to the triggers


HOSTILE: list[dict[str, str]] = [  # attributes another writer could have sent (R8)
    {"k'ey,=": "v'a,l=ue", "ü": "😀\u00e9", "\r\n\t": "\x01\x7f", "é": "e\u0301"},
    {"x" * 5000: "y'" * 5000, "\U0001f600": "\uffff", "\ufffd": "a"},
    {"a\x00b": "c"},  # a NUL: left to the triggers
    {"z": "1.0", "y": "007", "w": " 1e3 "},  # text that looks like numbers
    {},
]


def _hostile(start: date, sessions: int, shift: int) -> list[list[Op]]:
    """An audience of nine viewers between `start` and the next day, its sessions given
    the `HOSTILE` attributes in turn (from the `shift`th)."""
    audience = Audience(
        sessions=sessions, viewers=9, seed=3, start=start, end=start + timedelta(days=1)
    )
    batches = list(simulate(load_story(SIGNAL), audience))
    n = shift
    for ops in batches:
        for op in ops:
            if op["op"] == "session":
                op["attrs"] = HOSTILE[n % len(HOSTILE)]
                n += 1
    return batches


def test_hostile_attributes_and_a_second_run_into_the_file_copy_as_the_triggers_do(
    tmp_path: Path,
) -> None:
    """Quotes, commas, `=`, control characters, combining and astral characters, long
    texts, a NUL; then the same viewers a month earlier into the same file, which makes
    their new sessions their first ones (`agg_firsts` moves): each path's copies agree."""
    first = _hostile(date(2026, 1, 1), 40, 0)
    earlier = _hostile(date(2025, 12, 1), 30, 1)
    live = _copies(live_path(tmp_path / "live.db", first + earlier))
    assert {row[-2] for row in live} == {0, 1}
    for name, batch, prepared in (("bulk.db", 13, False), ("prepared.db", 500, True)):
        for part in (first, earlier):  # two simulations into one file
            with BulkWriter(tmp_path / name, batch=batch) as writer:
                for ops in part:
                    writer.add(prepare(ops) if prepared else ops)
        assert _copies(tmp_path / name) == live, name
        stored, again = _through_the_triggers(tmp_path / name)
        assert stored == again, name
