"""The simulated clock, seeded ids, and the session that records a simulated playthrough.

A simulated session records exactly what a player's `StoreRecorder` records
through its `SessionWriter` (the same events, in the same order, with the
same fields and state texts, the ops `ops.event_op` builds and the texts
`states.StateChain` writes), stamped by the simulated clock, with the
session id drawn from the audience's seeded generator; so the same seed gives
the same ids and times, byte for byte. It does so without what a live player
needs and a simulation does not: no lock, no futures, no key press groups, no
writer thread, and each event's fields handed on as arguments. The player's
path cost a simulation worker about a quarter of its CPU (32 -> 24 us per
op at 3,000 sessions of `signal`). The op is built directly (the simulator
sends known kinds and inputs only), and the state texts come from the
engine's states without their dict form (`texts.SimChain`). A test drives
this session and the store's recorder with the same calls and compares
every op (tests/test_simulate_recorder.py).

In a simulation's workers a session is `prepared`: its events go straight
into its `bulk.SessionUnit` as `events` rows, with no op dict in between
(what `bulk.prepare` would make of its ops, which a test checks); the unit
gives the ops back when the writer needs them (`SessionUnit.ops`).
"""

from __future__ import annotations

import hashlib
import hmac
import random
import uuid
from datetime import UTC, datetime
from typing import Any

from branching.play.engine import Playthrough
from branching.recording import label_to_record
from branching.simulate.texts import SimChain, SimPatches
from branching.store.bulk import SessionUnit
from branching.store.clock import ms_ts
from branching.store.errors import InvalidInput
from branching.store.ops import MAX_LABEL, SPOOL_VERSION, Op

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SimClock:
    """Simulated UTC time in milliseconds, moved on by the simulator."""

    __slots__ = ("ms", "_last")

    def __init__(self, moment: datetime) -> None:
        self.ms = int((moment - _EPOCH).total_seconds() * 1000)
        self._last = (-1, "")  # the last time written out: a step's events share it

    def advance(self, ms: int) -> None:
        self.ms += max(0, int(ms))

    def ts(self) -> str:
        """The time as the store writes it (`format_ts`), without a datetime per call."""
        last = self._last
        if last[0] == self.ms:
            return last[1]
        text = ms_ts(self.ms)
        self._last = (self.ms, text)
        return text


def seeded_uuid(rng: random.Random, salt: int = 0) -> str:
    """A version-4 UUID drawn from `rng` (so a seed gives the same ids), mixed with `salt`."""
    return str(uuid.UUID(int=rng.getrandbits(128) ^ salt, version=4))


def simulated_viewer_id(seed: int, number: int) -> str:
    """A stable pseudonymous id for simulated viewer `number` of an audience seeded `seed`.

    Real viewer ids are keyed hashes under the database's viewer key; simulated
    viewers are nobody, so their key is derived from the seed instead: the same
    seed gives the same ids in any database.
    """
    key = hashlib.sha256(f"branching-simulate/{seed}".encode()).digest()
    return hmac.new(key, f"viewer-{number}".encode(), hashlib.sha256).hexdigest()


class SimSession:
    """One simulated session: its ops, recorded as a player's `StoreRecorder` records them.

    It is the simulator's `play.recorder.Recorder` (`started`, `shown`,
    `chose`, ...) and its session writer at once: each call appends the store
    ops the recorder would send through its `SessionWriter`, numbered in
    order, stamped by `clock`, with the state of `run` as `steps` gives it
    (the very same dict for the same state) stored small by the session's
    `StateChain` (sharing its texts with other sessions through `patches`).
    """

    __slots__ = ("clock", "ops", "unit", "_ids", "_sid", "_seq", "_chain")

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
        patches: SimPatches,
        prepared: bool = False,
        salt: int = 0,
    ) -> None:
        self.clock = clock
        self._ids = {
            "session_id": seeded_uuid(rng, salt),  # `salt`: the audience's fingerprint
            "story_id": story_id,
            "content_hash": content_hash,
        }
        self._sid: str = self._ids["session_id"]
        op: Op = {
            "v": SPOOL_VERSION,
            "op": "session",
            **self._ids,
            "viewer_id": viewer_id,
            "started_at": clock.ts(),
            "seed": seed,
            "attrs": dict(attrs),
            "context": dict(context),
            "simulated": True,
        }
        # `prepared`: its events go straight into its unit as rows (`bulk.prepare` of its
        # ops, without the op dicts); its finish too, until it is `detach`ed
        self.unit = SessionUnit.made(op) if prepared else None
        self.ops: list[Op | SessionUnit] = [op if self.unit is None else self.unit]
        self._seq = 1
        self._chain = SimChain(patches)

    @property
    def session_id(self) -> str:
        return str(self._ids["session_id"])

    def _put(
        self,
        kind: str,
        run: Playthrough,
        scene: str | None = None,
        choice: str | None = None,
        target: str | None = None,
        decide_ms: int | None = None,
        input: str | None = None,
        label: str | None = None,
    ) -> None:
        """One event of `kind` (fields as `SessionWriter.record` takes them), state of `run`.

        The op `ops.event_op` makes of them, built here directly: the simulator
        calls with known event kinds and inputs only (a label is checked in `chose`).
        The fields come as arguments, not a dict (a tenth of a worker's time went
        on building and reading them).
        """
        try:
            text = self._chain.text(run.frames[-1].state)
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidInput(f"the state cannot be recorded as JSON: {exc}") from None
        seq = self._seq
        self._seq = seq + 1
        if self.unit is not None:
            self.unit.row_event(
                [
                    self._sid,
                    seq,
                    self.clock.ts(),
                    kind,
                    scene,
                    choice,
                    target,
                    decide_ms,
                    input,
                    text,
                    label,
                ]
            )
            return
        ids = self._ids
        self.ops.append(
            {
                "v": SPOOL_VERSION,
                "op": "event",
                "session_id": ids["session_id"],
                "story_id": ids["story_id"],
                "content_hash": ids["content_hash"],
                "seq": seq,
                "ts": self.clock.ts(),
                "type": kind,
                "scene": scene,
                "choice": choice,
                "target": target,
                "decide_ms": decide_ms,
                "input": input,
                "label": label,
                "state": text,
            }
        )

    def finish(
        self, outcome: str, *, ending: str | None = None, ending_kind: str | None = None
    ) -> None:
        """The session finished (`SessionWriter.finish`): an ending, abandoned or stuck."""
        op: Op = {
            "v": SPOOL_VERSION,
            "op": "finish",
            "session_id": self._ids["session_id"],
            "outcome": outcome,
            "ending_id": ending,
            "ending_kind": ending_kind,
            "ended_at": self.clock.ts(),
        }
        if self.unit is None or not self.unit.take(op):
            self.ops.append(op)

    def detach(self) -> None:
        """What it records from now on are ops of their own, its unit (if any) gone on:
        a viewer's earlier session finished during a later one."""
        self.unit = None

    # -- the player's calls (`play.recorder.Recorder`, as `recording.StoreRecorder`) ---------

    def started(self, run: Playthrough) -> None:
        self._put("session_started", run, run.view.scene)
        self.shown(run)

    def shown(self, run: Playthrough) -> None:
        view = run.view
        passages = view.passages
        for here, there in zip(passages, passages[1:], strict=False):  # `next`/`random` steps
            self._put("scene_shown", run, here.scene)
            self._put("route_taken", run, here.scene, target=there.scene)
        self._put("scene_shown", run, view.scene)
        if view.ending is not None:
            self.ended(run)
        elif view.stuck is not None:
            self._put("stuck", run, view.scene)
            self.finish("stuck")

    def chose(
        self,
        run: Playthrough,
        scene: str,
        choice: str,
        target: str,
        *,
        decide_ms: int | None,
        input: str,
        timeout: bool = False,
        label: str | None = None,
    ) -> None:
        label = label_to_record(run, scene, choice, label)  # the player's rule
        if label is not None and not 0 < len(label) <= MAX_LABEL:  # as `ops.event_op` checks
            raise InvalidInput(
                f"a label (1 to {MAX_LABEL} characters) goes only with a choice event"
            )
        self._put(
            "timeout_default" if timeout else "choice_made",
            run,
            scene,
            choice,
            target,
            decide_ms,
            input,
            label,
        )

    def rewound(self, run: Playthrough, to_scene: str, *, input: str) -> None:
        self._put("rewind", run, to_scene, input=input)

    def event(self, kind: str, run: Playthrough, **fields: Any) -> None:
        self._put(kind, run, **fields)

    def ended(self, run: Playthrough) -> None:
        view = run.view
        assert view.ending is not None
        self._put("ending_reached", run, view.scene)
        self.finish("ending", ending=view.scene, ending_kind=view.ending.kind)

    def quit(self, run: Playthrough) -> None:
        self._put("quit", run, run.view.scene)

    def close(self) -> None:
        """Nothing to wait for: the ops are collected, not written."""
