"""The simulated clock, seeded ids, and the session handle that collects a session's ops.

A simulated session is recorded by the real `StoreRecorder` through a real
store `SessionWriter`; only what the writer is handed differs: the simulated
clock stamps its records, and instead of the writer thread a `collect`
callback appends each op to the session's list and resolves at once. The
session id is drawn from the audience's seeded generator. So the events are exactly
those a player records (types, order, fields, state), and the same seed gives
the same ids and times, byte for byte.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import uuid
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

from branching.store.clock import format_ts
from branching.store.ops import SPOOL_VERSION, Op
from branching.store.session import SessionWriter
from branching.store.states import Patches

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_DAYS: dict[int, str] = {}  # day number since 1970 -> "YYYY-MM-DD" (a simulation spans few days)


class SimClock:
    """Simulated UTC time in milliseconds, moved on by the simulator."""

    __slots__ = ("ms",)

    def __init__(self, moment: datetime) -> None:
        self.ms = int((moment - _EPOCH).total_seconds() * 1000)

    def advance(self, ms: int) -> None:
        self.ms += max(0, int(ms))

    def ts(self) -> str:
        """The time as the store writes it (`format_ts`), without a datetime per call."""
        day, ms = divmod(self.ms, 86_400_000)
        date = _DAYS.get(day)
        if date is None:
            date = format_ts(_EPOCH + timedelta(days=day))[:10]
            if day >= 0 and date[0] != "-" and len(_DAYS) < 100_000:
                _DAYS[day] = date
        seconds, milli = divmod(ms, 1000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        return f"{date}T{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}Z"


def seeded_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from `rng` (so a seed gives the same ids)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def simulated_viewer_id(seed: int, number: int) -> str:
    """A stable pseudonymous id for simulated viewer `number` of an audience seeded `seed`.

    Real viewer ids are keyed hashes under the database's viewer key; simulated
    viewers are nobody, so their key is derived from the seed instead: the same
    seed gives the same ids in any database.
    """
    key = hashlib.sha256(f"branching-simulate/{seed}".encode()).digest()
    return hmac.new(key, f"viewer-{number}".encode(), hashlib.sha256).hexdigest()


class _Collected(Future[bool]):
    """A future that is done from the start: a collected op waits for nothing
    (without the lock a real future takes on every `result()`)."""

    def result(self, timeout: float | None = None) -> bool:
        return True

    def done(self) -> bool:
        return True


_DONE: Future[bool] = _Collected()
_DONE.set_result(True)


class SimSession:
    """Collects one simulated session's ops, stamped by the clock and the seeded ids."""

    def __init__(
        self,
        rng: random.Random,
        clock: SimClock,
        *,
        story_id: str,
        content_hash: str,
        viewer_id: str,
        seed: int,
        attrs: dict[str, str],
        context: dict[str, Any],
        patches: Patches | None = None,
    ) -> None:
        self.rng = rng
        self.clock = clock
        self.ops: list[Op] = []
        ids = {
            "session_id": seeded_uuid(rng),
            "story_id": story_id,
            "content_hash": content_hash,
        }
        self.ops.append(
            {
                "v": SPOOL_VERSION,
                "op": "session",
                **ids,
                "viewer_id": viewer_id,
                "started_at": clock.ts(),
                "seed": seed,
                "attrs": dict(attrs),
                "context": dict(context),
                "simulated": True,
            }
        )
        self.writer = SessionWriter(
            self._collect, _nothing, ids, next_seq=1, clock=self._now, patches=patches
        )

    def _now(self) -> str:
        return self.clock.ts()

    def _collect(self, op: Op) -> Future[bool]:
        self.ops.append(op)
        return _DONE


def _nothing() -> None:
    """Nothing to flush: ops are collected, not queued."""
