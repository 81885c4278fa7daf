"""Portable SQL pieces give the same answer on SQLite and DuckDB as their Python twins."""

from __future__ import annotations

import random
import sqlite3

import pytest

from branching.analytics.scan import decide_bucket
from branching.store.sketch import bucket

duckdb = pytest.importorskip("duckdb")


def test_the_time_to_decide_bucket_in_sql_is_the_sketchs() -> None:
    rng = random.Random(5)
    values = [-5, 0, 99, 100, 9_999, 10_000, 99_999, 100_000, 123_456_789]
    values += [rng.randint(0, 200_000) for _ in range(500)]
    sql = f"SELECT ms, {decide_bucket('ms')} FROM t ORDER BY ms"
    lite = sqlite3.connect(":memory:")
    lite.execute("CREATE TABLE t (ms INTEGER)")
    lite.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
    duck = duckdb.connect(":memory:")
    duck.execute(f"CREATE TABLE t AS SELECT unnest({values}::BIGINT[]) AS ms")
    expected = sorted((v, bucket(v)) for v in values)
    assert lite.execute(sql).fetchall() == expected
    assert duck.execute(sql).fetchall() == expected
