"""Shares drawn as small bars: the flowchart's and the dashboard's, one drawing.

A bar is `width` cells filled in proportion to a share, in eighths of a cell
(`▏▎▍▌▋▊▉█`), so a producer sees at a glance which way viewers went. In ASCII
(a console that cannot encode Unicode) there are whole `#` cells only, and
any traffic at all gets at least one. A share that is hidden (below
`--min-count`) or has no base is a blank bar, never a zero one.
"""

from __future__ import annotations

from rich.text import Text

BAR_WIDTH = 8  # the dashboard's bars; the flowchart sizes its own to the width it has
PCT_WIDTH = 6  # "100.0%"
SHARE_WIDTH = BAR_WIDTH + 1 + PCT_WIDTH  # a share cell: bar, space, percentage
FULL, EIGHTHS = "█", " ▏▎▍▌▋▊▉"


def share_bar(
    share: float | None, width: int = BAR_WIDTH, *, style: str = "green", ascii_only: bool = False
) -> Text:
    """`share` (0..1, None: hidden) as a bar `width` cells wide."""
    if share is None:
        return Text(" " * width)
    full, part = divmod(round(max(0.0, min(1.0, share)) * width * 8), 8)
    if ascii_only:  # whole cells only, at least one for any traffic
        text = "#" * max(full + (part >= 4), 1 if share > 0 else 0)
    else:
        text = FULL * full + (EIGHTHS[part] if part else "")
    return Text(text.ljust(width), style=style)


def share_cell(
    share: float | None,
    text: str,
    width: int = BAR_WIDTH,
    *,
    style: str = "green",
    ascii_only: bool = False,
) -> Text:
    """A bar, then the percentage `text` in bold ('-' when hidden: no bar either)."""
    bar = share_bar(share if text != "-" else None, width, style=style, ascii_only=ascii_only)
    return Text.assemble(bar, " ", (text.rjust(PCT_WIDTH), "bold"))
