"""A recorder for tests and benchmarks: what a player would have recorded, in memory.

`MemoryRecorder` keeps every call a player makes, as `(kind, fields)` tuples,
so a test can assert what would have been recorded without a database.
"""

from __future__ import annotations

from typing import Any

from branching.play.engine import Playthrough


class MemoryRecorder:
    """A `Recorder` that remembers instead of writing."""

    where: str | None = None

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.closed = 0

    def _add(self, kind: str, run: Playthrough, **fields: Any) -> None:
        self.calls.append((kind, {"state": run.state.to_dict(), **fields}))

    def started(self, run: Playthrough) -> None:
        self._add("started", run, scene=run.view.scene)

    def shown(self, run: Playthrough) -> None:
        self._add("shown", run, scene=run.view.scene)
        if run.view.ending is not None:
            self.ended(run)

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
        label: str | None = None,  # what the store keeps of it is tested with the store
    ) -> None:
        self._add(
            "chose",
            run,
            scene=scene,
            choice=choice,
            target=target,
            decide_ms=decide_ms,
            input=input,
            timeout=timeout,
        )

    def rewound(self, run: Playthrough, to_scene: str, *, input: str) -> None:
        self._add("rewound", run, scene=to_scene, input=input)

    def event(self, kind: str, run: Playthrough, **fields: Any) -> None:
        self._add(kind, run, **fields)

    def ended(self, run: Playthrough) -> None:
        self._add("ended", run, scene=run.view.scene)

    def quit(self, run: Playthrough) -> None:
        self._add("quit", run, scene=run.view.scene)

    def close(self) -> None:
        self.closed += 1

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]

    def last(self, kind: str) -> dict[str, Any]:
        for k, fields in reversed(self.calls):
            if k == kind:
                return dict(fields)
        raise AssertionError(f"nothing recorded as {kind!r}; got {self.kinds()}")
