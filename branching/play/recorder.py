"""What players tell the store: one call per thing a viewer did.

Players (plain and Textual) talk to a `Recorder`; `StoreRecorder` turns those
calls into store events with the engine's state snapshot, and `NullRecorder`
records nothing (`--no-telemetry`). Keeping this seam here means the engine
never knows about telemetry and the store never knows about the engine.
Each call returns once the event is committed (or safely queued for retry by
the store), so a player shows the next scene only after the last step is kept.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from branching.play.engine import Playthrough, View


class Recorder(Protocol):
    def started(self, run: Playthrough) -> None: ...
    def shown(self, run: Playthrough) -> None: ...
    def chose(self, run: Playthrough, scene: str, choice: str, target: str, *,
              decide_ms: int | None, input: str, timeout: bool = False) -> None: ...  # noqa: A002
    def rewound(self, run: Playthrough, to_scene: str, *, input: str) -> None: ...  # noqa: A002
    def event(self, kind: str, run: Playthrough, **fields: Any) -> None: ...
    def ended(self, run: Playthrough) -> None: ...
    def quit(self, run: Playthrough) -> None: ...
    def close(self) -> None: ...


class NullRecorder:
    """Records nothing: the viewer opted out."""

    where: str | None = None

    def started(self, run: Playthrough) -> None:
        pass

    def shown(self, run: Playthrough) -> None:
        pass

    def chose(self, run: Playthrough, scene: str, choice: str, target: str, *,
              decide_ms: int | None, input: str, timeout: bool = False) -> None:  # noqa: A002
        pass

    def rewound(self, run: Playthrough, to_scene: str, *, input: str) -> None:  # noqa: A002
        pass

    def event(self, kind: str, run: Playthrough, **fields: Any) -> None:
        pass

    def ended(self, run: Playthrough) -> None:
        pass

    def quit(self, run: Playthrough) -> None:
        pass

    def close(self) -> None:
        pass


class StoreRecorder:
    """Records a playthrough through a store `SessionWriter`."""

    def __init__(self, session: Any, where: str | None = None) -> None:
        self.session = session
        self.where = where

    def _put(self, kind: str, run: Playthrough, **fields: Any) -> None:
        state = run.state.to_dict()
        self.session.record(kind, state=state, **fields).result()

    def started(self, run: Playthrough) -> None:
        self._put("session_started", run, scene=run.view.scene)
        self.shown(run)

    def shown(self, run: Playthrough) -> None:
        view = run.view
        passages = view.passages
        for here, there in zip(passages, passages[1:], strict=False):  # `next`/`random` steps
            self._put("scene_shown", run, scene=here.scene)
            self._put("route_taken", run, scene=here.scene, target=there.scene)
        self._put("scene_shown", run, scene=view.scene)
        if view.ending is not None:
            self.ended(run)
        elif view.stuck is not None:
            self._put("stuck", run, scene=view.scene)
            self.session.finish("stuck")

    def chose(self, run: Playthrough, scene: str, choice: str, target: str, *,
              decide_ms: int | None, input: str, timeout: bool = False) -> None:  # noqa: A002
        kind = "timeout_default" if timeout else "choice_made"
        self._put(kind, run, scene=scene, choice=choice, target=target,
                  decide_ms=decide_ms, input=input)

    def rewound(self, run: Playthrough, to_scene: str, *, input: str) -> None:  # noqa: A002
        self._put("rewind", run, scene=to_scene, input=input)

    def event(self, kind: str, run: Playthrough, **fields: Any) -> None:
        self._put(kind, run, **fields)

    def ended(self, run: Playthrough) -> None:
        view: View = run.view
        assert view.ending is not None
        self._put("ending_reached", run, scene=view.scene)
        self.session.finish("ending", ending=view.scene, ending_kind=view.ending.kind)

    def quit(self, run: Playthrough) -> None:
        self._put("quit", run, scene=run.view.scene)

    def close(self) -> None:
        self.session.close()


class Clock:
    """Milliseconds since the choices were shown: the viewer's time to decide."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def reset(self) -> None:
        self.started = time.monotonic()

    def ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)
