"""The one place that pauses Python's cyclic garbage collector, and why.

Starting the player imports several hundred modules and builds the story, the
app and its first screen; checking a story builds its whole model. Both make
many small objects that all stay alive, and the cyclic collector would scan
them again and again for nothing (measured here: about 35 ms of a 220 ms
start, and about 40% of loading a large story). So the *program* pauses it:
`branching` pauses it before importing anything (`pause_gc`), the command group
resumes it at once for every command except `play` and `check`, and the
player resumes it when its first frame is on screen. Resuming freezes what was
made so far into the permanent generation, so later collections do not walk
it either.

Library code never touches the collector: `story.loader.load` and the rest
leave it exactly as they found it, so a program embedding branching keeps
control of its own process. Pausing is idempotent and thread-safe.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_paused = False


def pause_gc() -> None:
    """Pause automatic collection until `resume_gc` (only if it is on now)."""
    global _paused
    with _lock:
        if not _paused and gc.isenabled():
            gc.disable()
            _paused = True


def resume_gc() -> None:
    """Undo `pause_gc`; calling it again, or without a pause, does nothing."""
    global _paused
    with _lock:
        if _paused:
            _paused = False
            gc.freeze()
            gc.enable()
