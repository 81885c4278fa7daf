"""One frame per stop reached by the same step, so that a simulation's memos keep hitting.

The engine's step memo (`play.engine.Steps`) and the state texts' memo
(`texts.SimPatches`) are keyed by identity: the very same frame and state for
the same stop. A step that drew a `random` route is never kept (the draw
depends on the playthrough's seed), so every playthrough that passes one got
a frame of its own, equal in value to one that other playthroughs reached
already but a stranger to every memo: from there to its end, each step was
computed again and each state patch worked out and written out again. In
`signal` the coast road draws between two scenes early on, so most sessions
went on as strangers.

`FrameBook.canonical` hands back, for the frame a step reached, the first
frame the same step reached before: the same frame before it, the same choice,
and the same scenes entered on the way (which say what every draw gave). The
engine is deterministic but for its draws (`Steps` relies on it too), so that
is a frame of equal value, and the simulator puts it in the playthrough in
place of the new one: from then on the playthrough walks frames the memos
know. Equal values give equal rows, so the rows do not change; only the work
(with `texts.py`, one stream of `signal` alone: 20.7 -> 12.1 us of CPU per
event at 20,000 sessions). A test compares databases made with and without.
"""

from __future__ import annotations

from branching.play.engine import Frame


class FrameBook:
    """Frames by the step that reached them: the first one met, handed back for every
    later one.

    Entries hold their frames, so an id is never reused while it is a key; at
    `limit` entries nothing more is kept (bounded memory, the same frames).
    """

    __slots__ = ("_by_id", "_by_step", "limit")

    def __init__(self, limit: int = 200_000) -> None:
        self._by_id: dict[int, tuple[Frame, Frame]] = {}  # a frame met -> (it, its canon)
        # (the frame before, the choice, the scenes entered) -> (the frame before, canon)
        self._by_step: dict[tuple[int, str, tuple[str, ...]], tuple[Frame | None, Frame]] = {}
        self.limit = limit

    def canonical(self, before: Frame | None, choice: str, frame: Frame) -> Frame:
        """The first frame met that the step from `before` by `choice` reached by the same
        scenes as `frame` did (`frame` itself if none). `before` must be a frame this
        book handed back (or None for the start)."""
        hit = self._by_id.get(id(frame))
        if hit is not None and hit[0] is frame:
            return hit[1]
        key = (id(before), choice, tuple([p.scene for p in frame.passages]))
        known = self._by_step.get(key)
        if known is not None and known[0] is before:
            canon = known[1]
        else:
            canon = frame
            if len(self._by_step) < self.limit:
                self._by_step[key] = (before, frame)
        if len(self._by_id) < self.limit:
            self._by_id[id(frame)] = (frame, canon)
        return canon
