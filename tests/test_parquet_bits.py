"""The export's lists as bits (layout 5) and the viewers DuckDB counts from them.

`code_bits` puts code c in bit c % 64 of word c // 64 (int64, two's complement);
`parquet_viewers.viewer_codes` ORs each viewer's sessions' words and counts the
viewers of each code. Checked against a count by hand at the words' sign bits and
the cap, with each viewer's sessions spread over many rows.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from branching.store.digests import chars
from branching.store.parquet_bits import BITS_CODES, code_bits, listed_bits

duckdb = pytest.importorskip("duckdb")
pv = pytest.importorskip("branching.analytics.parquet_viewers")

EDGE = [0, 1, 62, 63, 64, 126, 127, 128, 191, 255, 4032, 4094, 4095]  # words' first and sign bits


class Sessions:
    """The engine `viewer_codes` asks: an in-memory `sessions` table of bit lists."""

    stored_bits = True

    def __init__(self, sessions: list[tuple[int, dict[str, set[int]]]]) -> None:
        self.con = duckdb.connect()
        self.sql: list[str] = []
        columns = ", ".join(f"{name}_bits BIGINT[]" for name in pv.LISTS)
        self.con.execute(f"CREATE TABLE sessions (viewer_id BIGINT, story_id VARCHAR, {columns})")
        for viewer, lists in sessions:
            words = [code_bits(chars(sorted(lists.get(n, ())))) for n in pv.LISTS]
            self.con.execute(
                "INSERT INTO sessions VALUES (?, 's', ?, ?, ?, ?, ?)", [viewer, *words]
            )

    def digest_lists(self) -> bool:
        return True

    def rows(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        self.sql.append(sql)
        return self.con.execute(sql, list(params)).fetchall()


def test_codes_at_a_word_s_sign_bit_and_past_the_cap() -> None:
    assert code_bits(chars([63])) == [-(1 << 63)]
    assert code_bits(chars([127])) == [0, -(1 << 63)]
    assert len(code_bits(chars([BITS_CODES - 1])) or []) == BITS_CODES // 64
    assert code_bits(chars([BITS_CODES])) is None  # the reader counts the text or the events
    assert listed_bits("[4096]") is None and listed_bits("[]") == [] and listed_bits(None) is None


@pytest.mark.parametrize("seed", range(4))
def test_each_code_s_viewers_are_counted_once_however_their_sessions_are_spread(seed: int) -> None:
    rnd = random.Random(seed)
    sessions = [
        (rnd.randrange(40), {n: set(rnd.sample(EDGE, rnd.randrange(4))) for n in pv.LISTS})
        for _ in range(200)
    ]
    sets = [[63], [127, 0], [4095], [64, 4032], []]  # tags: viewers who reached any of them
    got = pv.viewer_codes(Sessions(sessions), "s.story_id = ?", ["s"], sets, lists=pv.LISTS)
    assert got is not None
    unions: dict[str, dict[int, set[int]]] = {n: {} for n in pv.LISTS}
    for viewer, lists in sessions:
        for name in pv.LISTS:
            unions[name].setdefault(viewer, set()).update(lists[name])
    for name in pv.LISTS:
        want = Counter(code for codes in unions[name].values() for code in codes)
        assert dict(got.counted[name]) == dict(want), name
    reached = unions["reached"].values()
    assert got.sets == [sum(1 for codes in reached if codes & set(s)) for s in sets]


def test_the_query_has_as_many_words_as_the_chosen_sessions_lists() -> None:
    """The codes are numbered across every story of a database: a story whose codes are
    low gets one word a list, whatever codes the others took (and a tag of a code
    past every chosen list counts no viewer, rather than failing)."""
    engine = Sessions([(v, {n: {1, 5} for n in pv.LISTS}) for v in range(4)])
    got = pv.viewer_codes(engine, "true", [], [[4000], [5]], lists=pv.LISTS)
    assert got is not None and got.sets == [0, 4]
    assert {name: dict(c) for name, c in got.counted.items()} == {
        name: {1: 4, 5: 4} for name in pv.LISTS
    }
    assert engine.sql[-1].count("bit_or(") == len(pv.LISTS)  # one word each
