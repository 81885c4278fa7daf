"""Start-up speed: the cyclic garbage collector paused until the first frame.

Starting the player imports several hundred modules and builds the story, the
app and its first screen: many small objects that all stay alive. The cyclic
collector would scan them again and again for nothing (measured here: about
35 ms of a 220 ms start). `branching play` pauses it at once, and the player
resumes it when the first frame is on screen (or when it returns). Resuming
freezes what start-up made into the permanent generation, so later collections
during play do not walk it either.
"""

from __future__ import annotations

import gc

_paused = False


def pause_gc() -> None:
    """Pause automatic collection (only if it was on)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume_gc() -> None:
    """Undo `pause_gc`; calling it again, or without a pause, does nothing."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
