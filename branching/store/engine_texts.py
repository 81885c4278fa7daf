"""The stored texts of the engine's own `State`s: a player's and a simulation's.

The store keeps each event's state as a JSON text (`store/states.py`: a
snapshot, then patches). Built from dicts (`State.to_dict`, then the generic
`states.diff`), a key press spent about a fifth of the player's CPU on it;
built from the engine's states themselves, by `diff`'s very rules (the
variables and visits compared key by key where they changed, the chosen pairs
as the frozensets they are), the same texts cost about half. Both the
player's recorder (`recording.StoreRecorder`, through `EngineTexts`) and the
simulator (`simulate/texts.py`) write them here, so there is one copy of the
rules; tests/test_recording_texts.py compares them with `diff` and `dumps`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from branching.play.engine import State
from branching.store.states import diff, dumps, same, snapshot


def state_patch(old: State, new: State) -> dict[str, Any] | None:
    """`states.diff(old.to_dict(), new.to_dict())`, without building either dict.

    The same rules as `diff` (`store/states.py`), on the engine's own values:
    the variables and visits diffed as the dicts they are, the chosen pairs as
    the frozensets they are, where `diff` had to find out again, item by item,
    that the chosen list is a sorted set. (`simulate/texts.py` writes a
    simulation's texts with it too; tests/test_recording_texts.py compares it
    with `diff` on random playthroughs.)
    """
    changed: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    patch: dict[str, Any] = {}
    if old.scene != new.scene:
        changed["scene"] = new.scene
    if old.turn_count != new.turn_count:
        changed["turns"] = new.turn_count
    if changed:
        patch["~"] = changed
    for key, before, after in (
        ("vars", old.vars, new.vars),
        ("visits", old.visit_counts, new.visit_counts),
    ):
        if before is not after:
            a_dict = before if type(before) is dict else dict(before)
            b_dict = after if type(after) is dict else dict(after)
            if not same(a_dict, b_dict):
                nested[key] = _flat_diff(a_dict, b_dict)
    if nested:
        patch[">"] = nested
    a, b = old.chosen_pairs, new.chosen_pairs
    if a != b:
        plus, minus = b - a, a - b
        if plus:
            patch["+"] = {"chosen": [list(pair) for pair in sorted(plus)]}
        if minus:
            patch["<"] = {"chosen": [list(pair) for pair in sorted(minus)]}
    return patch or None


def _flat_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """`states.diff(old, new)` for the engine's variables and visits, whose values are
    scalars: the keys whose value is another object found first (a step changes a
    few; the unchanged ones are the very same objects), then `diff`'s rules for
    those. A new dict or list value: `diff` itself (it compares those inside)."""
    get = old.get
    moved = [(key, value) for key, value in new.items() if get(key, _MISSING) is not value]
    changed: dict[str, Any] = {}
    for key, value in moved:
        kind = type(value)
        if kind is dict or kind is list:
            return diff(old, new)
        before = get(key, _MISSING)
        if kind is not type(before) or before != value:  # `_MISSING` is no value's type
            changed[key] = value
    patch: dict[str, Any] = {}
    if changed:
        patch["~"] = changed
    if not new.keys() >= old.keys():
        patch["-"] = [key for key in old if key not in new]
    return patch or None


_MISSING = object()


def _json_encoder() -> Callable[[Any], str]:
    """`states.dumps` for values that cannot hold themselves (the engine's states and
    their patches, built afresh from its dicts of scalars): the C encoder made once,
    with no check for cycles, where `JSONEncoder.encode` makes one per call (about a
    third of its time on a key press's patch). The same text: `encode` runs this
    very encoder. Where Python has no C encoder, or its private maker takes other
    arguments than CPython 3.11 to 3.14 give it, or writes another text than
    `dumps` for a sample, `dumps` itself: never an error at import."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return dumps
    try:
        encode = make(
            None,  # no cycle check (one would raise RecursionError, which the chain refuses)
            json.JSONEncoder().default,  # raises TypeError, as `dumps` does
            json.encoder.encode_basestring,  # ensure_ascii=False
            None,
            ":",
            ",",
            False,
            False,
            False,  # allow_nan=False: NaN and infinities raise ValueError, as in `dumps`
        )

        def fast(value: Any) -> str:
            return "".join(encode(value, 0))

        if fast(_SAMPLE) != dumps(_SAMPLE):
            return dumps
    except Exception:  # noqa: BLE001 - any change in a private API: the plain path
        return dumps
    return fast


# a sample of every kind of value a state holds, checked against `dumps` once
_SAMPLE = {"~": {"scene": 'é"\n', "turns": 3}, ">": {"vars": {"a": 1.5, "b": None, "c": [True]}}}


json_text = _json_encoder()  # `states.dumps` of a state or a patch


class EngineTexts:
    """The stored texts of the engine's `State`s (`states.StateWriting`), for a player.

    The recorder used to hand the store each new state as a dict
    (`State.to_dict`), which `states.diff` compared with the one before, key by
    key, the chosen pairs rebuilt as sorted lists and compared as sets again:
    about 28 us of a key press's 14 of the player's Python. Written from the
    states themselves (`state_patch`), the very same texts cost about half.
    Nothing is kept between calls (a simulation shares its texts by identity
    instead: `simulate/texts.py`).
    """

    __slots__ = ()

    def patch(self, last: State, state: State) -> str | None:
        found = state_patch(last, state)
        return None if found is None else json_text(found)

    def whole(self, state: State) -> str:
        return json_text(snapshot(state.to_dict()))
