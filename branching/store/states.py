"""The engine state in events, stored small: a snapshot now and then, a patch in between.

Every event used to carry the whole engine state as JSON (about 1 KB on the
bundled stories, 2.3 KB with 60 variables), though one choice changes a few
of its values. So an event's `state` column now holds, in the session's
sequence order (`seq`):

- `NULL`: the state did not change since the event before (`seq - 1`); most
  events (the `scene_shown`, `route_taken`, `pause`... after a choice);
- `{"=": STATE}`: a snapshot, the whole state (`{"=": null}`: no state from
  here on, as recorded); the first state of every
  recorded stretch (a session's start, a resumed session's first event), every
  `CHECKPOINT_EVENTS` changes, and whenever a patch would be no smaller than
  the stretch's last snapshot;
- otherwise a patch against the state before, with up to five keys:
  `"~"` {key: new value} (changed or new keys), `"-"` [removed keys],
  `">"` {key: patch} (a nested object changed, patched the same way),
  `"+"` {key: [items]} and `"<"` {key: [items]}: items added to or removed
  from a sorted list of unique strings or lists of strings (the engine's
  `chosen` pairs), which is rebuilt sorted.

A patch is exact: values compare by JSON type too (`1`, `1.0` and `true` are
different values), key order is kept, so the rebuilt state is the very
object that was recorded. What was recorded as no state at all stays `None`.

Why patches and not replaying the choices through the engine (which would
need no state at all): the state is then read from the database alone. Export,
`stats` ("choices that make no difference" compares variables) and resume of
a session recorded under an older version of the story (the same check as
before, `play.restore`) work without the story file, from merged kiosk
databases, and exactly as recorded even where the story's conditions changed
since. A patch costs about 100 bytes per choice, spread over the three or four
events each choice records (see docs/decisions.md).

Reading (`StateReader`) follows a session's events in order; where one is
missing (a spooled record that was rejected) the state is unknown (`None`)
until the next snapshot, never guessed. `prune` and `merge` write a snapshot
where they leave a patch without the event before it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

SNAPSHOT = "="
CHECKPOINT_EVENTS = 500  # changes between snapshots at most, so a lost event costs little

Json = Any
State = dict[str, Any]
S = TypeVar("S")  # a state as some writer holds it (`SharedTexts`)


# one encoder for every call: `json.dumps` with options builds a new one each time
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def dumps(value: Json) -> str:
    """Compact JSON text, as the store writes it."""
    return _ENCODE(value)


def same(a: Json, b: Json) -> bool:
    """Equal as JSON values, types included (`1`, `1.0` and `True` differ)."""
    if a is b:
        return True
    if type(a) is not type(b) or a != b:  # Python's own comparison runs at C speed
        return False
    if isinstance(a, dict | list):  # equal, but `1 == 1.0 == True`: the types decide
        return _exact(a, b)
    return True


def _exact(a: Json, b: Json) -> bool:
    """`a == b` holds; are their types equal all the way down?"""
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is dict:
        if a.keys() != b.keys():
            return False
        for key, x in a.items():
            y = b[key]
            if x is y:  # the same object (most values of a copied dict)
                continue
            inner = type(x)
            if inner is not type(y) or ((inner is dict or inner is list) and not _exact(x, y)):
                return False
        return True
    if kind is list:
        if len(a) != len(b):
            return False
        for x, y in zip(a, b, strict=True):
            if x is y:
                continue
            inner = type(x)
            if inner is not type(y) or ((inner is dict or inner is list) and not _exact(x, y)):
                return False
        return True
    return bool(a == b)


def _item(value: Json) -> str | tuple[str, ...] | None:
    """A sorted-set item as a hashable key (strings, lists of strings), else None."""
    if type(value) is str:
        return value
    if type(value) is list and all(type(x) is str for x in value):
        return tuple(value)
    return None


def _set_keys(values: list[Json]) -> list[Any] | None:
    """The keys of a list that is a sorted set of strings or string lists, else None."""
    if not values:
        return []
    kind = type(values[0])
    keys: list[Any]
    if kind is str:
        for value in values:
            if type(value) is not str:
                return None
        keys = values
    elif kind is list:
        keys = []
        for value in values:
            if type(value) is not list:
                return None
            for part in value:
                if type(part) is not str:
                    return None
            keys.append(tuple(value))
    else:
        return None
    return keys if keys == sorted(set(keys)) else None  # sorted, no repeats


# The keys of the list last worked out: the next patch starts from that very list
# (the state before is the state after of the one before), so each is read once.
_LAST_KEYS: tuple[object, list[Any] | None] = (None, None)


def _set_keys_of(values: list[Json]) -> list[Any] | None:
    global _LAST_KEYS
    last = _LAST_KEYS  # one read: another thread may replace it meanwhile
    if last[0] is values:
        return last[1]
    keys = _set_keys(values)
    _LAST_KEYS = (values, keys)
    return keys


def _as_value(key: str | tuple[str, ...]) -> Json:
    return key if isinstance(key, str) else list(key)


_MISSING = object()


def diff(old: State, new: State) -> dict[str, Any] | None:
    """The patch turning `old` into `new` (None when they are the same)."""
    changed: dict[str, Json] = {}
    nested: dict[str, Json] = {}
    added: dict[str, Json] = {}
    dropped: dict[str, Json] = {}
    for key, value in new.items():
        before = old.get(key, _MISSING)
        if before is value:
            continue
        if before is _MISSING:
            changed[key] = value
            continue
        kind = type(value)
        if kind is type(before):
            if kind is dict:
                if before == value and _exact(before, value):
                    continue
                nested[key] = diff(before, value)
                continue
            if kind is list:
                if before == value and _exact(before, value):
                    continue
                a, b = _set_keys_of(before), _set_keys_of(value)
                if a is not None and b is not None and (not a or not b or type(a[0]) is type(b[0])):
                    plus, minus = set(b) - set(a), set(a) - set(b)
                    if plus:
                        added[key] = [_as_value(k) for k in sorted(plus)]
                    if minus:
                        dropped[key] = [_as_value(k) for k in sorted(minus)]
                    continue
            elif before == value:
                continue
        changed[key] = value
    removed = [key for key in old if key not in new]
    patch: dict[str, Any] = {}
    for mark, part in (("~", changed), ("-", removed), (">", nested), ("+", added), ("<", dropped)):
        if part:
            patch[mark] = part
    return patch or None


def apply(old: State, patch: dict[str, Any]) -> State:
    """The state `patch` makes of `old` (a new object; `old` is not changed)."""
    new = dict(old)
    get = patch.get  # each part only when there (a patch has two or three of the five)
    part = get("-", _MISSING)
    if part is not _MISSING:
        for key in part:
            new.pop(key, None)
    part = get("~", _MISSING)
    if part is not _MISSING:
        new.update(part.items())
    part = get(">", _MISSING)
    if part is not _MISSING:
        for key, sub in part.items():
            base = new.get(key)
            new[key] = apply(base if type(base) is dict else {}, sub)
    if "+" not in patch and "<" not in patch:
        return new
    plus, minus = get("+", {}), get("<", {})
    for key in {*plus, *minus}:
        base = new.get(key)
        keys = _keys_of(base) if isinstance(base, list) else set()
        keys |= {_item(v) for v in plus.get(key, ())}
        keys -= {_item(v) for v in minus.get(key, ())}
        keys.discard(None)
        items = sorted(keys)  # all strings or all tuples: `sorted` raises on a mix
        value = new[key] = list(map(list, items)) if items and type(items[0]) is tuple else items[:]
        _remember_keys(value, items)
    return new


# The sorted sets `apply` built lately, with their keys: the next patch of the same
# key starts from that very list (the state after one patch is the state before the
# next), so its keys are not worked out again item by item. Entries hold their lists,
# so an id is not reused while it is a key; the length guards against a list someone
# changed in place. Bounded; a miss only costs the work.
_APPLIED: dict[int, tuple[list[Json], list[Any]]] = {}
_APPLIED_LIMIT = 256


def _keys_of(values: list[Json]) -> set[Any]:
    """`{_item(v) for v in values}`, from what `apply` remembers where it can."""
    hit = _APPLIED.get(id(values))
    if hit is not None and hit[0] is values and len(values) == len(hit[1]):
        return set(hit[1])
    return {_item(v) for v in values}


def _remember_keys(values: list[Json], keys: list[Any]) -> None:
    if len(_APPLIED) >= _APPLIED_LIMIT:
        _APPLIED.clear()
    _APPLIED[id(values)] = (values, keys)


def is_snapshot(stored: Json) -> bool:
    """True for a stored state that is a whole snapshot (`{"=": {...}}`)."""
    return isinstance(stored, dict) and len(stored) == 1 and SNAPSHOT in stored


def snapshot(state: State | None) -> dict[str, Any]:
    """The stored form of a whole state."""
    return {SNAPSHOT: state}


def _patch_text(last: State, state: State) -> str | None:
    """The JSON text of the patch from `last` to `state` (None when nothing changed)."""
    patch = diff(last, state)
    return None if patch is None else dumps(patch)


class SharedTexts(Generic[S]):
    """Stored state texts shared by the chains of many sessions (a simulation's).

    A simulation hands every session the very same state objects for the same
    engine states (`play.engine.Steps`), so the patch between two states, and a
    state's snapshot, is worked out once and reused by identity. Entries hold
    their states, so an id is never reused while it is a key; at `limit`
    entries nothing more is kept (bounded memory, the same texts). Subclasses
    say how a patch and a snapshot are written (`patch_text`, `whole_text`).
    """

    __slots__ = ("_pairs", "_wholes", "limit")

    def __init__(self, limit: int = 200_000) -> None:
        self._pairs: dict[tuple[int, int], tuple[S, S, str | None]] = {}
        self._wholes: dict[int, tuple[S, str]] = {}
        self.limit = limit

    def patch_text(self, last: S, state: S) -> str | None:
        raise NotImplementedError

    def whole_text(self, state: S) -> str:
        raise NotImplementedError

    def patch(self, last: S, state: S) -> str | None:
        """The JSON text of the patch from `last` to `state` (None: no change)."""
        hit = self._pairs.get((id(last), id(state)))
        if hit is not None and hit[0] is last and hit[1] is state:
            return hit[2]
        text = self.patch_text(last, state)
        if len(self._pairs) < self.limit:
            self._pairs[(id(last), id(state))] = (last, state, text)
        return text

    def whole(self, state: S) -> str:
        """The JSON text of a snapshot of `state`."""
        hit = self._wholes.get(id(state))
        if hit is not None and hit[0] is state:
            return hit[1]
        text = self.whole_text(state)
        if len(self._wholes) < self.limit:
            self._wholes[id(state)] = (state, text)
        return text


class Patches(SharedTexts[State]):
    """`SharedTexts` of states as the store's dicts (`diff`, `snapshot`)."""

    __slots__ = ()

    def patch_text(self, last: State, state: State) -> str | None:
        return _patch_text(last, state)

    def whole_text(self, state: State) -> str:
        return dumps(snapshot(state))


class StateWriting(Protocol):
    """Writes the stored texts of states of some kind (`Patches`: the dicts of `diff`;
    the player's recorder has its own, from the engine's states: `recording.py`)."""

    def patch(self, last: Any, state: Any) -> str | None:
        """The JSON text of the patch from `last` to `state` (None: no change)."""
        ...

    def whole(self, state: Any) -> str:
        """The JSON text of a snapshot of `state` (`{"=": ...}`)."""
        ...


class StateChain:
    """The writer's side: turns each event's whole state into what is stored.

    One per recorded stretch of a session (a `SessionWriter`), fed in `seq`
    order. The first state is a snapshot; after that a patch against the
    previous event's state, `None` when unchanged, and a snapshot every
    `CHECKPOINT_EVENTS` changes or when the patch would be no smaller than the
    chain's last snapshot (states grow slowly, so that is the size a snapshot
    now would have, give or take, without writing one out to measure it).
    `patches` (a simulation's) shares the work between sessions. States are
    dicts (`State`), unless `patches` writes states of another kind, `kind`
    (the player's recorder hands the engine's states on: `recording.py`).
    """

    def __init__(
        self,
        checkpoint: int = CHECKPOINT_EVENTS,
        patches: StateWriting | None = None,
        kind: type = dict,
    ) -> None:
        self._last: Any = None
        self._since = 0
        self._checkpoint = checkpoint
        self._patches = patches
        self._whole_size = 0  # characters of the last snapshot
        self.kind = kind  # what a state must be (`isinstance`): `ops.event_op` checks

    def takes(self, state: object) -> bool:
        """Whether `state` is a state this chain writes (else the event is refused)."""
        return isinstance(state, self.kind)

    def restart(self) -> None:
        """Forget the last state (it was not stored): the next one is a snapshot."""
        self._last = None

    def encode(self, state: Any) -> dict[str, Any] | None:
        """The stored form of the next event's state (None: no state, or unchanged)."""
        text = self.encode_text(state)
        return None if text is None else json.loads(text)

    def encode_text(self, state: Any) -> str | None:
        """The stored JSON text of the next event's state (None: no state, or unchanged).

        Raises TypeError or ValueError for a state that is not JSON; the
        caller then calls `restart`.
        """
        if state is None:
            had, self._last = self._last, None
            return None if had is None else dumps(snapshot(None))
        last, self._last = self._last, state
        if last is None:
            return self._snapshot(state)
        if state is last:  # the recorder hands the same object on while nothing changed
            return None
        patches = self._patches
        text = patches.patch(last, state) if patches is not None else _patch_text(last, state)
        if text is None:
            return None
        self._since += 1
        if self._since >= self._checkpoint or len(text) >= self._whole_size:
            return self._snapshot(state)
        return text

    def _snapshot(self, state: Any) -> str:
        patches = self._patches
        text = patches.whole(state) if patches is not None else dumps(snapshot(state))
        self._since = 0
        self._whole_size = len(text)
        return text


def next_state(state: State | None, stored: Json, follows: bool) -> State | None:
    """The state at an event, from the state at the event before and its stored form.

    `stored` is parsed JSON (None: unchanged); `follows` says whether the
    event before (`seq - 1`) was the one `state` belongs to. A patch without
    the event before, or with nothing to patch, or that is no patch (a
    hand-edited row) gives an unknown state (None), never a crash.
    """
    if is_snapshot(stored):
        whole = stored[SNAPSHOT]
        return whole if isinstance(whole, dict) else None
    if not follows:
        return None  # the event before is missing: unknown until a snapshot
    if isinstance(stored, dict) and state is not None:
        try:
            return apply(state, stored)
        except (TypeError, AttributeError, ValueError):
            return None  # not a patch (a hand-edited row): unknown, never a crash
    if stored is not None:
        return None  # a patch with nothing to patch
    return state


# `json.loads` without its two white-space regexes (not in the type stubs)
_scan: Callable[[str, int], tuple[Json, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def parse_stored(text: str | None) -> Json:
    """The stored form from the column's JSON text (`{}` when unreadable: unknown)."""
    if text is None:
        return None
    try:
        value, end = _scan(text, 0)
        if end == len(text):  # what the store writes: one value, no white space around
            return value
    except (StopIteration, TypeError, ValueError, RecursionError):
        pass  # anything else is `json.loads`'s to judge, as before
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return {}  # unreadable: the state here is unknown


class StateReader:
    """The reader's side: the whole state at each event of one session, in `seq` order."""

    def __init__(self) -> None:
        self.state: State | None = None
        self._seq: int | None = None

    def read(self, seq: int, stored: Json) -> State | None:
        """The state at event `seq` from its stored form (parsed JSON, or None)."""
        before, self._seq = self._seq, seq
        follows = type(seq) is int and type(before) is int and seq == before + 1
        self.state = next_state(self.state, stored, follows)
        return self.state

    def read_text(self, seq: int, text: str | None) -> State | None:
        """`read` from the column's JSON text."""
        return self.read(seq, parse_stored(text))


def replay(rows: list[tuple[int, str | None]]) -> list[State | None]:
    """The whole state at each of one session's `(seq, stored text)` rows."""
    reader = StateReader()
    return [reader.read_text(seq, text) for seq, text in rows]
