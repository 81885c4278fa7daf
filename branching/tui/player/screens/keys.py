"""Key bindings shared by the player's screens.

The number keys choose on the player and ending screens alike. While text is
being revealed, any key completes it, except the keys of the chrome (help and
quit), which keep working.
"""

from __future__ import annotations

from textual.binding import Binding

CHROME_KEYS = frozenset({"question_mark", "q", "ctrl+q", "ctrl+c"})


def number_bindings() -> list[Binding]:
    """1-9 take the numbered option (the action `number(n)`)."""
    return [Binding(str(n), f"number({n})", "Choose", show=False) for n in range(1, 10)]
