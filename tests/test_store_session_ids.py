"""New playthroughs get time-ordered ids; `forget` keeps none of their time.

A new session's id is a UUID version 7, so its rows go in at the end of the
tables keyed by it (fewer pages a key press, issue 14). `forgotten_sessions`
keeps an erased playthrough's id with its time zeroed, and every lookup masks
the id it checks the same way, in Python and in SQL.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from pathlib import Path

from branching.store import Store
from branching.store.erase import forget
from branching.store.session_ids import forgotten_key, forgotten_key_sql, new_session_id
from branching.store.viewers import load_key, viewer_id
from tests.test_store_api import begin, play_through, rows


def test_new_ids_are_uuid_version_7_and_sort_as_they_were_made() -> None:
    made = []
    for _ in range(5):
        made.append(new_session_id())
        time.sleep(0.002)
    assert sorted(made) == made
    for text in made:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert str(parsed) == text
        assert abs((parsed.int >> 80) - time.time() * 1000) < 60_000  # its milliseconds: now
    assert len(set(new_session_id() for _ in range(1000))) == 1000


def test_a_new_session_gets_a_version_7_id(tmp_path: Path) -> None:
    with Store.open(tmp_path / "t.db") as store:
        session = begin(store, "ana")
        assert uuid.UUID(session.session_id).version == 7
        session.close()


def test_the_forgotten_key_zeroes_a_version_7_ids_time_only_and_sql_agrees() -> None:
    v7, v4 = new_session_id(), str(uuid.uuid4())
    assert forgotten_key(v7) == "00000000-0000" + v7[13:]
    assert forgotten_key(v4) == v4
    conn = sqlite3.connect(":memory:")
    for text in (v7, v4, v7.upper(), "late-1", "", "x" * 14 + "7" + "y" * 21, v7[:-1]):
        sql = conn.execute(f"SELECT {forgotten_key_sql('?1')}", [text]).fetchone()[0]
        assert sql == forgotten_key(text), text


def test_forget_leaves_no_time_of_the_playthroughs_it_erased(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with Store.open(db) as store:
        play_through(store, "alice")
        play_through(store, "bob")
    alice = viewer_id(load_key(), "alice")
    (erased,) = rows(db, f"SELECT session_id FROM sessions WHERE viewer_id = '{alice}'")[0]
    forget(db, "alice")
    kept = rows(db, "SELECT session_id FROM forgotten_sessions")
    assert kept == [(forgotten_key(erased),)]
    files = b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))
    assert erased[:13].encode() not in files  # its 48 bits of time: nowhere
    assert erased[14:].encode() in files  # its random part: kept, to refuse it later
