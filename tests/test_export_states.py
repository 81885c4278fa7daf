"""The JSON-lines export, byte for byte, against a plain re-reading of the database.

`branching export --format jsonl` rebuilds the whole state at every event
from stored snapshots and patches, through a fast path (a memo of outcomes,
states encoded once per change, `apply` remembering its sorted sets). Here a
small simulated audience (random routes, rewinds, timeouts, pauses, state
changes), with a hole cut into one session and a session pruned, is exported
by the command and compared with lines built the slow, obvious way: the
`sqlite3` command line's query (`ONE_QUERY`), the states rebuilt by the
original `apply` (copied below as it was before the fast path), each record
encoded whole by `json_text`. And `apply` itself is held to that original on
random patches, odd ones included.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import branching.cli.data  # noqa: F401  (registers the commands)
from branching.cli.main import cli
from branching.escape import json_text
from branching.store.export import COLUMNS, ONE_QUERY
from branching.store.states import SNAPSHOT, StateReader, apply, diff

# -- the reference: the state rebuilt as it was before the fast path ---------------------


def _ref_item(value: Any) -> Any:
    if type(value) is str:
        return value
    if type(value) is list and all(type(x) is str for x in value):
        return tuple(value)
    return None


def ref_apply(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    new = dict(old)
    for key in patch.get("-", ()):
        new.pop(key, None)
    for key, value in patch.get("~", {}).items():
        new[key] = value
    for key, sub in patch.get(">", {}).items():
        base = new.get(key)
        new[key] = ref_apply(base if isinstance(base, dict) else {}, sub)
    plus, minus = patch.get("+", {}), patch.get("<", {})
    for key in {*plus, *minus}:
        base = new.get(key)
        keys = {_ref_item(v) for v in (base if isinstance(base, list) else [])}
        keys |= {_ref_item(v) for v in plus.get(key, ())}
        keys -= {_ref_item(v) for v in minus.get(key, ())}
        keys.discard(None)
        new[key] = [k if isinstance(k, str) else list(k) for k in sorted(keys)]
    return new


def ref_state(state: Any, seq: int, before: int | None, text: str | None) -> Any:
    try:
        stored = None if text is None else json.loads(text)
    except ValueError:
        stored = {}
    if isinstance(stored, dict) and len(stored) == 1 and SNAPSHOT in stored:
        whole = stored[SNAPSHOT]
        return whole if isinstance(whole, dict) else None
    if before is None or seq != before + 1:
        return None
    if isinstance(stored, dict) and state is not None:
        try:
            return ref_apply(state, stored)
        except (TypeError, AttributeError, ValueError):
            return None
    return None if stored is not None else state


def reference_export(path: Path) -> str:
    """Every line as `json_text` of the whole record, from the CLI's one query."""
    conn = sqlite3.connect(path)
    lines: list[str] = []
    state: Any = None
    last: tuple[Any, Any] = (None, None)  # (session, seq) of the row before
    try:
        for row in conn.execute(ONE_QUERY):
            session, seq, *event, text = row[:10]
            rest = list(row[10:])
            rest[-3] = None if rest[-3] is None else json.loads(rest[-3])  # attrs
            before = last[1] if last[0] == session else None
            state = None if seq is None else ref_state(state, seq, before, text)
            last = (session, seq)
            event_id = None if seq is None else f"{session}:{seq}"
            values = (event_id, session, seq, *event, state, *rest)
            lines.append(json_text(dict(zip(COLUMNS, values, strict=True)), compact=True) + "\n")
    finally:
        conn.close()
    return "".join(lines)


# -- the audience -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def audience(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("states") / "audience.db"
    result = CliRunner().invoke(
        cli,
        ["simulate", "signal", "--sessions", "120", "--viewers", "40", "--seed", "7",
         "--db", str(path), "--from", "2026-01-01", "--to", "2026-01-20"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(path)
    with conn:
        kinds = {r[0] for r in conn.execute("SELECT DISTINCT type FROM events")}
        assert {"rewind", "timeout_default", "choice_made"} <= kinds
        # a hole: the event before a patch is gone, so the state is unknown until a snapshot
        hole, seq = conn.execute(
            "SELECT session_id, seq FROM events WHERE state LIKE '{\"~\"%' AND seq > 8 "
            "ORDER BY session_id, seq LIMIT 1"
        ).fetchone()
        conn.execute("DELETE FROM events WHERE session_id = ? AND seq = ?", (hole, seq - 1))
        pruned = conn.execute("SELECT max(session_id) FROM sessions").fetchone()
        conn.execute("DELETE FROM events WHERE session_id = ?", pruned)
        conn.execute("INSERT INTO session_attrs VALUES (?, 'note', ?)", (hole, "caf\u00e9 \x1b[2J"))
    conn.close()
    return path


def test_the_export_is_the_plain_reading_byte_for_byte(audience: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        cli, ["export", "--db", str(audience), "--format", "jsonl", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    want = reference_export(audience)
    got = out.read_text(encoding="utf-8")
    assert got.splitlines() == want.splitlines()  # a readable first difference
    assert got == want
    states = [json.loads(line)["state"] for line in got.splitlines()]
    assert len({json.dumps(s) for s in states}) > 200  # many different states, not one
    assert states.count(None) > 1  # the hole and the pruned session: unknown, not guessed
    assert "\\u001b[2J" in got and "caf\u00e9" in got


# -- apply against the original -----------------------------------------------------------


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(9 if depth < 2 else 6)
    if pick == 0:
        return rng.randrange(-3, 4)
    if pick == 1:
        return rng.choice([0.0, 1.0, 2.5, True, False, None])
    if pick == 2:
        return rng.choice("abcde")
    if pick == 3:
        return sorted({rng.choice("abcdef") for _ in range(rng.randrange(5))})
    if pick == 4:
        return sorted({(rng.choice("ab"), rng.choice("xyz")) for _ in range(rng.randrange(5))})
    if pick == 5:
        return [rng.choice(["a", 1, ["b"], None]) for _ in range(rng.randrange(4))]
    return {rng.choice("pqrst"): _random_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))  # tuples become lists, as stored


def _odd_patch(rng: random.Random) -> Any:
    return rng.choice(
        [
            {"-": "pq"},
            {"~": ["p", 1]},
            {">": {"p": 3}},
            {"+": {"p": [1, "a", ["b", "c"], ["d", 2]]}},
            {"+": {"p": ["a", ["b"]]}},
            {"<": {"q": "ab"}, "+": {"q": ["z"]}},
            {"-": None},
            {"+": 5},
            {},
        ]
    )


def _outcome(fn: Any, old: Any, patch: Any) -> Any:
    try:
        return ("ok", json.dumps(fn(old, patch)))
    except (TypeError, AttributeError, ValueError) as err:
        return ("error", type(err).__name__)


def test_apply_is_the_original_apply_on_random_and_odd_patches() -> None:
    rng = random.Random(5)
    for _ in range(3000):
        old = _as_json({k: _random_value(rng) for k in rng.sample("pqrstu", rng.randrange(6))})
        new = _as_json({k: _random_value(rng) for k in rng.sample("pqrstu", rng.randrange(6))})
        patch = diff(old, new) or {}
        assert json.dumps(apply(old, patch), sort_keys=True) == json.dumps(new, sort_keys=True)
        for candidate in (patch, _odd_patch(rng)):
            assert _outcome(apply, old, candidate) == _outcome(ref_apply, old, candidate)
            # again from the list `apply` made, as the next event's patch starts from it
            made = apply(old, candidate) if _outcome(apply, old, candidate)[0] == "ok" else old
            again = _odd_patch(rng)
            assert _outcome(apply, made, again) == _outcome(ref_apply, made, again)


def test_a_sorted_list_changed_in_place_is_read_as_it_now_is() -> None:
    first = apply({"chosen": [["a", "x"]]}, {"+": {"chosen": [["b", "y"]]}})
    assert first == {"chosen": [["a", "x"], ["b", "y"]]}
    first["chosen"].append(["c", "z"])  # someone else's copy, changed after the fact
    after = apply(first, {"<": {"chosen": [["a", "x"]]}})
    assert after == {"chosen": [["b", "y"], ["c", "z"]]}


def test_the_reader_never_crashes_on_a_seq_that_is_not_a_number() -> None:
    reader = StateReader()
    assert reader.read_text(1, '{"=":{"a":1}}') == {"a": 1}
    assert reader.read_text("two", '{"~":{"a":2}}') is None  # type: ignore[arg-type]
    assert reader.read_text(3, None) is None  # unknown until a snapshot
    assert reader.read_text(4, '{"=":{"a":4}}') == {"a": 4}
