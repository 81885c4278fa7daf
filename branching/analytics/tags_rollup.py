"""`segments.tags` on SQLite from the sessions' digests: by sessions or by viewers.

A choice tag counts who was shown one of its scenes and who took one of its
choices; a scene tag who was shown one of its scenes: whether a session (or
a viewer's sessions, run together by SQLite) holds any of a tag's codes.

- **Scenes shown, from m018's `reached`** (each code one character; its
  scenes are exactly the scenes of `shown`, its other codes edges): a batch
  of them is run together, a separator between two, and every character but
  the tagged scenes' and the separator is deleted at once (`bytes.translate`
  while the tagged scenes' codes and every code met so far are below 255;
  from the first batch holding a wider one, one regular expression; the codes
  are numbered over the whole file, every story's scenes, choices and edges:
  Signal alone stays below after hundreds of sessions, the three bundled
  stories in one file do not), so each session leaves the few tagged
  scenes it was shown, and the sessions are counted by what they leave (a
  few dozen distinct texts): no Python per session, nor per code. At 10 M
  events 0.06 s of CPU where searching each distinct list of `shown` for each
  code took 0.3.
- **Choices taken, from `took`** (JSON arrays of codes: `[3,7]`; no per-code
  text holds them, and `reached` is no substitute: its edges include the
  routes, which may carry a choice nobody took) and, before m018, the scenes
  from `shown`: each distinct list is searched once per code of a tag, by
  `in` over all of them at once (`map`, no Python loop per list), the lists
  turned into `,3,7,` by three C calls over all of them run together; sessions
  with the same list count together.

By viewers, each viewer's lists are run together by SQLite (`[3,7][1,3]`, in
the viewer order of the digests' index, no sort): whether any of a viewer's
sessions has a code is whether their lists run together have it.
"""

from __future__ import annotations

import operator
import re
from collections import Counter
from collections.abc import Iterable
from itertools import compress, repeat

from branching.analytics.rows import TagShare
from branching.analytics.segments import Tagged, tag_shares, tagged
from branching.analytics.shape import Shape
from branching.analytics.stats_rollup import VIEWER_ORDER, Digested
from branching.store.digests import chars, code_of, has_edges, names
from branching.store.export import read_snapshot

_BATCH = 20_000  # sessions (or viewers) read at a time: memory stays flat
_HELD = 40_000  # distinct lists of choices held before they are searched
_NONE = "'[]'"  # the JSON list of a session without a digest
_NARROW = 0xFF  # codes below it: `reached` encodes to one byte a code, 0xFF never one
_WIDE_SEP = "\ud800"  # ends a unit's text when counted wide: `chars` skips the surrogates

Wanted = list[tuple[int, frozenset[int]]]  # per count: (0 shown, 1 took; a tag's codes)


def counted_tags(
    d: Digested, shape: Shape, started: int, *, viewers: bool = False
) -> list[TagShare]:
    """`segments.tags` from the digests' scenes shown and choices taken: in sessions, or
    (`viewers`) in viewers, a viewer counting once for a tag when any of their
    sessions has it."""
    every = tagged(shape)
    if not every:
        return []
    with read_snapshot(d.conn):  # the codes named and the lists agree
        return _counted(d, shape, started, every, viewers)


def _counted(
    d: Digested, shape: Shape, started: int, every: list[Tagged], viewers: bool
) -> list[TagShare]:
    codes = {name: code for code, name in names(d.conn).items()}
    wanted: Wanted = []
    for t in every:
        wanted.append((0, frozenset(codes[s] for s in t.scenes if s in codes)))
        if t.kind == "choice":
            wanted.append((1, frozenset(codes[p] for p in t.pairs if p in codes)))
    totals = [0] * len(wanted)
    scenes = ShownScenes(wanted) if has_edges(d.conn) else None
    shown = "reached" if scenes is not None else "shown"
    empty = "''" if scenes is not None else _NONE  # a session without a digest
    if viewers and d.alone is not None:
        cond, params = d.alone
        cursor = d.conn.execute(
            f"""SELECT group_concat(s.{shown}, ''), group_concat(s.took, '')
            FROM {VIEWER_ORDER} WHERE {cond} GROUP BY s.story_id, s.viewer_id""",
            params,
        )
    elif viewers:
        cursor = d.conn.execute(
            f"""SELECT group_concat({d.column(shown, empty)}, ''),
                   group_concat({d.column("took", _NONE)}, '')
            FROM {d.joined} WHERE {d.cond} GROUP BY s.viewer_id""",
            d.params,
        )
    else:
        cursor = d.read(f"{d.column(shown, empty)}, {d.column('took', _NONE)}")
    searched = [ListSearch(wanted, which, totals) for which in (0, 1)]
    if scenes is not None:
        searched[0].wanted = []  # the scenes are counted from `reached`
    while batch := cursor.fetchmany(_BATCH):
        lists = list(zip(*batch, strict=True))
        if scenes is not None:
            scenes.add(lists[0])
        else:
            searched[0].add(lists[0], every_batch=viewers)
        searched[1].add(lists[1], every_batch=viewers)
    for search in searched:
        search.flush()
    if scenes is not None:
        scenes.count(totals)
    return tag_shares(every, started, totals)


class ShownScenes:
    """The scene counts of `wanted` (kind 0) from m018's `reached` texts, a batch at a
    time (see the module docstring): the units counted by the tagged scenes they
    hold, as one text (bytes when narrow) of those scenes' characters."""

    def __init__(self, wanted: Wanted) -> None:
        self.wanted = [(i, want) for i, (kind, want) in enumerate(wanted) if kind == 0]
        self.tagged_codes = sorted({code for _, want in self.wanted for code in want})
        self.held: Counter[bytes | str] = Counter()
        # bytes while the tagged scenes' codes fit in one (the file's other stories may
        # have numbered far past them); a batch holding a wider code widens (`add`)
        self.narrow = all(code < _NARROW for code in self.tagged_codes)
        if self.narrow:
            keep = {*self.tagged_codes, _NARROW}
            self.delete = bytes(b for b in range(256) if b not in keep)
            self.sep = chr(_NARROW)
        else:
            self._widen()

    def _widen(self) -> None:
        """Count by one regular expression from now on, a lone surrogate (which `chars`
        never writes) ending each unit's text."""
        self.narrow = False
        self.sep = _WIDE_SEP
        kept = re.escape(chars(self.tagged_codes) + self.sep)
        self.others = re.compile(f"[^{kept}]+")

    def add(self, texts: Iterable[str]) -> None:
        """Count a batch of `reached` texts (one a unit) by the tagged scenes they hold.

        Narrow, a batch holding a code of 255 or more (another story's scene or an
        edge numbered late) is counted, with every batch after it, the wide way:
        a code 255 would read as the separator, a code past it cannot be one byte."""
        listed = texts if type(texts) is list else list(texts)
        if not listed:
            return
        if self.narrow:
            run = self.sep.join(listed)
            if run.count(self.sep) == len(listed) - 1:  # no code 255 within a text
                try:
                    raw = run.encode("latin-1")
                except UnicodeEncodeError:
                    pass
                else:
                    self.held.update(raw.translate(None, self.delete).split(b"\xff"))
                    return
            self._widen()
        run = self.sep.join(listed)
        self.held.update(self.others.sub("", run).split(self.sep))

    def count(self, totals: list[int]) -> None:
        """Add to each scene count of `totals` the units holding one of its codes."""
        for held, n in self.held.items():
            found = set(held) if isinstance(held, bytes) else set(map(code_of, held))
            for i, want in self.wanted:
                if not found.isdisjoint(want):
                    totals[i] += n


class ListSearch:
    """The counts of `wanted` of one kind (`which`: 0 the scenes of `shown`, 1 the
    choices of `took`) from their JSON lists: each distinct list counted (its units),
    and searched once for each code when `_HELD` are held (or at every batch)."""

    def __init__(self, wanted: Wanted, which: int, totals: list[int]) -> None:
        self.wanted = [(i, want) for i, (kind, want) in enumerate(wanted) if kind == which]
        self.totals = totals
        self.lists: Counter[str] = Counter()

    def add(self, texts: Iterable[str], *, every_batch: bool) -> None:
        """Count a batch of lists; few viewers share their lists: search them a batch at
        a time; sessions share theirs more, but the rare lists make most of the distinct
        ones (at 10 M events 118,000 of `took`): search them whenever `_HELD` are held."""
        if not any(want for _, want in self.wanted):
            return
        self.lists.update(texts)
        if every_batch or len(self.lists) > _HELD:
            self.flush()

    def flush(self) -> None:
        """Search the lists held and forget them."""
        texts, self.lists = self.lists, Counter()
        if not texts:
            return
        weights = list(texts.values())
        # each text with a comma for every bracket (`[3,7][1]`: `,3,7,,1,`): a code is
        # found as ",code," wherever it stands; one join, two replaces and a split for
        # them all (a replace per text took longer than the search)
        wrapped = "\n".join(texts).replace("[", ",").replace("]", ",").split("\n")
        del texts
        for i, want in self.wanted:
            hit: list[bool] = []
            for code in sorted(want):
                found = map(operator.contains, wrapped, repeat(f",{code},"))
                hit = list(map(operator.or_, hit, found)) if hit else list(found)
            self.totals[i] += sum(compress(weights, hit))
