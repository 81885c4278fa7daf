"""Composition root of the full-screen player: what `branching play` calls.

`run_player(story, opts)` plays one story; `run_library(opts)` shows the
library: the bundled stories, ./stories and any `--stories DIR`. Both open the telemetry store
(unless `--no-telemetry`) through `branching.recording`, as the line player
does, so both players record the same way; build the app with `build_app`;
run it; and close everything. They return the process exit status: 0, or 1
when telemetry cannot be opened or after an unexpected error, either reported
in one line (an unexpected error's details go to a crash file), never as a
traceback. The store itself is opened by the app, in a worker, once the first
scene is on screen. SIGTERM and SIGHUP leave the app like ctrl+q; every
recorder and the store are then closed here, with those signals ignored so a
second one cannot cut the closing short.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from branching.play.services import Services
from branching.recording import PlayOptions, store_services
from branching.story.model import Story
from branching.tui.player.app import BranchingApp, TuiOptions, build_app


def crash_log_path() -> Path:
    from platformdirs import user_log_path

    return user_log_path("branching") / "crash.log"


def prepare(opts: PlayOptions) -> tuple[Services, TuiOptions]:
    """Telemetry services and player options from `branching play`'s options."""
    services = store_services(opts)
    options = TuiOptions(
        seed=opts.seed,
        no_timer=opts.no_timer,
        resume=opts.resume,
        crash_log=crash_log_path(),
        exit_on_signals=True,
    )
    return services, options


def run_player(story: Story, opts: PlayOptions) -> int:
    """Play `story` full-screen; the exit status."""
    services, options = prepare(opts)
    return run_app(build_app(story, None, options, services=services))


def run_library(opts: PlayOptions) -> int:
    """Show the library (bundled stories, ./stories, `--stories` folders); the exit status."""
    from branching.tui.player.catalog import library_folders

    folders = library_folders(opts.stories_dirs)
    services, options = prepare(opts)
    return run_app(build_app(None, None, options, services=services, library=folders))


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    previous: dict[int, Any] = {}
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            try:
                previous[number] = signal.signal(number, signal.SIG_IGN)
            except ValueError:  # not the main thread
                break
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run_app(app: BranchingApp) -> int:
    """Run `app`, then close every recorder and the store; the exit status.

    The store's notices while playing (choices kept beside a locked database,
    and back) go to the player's notice bar (see `BranchingApp`); its warnings
    are printed by the command once the app has closed (`branching.store.notices`).
    """
    try:
        app.run()
    finally:
        with _signals_ignored():  # a second SIGTERM cannot cut the closing short
            app.close_all()
    message = app.crash or app.fatal
    if message:
        try:
            print(message, file=sys.stderr)
        except OSError:  # the terminal is gone (SIGHUP)
            pass
        return 1
    return app.return_code or 0
