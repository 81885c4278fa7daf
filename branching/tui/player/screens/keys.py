"""Key bindings shared by the player's screens.

The number keys choose on the player and ending screens alike. The paging
keys scroll the story above the choices without moving the focus off them
(they are priority bindings, so the choice list never takes them). While text
is being revealed, any key completes it, except the keys of the chrome (help
and quit), which keep working.
"""

from __future__ import annotations

from textual.binding import Binding

CHROME_KEYS = frozenset({"question_mark", "q", "ctrl+q", "ctrl+c"})


SCROLL_KEYS = {
    "pageup": "page_up",
    "pagedown": "page_down",
    "home": "home",
    "end": "end",
}


def scroll_bindings() -> list[Binding]:
    """PageUp/PageDown/Home/End scroll the story (the action `scroll_story(where)`)."""
    return [
        Binding(key, f"scroll_story('{where}')", "Scroll", show=False, priority=True)
        for key, where in SCROLL_KEYS.items()
    ]


def number_bindings() -> list[Binding]:
    """1-9 take the numbered option (the action `number(n)`)."""
    return [Binding(str(n), f"number({n})", "Choose", show=False) for n in range(1, 10)]
