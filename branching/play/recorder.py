"""What players tell the store: one call per thing a viewer did.

Players (plain and Textual) talk to a `Recorder`;
`branching.recording.StoreRecorder` turns those calls into store events with
the engine's state snapshot, and `NullRecorder` records nothing
(`--no-telemetry`). Keeping this seam here means the engine
never knows about telemetry and the store never knows about the engine.
`chose` is given the label as the viewer saw it (`label`, rendered), so a
label with interpolation is recorded the way it read. Each call returns once
the event is committed (or, while the database cannot be written, appended
and fsynced to the store's spool), so a player shows the next scene only
after the last step is on disk.
"""

from __future__ import annotations

from typing import Any, Protocol

from branching.play.engine import Playthrough


class Recorder(Protocol):
    def started(self, run: Playthrough) -> None: ...
    def shown(self, run: Playthrough) -> None: ...
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
    ) -> None: ...
    def rewound(self, run: Playthrough, to_scene: str, *, input: str) -> None: ...
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
        pass

    def rewound(self, run: Playthrough, to_scene: str, *, input: str) -> None:
        pass

    def event(self, kind: str, run: Playthrough, **fields: Any) -> None:
        pass

    def ended(self, run: Playthrough) -> None:
        pass

    def quit(self, run: Playthrough) -> None:
        pass

    def close(self) -> None:
        pass
