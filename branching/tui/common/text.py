"""Story text as Textual `Content`: always literal, never markup, never escapes.

Everything a story, the database or the command line supplies (scene text,
labels, titles, kinds, viewer names) reaches the screen through this module.
`Content` objects are never parsed as console markup, so `[bold]` or
`[@click=app.quit]` stay visible characters. `Content` does not stop terminal
escape sequences, though: the loader already turns control characters into
visible symbols, and `literal` does it again here (defence in depth: a value
restored from a database, or a `--viewer` name, never went through the loader).

`prose` renders the story format's text rules: a blank line starts a new
paragraph (other line breaks and runs of spaces fold into one space, as in the
plain player), and `*emphasis*` / `**strong**` become italic / bold spans
(`branching.story.markup` says what counts as emphasis, for both players).
Asterisks that do not pair up are shown as they are.
"""

from __future__ import annotations

import re

from textual.content import Content, Span

from branching.escape import terminal
from branching.story.markup import unmark


def clean(text: str) -> str:
    """`text` with every terminal control character (bar newline) made visible."""
    return terminal(text.replace("\t", "    "))


def literal(text: str, style: str = "") -> Content:
    """`text` exactly as written (markup not interpreted), optionally styled."""
    content = Content(clean(text))
    return content.stylize(style) if style else content


def paragraphs(text: str) -> list[str]:
    """Paragraphs of story text, each folded onto one line."""
    out = []
    for block in re.split(r"\n[ \t]*\n", clean(text).strip()):
        folded = " ".join(block.split())
        if folded:
            out.append(folded)
    return out


def emphasised(line: str) -> Content:
    """One paragraph with `**strong**` and `*emphasis*` as spans (markers removed)."""
    text, marks = unmark(clean(line))
    return Content(text, spans=[Span(m.start, m.end, m.style) for m in marks])


def prose(passages: list[str], separator: str = "·  ·  ·") -> Content:
    """Several passages of story text as one `Content`, paragraphs a blank line apart."""
    blocks: list[Content] = []
    for i, text in enumerate(passages):
        if i and blocks:
            blocks.append(Content(separator).stylize("dim"))
        blocks.extend(emphasised(p) for p in paragraphs(text))
    return Content("\n\n").join(blocks)
