"""Every string that came from a story, a viewer or a database, made safe for one output.

Story files, `--attr` values, `TERM`/`TERM_PROGRAM` (which an SSH client
chooses), viewer names and whatever `branching merge` copied in from another
database are all data someone else wrote. They reach producers' terminals,
spreadsheets, wikis, browsers and Graphviz, and each of those reads some
characters as commands. This module has one function per output format; every
renderer and exporter sends each such string through the one for its format,
and nothing else. It imports nothing from the package, so every layer (the
story loader, the store, the renderers, the players) can use it.

- `terminal`: control characters become visible symbols: C0 codes except
  newline and tab (`␛` for ESC, `␇` for BEL: the control pictures), DEL (`␡`),
  the C1 codes (U+0080-U+009F, which include the 8-bit CSI and OSC) and the
  bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069) become
  U+FFFD. So no escape sequence (colours, a window title, a screen clear, an
  OSC 8 link) and no reordered text reaches a terminal. `terminal_line` also
  turns newlines and tabs into spaces, for anything shown on one line.
- `csv_cell`: text as `terminal` makes it, and a cell whose first character
  (or first after leading white space) is `=`, `+`, `-`, `@`, a tab, a carriage
  return or a line feed (or the full-width `＝＋－＠`) starts with a `'`, as
  OWASP recommends against formula injection, so a spreadsheet shows it as
  text. Numbers stay numbers: only text cells are prefixed.
- `json_text`: `json.dumps` already writes C0 codes as `\\u00XX`; we also write
  DEL, C1, the bidi controls and U+2028/U+2029 that way. JSON stays lossless
  (a parser gets the recorded string back exactly) and safe to print to a
  terminal.
- `mermaid_label` / `mermaid_comment`: a label is always a quoted string in
  which `"`, `<`, `>`, `&`, `#`, `` ` ``, `|` and a `%` before another `%` are
  Mermaid entity codes (`#34;`...) and a newline is `<br/>`, so no text can
  close the quotes, start a statement (`click ... href`), write HTML or open a
  `%%{init}%%` directive; brackets and braces are safe inside the quotes. A
  comment is kept on its one line, with `%%` split.
- `dot_string`: a DOT quoted string: backslashes and quotes escaped, newlines
  as `\\n`, and `&` as `&amp;`, because Graphviz reads HTML entities in every
  label and copies them into SVG (an undefined `&foo;` would make the SVG
  invalid XML). Labels are never `<...>` HTML-like labels. Graphviz escapes
  the text it writes into SVG, so these strings are also how data reaches SVG.
- `html_text`: `terminal`, then `html.escape` (quotes too, so the same text is
  safe in an attribute value).
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = str.maketrans({"\n": " ", "\t": " ", "\u2028": " ", "\u2029": " "})


def _visible(ch: str) -> str:
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # control pictures: ␛ for ESC, ␇ for BEL
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"  # C1 codes and bidi overrides


def terminal(text: str) -> str:
    """`text` with every terminal control character (bar newline and tab) made visible."""
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(lambda m: _visible(m.group()), text)


def terminal_line(text: str) -> str:
    """`terminal(text)` on one line: newlines and tabs become spaces."""
    return terminal(text).translate(_LINE_BREAKS)


# -- CSV ---------------------------------------------------------------------------------

FORMULA_START = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")


def csv_cell(value: object) -> object:
    """A value for `csv.writer`: None is empty, numbers stay, text is made inert."""
    if value is None:
        return ""
    if isinstance(value, int | float):
        return value
    raw = str(value)
    text = terminal(raw)
    if any(t[:1] in FORMULA_START or t.lstrip()[:1] in FORMULA_START for t in (raw, text)):
        return "'" + text
    return text


# -- JSON --------------------------------------------------------------------------------

_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def json_text(data: Any, *, indent: int | None = None, compact: bool = False) -> str:
    """`data` as JSON text (UTF-8 kept) with no character that drives a terminal."""
    separators = (",", ":") if compact else None
    text = json.dumps(data, ensure_ascii=False, indent=indent, separators=separators)
    # These characters only ever occur inside JSON strings, where \uXXXX means the same.
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# -- Mermaid -----------------------------------------------------------------------------

_MERMAID = {
    '"': "#34;",
    "<": "#60;",
    ">": "#62;",
    "&": "#38;",
    "#": "#35;",
    "`": "#96;",
    "|": "#124;",
    "\n": "<br/>",
    "\t": " ",
    "\u2028": "<br/>",
    "\u2029": "<br/>",
}
_DOUBLE_PERCENT = re.compile("%(?=%)")


def mermaid_label(text: str) -> str:
    """`text` as a quoted Mermaid label (node, edge or subgraph title)."""
    body = "".join(_MERMAID.get(ch, ch) for ch in terminal(text))
    return '"' + _DOUBLE_PERCENT.sub("#37;", body) + '"'


def mermaid_comment(text: str) -> str:
    """`text` for a `%%` comment line: one line, no `%%` that could open a directive."""
    return _DOUBLE_PERCENT.sub("% ", terminal_line(text))


# -- DOT (and the SVG Graphviz draws from it) --------------------------------------------

_NOT_XML = re.compile("[\ufffe\uffff\ud800-\udfff]")


def dot_string(text: str) -> str:
    """`text` as a DOT quoted string; newlines become centred line breaks."""
    body = _NOT_XML.sub("\ufffd", terminal(text)).replace("&", "&amp;")
    body = body.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{body}"'


# -- HTML --------------------------------------------------------------------------------


def html_text(text: str) -> str:
    """`text` for HTML, as element content or inside a quoted attribute value."""
    return html.escape(terminal(text), quote=True)
