"""The flowchart by viewers over the Parquet export, from the digests' lists, on DuckDB.

SQLite counts the flowchart by viewers from each session's digest
(`flow_viewers.py`): the codes of the edges it walked and of the scenes it
was shown (`reached`), of those the clock chose (`clocked`), how many times
it was shown a scene (`views`), and how it ended; each viewer's codes are the
union of their sessions'. The export carries the same lists in its sessions
(`reached`, `clocked`, `views`, written with the aggregates: only when they
agree with the exported events, `store.parquet_aggregates`) and what the
codes stand for (`digest_names`), so DuckDB splits the chosen sessions'
lists (the same choice as the scan's, `filters.session_conditions`) and
counts the viewers of each code, each end and in all as bits of their
numbers, and `flow_viewers`' own tally, filled with those counts, decodes
and orders them: the same figures as SQLite's, where the scan joins 4.7
million events to their sessions at ten million.

None (the caller scans the events) for an export without the lists, or with
a chosen session that has none.

`stats` by viewers counts the same way from the lists as bits (layout 5:
`reached_bits`, `clocked_bits`, `store.parquet_bits.code_bits`): each viewer's
union is an OR of their sessions' words, grouped by viewer, and each word is
cut into bytes that are counted by value (`viewer_codes`), so no list is
split into its codes (0.1-0.2 s of CPU at ten million events where the split
took 0.6-0.8 and the events' two passes 1.2-1.4).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from branching.analytics.engines import DuckDbEngine
from branching.analytics.filters import Filters, session_conditions
from branching.analytics.flow_viewers import ViewerUnions
from branching.analytics.graph import Counts
from branching.analytics.source import Version
from branching.store.digests import chars
from branching.store.parquet_bits import BITS_LISTS, WORD_BITS


def viewer_counts_exported(
    engine: DuckDbEngine, story_id: str, chosen: list[Version], filters: Filters
) -> Counts | None:
    """The flowchart's counts by viewers from the export's digests' lists, or None."""
    if not engine.digest_lists():
        return None
    cond, params = session_conditions(story_id, chosen, filters)
    tally = _counted(engine, cond, params)
    if tally is None:
        return None
    book = digest_book(engine)
    try:
        return tally.counts(book)
    finally:
        book.close()


def digest_book(engine: DuckDbEngine) -> sqlite3.Connection:
    """The export's `digest_names` in an in-memory SQLite table, as the store's readers
    of the names (`digests.names`, `edge_names`) decode them; the caller closes it."""
    book = sqlite3.connect(":memory:")
    book.execute("CREATE TABLE digest_names (code INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    book.executemany(
        "INSERT INTO digest_names VALUES (?, ?)", engine.rows("SELECT code, name FROM digest_names")
    )
    return book


# DuckDB: the viewers per code as bits of their numbers (`_bitmaps` makes each distinct
# count one), each session's lists split into characters (an export without the lists
# as bits: `_CODES`); then per end, then the totals (`_ENDS`)
_CHOSEN = """WITH chosen AS (SELECT s.viewer_id, s.outcome, s.ending_id, s.last_scene, s.views,
       s.reached, s.clocked FROM sessions s WHERE {cond})"""
_CODES = """,
codes AS (SELECT 'r' AS kind, unnest(string_split(reached, '')) AS code, viewer_id FROM chosen
    UNION ALL
    SELECT 'c', unnest(string_split(clocked, '')), viewer_id FROM chosen)
SELECT kind, code, COUNT(DISTINCT c.viewer_id), 0, 0, 0 FROM codes c GROUP BY 1, 2
UNION ALL"""
_ENDS = """
SELECT 'e', CASE WHEN outcome = 'ending' THEN '+' || COALESCE(ending_id, chr(0))
       WHEN last_scene IS NOT NULL THEN '-' || last_scene END,
       COUNT(DISTINCT c.viewer_id), 0, 0, 0 FROM chosen c GROUP BY 1, 2
UNION ALL
SELECT 't', NULL, COUNT(DISTINCT c.viewer_id), COUNT(*), COALESCE(SUM(views), 0),
       COUNT(*) FILTER (WHERE reached IS NULL OR clocked IS NULL OR views IS NULL
                        OR viewer_id IS NULL)
FROM chosen c
UNION ALL
SELECT 'd', NULL, COUNT(DISTINCT c.viewer_id), 0, 0, 0 FROM chosen c WHERE outcome = 'ending'"""


def _counted(engine: DuckDbEngine, cond: str, params: list[object]) -> ViewerUnions | None:
    """`flow_viewers`' tally of the chosen sessions' lists, counted by DuckDB (one query:
    0.5 s of CPU where reading 180,000 sessions into Python took 1.4 at ten million
    events; from the lists as bits, `viewer_codes`, and a query of the ends and totals:
    0.2 s); None when a chosen session has no lists (or no viewer, which the tally
    counts as one viewer and a distinct count does not)."""
    tally = ViewerUnions()
    coded = viewer_codes(engine, cond, params) if engine.stored_bits else None
    if coded is not None:
        for name, found in (("reached", tally.reached), ("clocked", tally.clocked)):
            found.update({chars([code]): n for code, n in coded.counted[name].items()})
    sql = _CHOSEN + ("" if coded is not None else _CODES) + _ENDS
    for kind, code, n, sessions, views, missing in engine.rows(sql.format(cond=cond), [*params]):
        if kind == "r":
            tally.reached[code] = int(n)
        elif kind == "c":
            tally.clocked[code] = int(n)
        elif kind == "e":
            tally.ends[code] = int(n)
        elif kind == "d":
            tally.completed = int(n)
        else:
            if missing:
                return None
            tally.viewers, tally.sessions, tally.views = int(n), int(sessions), int(views)
    return tally


BYTE_BITS = 8
WORD_BYTES = WORD_BITS // BYTE_BITS  # an int64 word of `code_bits`
LISTS = BITS_LISTS  # the sessions' lists as bits


@dataclass(frozen=True, slots=True)
class ViewerCodes:
    """`viewer_codes`' answer: per list, code -> viewers; the viewers of each set."""

    counted: dict[str, Counter[int]]  # list (`LISTS`) -> code -> viewers whose lists hold it
    sets: list[int]  # viewers whose `reached` holds a code of each set asked for


def viewer_codes(
    engine: DuckDbEngine,
    cond: str,
    params: list[object],
    sets: Sequence[Collection[int]] = (),
    *,
    lists: Sequence[str] = ("reached", "clocked"),
) -> ViewerCodes | None:
    """code -> viewers of the chosen sessions (`filters.session_conditions`' `cond`)
    whose lists hold it, for each of `lists` (of `LISTS`), each viewer once per code,
    and for each of `sets` the viewers whose `reached` holds any of its codes (the
    tags), from the sessions' bits (layout 5); None without them, or when a chosen
    session has no lists or no viewer (the digests' tally would count it as one viewer).

    DuckDB ORs each viewer's sessions' words (one read of the sessions) and counts,
    per byte of a word (a lane), the viewers with each byte value; the bits of each
    value then add those viewers to its codes: a few hundred rows back, where listing
    each viewer's codes is millions."""
    if not engine.stored_bits or not engine.digest_lists():
        return None
    ored = [*lists, *(["reached"] if sets and "reached" not in lists else [])]
    # as many words as the chosen sessions' longest list of each kind: the codes are
    # numbered across every story of the database, so its highest code says nothing
    # of this story's (R6: a story's query grew with the others' names)
    longest = ", ".join(f"COALESCE(MAX(len(s.{name}_bits)), 0)" for name in ored)
    found = engine.rows(f"SELECT {longest} FROM sessions s WHERE {cond}", list(params))[0]
    words = {name: int(n) for name, n in zip(ored, found, strict=True)}
    unions = (
        ", ".join(
            f"bit_or(s.{name}_bits[{i + 1}]) AS {name}{i}"
            for name in ored
            for i in range(words[name])
        )
        or "0 AS nothing"
    )
    lanes = [
        f"({name}{i} >> {BYTE_BITS * j}) & 255"
        for name in lists
        for i in range(words[name])
        for j in range(WORD_BYTES)
    ]
    absent = " OR ".join(f"s.{name}_bits IS NULL" for name in LISTS)
    sql = f"""WITH w AS (SELECT {unions}, COUNT(*) FILTER (WHERE {absent}
        OR s.viewer_id IS NULL) AS missing
    FROM sessions s WHERE {cond} GROUP BY s.viewer_id)
"""
    missing = len(lanes)  # the lane of the viewers with a session without its lists
    if lanes:
        sql += f"""SELECT lane, v, COUNT(*) FROM (SELECT unnest(range({missing + 1})) AS lane,
    unnest([{", ".join(lanes)}, missing]) AS v FROM w) WHERE v <> 0 GROUP BY 1, 2"""
    else:
        sql += f"SELECT {missing}, SUM(missing), 0 FROM w HAVING SUM(missing) > 0"
    held_words = words.get("reached", 0)
    for k, held in enumerate(sets):  # a code past every chosen list is held by none
        some = _any_bit([code for code in held if code // WORD_BITS < held_words])
        sql += f"\nUNION ALL SELECT {-1 - k}, 0, COUNT(*) FILTER (WHERE {some}) FROM w"
    counted: dict[str, Counter[int]] = {name: Counter() for name in lists}
    hits = [0] * len(sets)
    starts: list[
        tuple[int, str]
    ] = []  # (first lane, list): each list's lanes, one list after another
    for name in lists:
        starts.append((starts[-1][0] + words[starts[-1][1]] * WORD_BYTES if starts else 0, name))
    for lane, value, n in engine.rows(sql, list(params)):
        if lane < 0:
            hits[-1 - lane] = int(n)
            continue
        if lane == missing:
            return None
        start, name = next((a, b) for a, b in reversed(starts) if a <= lane)
        codes = counted[name]
        first = (lane - start) * BYTE_BITS
        for bit in range(BYTE_BITS):
            if value >> bit & 1:
                codes[first + bit] += int(n)
    return ViewerCodes(counted, hits)


def _any_bit(codes: Collection[int]) -> str:
    """The condition over a viewer's `reached` words (`viewer_codes`' `reached0`,
    `reached1`...) that one of `codes` is set."""
    masks: dict[int, int] = {}
    for code in codes:
        masks[code // WORD_BITS] = masks.get(code // WORD_BITS, 0) | 1 << code % WORD_BITS
    signed = {i: m - (1 << WORD_BITS) if m >> (WORD_BITS - 1) else m for i, m in masks.items()}
    return " OR ".join(f"(reached{i} & {m}) <> 0" for i, m in sorted(signed.items())) or "false"
