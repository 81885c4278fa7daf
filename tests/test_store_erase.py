"""forget leaves no byte of the viewer; prune drops raw events but keeps the totals."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from branching.store import DatabaseMissing, Store
from branching.store.erase import forget, prune
from branching.store.viewers import load_key, viewer_id
from tests.test_store_api import play_through, rows, totals_consistent
from tests.test_store_faults import exclusive_lock


def _all_bytes(path: Path) -> bytes:
    """The database and every file SQLite or the store keeps beside it."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def test_forget_removes_every_row_and_every_byte_of_the_viewer(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with Store.open(path) as store:
        for _ in range(3):
            play_through(store, "alice")
        play_through(store, "bob", first="puffs", second="accept")
    alice = viewer_id(load_key(), "alice").encode()
    assert alice in _all_bytes(path)

    result = forget(path, "alice")

    assert (result.sessions, result.events, result.fully_erased) == (3, 27, True)
    assert alice not in _all_bytes(path)
    assert rows(path, "SELECT COUNT(*) FROM sessions") == [(1,)]
    assert rows(path, "SELECT choice, count FROM traversals WHERE scene = 'kitchen'") == [
        ("puffs", 1)
    ]
    assert totals_consistent(path)


def test_forget_also_strips_the_viewer_from_the_spool(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    store = Store.open(path, busy_timeout_ms=100, retry_window=0.2)
    with exclusive_lock(path):
        session = store.start_session("breakfast", "hash-1", "alice")
        session.record("pause").result()
        store.close()
        alice = viewer_id(load_key(), "alice").encode()
        assert alice in path.with_name("t.db.spool").read_bytes()
    # the spool is replayed at forget's open, then deleted with the rest
    forget(path, "alice")
    assert alice not in _all_bytes(path)


def test_forget_also_scrubs_rejected_lines_and_claims_a_dead_loader_left(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    with Store.open(path) as store:
        play_through(store, "alice")
        play_through(store, "bob", first="puffs", second="accept")
    alice = viewer_id(load_key(), "alice")
    bob = viewer_id(load_key(), "bob")
    torn = f'{{"op":"session","viewer_id":"{alice}","sess'.encode()
    other = f'{{"op":"session","viewer_id":"{bob}","sess'.encode()
    path.with_name("t.db.spool.rejected").write_bytes(torn + b"\n" + other + b"\n")
    path.with_name("t.db.spool.loading.1.x").write_bytes(torn + b"\n")

    forget(path, "alice")

    assert alice.encode() not in _all_bytes(path)
    assert path.with_name("t.db.spool.rejected").read_bytes() == other + b"\n"


def test_forget_of_an_unknown_viewer_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with Store.open(path) as store:
        play_through(store, "bob")
    before = rows(path, "SELECT * FROM events ORDER BY session_id, seq")
    assert forget(path, "nobody").sessions == 0
    assert rows(path, "SELECT * FROM events ORDER BY session_id, seq") == before


def test_forget_and_prune_need_an_existing_database(tmp_path: Path) -> None:
    with pytest.raises(DatabaseMissing):
        forget(tmp_path / "absent.db", "alice")
    with pytest.raises(DatabaseMissing):
        prune(tmp_path / "absent.db", "2030-01-01")
    assert not (tmp_path / "absent.db").exists()


def _totals(path: Path) -> list[tuple[object, ...]]:
    return rows(path, "SELECT * FROM traversals ORDER BY 1, 2, 3, 4, 5") + rows(
        path, "SELECT * FROM scene_views ORDER BY 1, 2, 3"
    )


def test_prune_drops_old_raw_events_but_keeps_the_totals(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with Store.open(path) as store:
        play_through(store, "alice")
        play_through(store, "bob", first="puffs")
    old_session = rows(path, "SELECT session_id FROM sessions ORDER BY rowid")[0][0]
    conn = sqlite3.connect(path)
    conn.execute(
        "UPDATE events SET ts = '2020-01-01T00:00:00.000Z' WHERE session_id = ?", [old_session]
    )
    conn.commit()
    conn.close()
    before = _totals(path)

    result = prune(path, "2021-01-01")

    assert result.events == 9 and result.cutoff == "2021-01-01T00:00:00.000Z"
    assert rows(path, "SELECT COUNT(*) FROM events") == [(9,)]
    assert rows(path, "SELECT COUNT(*) FROM sessions") == [(2,)]
    assert _totals(path) == before
    assert totals_consistent(path)
    # a later forget rebuilds the totals without losing what was pruned
    forget(path, "bob")
    assert rows(path, "SELECT choice, count FROM traversals WHERE scene = 'kitchen'") == [
        ("frosties", 1)
    ]


def test_prune_refuses_a_date_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    with pytest.raises(ValueError, match="not a date"):
        prune(path, "last tuesday")


def test_prune_before_an_early_year_keeps_every_event(tmp_path: Path) -> None:
    # a year below 1000 was stored without its leading zero ('999-...'), which sorts
    # after every real timestamp as text, so this prune deleted every event
    path = tmp_path / "t.db"
    with Store.open(path) as store:
        play_through(store, "alice")
    before = rows(path, "SELECT COUNT(*) FROM events")

    result = prune(path, "0999-01-01")

    assert result.events == 0 and result.cutoff == "0999-01-01T00:00:00.000Z"
    assert rows(path, "SELECT COUNT(*) FROM events") == before


def test_prune_refuses_a_date_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    Store.open(path).close()
    with pytest.raises(ValueError, match="not a date"):
        prune(path, "0001-01-01T00:00+01:00")  # before year 1 once made UTC
