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
plain player), and `*emphasis*` / `**strong**` become italic / bold spans.
Asterisks that do not pair up are shown as they are.
"""

from __future__ import annotations

import re

from textual.content import Content, Span

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_MARKED = re.compile(
    r"\*\*(?P<strong>(?=\S).+?(?<=\S))\*\*"
    r"|(?<![*\w])\*(?P<em>(?=[^\s*]).+?(?<=[^\s*]))\*(?![*\w])"
)


def _visible(ch: str) -> str:
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # control pictures: ␛ for ESC, ␇ for BEL
    if code == 0x7F:
        return "\u2421"
    return "\ufffd"  # C1 controls and bidi overrides


def clean(text: str) -> str:
    """`text` with every terminal control character (bar newline) made visible."""
    text = text.replace("\t", "    ")
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(lambda m: _visible(m.group()), text)


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
    out: list[str] = []
    spans: list[Span] = []
    _mark(clean(line), out, spans)
    return Content("".join(out), spans=spans)


def _mark(text: str, out: list[str], spans: list[Span]) -> None:
    """Append `text` to `out` without its markers, recording styled spans."""
    last = 0
    for m in _MARKED.finditer(text):
        out.append(text[last : m.start()])
        start = sum(map(len, out))
        if m.group("strong") is not None:
            _mark(m.group("strong"), out, spans)  # emphasis inside strong
            style = "bold"
        else:
            out.append(m.group("em"))
            style = "italic"
        spans.append(Span(start, sum(map(len, out)), style))
        last = m.end()
    out.append(text[last:])


def prose(passages: list[str], separator: str = "·  ·  ·") -> Content:
    """Several passages of story text as one `Content`, paragraphs a blank line apart."""
    blocks: list[Content] = []
    for i, text in enumerate(passages):
        if i and blocks:
            blocks.append(Content(separator).stylize("dim"))
        blocks.extend(emphasised(p) for p in paragraphs(text))
    return Content("\n\n").join(blocks)
