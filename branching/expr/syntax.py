"""The source side of the expression language: limits, lexical rules, positions, parsing.

Owns everything measured in characters of what the author wrote: the length
and nesting limits, the callable names, the lexical rules Python's parser
would not enforce (or would crash on: comments, NUL, string prefixes, two
strings side by side, nesting deeper than `MAX_DEPTH`), the mapping from
ast's (line, UTF-8 byte column) positions back to character offsets, and the
call to `ast.parse(..., mode="eval")` with its failures turned into a
`ExprProblem`. `ExprProblem` and `SceneRef` live here because both are offsets into
the source. Nothing here evaluates anything: `expr_build` walks the tree this
module returns. Standard library only (headless core).
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 1000
MAX_DEPTH = 50
FUNCTIONS: dict[str, int] = {"visited": 1, "visits": 1, "chosen": 2, "turns": 0}
EXAMPLES = {
    "visited": 'visited("kitchen")',
    "visits": 'visits("kitchen")',
    "chosen": 'chosen("office", "accept")',
    "turns": "turns()",
}


@dataclass(frozen=True)
class ExprProblem:
    """Something wrong in an expression or template, at a 0-based character offset."""

    offset: int
    message: str


@dataclass(frozen=True)
class SceneRef:
    """A literal scene (and choice) id passed to visited/visits/chosen, for the checker."""

    scene: str
    choice: str | None
    offset: int


_LEX = re.compile(r"""[()\[\]{}#\x00]|(['"])((?:(?!\1)[^\\\r\n]|\\(?:\r\n|[\s\S]))*)(\1)?""")
_PREFIX = re.compile(r"[A-Za-z0-9_]+\Z")
_NEXT_QUOTE = re.compile(r"[ \t]*['\"]")
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|\Z)")


def scan(text: str) -> tuple[int, str] | None:
    """Limits and lexical rules ast.parse would not enforce (or would crash on)."""
    depth = 0
    for m in _LEX.finditer(text):
        quote, c, start = m.group(1), m.group(), m.start()
        if quote is None:
            if c == "#":
                return start, "comments ('#') are not allowed in conditions"
            if c == "\x00":
                return start, "NUL characters are not allowed in conditions"
            depth += 1 if c in "([{" else -1
            if depth > MAX_DEPTH:
                return start, f"expression is nested deeper than {MAX_DEPTH} levels"
            continue
        if text.startswith(quote * 3, start):
            return start, "triple-quoted strings are not allowed in conditions"
        prefix = start and text[start - 1] in _WORD and _PREFIX.search(text, 0, start)
        if prefix and prefix.group().lower() in ("r", "u", "b", "f", "br", "rb", "fr", "rf"):
            p = prefix.group().lower()
            what = (
                "f-strings are"
                if "f" in p
                else "bytes literals are"
                if "b" in p
                else f"string prefixes ({prefix.group()}'...') are"
            )
            return prefix.start(), f"{what} not allowed in conditions"
        if m.group(3) is None:
            return start, f"unterminated string: close it with {quote}"
        if nxt := _NEXT_QUOTE.match(text, m.end()):
            return nxt.end() - 1, "two strings side by side: join them with '+'"
    return None


class OffsetMap:
    """Turns ast (line, UTF-8 byte column) positions into offsets into the source."""

    def __init__(self, source: str, lead: int) -> None:
        self.source, self.lead = source, lead
        text = source[lead:]
        self.simple = text.isascii() and "\n" not in text and "\r" not in text
        self.lines: list[tuple[int, bytes]] = []
        if not self.simple:
            self.lines = [(m.start(), m.group().encode()) for m in _LINE.finditer(text)]

    def at(self, lineno: int, col: int, chars: bool = False) -> int:
        if self.simple:
            return self.lead + col
        start, line = self.lines[min(max(lineno, 1), len(self.lines)) - 1]
        if chars:
            return self.lead + start + col
        return self.lead + start + len(line[:col].decode("utf-8", "ignore"))

    def start(self, node: Any) -> int:
        return self.at(node.lineno, node.col_offset)

    def end(self, node: Any) -> int:
        return self.at(node.end_lineno, node.end_col_offset)

    def segment(self, node: Any) -> str:
        return self.source[self.start(node) : self.end(node)]


def parse(text: str, pos: OffsetMap) -> ast.Expression | ExprProblem:
    """The syntax tree of `text` (the source without leading blanks), or why there is none."""
    try:
        if "\\" in text:  # invalid escapes warn; make them errors instead
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                return ast.parse(text, mode="eval")
        return ast.parse(text, mode="eval")
    except SyntaxError as exc:
        col = exc.offset - 1 if exc.offset and exc.offset > 0 else None
        at = pos.at(exc.lineno or 1, col, chars=True) if col is not None else len(pos.source)
        return ExprProblem(min(at, len(pos.source)), f"syntax error: {exc.msg}")
    except (RecursionError, MemoryError):
        return ExprProblem(pos.lead, f"expression is nested deeper than {MAX_DEPTH} levels")
    except (ValueError, Warning) as exc:
        return ExprProblem(pos.lead, f"invalid expression: {exc}")
