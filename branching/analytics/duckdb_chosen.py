"""DuckDB: each choice of sessions by a subquery worked out once per engine.

The portable queries choose their sessions by a subquery
(`filters.session_conditions`: `s.session_id IN (SELECT ...)`, a `--where`
over the attributes, `--first-only`'s numbering of every session of the
story), and a report asks for the same choice in query after query (the
overview, the chosen sessions in front of each pass): `--first-only` took
0.13-0.2 s of CPU a query at 180,000 sessions, a `--where` 0.07-0.13 (the
attributes joined to the session keys). The sessions and attributes never
change in an engine's life, so `ChosenOnce` fills a table of the engine's
in-memory database (which `DuckDbEngine.stream`'s cursor sees) the first
time a subquery with its parameters is met, and reads it from then on. A
subquery reading anything else (the events, a table of ours) or naming the
outer query's sessions (correlated) is left as it is.

Its own module: it is text surgery on the portable SQL, apart from how the
engine reads the export (`engines.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

CHOSEN_BY = "s.session_id IN ("  # a choice of sessions by a subquery
_READS = re.compile(r"\b(?:FROM|JOIN)\s+([a-z_]+)", re.I)  # the tables a subquery reads
_FIXED = frozenset({"sessions", "session_attrs"})  # ... that never change in an engine's life
_OUTER = re.compile(r"\bs\.")  # a subquery naming the outer query's sessions: correlated


class ChosenOnce:
    """Rewrites a query's choices of sessions to read the tables it filled (`__call__`).

    `con`: the engine's DuckDB connection; `translate`: the engine's own rewrite
    of a query (`DuckDbEngine._translate`), applied to a subquery before its table
    is filled (`--first-only` by the start as a timestamp)."""

    def __init__(self, con: Any, translate: Callable[[str], str]) -> None:
        self._con = con
        self._translate = translate
        self.tables: dict[tuple[str, str], str] = {}  # (subquery, its values) -> table

    def __call__(self, sql: str, params: Sequence[object]) -> tuple[str, list[object]]:
        """`sql` and its parameters with each choice of sessions by a subquery read from
        the table the first query to make that choice filled (the same rows)."""
        bound = list(params)
        at = sql.find(CHOSEN_BY)
        while at >= 0:
            opened = at + len(CHOSEN_BY)
            end = closing(sql, opened)
            sub = sql[opened:end] if end > 0 else ""
            if (
                not sub.startswith("SELECT ")
                or set(_READS.findall(sub)) - _FIXED
                or _OUTER.search(sub)
            ):
                at = sql.find(CHOSEN_BY, opened)
                continue
            first, marks = marks_in(sql, 0, at), marks_in(sub, 0, len(sub))
            values = bound[first : first + marks]
            key = (sub, repr(values))
            table = self.tables.get(key)
            if table is None:
                table = self.tables[key] = f"chosen_by_{len(self.tables) + 1}"
                sub = self._translate(sub)
                self._con.execute(f"CREATE OR REPLACE TABLE {table} AS {sub}", values)
            kept = f"SELECT session_id FROM {table}"
            sql = sql[:opened] + kept + sql[end:]
            del bound[first : first + marks]
            at = sql.find(CHOSEN_BY, opened + len(kept))
        return sql, bound


def marks_in(sql: str, start: int, end: int) -> int:
    """The parameter marks `?` in `sql[start:end]`, none inside a quoted literal."""
    count, quoted = 0, False
    for ch in sql[start:end]:
        if ch == "'":
            quoted = not quoted
        elif ch == "?" and not quoted:
            count += 1
    return count


def closing(sql: str, start: int) -> int:
    """Where the parenthesis opened just before `start` closes in `sql` (-1: never)."""
    depth = 1
    for i in range(start, len(sql)):
        if sql[i] == "(":
            depth += 1
        elif sql[i] == ")":
            depth -= 1
            if not depth:
                return i
    return -1
