"""Session ids: time-ordered for new playthroughs, and the form `forget` keeps of them.

A new playthrough's id is a UUID version 7 (RFC 9562): 48 bits of Unix
milliseconds, then 74 random bits. The tables keyed by it (`events` by
session and sequence number, `session_digests`, the sessions' key) then take
a new playthrough at their end instead of anywhere in the middle: a key press
inserts its events into the last leaf of `events`, not into a full leaf of an
older session's events that must be split with its neighbours (issue 14:
pages per key press, see `bench_keypress`). Ids stay unique and unguessable
(74 random bits); older players' and simulations' ids (version 4) are kept.

An id that grows with time says when its playthrough started, which the
session row says anyway; but `forgotten_sessions` keeps the ids of the
playthroughs `forget` erased, and erasure must leave nothing dated. So that
table keeps a version 7 id with its time zeroed (`forgotten_key`: the random
bits still tell it apart), and every lookup in it masks the id it checks the
same way (`forgotten_key_sql` in SQL). Other ids are kept as they are.
"""

from __future__ import annotations

import secrets
import time
import uuid

_VERSION_7 = 7 << 76  # the version nibble, after the 48 bits of milliseconds
_VARIANT = 2 << 62  # RFC 9562's variant bits
_TIME_ZEROED = "00000000-0000"  # a version 7 id's 48 bits of time, as text, zeroed


def new_session_id() -> str:
    """A new playthrough's id: a UUID version 7, its text in time order."""
    ms = time.time_ns() // 1_000_000
    rand_a, rand_b = secrets.randbits(12), secrets.randbits(62)
    value = (ms & ((1 << 48) - 1)) << 80 | _VERSION_7 | rand_a << 64 | _VARIANT | rand_b
    return str(uuid.UUID(int=value))


def forgotten_key(session_id: str) -> str:
    """What `forgotten_sessions` keeps of `session_id`: a version 7 id (its text: 36
    characters, the 15th a 7) with its time zeroed, any other as it is."""
    if len(session_id) == 36 and session_id[14] == "7":
        return _TIME_ZEROED + session_id[13:]
    return session_id


def forgotten_key_sql(expr: str) -> str:
    """`forgotten_key` of the SQL text expression `expr`, in SQL."""
    return (
        f"(CASE WHEN length({expr}) = 36 AND substr({expr}, 15, 1) = '7' "
        f"THEN '{_TIME_ZEROED}' || substr({expr}, 14) ELSE {expr} END)"
    )
