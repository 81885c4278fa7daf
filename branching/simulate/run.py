"""The simulation loop: viewers arrive, play through the real engine, and their steps become ops.

`simulate(story, audience)` yields, session by session, the store ops a player
would have sent (the story's registration first), in time order within each
session. The audience is played as a fixed number of independent streams
(`Shard`), each drawing from its own generator seeded by `audience.seed`, in
a fixed order, so a seed gives the same ops byte for byte, and the streams
can run in parallel processes (`parallel.py`) without changing a byte.

A session: its viewer arrives at a time drawn over the date range with the
daily rhythm; at every choice point the viewer may pause, go back one choice,
give up (quit, or just close the terminal), let the clock choose, or choose
after a time drawn from a log-normal distribution (median
`audience.decide_median_ms`). At an ending, some viewers rewind to an offered
choice and carry on. A viewer who gave up and comes back declines to resume,
as the player then records: the old session is marked abandoned.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar, cast

from branching.play.engine import ChoiceView, Playthrough, Steps, View
from branching.simulate.audience import DAILY_RHYTHM, Audience
from branching.simulate.frames import FrameBook
from branching.simulate.personas import Persona
from branching.simulate.pick import pick, weighted
from branching.simulate.sessions import SimClock, SimSession, simulated_viewer_id
from branching.simulate.texts import SimPatches
from branching.store.bulk import SessionUnit
from branching.store.ops import SPOOL_VERSION, Op, to_json
from branching.story.model import Story

MAX_STEPS = 400  # choices in one session before the simulated viewer gives up
SHARDS = 2  # independent streams of sessions (fixed: the same rows on every machine)
CHUNK = 64  # sessions taken from one stream before the next
# entries each of a stream's memos keeps at most (see `Shard`)
MEMO = 50_000
CONTEXT = {
    "terminal": "xterm-256color",
    "term_program": None,
    "term_cols": 100,
    "term_rows": 30,
    "platform": "simulated",
    "locale": None,
    "utc_offset_min": 0,
    "app_version": "simulate",
}
T = TypeVar("T")


@dataclass
class _Viewer:
    number: int
    viewer_id: str
    persona: Persona | None
    attrs: dict[str, str]
    taken: set[tuple[str, str]] = field(default_factory=set)
    unfinished: SimSession | None = None
    sessions: int = 0


def story_op(story: Story, registered_at: str) -> Op:
    """The op that registers `story` (as `Store.register_story` sends it).

    A simulation stamps it with the first simulated day, so a seed gives the
    same rows byte for byte; a story already registered keeps its first stamp.
    """
    return {
        "v": SPOOL_VERSION,
        "op": "story",
        "story_id": story.id,
        "content_hash": story.content_hash,
        "title": story.title,
        "author": story.author,
        "version_label": story.version,
        "structure": to_json(story.structure(), "the story structure"),
        "registered_at": registered_at,
    }


def simulate(story: Story, audience: Audience, shards: int = SHARDS) -> Iterator[list[Op]]:
    """The ops of each simulated session in turn, the story's registration first.

    The audience is played as `shards` independent streams (see `Shard`),
    interleaved `CHUNK` sessions at a time; `parallel.simulate_parallel` runs
    the same streams in worker processes and yields exactly the same ops.
    """
    for ops in _played(story, audience, shards, prepared=False):
        yield cast(list[Op], ops)  # a shard not `prepared` makes ops only


def simulate_prepared(
    story: Story, audience: Audience, shards: int = SHARDS
) -> Iterator[list[Op | SessionUnit]]:
    """`simulate`, each new session worked out already (`bulk.prepare` of its ops, made
    as rows from the start: `Shard(prepared=True)`), as `BulkWriter.add` takes them."""
    return _played(story, audience, shards, prepared=True)


def _played(
    story: Story, audience: Audience, shards: int, *, prepared: bool
) -> Iterator[list[Op | SessionUnit]]:
    """The registration, then the `shards` streams' sessions interleaved (`simulate`)."""
    shards = shard_count(audience, shards)
    streams = [Shard(story, audience, n, shards, prepared=prepared) for n in range(shards)]
    yield [registration(story, audience)]
    yield from interleave([chunks(stream.sessions()) for stream in streams])


def shard_count(audience: Audience, shards: int = SHARDS) -> int:
    """The streams an audience is played as: `shards`, fewer for a tiny audience
    (every stream needs a viewer of its own); decided by the audience alone."""
    return max(1, min(shards, audience.viewers, audience.sessions))


def registration(story: Story, audience: Audience) -> Op:
    """The story's registration, stamped with the first simulated day."""
    return story_op(story, SimClock(first_day(audience)).ts())


def first_day(audience: Audience) -> datetime:
    start = audience.start
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


def chunks(sessions: Iterator[T]) -> Iterator[list[T]]:
    """Sessions in lists of `CHUNK`."""
    chunk: list[T] = []
    for ops in sessions:
        chunk.append(ops)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def interleave(streams: list[Iterator[list[T]]]) -> Iterator[T]:
    """One chunk from each stream in turn (a fixed order), session by session."""
    live = list(streams)
    while live:
        for stream in list(live):
            chunk = next(stream, None)
            if chunk is None:
                live.remove(stream)
                continue
            yield from chunk


class Shard:
    """One of the audience's independent streams of sessions.

    Session `n` of the audience (in time order) belongs to shard `n % shards`;
    so do its viewers (viewer `v` to shard `v % shards`): a returning viewer
    comes back within the shard, and `least-used` counts the options its shard
    took. Each shard draws from its own generator, seeded by the audience
    seed, the story and the shard, so the shards can be played in any order,
    or at once in several processes, and give the same sessions. The shard
    count is fixed (`SHARDS`), never the machine's core count, so a seed gives
    the same rows on every machine.
    """

    def __init__(
        self, story: Story, audience: Audience, shard: int, shards: int, *, prepared: bool = False
    ) -> None:
        self.story = story
        # `prepared`: each session comes as its `bulk.SessionUnit`, made from rows, not ops
        self.prepared = prepared
        self.audience = audience
        self.shard = shard
        self.shards = shards
        self.count = len(range(shard, audience.sessions, shards))  # its sessions
        self.viewer_count = len(range(shard, audience.viewers, shards))
        # the story is part of the seed: one audience seed for two stories gives two audiences
        label = f"{audience.seed}/{story.id}/{story.content_hash}"
        self.rng = random.Random(label if shards == 1 else f"{label}/{shard}/{shards}")
        # session ids differ between audiences of one seed: a second, larger audience added
        # to the same file is added, not refused as the first one's sessions recorded again
        self.salt = audience.fingerprint()
        self.used: Counter[tuple[str, str]] = Counter()
        # every step, view, state dict and state text is worked out once for all viewers
        # (each keeps the first `MEMO` entries met, the common stops among them, and no
        # more: a worker's memory does not grow with the sessions; see decisions.md)
        self.steps = Steps(MEMO)
        self.patches = SimPatches(MEMO)
        self.frames = FrameBook(MEMO)  # a frame of equal value is the very same frame
        self.viewers: list[_Viewer] = []
        self.returning: list[_Viewer] = []
        days = (audience.end - audience.start).days + 1
        self.first_day = first_day(audience)
        self.days = days
        # sessions are spread in time order: each one starts a little after the last
        self.gap_ms = days * 86_400_000 / max(1, audience.sessions)

    def sessions(self) -> Iterator[list[Op | SessionUnit]]:
        """The ops of this shard's sessions, in time order (`prepared`: the session's
        own as its unit, sealed, as `bulk.prepare` gives them)."""
        for i in range(self.count):
            viewer = self._viewer(self.count - i)
            clock = SimClock(self._start_time(i * self.shards + self.shard))
            yield self._play(viewer, clock)

    # -- who and when ----------------------------------------------------------------

    def _viewer(self, left: int) -> _Viewer:
        """A new viewer, or one coming back (as many new ones as the pool allows)."""
        rng = self.rng
        unseen = self.viewer_count - len(self.viewers)
        if unseen > 0 and (not self.returning or rng.random() < unseen / left):
            return self._new_viewer()
        pool = self.returning or self.viewers
        return pool[rng.randrange(len(pool))]

    def _new_viewer(self) -> _Viewer:
        a, rng = self.audience, self.rng
        number = len(self.viewers) * self.shards + self.shard
        persona = None
        if a.personas:
            persona = weighted(rng, a.personas, [p.share for p in a.personas])
        attrs = {
            key: weighted(rng, list(shares), list(shares.values()))
            for key, shares in sorted(a.attrs.items())
        }
        viewer = _Viewer(number, simulated_viewer_id(a.seed, number), persona, attrs)
        self.viewers.append(viewer)
        return viewer

    def _start_time(self, n: int) -> datetime:
        """Session `n`'s start: in order over the range, its hour drawn from the daily rhythm."""
        rng = self.rng
        day = min(self.days - 1, int(n * self.gap_ms // 86_400_000))
        hour = weighted(rng, range(24), DAILY_RHYTHM)
        return self.first_day + timedelta(
            days=day, hours=hour, milliseconds=rng.randrange(3_600_000)
        )

    # -- one session -------------------------------------------------------------------

    def _play(self, viewer: _Viewer, clock: SimClock) -> list[Op | SessionUnit]:
        a, rng, story = self.audience, self.rng, self.story
        ops: list[Op | SessionUnit] = []
        if viewer.unfinished is not None:  # came back, declined to resume the old one
            old, viewer.unfinished = viewer.unfinished, None
            old.clock = clock
            old.ops = ops
            old.detach()  # its unit went with its own session: the finish is an op here
            old.finish("abandoned")
        seed = rng.getrandbits(31)
        session = SimSession(
            rng,
            clock,
            story_id=story.id,
            content_hash=story.content_hash,
            viewer_id=viewer.viewer_id,
            seed=seed,
            attrs=viewer.attrs,
            context=CONTEXT,
            patches=self.patches,
            prepared=self.prepared,
            salt=self.salt,
        )
        session.ops = ops + session.ops
        ops = session.ops
        viewer.sessions += 1
        strategy = viewer.persona.strategy if viewer.persona else a.strategy
        run = Playthrough.start(story, seed, self.steps)
        self._settle(run, "")
        rec = session  # records what the player's StoreRecorder would (`sessions.SimSession`)
        rec.started(run)
        for _ in range(MAX_STEPS):
            view = run.view
            if view.stuck is not None:
                break
            if view.ending is not None:
                if view.offers and rng.random() < a.rewind:
                    clock.advance(self._think())
                    offer = view.offers[rng.randrange(len(view.offers))]
                    run.rewind_to(offer.scene)
                    rec.rewound(run, offer.scene, input="key")
                    continue
                if rng.random() < a.replay:
                    self.returning.append(viewer)
                break
            clock.advance(self._reading())
            if rng.random() < a.abandon:
                if rng.random() < 0.7:
                    rec.quit(run)
                viewer.unfinished = session
                break
            if rng.random() < a.pause:
                rec.event("pause", run, scene=view.scene)
                clock.advance(rng.randrange(5_000, 300_000))
                rec.event("resume", run, scene=view.scene)
            if run.can_go_back and rng.random() < a.back:
                clock.advance(self._think())
                run.back()
                rec.rewound(run, run.view.scene, input="key")
                continue
            choice, decide_ms, how = self._decide(view, viewer, strategy)
            timeout = how == "timeout"
            clock.advance(decide_ms)
            key = (view.scene, choice.id)
            self.used[key] += 1
            viewer.taken.add(key)
            run.choose(choice.id)
            self._settle(run, choice.id)
            rec.chose(
                run,
                view.scene,
                choice.id,
                choice.target,
                decide_ms=decide_ms,
                input=how,
                timeout=timeout,
                label=choice.label,
            )
            rec.shown(run)
        else:
            viewer.unfinished = session  # wandered too long: gave up
        if session.unit is not None:
            session.unit.seal()  # what its digest reads, replayed here (`bulk.prepare`)
        # what it recorded goes on with `ops`: a viewer who comes back only finishes it,
        # so an unfinished session keeps none of it (most of a worker's memory, else)
        session.detach()
        session.ops = []
        return ops

    def _settle(self, run: Playthrough, choice: str) -> None:
        """Put the frame of equal value every memo knows in place of the one `choice`
        (`""`: the start) just reached (see `frames.FrameBook`)."""
        frames = run.frames
        before = frames[-2] if len(frames) > 1 else None
        frames[-1] = self.frames.canonical(before, choice, frames[-1])

    def _decide(self, view: View, viewer: _Viewer, strategy: str) -> tuple[ChoiceView, int, str]:
        """What the viewer takes at `view`, after how many ms, and how (`timeout`: the clock)."""
        rng = self.rng
        open_ = [c for c in view.choices if not c.locked]
        timer_ms = int(view.timer * 1000)
        by_clock = strategy == "default" or (timer_ms > 0 and rng.random() < self.audience.timeouts)
        if by_clock and timer_ms > 0:
            return view.default or open_[0], timer_ms, "timeout"
        scene = self.story.scenes[view.scene]
        choice = pick(
            rng,
            strategy,
            scene,
            open_,
            persona=viewer.persona,
            used=self.used,
            taken_before=viewer.taken,
        )
        decide_ms = self._think()
        if timer_ms > 0:
            decide_ms = min(decide_ms, timer_ms - 1)
        return choice, decide_ms, "mouse" if rng.random() < 0.15 else "key"

    def _think(self) -> int:
        """Milliseconds to decide: log-normal around the audience's median."""
        median = self.audience.decide_median_ms
        return int(median * math.exp(self.rng.gauss(0.0, 0.6)))

    def _reading(self) -> int:
        """Milliseconds spent reading what was shown before the choice point."""
        return 2_000 + self.rng.randrange(8_000)
