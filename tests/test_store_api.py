"""The store's player-facing API: record, resume, endings, input checks.

Also holds the small helpers the other test_store_* files share.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from branching.store import InvalidInput, SessionWriter, Store, StoreError, StoryInfo
from branching.store.totals import recount_matches

STRUCTURE: dict[str, Any] = {
    "id": "breakfast",
    "title": "Breakfast",
    "start": "kitchen",
    "chapters": ["Morning"],
    "scenes": [
        {
            "id": "kitchen",
            "title": "Kitchen",
            "chapter": "Morning",
            "tags": [],
            "kind": "choice",
            "ending": None,
            "timer": 10.0,
            "choices": [
                {
                    "id": "puffs",
                    "label": "Sugar Puffs",
                    "goto": "bus",
                    "tags": [],
                    "default": False,
                    "conditional": False,
                },
                {
                    "id": "frosties",
                    "label": "Frosties",
                    "goto": "bus",
                    "tags": [],
                    "default": True,
                    "conditional": False,
                },
            ],
            "routes": [],
            "rewind": [],
        },
        {
            "id": "bus",
            "title": "Bus",
            "chapter": "Morning",
            "tags": [],
            "kind": "next",
            "ending": None,
            "timer": None,
            "choices": [],
            "routes": [{"goto": "office", "conditional": False, "weight": None}],
            "rewind": [],
        },
        {
            "id": "office",
            "title": "Office",
            "chapter": None,
            "tags": [],
            "kind": "choice",
            "ending": None,
            "timer": 15.0,
            "choices": [
                {
                    "id": "accept",
                    "label": "Accept",
                    "goto": "crunch",
                    "tags": [],
                    "default": False,
                    "conditional": False,
                },
                {
                    "id": "refuse",
                    "label": "Refuse",
                    "goto": "home",
                    "tags": [],
                    "default": False,
                    "conditional": False,
                },
            ],
            "routes": [],
            "rewind": [],
        },
        {
            "id": "crunch",
            "title": "Crunch",
            "chapter": None,
            "tags": [],
            "kind": "ending",
            "ending": {"kind": "bad", "title": "Crunch"},
            "timer": None,
            "choices": [],
            "routes": [],
            "rewind": ["office"],
        },
        {
            "id": "home",
            "title": "Home",
            "chapter": None,
            "tags": [],
            "kind": "ending",
            "ending": {"kind": "good", "title": "Independent"},
            "timer": None,
            "choices": [],
            "routes": [],
            "rewind": [],
        },
    ],
}


def story(content_hash: str = "hash-1") -> StoryInfo:
    """The breakfast story as the player registers it."""
    return StoryInfo(
        id="breakfast",
        title="Breakfast",
        author="Example",
        version_label="1.2",
        content_hash=content_hash,
        structure=STRUCTURE,
    )


def begin(store: Store, viewer: str = "alice", **kwargs: Any) -> SessionWriter:
    """Register the story and start a session of it."""
    store.register_story(story())
    return store.start_session("breakfast", "hash-1", viewer, **kwargs)


def play_through(
    store: Store, viewer: str, *, first: str = "frosties", second: str = "refuse"
) -> SessionWriter:
    """A whole playthrough, every event awaited; returns the (finished) session."""
    session = begin(store, viewer)
    state = {"cereal": "none", "trust": 0}
    assert session.record("session_started", state=state).result()
    assert session.record("scene_shown", scene="kitchen", state=state).result()
    state = {"cereal": first, "trust": 0}
    assert session.record(
        "choice_made",
        scene="kitchen",
        choice=first,
        target="bus",
        decide_ms=1500,
        input="key",
        state=state,
    ).result()
    assert session.record("scene_shown", scene="bus", state=state).result()
    assert session.record("route_taken", scene="bus", target="office", state=state).result()
    assert session.record("scene_shown", scene="office", state=state).result()
    target = "crunch" if second == "accept" else "home"
    assert session.record(
        "choice_made",
        scene="office",
        choice=second,
        target=target,
        decide_ms=900,
        input="mouse",
        state=state,
    ).result()
    assert session.record("scene_shown", scene=target, state=state).result()
    assert session.record("ending_reached", scene=target, state=state).result()
    assert session.finish("ending", ending=target, ending_kind="good").result()
    session.close()
    return session


def rows(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run a query on a fresh plain sqlite3 connection."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def totals_consistent(path: Path) -> bool:
    conn = sqlite3.connect(path)
    try:
        return recount_matches(conn)
    finally:
        conn.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "telemetry.db"


def test_a_playthrough_is_recorded_with_totals_views_and_context(db_path: Path) -> None:
    with Store.open(db_path) as store:
        play_through(store, "alice")
        play_through(store, "bob", first="puffs", second="accept")
    assert rows(db_path, "SELECT COUNT(*) FROM events") == [(18,)]
    shares = rows(
        db_path,
        "SELECT scene, choice, traversals, share FROM choice_shares "
        "WHERE scene = 'kitchen' ORDER BY choice",
    )
    assert shares == [("kitchen", "frosties", 1, 0.5), ("kitchen", "puffs", 1, 0.5)]
    routes = rows(db_path, "SELECT choice, target, count FROM traversals WHERE scene = 'bus'")
    assert routes == [("", "office", 2)]
    endings = rows(db_path, "SELECT ending_id, sessions FROM sessions_per_ending ORDER BY 1")
    assert endings == [("crunch", 1), ("home", 1)]
    seqs = rows(
        db_path, "SELECT seq FROM events e JOIN sessions s USING (session_id) ORDER BY s.rowid, seq"
    )
    assert [s for (s,) in seqs] == list(range(1, 10)) * 2
    ts = rows(db_path, "SELECT ts FROM events LIMIT 1")[0][0]
    assert ts.endswith("Z") and len(ts) == len("2025-01-01T00:00:00.000Z")
    version = rows(db_path, "SELECT app_version, utc_offset_min IS NOT NULL FROM sessions")[0]
    assert version[0] and version[1] == 1
    assert totals_consistent(db_path)


def test_the_viewer_name_is_never_stored(db_path: Path) -> None:
    with Store.open(db_path) as store:
        play_through(store, "Zebediah Quux")
    assert b"Zebediah" not in db_path.read_bytes()
    (viewer,) = rows(db_path, "SELECT DISTINCT viewer_id FROM sessions")[0]
    assert len(viewer) == 64 and viewer != "Zebediah Quux"


def test_attrs_and_seed_are_recorded(db_path: Path) -> None:
    with Store.open(db_path) as store:
        session = begin(store, attrs={"region": "NL", "age": "25-34"}, seed=42)
        assert session.record("session_started").result()
        session.close()
    assert rows(db_path, "SELECT key, value FROM session_attrs ORDER BY key") == [
        ("age", "25-34"),
        ("region", "NL"),
    ]
    assert rows(db_path, "SELECT seed FROM sessions") == [(42,)]


def test_unfinished_session_resumes_at_the_last_scene_with_its_state(db_path: Path) -> None:
    with Store.open(db_path) as store:
        session = begin(store, seed=7)
        session.record("scene_shown", scene="kitchen", state={"turns": 0}).result()
        session.record(
            "choice_made", scene="kitchen", choice="puffs", target="bus", state={"turns": 1}
        ).result()
        session.record("scene_shown", scene="bus", state={"turns": 1}).result()
        session.record("route_taken", scene="bus", target="office", state={"turns": 1}).result()
        session.record("scene_shown", scene="office", state={"turns": 1, "x": "y"}).result()
        session.close()
    with Store.open(db_path) as store:
        point = store.unfinished_session("breakfast", "alice")
        assert point is not None
        assert (point.scene, point.state, point.seed, point.last_seq) == (
            "office",
            {"turns": 1, "x": "y"},
            7,
            5,
        )
        assert point.frames == ({"turns": 0}, {"turns": 1, "x": "y"})  # not the bus passage
        assert store.unfinished_session("breakfast", "bob") is None
        resumed = store.resume_session(point.session_id)
        assert resumed.record(
            "choice_made", scene="office", choice="refuse", target="home", state={"turns": 2}
        ).result()
        resumed.close()
    assert rows(db_path, "SELECT MAX(seq), COUNT(*) FROM events") == [(6, 6)]


def test_going_back_and_rewinding_from_an_ending_are_replayed_on_resume(db_path: Path) -> None:
    s0, s1, s2 = {"turns": 0}, {"turns": 1}, {"turns": 2}
    with Store.open(db_path) as store:
        session = begin(store)
        for kind, fields in (
            ("scene_shown", {"scene": "kitchen", "state": s0}),
            ("choice_made", {"scene": "kitchen", "choice": "puffs", "target": "bus", "state": s1}),
            ("scene_shown", {"scene": "bus", "state": s1}),
            ("scene_shown", {"scene": "office", "state": s1}),
            (
                "choice_made",
                {"scene": "office", "choice": "accept", "target": "crunch", "state": s2},
            ),
            ("scene_shown", {"scene": "crunch", "state": s2}),
            ("ending_reached", {"scene": "crunch", "state": s2}),
        ):
            assert session.record(kind, **fields).result()
        assert session.finish("ending", ending="crunch", ending_kind="bad").result()
        assert store.unfinished_session("breakfast", "alice") is None
        # the ending offers "back to the job offer": the same playthrough goes on
        assert session.record("rewind", scene="office", input="key", state=s1).result()
        point = store.unfinished_session("breakfast", "alice")
        assert point is not None and point.frames == (s0, s1) and point.scene == "office"
        # then "b": back to the previous choice point
        assert session.record("rewind", scene="kitchen", input="key", state=s0).result()
        session.close()
        point = store.unfinished_session("breakfast", "alice")
        assert point is not None and (point.scene, point.frames, point.state) == (
            "kitchen",
            (s0,),
            s0,
        )
        assert store.endings_found("breakfast", "alice") == {"crunch"}


def test_a_choice_committed_without_its_next_scene_resumes_after_the_choice(db_path: Path) -> None:
    s0 = {"scene": "kitchen", "turns": 0}
    s1 = {"scene": "office", "turns": 1}
    with Store.open(db_path) as store:
        session = begin(store)
        assert session.record("scene_shown", scene="kitchen", state=s0).result()
        assert session.record(
            "choice_made", scene="kitchen", choice="puffs", target="bus", state=s1
        ).result()
        session.close()  # the player died before recording the scenes it led to
        point = store.unfinished_session("breakfast", "alice")
    assert point is not None and (point.scene, point.frames) == ("office", (s0, s1))


def test_finished_sessions_are_not_resumable_and_endings_are_found(db_path: Path) -> None:
    with Store.open(db_path) as store:
        done = play_through(store, "alice")
        assert store.unfinished_session("breakfast", "alice") is None
        assert store.endings_found("breakfast", "alice") == {"home"}
        assert store.endings_found("breakfast", "bob") == set()
        with pytest.raises(StoreError, match="finished"):
            store.resume_session(done.session_id)
        with pytest.raises(StoreError, match="no playthrough"):
            store.resume_session("not-a-session")


@pytest.mark.parametrize(
    ("kind", "fields", "message"),
    [
        ("jumped", {}, "unknown event type"),
        ("choice_made", {"scene": "kitchen"}, "needs the choice"),
        ("scene_shown", {}, "needs the scene"),
        ("pause", {"input": "joystick"}, "unknown input"),
        ("pause", {"decide_ms": -1}, "decide_ms"),
        ("pause", {"state": {"x": {1, 2}}}, "JSON"),
    ],
)
def test_bad_events_are_refused_at_once(
    db_path: Path, kind: str, fields: dict[str, Any], message: str
) -> None:
    with Store.open(db_path) as store:
        session = begin(store)
        with pytest.raises(InvalidInput, match=message):
            session.record(kind, **fields)
        assert session.record("pause").result()
        session.close()
    assert rows(db_path, "SELECT seq, type FROM events") == [(1, "pause")]


def test_bad_attrs_and_outcomes_are_refused(db_path: Path) -> None:
    with Store.open(db_path) as store:
        with pytest.raises(InvalidInput, match="attribute name"):
            begin(store, attrs={"no spaces": "x"})
        session = begin(store)
        with pytest.raises(InvalidInput, match="unknown outcome"):
            session.finish("exploded")
        with pytest.raises(InvalidInput, match="ending's scene"):
            session.finish("ending")
        session.close()
        with pytest.raises(StoreError, match="closed"):
            session.record("pause")
