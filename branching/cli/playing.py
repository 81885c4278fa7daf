"""`branching play`: choosing the player, opening telemetry, resuming.

This is composition only: it loads the story, opens the store (unless the
viewer opted out), builds a `Playthrough` (new or resumed from the recorded
state) and hands them to the plain player or the Textual app.
"""

from __future__ import annotations

import os
import shlex
import sys

import click

from branching.cli.main import interactive
from branching.escape import terminal_line
from branching.play.engine import Playthrough, new_seed
from branching.play.recorder import NullRecorder, Recorder
from branching.recording import (
    PlayOptions,
    StoreRecorder,
    exit_on_signals,
    notice_once,
    open_store,
    require_telemetry_for_resume,
    resume_run,
    start_recording,
    viewer_name,
)
from branching.story.model import Story


def run_play(opts: PlayOptions) -> int:
    from branching.cli.story import _load

    if opts.story is None:
        if opts.plain or opts.script or not interactive():
            raise click.UsageError("name a STORY to play in line mode")
        from branching.tui.player.launch import run_library

        return run_library(opts)
    story = _load(story_path(opts.story))
    plain = opts.plain or opts.script is not None or not interactive()
    if not plain:
        from branching.tui.player.launch import run_player

        return run_player(story, opts)
    return play_plain_cli(story, opts)


def resume_command(opts: PlayOptions) -> str:
    """The command that resumes this playthrough: the story as the viewer typed it,
    and the options that say where it was recorded and for whom."""
    argv = ["branching", "play", opts.story or "STORY"]
    if opts.plain:
        argv.append("--plain")
    if opts.db:
        argv += ["--db", opts.db]
    if opts.viewer:
        argv += ["--viewer", opts.viewer]
    if opts.viewer_key:
        argv += ["--viewer-key", opts.viewer_key]
    return shlex.join([*argv, "--resume"])


def story_path(given: str) -> str:
    """STORY as typed, or the bundled story of that name when no such path exists."""
    from pathlib import Path

    from branching.story.bundled import bundled_story

    if Path(given).exists():
        return given
    found = bundled_story(given)
    return str(found) if found is not None else given


def play_plain_cli(story: Story, opts: PlayOptions) -> int:
    from branching.startup import resume_gc

    resume_gc()  # line mode has no first frame to hurry

    script = None
    if opts.script is not None:
        script = [s.strip() for s in opts.script.split(",") if s.strip()]
    require_telemetry_for_resume(opts)
    with exit_on_signals():  # SIGTERM, SIGHUP: close the store as after ctrl+c
        return _play_recorded(story, opts, script)


def tell_viewer(message: str, severity: str = "warning") -> None:
    """A notice from the store while playing in line mode (on the store's writer thread)."""
    try:
        click.echo(f"({terminal_line(message)})", err=True)
    except OSError:  # the terminal is gone
        pass


def _play_recorded(story: Story, opts: PlayOptions, script: list[str] | None) -> int:
    from branching.play.plain import play_plain

    opened = open_store(opts)
    recorder: Recorder = NullRecorder()
    viewer = viewer_name(opts.viewer)
    run: Playthrough | None = None
    resumed = False
    try:
        if opened is not None:
            store, where = opened
            store.notify = tell_viewer  # choices kept beside a locked database, and back
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
            seed = opts.seed if opts.seed is not None else new_seed()
            run = Playthrough.start(story, seed)
        echo = not sys.stdin.isatty() and script is None and os.environ.get("TERM") != "dumb"
        result = play_plain(
            run,
            sys.stdout,
            script=script,
            stdin=sys.stdin,
            echo=echo,
            recorder=recorder,
            resumed=resumed,
            resume_with=resume_command(opts) if opened is not None else None,
        )
        return result.status
    finally:
        recorder.close()
        if opened is not None:
            opened[0].close()
