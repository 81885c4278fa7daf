"""One playthrough's handle: numbers its events and hands them to the writer.

A `SessionWriter` is cheap and never touches SQLite itself: `record()`
validates the event, stamps it (UUID, sequence number, UTC time with
milliseconds) on the caller's thread, and queues it; the future it returns
resolves True once the event is committed, False once it is kept on disk in
the spool beside the database because the database cannot be written now
(see `writer.py`): either way it is on disk. Records held in a group
(`begin_group` .. `end_group`: one key press) are committed in one
transaction and share one future, resolved once all of them are on disk.

The state given with each event is stored small (`states.py`): the writer
keeps the last one and hands on only what changed, so a session's first
event (and a resumed session's first event) holds a snapshot. Players wait on that future in a
worker before showing the next scene, never on the UI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from typing import Any

from branching.store.clock import now_ts
from branching.store.errors import InvalidInput, StoreError
from branching.store.ops import OUTCOMES, SPOOL_VERSION, Op, event_op
from branching.store.states import Patches, StateChain, StateWriting

Submit = Callable[[Op], "Future[bool]"]
SubmitGroup = Callable[[list[Op], "Future[bool]"], None]


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
        self._group: list[Op] | None = None  # the records held, in a group
        self._group_done: Future[bool] = Future()  # what every record of the group returns
        self._clock = clock
        self._spill = spill
        self._ids = ids
        self._seq = next_seq
        self._lock = threading.Lock()
        self._closed = False
        self._chain = StateChain(patches=patches)

    def use_texts(self, texts: StateWriting, kind: type) -> None:
        """Take states of `kind` from here on, their stored texts written by `texts`
        (the player's recorder hands on the engine's states: `recording.py`). The
        next state is a snapshot, as at a session's start."""
        with self._lock:
            self._chain = StateChain(patches=texts, kind=kind)

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
        state: Any = None,
        label: str | None = None,  # a choice's label as seen, where it differs from the story's
    ) -> Future[bool]:
        """Queue one event; the future is True when committed, False when spooled.

        `state` is the whole state after the event (the engine's
        `State.to_dict()`, or any JSON object; what `use_texts` said, if
        called); only what changed since the previous event is stored.
        Raises InvalidInput at once for an unknown type or input, a choice
        event without its scene or choice, or a state that is not a JSON
        object (or not what `use_texts` said).
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

        Every record of the group returns the group's one future, which
        resolves only after `end_group`, once all of them are on disk: True
        when all were committed, False when any was kept in the spool instead
        (the group's transaction failed and they went one by one), raising
        when a bug met any of them. Never wait on it before `end_group`.
        """
        with self._lock:
            self._check_open()
            if self._group is None:
                self._group = []
                self._group_done = Future()

    def end_group(self) -> None:
        """Queue the held records together (nothing when no group is open)."""
        with self._lock:  # queued under the lock: nothing of this session can come between
            group, self._group = self._group, None
            if not group:
                return
            if self._submit_group is not None:
                self._submit_group(group, self._group_done)
                return
            futures = [self._submit(op) for op in group]  # no group commit: one by one
            all_of(futures, self._group_done)

    def _queue(self, op: Op) -> Future[bool]:
        if self._group is None:
            return self._submit(op)
        self._group.append(op)
        return self._group_done

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


def all_of(futures: list[Future[bool]], target: Future[bool]) -> None:
    """Resolve `target` once every one of `futures` has: the first error met, else
    True when all are True (committed), else False (some kept on disk instead)."""
    if not futures:
        settle(target, True)
        return
    left = [len(futures)]
    lock = threading.Lock()

    def done(_: Future[bool]) -> None:
        with lock:
            left[0] -= 1
            if left[0]:
                return
        errors = [e for e in (f.exception() for f in futures) if e is not None]
        settle(target, errors[0] if errors else all(f.result() for f in futures))

    for future in futures:
        future.add_done_callback(done)


def settle(future: Future[bool], outcome: bool | BaseException) -> None:
    """Resolve `future` with `outcome` (an exception is raised by its `result()`),
    unless its caller cancelled it."""
    try:
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
    except InvalidStateError:
        pass  # cancelled: the records are written all the same
