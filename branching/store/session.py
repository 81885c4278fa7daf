"""One playthrough's handle: numbers its events and hands them to the writer.

A `SessionWriter` is cheap and never touches SQLite itself: `record()`
validates the event, stamps it (UUID, sequence number, UTC time with
milliseconds) on the caller's thread, and queues it; the future it returns
resolves True once the event is committed, False once it is kept on disk in
the spool beside the database because the database cannot be written now
(see `writer.py`): either way it is on disk.

The state given with each event is stored small (`states.py`): the writer
keeps the last one and hands on only what changed, so a session's first
event (and a resumed session's first event) holds a snapshot. Players wait on that future in a
worker before showing the next scene, never on the UI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from branching.store.clock import now_ts
from branching.store.errors import InvalidInput, StoreError
from branching.store.ops import OUTCOMES, SPOOL_VERSION, Op, event_op
from branching.store.states import Patches, StateChain

Submit = Callable[[Op], "Future[bool]"]
SubmitGroup = Callable[[list[tuple[Op, "Future[bool]"]]], None]


class SessionWriter:
    """Appends the events of one session, in order."""

    def __init__(
        self,
        submit: Submit,
        spill: Callable[[], None],
        ids: dict[str, Any],
        next_seq: int,
        clock: Callable[[], str] = now_ts,
        patches: Patches | None = None,
        submit_group: SubmitGroup | None = None,
    ) -> None:
        """`clock` stamps each record (a simulator passes its simulated clock, and
        `patches` to share state texts between its sessions); `submit_group`
        commits a group of ops in one transaction (without it, one by one)."""
        self._submit = submit
        self._submit_group = submit_group
        self._group: list[tuple[Op, Future[bool]]] | None = None
        self._clock = clock
        self._spill = spill
        self._ids = ids
        self._seq = next_seq
        self._lock = threading.Lock()
        self._closed = False
        self._chain = StateChain(patches=patches)

    @property
    def session_id(self) -> str:
        """The session's UUID (also the key for `Store.resume_session`)."""
        return str(self._ids["session_id"])

    @property
    def story_id(self) -> str:
        """The story this session plays."""
        return str(self._ids["story_id"])

    @property
    def content_hash(self) -> str:
        """The story version (content hash) this session plays."""
        return str(self._ids["content_hash"])

    def record(
        self,
        type: str,  # the API's name for the event type
        *,
        scene: str | None = None,
        choice: str | None = None,
        target: str | None = None,
        decide_ms: int | None = None,
        input: str | None = None,  # the API's name for the input device
        state: dict[str, Any] | None = None,
        label: str | None = None,  # a choice's label as seen, where it differs from the story's
    ) -> Future[bool]:
        """Queue one event; the future is True when committed, False when spooled.

        `state` is the whole state after the event (the engine's
        `State.to_dict()`, or any JSON object); only what changed since the
        previous event is stored. Raises InvalidInput at once for an unknown
        type or input, a choice event without its scene or choice, or a state
        that is not a JSON object.
        """
        fields = {
            "scene": scene,
            "choice": choice,
            "target": target,
            "decide_ms": decide_ms,
            "input": input,
            "state": state,
            "label": label,
        }
        with self._lock:
            self._check_open()
            op = event_op(self._ids, self._seq, self._clock(), type, fields, self._chain)
            self._seq += 1
            return self._queue(op)

    def begin_group(self) -> None:
        """Hold the records from here to `end_group` and commit them in one transaction.

        Their futures resolve only after `end_group`: never wait on one before.
        """
        with self._lock:
            self._check_open()
            if self._group is None:
                self._group = []

    def end_group(self) -> None:
        """Queue the held records together (nothing when no group is open)."""
        with self._lock:  # queued under the lock: nothing of this session can come between
            group, self._group = self._group, None
            if not group:
                return
            if self._submit_group is not None:
                self._submit_group(group)
                return
            for op, future in group:  # no group commit here: one by one, each future follows
                _follow(self._submit(op), future)

    def _queue(self, op: Op) -> Future[bool]:
        if self._group is None:
            return self._submit(op)
        future: Future[bool] = Future()
        self._group.append((op, future))
        return future

    def finish(
        self, outcome: str, *, ending: str | None = None, ending_kind: str | None = None
    ) -> Future[bool]:
        """Mark the session finished: `ending` (with its id and kind), abandoned, stuck or quit."""
        if outcome not in OUTCOMES:
            raise InvalidInput(f"unknown outcome {outcome!r}; known: {', '.join(sorted(OUTCOMES))}")
        if outcome == "ending" and not ending:
            raise InvalidInput("an 'ending' outcome needs the ending's scene id")
        with self._lock:
            self._check_open()
            return self._queue(
                {
                    "v": SPOOL_VERSION,
                    "op": "finish",
                    "session_id": self.session_id,
                    "outcome": outcome,
                    "ending_id": ending,
                    "ending_kind": ending_kind,
                    "ended_at": self._clock(),
                }
            )

    def close(self) -> None:
        """Wait until this session's events are committed or spooled (on disk either way)."""
        self.end_group()
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._spill()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"session {self.session_id} is closed; resume it to record more")

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _follow(source: Future[bool], target: Future[bool]) -> None:
    """Resolve `target` as `source` resolves."""

    def done(f: Future[bool]) -> None:
        error = f.exception()
        if error is not None:
            target.set_exception(error)
        else:
            target.set_result(f.result())

    source.add_done_callback(done)
