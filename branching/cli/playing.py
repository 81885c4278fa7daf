"""`branching play`: choosing the player, opening telemetry, resuming.

This is composition only: it loads the story, opens the store (unless the
viewer opted out), builds a `Playthrough` (new or resumed from the recorded
state) and hands them to the plain player or the Textual app.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from branching.play.engine import Playthrough
from branching.play.recorder import NullRecorder, Recorder, StoreRecorder


@dataclass
class PlayOptions:
    story: str | None = None
    plain: bool = False
    script: str | None = None
    seed: int | None = None
    resume: bool = False
    db: str | None = None
    no_telemetry: bool = False
    viewer: str | None = None
    attrs: tuple[str, ...] = ()
    no_timer: bool = False
    stories_dirs: tuple[str, ...] = field(default_factory=tuple)


def parse_attrs(attrs: tuple[str, ...]) -> dict[str, str]:
    """`--attr KEY=VALUE` options, validated by the store's rules."""
    from branching.store.context import parse_attrs as store_parse_attrs
    from branching.store.errors import StoreError

    try:
        return store_parse_attrs(attrs)
    except StoreError as exc:
        raise click.BadParameter(str(exc), param_hint="--attr") from None


def new_seed() -> int:
    """A fresh random seed for a playthrough (recorded, so it can be replayed)."""
    return int.from_bytes(os.urandom(4), "big") >> 1


def viewer_name(given: str | None) -> str:
    if given:
        return given
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # no login name (containers): one anonymous local viewer
        return "local-viewer"


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def open_store(opts: PlayOptions) -> tuple[Any, str] | None:
    """The telemetry store and its path, or None when the viewer opted out."""
    if opts.no_telemetry:
        return None
    from branching.cli.main import db_path
    from branching.store import Store

    path = db_path(opts.db)
    return Store.open(path), str(path)


def notice_once(where: str) -> str | None:
    """The first-run notice about recording, or None when it was shown before."""
    from platformdirs import user_config_dir

    marker = Path(user_config_dir("branching")) / "notice-shown"
    if marker.exists():
        return None
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(where + "\n", encoding="utf-8")
    except OSError:
        pass
    return (f"branching records your choices (pseudonymously) to {where}. "
            "Play with --no-telemetry to record nothing; `branching forget NAME` erases "
            "a viewer's data.")


def terminal_size() -> tuple[int, int]:
    size = shutil.get_terminal_size((0, 0))
    return size.columns, size.lines


def start_recording(store: Any, where: str, story: Any, opts: PlayOptions, seed: int,
                    viewer: str) -> StoreRecorder:
    from branching.store import StoryInfo
    from branching.store.context import session_context

    store.register_story(StoryInfo(story.id, story.title, story.author, story.version,
                                   story.content_hash, story.structure()))
    cols, rows = terminal_size()
    session = store.start_session(
        story.id, story.content_hash, viewer, attrs=parse_attrs(opts.attrs),
        context=session_context(cols, rows), seed=seed,
    )
    return StoreRecorder(session, where)


def resume_run(store: Any, story: Any, viewer: str) -> tuple[Playthrough, Any] | None:
    """The viewer's unfinished playthrough of `story`, rebuilt from its recorded frames."""
    point = store.unfinished_session(story.id, viewer)
    if point is None:
        return None
    data = {"seed": point.seed or 0, "frames": list(point.frames)}
    return Playthrough.from_json(story, data), point


def run_play(opts: PlayOptions) -> int:
    from branching.cli.story import _load

    if opts.story is None:
        if opts.plain or opts.script or not interactive():
            raise click.UsageError("name a STORY to play in line mode")
        from branching.tui.player.launch import run_library

        return run_library(opts)
    story = _load(opts.story)
    plain = opts.plain or opts.script is not None or not interactive()
    if not plain:
        from branching.tui.player.launch import run_player

        return run_player(story, opts)
    return play_plain_cli(story, opts)


def play_plain_cli(story: Any, opts: PlayOptions) -> int:
    from branching.play.plain import play_plain
    from branching.startup import resume_gc

    resume_gc()  # line mode has no first frame to hurry

    script = None
    if opts.script is not None:
        script = [s.strip() for s in opts.script.split(",") if s.strip()]
    opened = open_store(opts)
    recorder: Recorder = NullRecorder()
    viewer = viewer_name(opts.viewer)
    run: Playthrough | None = None
    resumed = False
    try:
        if opened is not None:
            store, where = opened
            if (note := notice_once(where)) is not None:
                click.echo(note, err=True)
            if opts.resume:
                found = resume_run(store, story, viewer)
                if found is None:
                    click.echo("(no unfinished playthrough to resume: starting anew)", err=True)
                else:
                    run, point = found
                    recorder = StoreRecorder(store.resume_session(point.session_id), where)
                    resumed = True
            if run is None:
                seed = opts.seed if opts.seed is not None else new_seed()
                run = Playthrough.start(story, seed)
                recorder = start_recording(store, where, story, opts, seed, viewer)
        else:
            if opts.resume:
                raise click.UsageError("--resume needs telemetry (it reads the recorded state)")
            seed = opts.seed if opts.seed is not None else new_seed()
            run = Playthrough.start(story, seed)
        echo = not sys.stdin.isatty() and script is None and os.environ.get("TERM") != "dumb"
        result = play_plain(run, sys.stdout, script=script, stdin=sys.stdin, echo=echo,
                            recorder=recorder, resumed=resumed)
        return result.status
    finally:
        recorder.close()
        if opened is not None:
            opened[0].close()
