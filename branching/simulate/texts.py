"""The stored state texts of simulated events, worked out from the engine's states directly.

The store's own chain turns each event's state into what is stored through
`store.states.StateChain`: the state as a dict (`State.to_dict`, which sorts
the chosen pairs into lists), then the generic `states.diff` between two such
dicts (which must find out again that the chosen list is a sorted set, item
by item), then `json.dumps`. That was a third of a simulation worker's time.
Here the same texts come from the engine's `State` objects, as a player's
recorder writes them (`store/engine_texts.py`: `state_patch`: the variables and visits diffed
as the dicts they are, by `states.diff`'s rules, the chosen pairs as the
frozensets they are; the JSON by one encoder made once, `json_text`).
`SimChain` follows `StateChain`'s rules to the letter (a
snapshot first, then patches, a snapshot every `CHECKPOINT_EVENTS` changes or
when a patch would be no smaller than the last snapshot), and `SimPatches`
shares the texts between all the sessions of a simulation by identity
(`states.SharedTexts`). A test compares every text with the store's own chain
on random playthroughs of every bundled story (tests/test_simulate_recorder.py).
"""

from __future__ import annotations

from branching.play.engine import State
from branching.store.engine_texts import json_text, state_patch
from branching.store.states import CHECKPOINT_EVENTS, SharedTexts


class SimPatches(SharedTexts[State]):
    """Stored state texts shared by the chains of a simulation's sessions, by identity
    (`states.SharedTexts`), written from the engine's states."""

    __slots__ = ()

    def patch_text(self, last: State, state: State) -> str | None:
        patch = state_patch(last, state)
        return None if patch is None else json_text(patch)

    def whole_text(self, state: State) -> str:
        return json_text({"=": state.to_dict()})


class SimChain:
    """`states.StateChain` for one simulated session, fed the engine's states in `seq` order."""

    __slots__ = ("_last", "_since", "_whole_size", "_patches")

    def __init__(self, patches: SimPatches) -> None:
        self._last: State | None = None
        self._since = 0
        self._whole_size = 0  # characters of the last snapshot
        self._patches = patches

    def text(self, state: State) -> str | None:
        """The stored JSON text of the next event's state (None: unchanged)."""
        last, self._last = self._last, state
        if last is None:
            return self._snapshot(state)
        if state is last:
            return None
        text = self._patches.patch(last, state)
        if text is None:
            return None
        self._since += 1
        if self._since >= CHECKPOINT_EVENTS or len(text) >= self._whole_size:
            return self._snapshot(state)
        return text

    def _snapshot(self, state: State) -> str:
        text = self._patches.whole(state)
        self._since = 0
        self._whole_size = len(text)
        return text
