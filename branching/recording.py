"""What both players share about recording: the store, the viewer, the notice, seeds.

The line-mode player (`cli/playing.py`) and the full-screen player
(`tui/player/launch.py`) must record the same way, so everything they both
need lives here, below both: opening the store (`store.paths.db_path` says
which), the viewer's name and its one fallback, the
one-time notice about recording, starting or resuming a recorded
session, and `StoreRecorder`/`StoreServices`, the store-backed implementations
of the player's `Recorder` and `Services` seams. It imports no UI library and
no click: errors are `BranchingError`s that each edge translates.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from branching.errors import BranchingError, UsageProblem
from branching.play.engine import Playthrough, State, Steps
from branching.play.recorder import Recorder
from branching.play.services import Resumable, Services, TelemetryUnavailable
from branching.store.engine_texts import EngineTexts
from branching.story.model import Story

if TYPE_CHECKING:
    from branching.store import Store
    from branching.store.records import ResumePoint
    from branching.store.session import SessionWriter


@dataclass
class PlayOptions:
    """What `branching play` was asked for, as both players read it."""

    story: str | None = None
    plain: bool = False
    script: str | None = None
    seed: int | None = None
    resume: bool = False
    db: str | None = None
    viewer_key: str | None = None
    no_telemetry: bool = False
    viewer: str | None = None
    attrs: tuple[str, ...] = ()
    no_timer: bool = False
    stories_dirs: tuple[str, ...] = field(default_factory=tuple)


def viewer_name(given: str | None) -> str:
    """`--viewer`, else the login name, else one anonymous local viewer."""
    if given:
        return given
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (containers): one anonymous local viewer
        return "local-viewer"


def open_store(opts: PlayOptions) -> tuple[Store, str] | None:
    """The telemetry store and its path, or None when the viewer opted out."""
    if opts.no_telemetry:
        return None
    from branching.store import Store
    from branching.store.paths import db_path

    path = db_path(opts.db)
    key = Path(opts.viewer_key).expanduser() if opts.viewer_key else None
    store = Store.open(path, viewer_key=key)
    try:
        store.load_viewer_key()  # a lost or different key is an error now, not new ids later
    except BaseException:
        store.close()
        raise
    return store, str(path)


@contextlib.contextmanager
def exit_on_signals() -> Iterator[None]:
    """While inside, SIGTERM (a service stop) and SIGHUP (the terminal closed) end the
    program as ctrl+c does: `SystemExit(128 + signal)` is raised in the main thread, so
    every `finally` runs and the store is closed (its writes finished or spooled).

    Only the first signal is acted on: a second one cannot cut the closing short.
    Outside the main thread (where handlers cannot be set) this does nothing.
    """
    fired = False

    def stop(signum: int, frame: object) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise SystemExit(128 + signum)

    previous: dict[int, Any] = {}
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is None:
            continue
        try:
            previous[number] = signal.signal(number, stop)
        except ValueError:  # not the main thread
            break
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def notice_once(where: str) -> str | None:
    """The first-run notice about recording, or None when it was shown before."""
    from branching.store.paths import default_config_dir, private_dir

    marker = default_config_dir() / "notice-shown"
    if marker.exists():
        return None
    try:
        private_dir(marker.parent)  # the config folder holds the viewer key: 0700
        marker.write_text(where + "\n", encoding="utf-8")
    except OSError:
        pass  # the notice shows again next time: better than never
    return (
        f"branching records your choices (pseudonymously) to {where}. "
        "Play with --no-telemetry to record nothing; `branching forget NAME` erases "
        "a viewer's data."
    )


def terminal_size() -> tuple[int, int]:
    """Columns and rows of the viewer's terminal (0, 0 when there is none)."""
    size = shutil.get_terminal_size((0, 0))
    return size.columns, size.lines


class StoreRecorder:
    """Records a playthrough through a store `SessionWriter`, with the engine's state."""

    def __init__(
        self,
        session: SessionWriter,
        where: str | None = None,
        steps: Steps | None = None,
        *,
        group: bool = True,
    ) -> None:
        """`steps` (a simulation's) gives every session the same dict for the same state;
        `group` commits each key press in one transaction (a simulation, whose
        ops are collected and never committed one by one, has nothing to save)."""
        self.session = session
        self.where = where
        self._steps = steps
        # the store's session writers take the engine's states as they are (`EngineTexts`);
        # a simulation's `steps` hands on its shared dicts, and so does a stand-in
        use_texts = getattr(session, "use_texts", None) if steps is None else None
        if use_texts is not None:
            use_texts(EngineTexts(), State)
        self._states = use_texts is not None
        self._state: tuple[State, dict[str, Any]] | None = None
        self._group = group
        self._open = False  # a key press is being recorded (`_begin` .. `_end`)
        self._last: Future[bool] | None = None

    def _put(self, kind: str, run: Playthrough, **fields: Any) -> None:
        """Record one event: waited on at once, or (in a key press) with the rest of it."""
        future = self.session.record(kind, state=self._state_of(run), **fields)
        if self._open:
            self._last = future
        else:
            future.result()

    def _begin(self) -> None:
        """Start a key press: what follows is committed together, in one transaction."""
        if self._group and not self._open:
            self.session.begin_group()
            self._open = True

    def _end(self) -> None:
        """Commit the key press, and wait until it is on disk."""
        if not self._open:
            return
        self._open = False
        self.session.end_group()
        last, self._last = self._last, None
        if last is not None:
            last.result()  # the group's one future: all of the key press is on disk

    def _state_of(self, run: Playthrough) -> State | dict[str, Any]:
        """The engine's state, or its dict: the very same object while the state is the same.

        A step records several events (a choice, each scene shown, each route)
        with one engine state; handing the store the same object lets it see
        "no change" without comparing (`states.StateChain`). States are
        immutable, so the identity of the engine's `State` is a safe key. With
        `steps` (a simulation's), its dict (`Steps.as_dict`).
        """
        current = run.state
        if self._states:
            return current
        if self._steps is not None:
            return self._steps.as_dict(current)
        if self._state is None or self._state[0] is not current:
            self._state = (current, current.to_dict())
        return self._state[1]

    def started(self, run: Playthrough) -> None:
        self._end()
        self._begin()
        self._put("session_started", run, scene=run.view.scene)
        self.shown(run)

    def shown(self, run: Playthrough) -> None:
        """The scenes a step shows (and its ending): they end the key press `chose` began."""
        self._begin()
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
            self._finish("stuck")
        self._end()

    def _finish(self, outcome: str, **fields: Any) -> None:
        future = self.session.finish(outcome, **fields)
        if self._open:
            self._last = future

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
        kind = "timeout_default" if timeout else "choice_made"
        seen = label_to_record(run, scene, choice, label)
        self._end()
        self._begin()  # the choice and what it shows (`shown`) are one commit
        self._put(
            kind,
            run,
            scene=scene,
            choice=choice,
            target=target,
            decide_ms=decide_ms,
            input=input,
            label=seen,
        )

    def rewound(self, run: Playthrough, to_scene: str, *, input: str) -> None:
        self._end()
        self._put("rewind", run, scene=to_scene, input=input)

    def event(self, kind: str, run: Playthrough, **fields: Any) -> None:
        self._end()
        self._put(kind, run, **fields)

    def ended(self, run: Playthrough) -> None:
        view = run.view
        assert view.ending is not None
        self._put("ending_reached", run, scene=view.scene)
        self._finish("ending", ending=view.scene, ending_kind=view.ending.kind)

    def quit(self, run: Playthrough) -> None:
        self._end()
        self._put("quit", run, scene=run.view.scene)

    def close(self) -> None:
        self._end()
        self.session.close()


def label_to_record(run: Playthrough, scene: str, choice: str, label: str | None) -> str | None:
    """The rendered `label` a choice event keeps: None when it is the label as
    written in the story (the story says it), else the label viewers saw."""
    found = run.story.scenes.get(scene)
    written = found.choice(choice) if found is not None else None
    return None if written is not None and label == written.label.source else label


def start_recording(
    store: Store, where: str, story: Story, opts: PlayOptions, seed: int, viewer: str
) -> StoreRecorder:
    """Register `story` and start a recorded session of it for `viewer`."""
    from branching.store import StoryInfo
    from branching.store.context import parse_attrs, session_context

    store.register_story(
        StoryInfo(
            story.id,
            story.title,
            story.author,
            story.version,
            story.content_hash,
            story.structure(),
        )
    )
    cols, rows = terminal_size()
    session = store.start_session(
        story.id,
        story.content_hash,
        viewer,
        attrs=parse_attrs(opts.attrs),
        context=session_context(cols, rows),
        seed=seed,
    )
    return StoreRecorder(session, where)


def resume_run(store: Store, story: Story, viewer: str) -> tuple[Playthrough, ResumePoint] | None:
    """The viewer's unfinished playthrough of `story`, rebuilt from its recorded frames."""
    point = store.unfinished_session(story.id, viewer)
    if point is None:
        return None
    data = {"seed": point.seed or 0, "frames": list(point.frames)}
    return Playthrough.from_json(story, data), point


def require_telemetry_for_resume(opts: PlayOptions) -> None:
    """`--resume` reads the recorded state, so it cannot go with `--no-telemetry`."""
    if opts.resume and opts.no_telemetry:
        raise UsageProblem("--resume needs telemetry (it reads the recorded state)")


class StoreServices(Services):
    """The player's `Services` on the telemetry store, recording like the line player.

    `opener` returns `(store, where)` and is called once, on first use (in a
    worker: opening and migrating is the slowest part of starting, and the first
    scene does not need it); `notify_once(where)` gives the first-run notice.
    """

    def __init__(
        self,
        opener: Callable[[], tuple[Store, str]],
        opts: PlayOptions,
        viewer: str,
        notify_once: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__()
        self._opener = opener
        self._notify_once = notify_once
        self._lock = threading.Lock()
        self._store: Store | None = None
        self.opts = opts
        self.viewer = viewer
        # where choices go, known before the store opens (in a worker): the help screen
        # says it from the first key, never "nothing is recorded" while it opens
        from branching.store.paths import db_path

        self.where = str(db_path(opts.db))
        # told (message, severity) on the store's writer thread when choices start or stop
        # being kept beside the database; the player shows them (see tui/player/launch.py)
        self.on_notice: Callable[[str, str], None] | None = None

    def open(self) -> None:
        with self._lock:
            if self._store is not None:
                return
            try:
                store, where = self._opener()
            except BranchingError as exc:
                self.where = None  # nothing is recorded after all
                raise TelemetryUnavailable(
                    f"{exc} (play with --no-telemetry to record nothing)"
                ) from exc
            self._store, self.where = store, where
            store.notify = self._pass_notice
            if self._notify_once is not None:
                self.notice = self._notify_once(where)

    def _pass_notice(self, message: str, severity: str) -> None:
        if self.on_notice is not None:
            self.on_notice(message, severity)

    @property
    def store(self) -> Store:
        self.open()
        assert self._store is not None
        return self._store

    def new_recorder(self, story: Story, seed: int) -> Recorder:
        store = self.store  # opens it, and so knows where it is
        assert self.where is not None
        return start_recording(store, self.where, story, self.opts, seed, self.viewer)

    def unfinished(self, story: Story) -> Resumable | None:
        found = resume_run(self.store, story, self.viewer)
        if found is None:
            return None
        run, point = found
        return Resumable(run, point.session_id, str(point.started_at or ""))

    def resume(self, found: Resumable) -> Recorder:
        session = self.store.resume_session(found.token)
        return StoreRecorder(session, self.where)

    def abandon(self, found: Resumable) -> None:
        session = self.store.resume_session(found.token)
        try:
            session.finish("abandoned")
        finally:
            session.close()

    def stored_endings(self, story: Story) -> set[str]:
        return set(self.store.endings_found(story.id, self.viewer))

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()


def store_services(opts: PlayOptions) -> Services:
    """The `Services` `branching play` asked for: the store, or none with `--no-telemetry`."""
    from branching.play.services import LocalServices

    require_telemetry_for_resume(opts)
    viewer = viewer_name(opts.viewer)
    if opts.no_telemetry:
        return LocalServices(None, viewer)

    def opener() -> tuple[Store, str]:
        opened = open_store(opts)
        assert opened is not None  # only None with --no-telemetry
        return opened

    return StoreServices(opener, opts, viewer, notice_once)
