"""Safe YAML reading: bytes -> a light tree of nodes that keep their line and column.

Why not `yaml.load`? Three reasons, all from the story format's contract:

- PyYAML resolves scalars by YAML 1.1 rules (`No` -> False, `1.10` -> 1.1,
  `12:30` -> 750, `2001-13-01` -> a ValueError) and keeps the last of two
  duplicate keys silently. Stories need scalars as the author wrote them, with
  their positions, and every duplicate reported.
- libyaml's composer recurses in C: `[[[[...` a few thousand deep crashes the
  process, and an alias bomb of 500 bytes expands to gigabytes when walked.
  We compose the tree ourselves from libyaml's *parse events*, which come from a
  non-recursive state machine, so depth and alias expansion are counted as the
  events arrive and refused before anything large exists.
- It is faster: parse events cost a fraction of PyYAML's Python-side resolver.

Aliases share the anchored node (no copy); the expansion budget counts every
node an alias would have copied, so walking the tree later is bounded too.
Scalars are neutralised here, once: control characters (C0 except newline and
tab, DEL, C1, bidi overrides) become visible symbols, so no story text can drive
a terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from branching.escape import terminal
from branching.story.files import MAX_BYTES as MAX_BYTES  # (its home; read here too)

# libyaml's parser when PyYAML was built with it. `CParser` is not re-exported by
# `yaml` itself (only the C loaders are), so look it up in `yaml.cyaml`.
_Parser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)
if _Parser is None:  # pragma: no cover - pure-Python fallback
    from yaml.loader import SafeLoader as _Parser

MAX_DEPTH = 64
MAX_ALIAS_NODES = 100_000

# Control characters become visible symbols (the rules: `branching.escape`).
neutralise = terminal


class Scalar:
    __slots__ = ("value", "style", "line", "col", "size")

    def __init__(self, value: str, style: str | None, line: int, col: int) -> None:
        self.value = value
        self.style = style  # None (plain), "'", '"', "|", ">"
        self.line = line
        self.col = col
        self.size = 1

    @property
    def plain(self) -> bool:
        return self.style is None


class Seq:
    __slots__ = ("items", "line", "col", "size")

    def __init__(self, line: int, col: int) -> None:
        self.items: list[Node] = []
        self.line = line
        self.col = col
        self.size = 1


class Map:
    __slots__ = ("pairs", "line", "col", "size")

    def __init__(self, line: int, col: int) -> None:
        self.pairs: dict[str, tuple[Scalar, Node]] = {}
        self.line = line
        self.col = col
        self.size = 1


Node = Scalar | Seq | Map


@dataclass(frozen=True, slots=True)
class YamlProblem:
    line: int
    col: int
    message: str


class YamlFatal(Exception):
    """The file cannot be turned into a tree at all (syntax, limits)."""

    def __init__(self, line: int, col: int, message: str) -> None:
        super().__init__(message)
        self.line, self.col, self.message = line, col, message


def decode(data: bytes) -> str:
    """Strict UTF-8 (a BOM is allowed); a bad byte raises YamlFatal with its place."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise YamlFatal(
            line, col, f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x})"
        ) from None
    return text.removeprefix("\ufeff")


def read_tree(text: str) -> tuple[Node | None, list[YamlProblem]]:
    """Compose `text` into nodes. Raises YamlFatal; returns soft problems (duplicates)."""
    return _Composer(text).run()


def _tag_message(tag: str) -> str:
    shown = "!!" + tag[len("tag:yaml.org,2002:") :] if tag.startswith("tag:yaml.org,2002:") else tag
    return f"explicit YAML tags are not allowed ({shown})"


class _Composer:
    def __init__(self, text: str) -> None:
        self.parser = _Parser(text)
        self.problems: list[YamlProblem] = []
        self.anchors: dict[str, Node] = {}
        self.pending: dict[int, str] = {}  # id(open node) -> its anchor
        self.expanded = 0
        self.last = (1, 1)

    def run(self) -> tuple[Node | None, list[YamlProblem]]:
        try:
            return self._compose(), self.problems
        except YamlFatal:
            raise
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else self.last
            what = exc.problem or exc.context or "invalid YAML"
            where = exc.context_mark
            if exc.problem and exc.context and where is not None and where is not mark:
                what += f" ({exc.context} at line {where.line + 1}, column {where.column + 1})"
            raise YamlFatal(line, col, f"YAML syntax error: {what}") from None
        except Exception as exc:  # PyYAML also raises plain errors; never a traceback
            raise YamlFatal(*self.last, f"YAML error: {exc}") from None
        finally:
            dispose = getattr(self.parser, "dispose", None)
            if dispose is not None:
                dispose()

    def _compose(self) -> Node | None:
        get: Callable[[], Any] = self.parser.get_event  # events, typed by class below
        stack: list[Node] = []
        keys: list[Scalar | None] = []  # pending key per open mapping
        root: Node | None = None
        documents = 0
        while True:
            ev = get()
            cls = type(ev)
            mark = ev.start_mark
            line, col = mark.line + 1, mark.column + 1
            self.last = (line, col)
            if cls is yaml.ScalarEvent:
                if ev.tag is not None:
                    raise YamlFatal(line, col, _tag_message(ev.tag))
                node: Node = Scalar(neutralise(ev.value), ev.style or None, line, col)
                if ev.anchor is not None:
                    self.anchors[ev.anchor] = node
            elif cls is yaml.SequenceStartEvent or cls is yaml.MappingStartEvent:
                if ev.tag is not None:
                    raise YamlFatal(line, col, _tag_message(ev.tag))
                if len(stack) >= MAX_DEPTH:
                    raise YamlFatal(line, col, f"nesting deeper than {MAX_DEPTH} levels")
                new: Node = Seq(line, col) if cls is yaml.SequenceStartEvent else Map(line, col)
                stack.append(new)
                keys.append(None)
                if ev.anchor is not None:  # usable by aliases only once complete
                    self.anchors.pop(ev.anchor, None)
                    self.pending[id(new)] = ev.anchor
                continue
            elif cls is yaml.SequenceEndEvent or cls is yaml.MappingEndEvent:
                node = stack.pop()
                keys.pop()
                if isinstance(node, Map) and "<<" in node.pairs:
                    self._merge(node)
                if self.pending and id(node) in self.pending:
                    self.anchors[self.pending.pop(id(node))] = node
            elif cls is yaml.AliasEvent:
                target = self.anchors.get(ev.anchor)
                if target is None:
                    raise YamlFatal(line, col, f"unknown or unfinished anchor '*{ev.anchor}'")
                self.expanded += target.size
                if self.expanded > MAX_ALIAS_NODES:
                    raise YamlFatal(line, col, f"aliases expand beyond {MAX_ALIAS_NODES:,} nodes")
                node = target
            elif cls is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise YamlFatal(line, col, "a story file holds one YAML document, not several")
                continue
            elif cls is yaml.StreamEndEvent:
                return root
            else:  # StreamStart, DocumentEnd
                continue
            # attach `node` to its parent
            if not stack:
                root = node
                continue
            parent = stack[-1]
            parent.size += node.size
            if isinstance(parent, Seq):
                parent.items.append(node)
                continue
            pending_key = keys[-1]
            if pending_key is None:
                if not isinstance(node, Scalar):
                    raise YamlFatal(node.line, node.col, "mapping keys must be plain text")
                keys[-1] = node
                continue
            keys[-1] = None
            assert isinstance(parent, Map)  # only sequences and mappings are ever open
            self._put(parent, pending_key, node)

    def _put(self, parent: Map, key: Scalar, value: Node) -> None:
        name = key.value
        if name == "<<" and key.plain:
            parent.pairs.setdefault("<<", (key, value))
            return
        first = parent.pairs.get(name)
        if first is not None:
            self.problems.append(
                YamlProblem(
                    key.line,
                    key.col,
                    f"duplicate key '{name}' (first at line {first[0].line}); "
                    "YAML would silently keep only the last one",
                )
            )
            return
        parent.pairs[name] = (key, value)

    def _merge(self, node: Map) -> None:
        key, value = node.pairs.pop("<<")
        sources = value.items if isinstance(value, Seq) else [value]
        for src in sources:
            if not isinstance(src, Map):
                raise YamlFatal(key.line, key.col, "'<<' merges only mappings")
            for name, pair in src.pairs.items():
                node.pairs.setdefault(name, pair)
