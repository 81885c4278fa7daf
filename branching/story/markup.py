"""Emphasis in story text: `*emphasis*` and `**strong**` (STORY-FORMAT.md, "Text").

This is the one definition of what counts as emphasis, shared by both players:
the full-screen player turns the spans into italic and bold (`tui.common.text`),
the line player into terminal italic and bold, or drops the markers on a pipe
(`play.plain`). A marker pair must hug its words (`*two words*`, not `* x *`);
emphasis may sit inside strong. Asterisks that do not pair up (`2 * 3`) are
text, shown as written. Work on one folded paragraph at a time: emphasis does
not run across a blank line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Style = Literal["italic", "bold"]

_MARKED = re.compile(
    r"\*\*(?P<strong>(?=\S).+?(?<=\S))\*\*"
    r"|(?<![*\w])\*(?P<em>(?=[^\s*]).+?(?<=[^\s*]))\*(?![*\w])"
)


@dataclass(frozen=True, slots=True)
class Span:
    """`style` applies to characters `start` to `end` (exclusive) of the unmarked text."""

    start: int
    end: int
    style: Style


def unmark(text: str) -> tuple[str, list[Span]]:
    """`text` without its emphasis markers, and the spans the markers stood for."""
    out: list[str] = []
    spans: list[Span] = []
    _unmark(text, out, spans)
    return "".join(out), spans


def strip_markers(text: str) -> str:
    """`text` without its emphasis markers."""
    return unmark(text)[0]


def _unmark(text: str, out: list[str], spans: list[Span]) -> None:
    last = 0
    for m in _MARKED.finditer(text):
        out.append(text[last : m.start()])
        start = sum(map(len, out))
        style: Style
        if m.group("strong") is not None:
            _unmark(m.group("strong"), out, spans)  # emphasis inside strong
            style = "bold"
        else:
            out.append(m.group("em"))
            style = "italic"
        spans.append(Span(start, sum(map(len, out)), style))
        last = m.end()
    out.append(text[last:])
