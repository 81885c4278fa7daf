"""Simulated session ids: time-ordered (UUIDv7), seeded, and files of the earlier random ids.

A session's id starts with its simulated start in Unix milliseconds (RFC 9562
version 7), so a batch of sessions goes in near the end of every tree keyed
by them; its other bits are drawn from the audience's generator and mixed with
the audience's fingerprint. A file simulated before (random version-4 ids)
holds the same audience under other ids: the same command must not add it a
second time.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from branching.cli import cli
from branching.simulate import sessions
from branching.simulate.audience import Audience
from branching.simulate.run import earlier_first_id, simulate
from branching.simulate.sessions import earlier_uuid, time_ordered_uuid
from branching.story.loader import load_story

ROOT = Path(__file__).resolve().parent.parent
SIGNAL = ROOT / "stories" / "signal"
DATES = ["--from", "2026-01-01", "--to", "2026-01-31"]


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def stored(db: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT session_id, started_at FROM sessions ORDER BY rowid").fetchall()
    finally:
        conn.close()


def unix_ms(stamp: str) -> int:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return round((moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1000)


def test_a_session_id_is_its_start_then_seeded_bits(tmp_path: Path) -> None:
    """Every id is a version-7 UUID whose first 48 bits are the session's start."""
    db = tmp_path / "v7.db"
    run_cli("simulate", str(SIGNAL), "--sessions", "200", "--seed", "5", "--db", str(db), *DATES)
    rows = stored(db)
    assert len(rows) == 200 and len({sid for sid, _ in rows}) == 200
    for sid, started_at in rows:
        parsed = uuid.UUID(sid)
        assert str(parsed) == sid  # canonical lowercase text, as the player's ids
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert parsed.int >> 80 == unix_ms(started_at), (sid, started_at)
    # sorted by id is sorted by start (up to a shared millisecond)
    by_id = [started for _, started in sorted(rows)]
    assert by_id == sorted(by_id)


def test_the_salt_goes_in_the_random_bits_only() -> None:
    """Two audiences of one seed differ in every id; the time and version stay."""
    ms = unix_ms("2026-03-01T12:00:00.000Z")
    one = time_ordered_uuid(ms, random.Random(1).getrandbits(128) ^ 0)
    two = time_ordered_uuid(ms, random.Random(1).getrandbits(128) ^ (1 << 20))
    assert one != two and one[:15] == two[:15]  # 48 bits of time and the version
    assert uuid.UUID(one).int >> 80 == ms
    # a time a UUIDv7 cannot hold is held at the nearest end, still a valid id
    early = uuid.UUID(time_ordered_uuid(-5_000, 12345))
    assert early.int >> 80 == 0 and early.version == 7
    late = uuid.UUID(time_ordered_uuid(1 << 50, 12345))
    assert late.int >> 80 == (1 << 48) - 1 and late.version == 7


def test_an_audience_before_1970_is_still_recorded(tmp_path: Path) -> None:
    db = tmp_path / "old-times.db"
    out = run_cli(
        "simulate", "tutorial", "--sessions", "20", "--seed", "2", "--db", str(db),
        "--from", "1969-12-01", "--to", "1969-12-31",
    )  # fmt: skip
    assert "20 session(s)" in out
    rows = stored(db)
    assert len({sid for sid, _ in rows}) == 20
    assert all(started.startswith("1969-12") for _, started in rows)
    assert all(uuid.UUID(sid).int >> 80 == 0 for sid, _ in rows)


def test_the_earlier_id_of_the_first_session_is_what_main_wrote() -> None:
    """`branching simulate signal --sessions 300 --seed 3 --from 2026-01-01 --to
    2026-01-31` at commit 9c8d166 (random version-4 ids) gave its first session this id."""
    audience = Audience(
        sessions=300, viewers=150, seed=3, start=date(2026, 1, 1), end=date(2026, 1, 31)
    )
    story = load_story(SIGNAL)
    earlier = earlier_first_id(story, audience)
    assert earlier == "10e91cd5-c1ef-4099-94de-6afd0337e158"
    # the first session's id now comes from the same draw: it shares the last 62 bits
    played = simulate(story, audience)
    assert next(played)[0]["op"] == "story"
    session = next(played)[0]
    assert session["op"] == "session"
    now = uuid.UUID(str(session["session_id"]))
    assert now.int & ((1 << 62) - 1) == uuid.UUID(earlier).int & ((1 << 62) - 1)
    assert now.int >> 80 == unix_ms(str(session["started_at"]))


def _earlier_rule(rng: random.Random, ms: int, salt: int = 0) -> str:
    """The ids an earlier version gave (`seeded_uuid` before ids were time-ordered)."""
    return earlier_uuid(rng.getrandbits(128) ^ salt)


def test_a_file_simulated_with_the_earlier_ids_is_not_added_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same command on a file an earlier version filled adds nothing and says so;
    another audience (another seed) is added as ever."""
    db = tmp_path / "earlier.db"
    args = ["simulate", str(SIGNAL), "--sessions", "120", "--seed", "8", "--db", str(db), *DATES]
    with monkeypatch.context() as patched:
        patched.setattr(sessions, "seeded_uuid", _earlier_rule)
        run_cli(*args, "--jobs", "1")
    before = stored(db)
    assert len(before) == 120 and all(uuid.UUID(sid).version == 4 for sid, _ in before)
    audience = Audience(
        sessions=120, viewers=60, seed=8, start=date(2026, 1, 1), end=date(2026, 1, 31)
    )
    assert earlier_first_id(load_story(SIGNAL), audience) == before[0][0]
    out = run_cli(*args)
    assert "holds this audience already" in out and "nothing was added" in out
    assert stored(db) == before
    other = run_cli(*args[:5], "9", *args[6:])  # --seed 9
    assert "120 session(s)" in other
    after = stored(db)
    assert len(after) == 240 and all(uuid.UUID(sid).version == 7 for sid, _ in after[120:])


def test_a_file_simulated_with_time_ordered_ids_is_not_taken_for_an_earlier_one(
    tmp_path: Path,
) -> None:
    db = tmp_path / "now.db"
    args = ["simulate", str(SIGNAL), "--sessions", "60", "--seed", "8", "--db", str(db), *DATES]
    run_cli(*args)
    again = run_cli(*args)
    assert "Simulated 0 session(s)" in again and "already there" in again
    assert "earlier version" not in again
    assert len(stored(db)) == 60
