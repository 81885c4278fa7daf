"""YAML nodes -> model objects, one mapping at a time, collecting every problem.

`Builder` knows the shapes of `spec` (text, id, number, bool, condition, ...)
and how each story object is made of them. It never raises for bad content: it
reports the problem at the node's line and column and carries on, so an author
sees every mistake of a file at once. References to scenes are only recorded
here and resolved by `resolve_references` once every file is loaded, because
scene ids are global to the story.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches

from branching.expr.conditions import (
    Expression,
    Template,
    Value,
    compile_expression,
    compile_template,
)
from branching.story import spec
from branching.story.model import Effect, Pos
from branching.story.yamlread import Map, Node, Scalar, Seq

Report = Callable[..., None]

_INT = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?=[eE]))(?:[eE][-+]?[0-9]+)?\Z")
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_ID = re.compile(spec.ID_PATTERN)
_VAR = re.compile(spec.VAR_PATTERN)
_TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "text"}


@dataclass(slots=True)
class RawScene:
    id: str
    key: Scalar
    value: Node
    file: str
    chapter: str | None


def describe(node: Node) -> str:
    if isinstance(node, Map):
        return "a mapping"
    if isinstance(node, Seq):
        return "a list"
    if node.plain and node.value in _NULL:
        return "nothing"
    return f"'{node.value}'" if len(node.value) <= 40 else "text"


def slug(label: str, position: int) -> str:
    """The default id of a choice, from its label (see STORY-FORMAT.md, Ids)."""
    text = re.sub(r"\{\{|\}\}|\{[^{}]*\}", " ", label)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    return text or f"choice_{position}"


def literal(node: Scalar) -> Value | None:
    """A state/set literal: true/false, decimal int or float, else the text; None for null.

    Raises ValueError for a decimal number too large to hold (an int past Python's
    digit limit, a float that would be infinite).
    """
    v = node.value
    if not node.plain:
        return v
    if v in _NULL:
        return None
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    if _INT.match(v):
        try:
            return int(v)
        except ValueError:
            raise ValueError(f"number too large: {v[:20]}... ({len(v):,} digits)") from None
    if _FLOAT.match(v):
        if math.isinf(f := float(v)):
            raise ValueError(f"number too large: {v if len(v) <= 40 else v[:20] + '...'}")
        return f
    return v


@dataclass
class _Shared:
    variables: dict[str, type] = field(default_factory=dict)
    refs: list[tuple[str, int, int, str, str | None, str]] = field(default_factory=list)


class Builder:
    def __init__(self, file: str, report: Report, shared: _Shared | None = None) -> None:
        self.file = file
        self.report = report
        self.shared = shared or _Shared()

    def for_file(self, file: str) -> Builder:
        return Builder(file, self.report, self.shared)

    def set_variables(self, variables: Mapping[str, type]) -> None:
        self.shared.variables = dict(variables)

    # -- reporting ---------------------------------------------------------------

    def error(self, node: Node, message: str) -> None:
        self.report(self.file, node.line, node.col, message)

    def warning(self, node: Node, message: str) -> None:
        self.report(self.file, node.line, node.col, message, "warning")

    def expected(self, node: Node, what: str, key: str) -> None:
        self.error(node, f"'{key}' must be {what}, not {describe(node)}")

    def check_keys(self, node: Map, kind: str, where: str) -> None:
        known = spec.KEYS[kind]
        for name, (key, _value) in node.pairs.items():
            if name not in known:
                close = get_close_matches(name, list(known), n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.error(key, f"unknown key '{name}' in {where}{hint}")
        for k in spec.OBJECTS[kind]:
            if k.required and k.name not in node.pairs and kind not in ("story",):
                self.error(node, f"{where} is missing '{k.name}'")

    def _map(self, node: Node, kind: str, where: str, key: str) -> Map | None:
        if not isinstance(node, Map):
            self.expected(node, f"a mapping ({', '.join(spec.KEYS[kind])})", key)
            return None
        self.check_keys(node, kind, where)
        return node

    # -- scalar shapes -------------------------------------------------------------

    def _literal(self, node: Node) -> tuple[bool, Value | None]:
        """(True, `literal`) of a scalar, (True, None) of a collection; (False, None)
        for a number too large, which is reported here."""
        if not isinstance(node, Scalar):
            return True, None
        try:
            return True, literal(node)
        except ValueError as exc:
            self.error(node, str(exc))
            return False, None

    def text(self, node: Node | None, key: str, allow_empty: bool = False) -> str | None:
        if node is None:
            return None
        if not isinstance(node, Scalar) or (
            node.plain and node.value in _NULL and not (allow_empty and node.value == "")
        ):
            self.expected(node, "text", key)
            return None
        return node.value

    def ident(self, node: Node | None, key: str) -> str | None:
        value = self.text(node, key)
        if value is not None and node is not None and not _ID.match(value):
            self.error(node, f"'{key}' must be an id of letters, digits, '_', '.', '-': '{value}'")
            return None
        return value

    def number(self, node: Node | None, key: str, positive: bool = False) -> float | int | None:
        if node is None:
            return None
        ok, value = self._literal(node)
        if not ok:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (isinstance(node, Scalar) and not node.plain)
        ):
            self.expected(node, "a number", key)
            return None
        if value < 0 or (positive and value == 0):
            self.error(node, f"'{key}' must be {'above' if positive else 'at least'} 0")
            return None
        return value

    def boolean(self, node: Node | None, key: str) -> bool:
        if node is None:
            return False
        if isinstance(node, Scalar) and node.plain and node.value in _TRUE | _FALSE:
            return node.value in _TRUE
        self.expected(node, "true or false", key)
        return False

    def get(self, node: Map, key: str) -> Node | None:
        pair = node.pairs.get(key)
        return pair[1] if pair else None

    def opt_text(self, node: Map, key: str) -> str | None:
        return self.text(self.get(node, key), key)

    def opt_id(self, node: Map, key: str) -> str | None:
        return self.ident(self.get(node, key), key)

    def opt_number(self, node: Map, key: str) -> float | int | None:
        return self.number(self.get(node, key), key)

    def tags(self, node: Node | None, key: str = "tags") -> tuple[str, ...]:
        if node is None:
            return ()
        if not isinstance(node, Seq):
            self.expected(node, "a list of text", key)
            return ()
        return tuple(t for item in node.items if (t := self.text(item, key)) is not None)

    def pos(self, node: Node) -> Pos:
        return Pos(self.file, node.line, node.col)

    def key_pos(self, node: Map, key: str) -> Pos:
        """Where `key` is written in a mapping (the mapping itself when absent)."""
        pair = node.pairs.get(key)
        return self.pos(pair[1] if pair else node)

    # -- expressions ---------------------------------------------------------------

    def _at(self, node: Scalar, offset: int) -> tuple[int, int]:
        """The file position of character `offset` of a scalar's value."""
        if node.style in ("|", ">"):
            lines = node.value[:offset].split("\n")
            return node.line + len(lines), len(lines[-1]) + 1  # indentation unknown: best effort
        before = node.value[:offset]
        if "\n" in before:
            return node.line + before.count("\n"), len(before) - before.rfind("\n")
        return node.line, node.col + offset + (0 if node.plain else 1)

    def condition(self, node: Node | None, key: str) -> Expression | None:
        if node is None:
            return None
        source = self.text(node, key)
        if source is None or not isinstance(node, Scalar):
            return None
        expr, problems = compile_expression(source, self.shared.variables)
        for p in problems:
            line, col = self._at(node, p.offset)
            self.report(self.file, line, col, p.message)
        if expr is not None:
            self._scene_refs(node, expr)
        return expr

    def template(self, node: Node | None, key: str) -> Template | None:
        if node is None:
            return None
        source = self.text(node, key, allow_empty=True)
        if source is None or not isinstance(node, Scalar):
            return None
        tpl, problems = compile_template(source, self.shared.variables)
        for p in problems:
            line, col = self._at(node, p.offset)
            self.report(self.file, line, col, p.message)
        for expr in tpl.expressions:
            self._scene_refs(node, expr)
        return tpl

    def _scene_refs(self, node: Scalar, expr: Expression) -> None:
        for ref in expr.scene_refs:
            line, col = self._at(node, ref.offset)
            self.shared.refs.append((self.file, line, col, ref.scene, ref.choice, "function"))

    def ref(self, node: Node, scene: str, kind: str) -> None:
        self.shared.refs.append((self.file, node.line, node.col, scene, None, kind))

    # -- state and effects ---------------------------------------------------------

    def state(self, pair: tuple[Scalar, Node] | None) -> tuple[dict[str, Value], dict[str, Pos]]:
        values: dict[str, Value] = {}
        where: dict[str, Pos] = {}
        if pair is None:
            return values, where
        node = pair[1]
        if not isinstance(node, Map):
            if not (isinstance(node, Scalar) and node.plain and node.value == ""):
                self.expected(node, "a mapping of variable to initial value", "state")
            return values, where
        for name, (key, value) in node.pairs.items():
            if not _VAR.match(name) or name in spec.RESERVED_NAMES:
                self.error(
                    key,
                    f"'{name}' cannot be a variable name (letters, digits, _; "
                    "not a keyword or function name)",
                )
                continue
            ok, lit = self._literal(value)
            if not ok:
                continue
            if lit is None:
                what = "null" if isinstance(value, Scalar) else describe(value)
                self.error(
                    value,
                    f"variable '{name}' needs an initial value of type bool, int, "
                    f"float or text, not {what}",
                )
                continue
            values[name] = lit
            where[name] = Pos(self.file, key.line, key.col)
        return values, where

    def _variable(self, key: Scalar) -> type | None:
        kind = self.shared.variables.get(key.value)
        if kind is None:
            close = get_close_matches(key.value, list(self.shared.variables), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            self.error(key, f"unknown variable '{key.value}'{hint}; declare it in 'state'")
        return kind

    def effect(self, node: Map) -> Effect:
        sets: list[tuple[str, Value]] = []
        adds: list[tuple[str, int | float]] = []
        set_node, add_node = self.get(node, "set"), self.get(node, "add")
        if set_node is not None:
            if not isinstance(set_node, Map):
                self.expected(set_node, "a mapping of variable to value", "set")
            else:
                for name, (key, value) in set_node.pairs.items():
                    if (kind := self._variable(key)) is not None:
                        if (v := self._set_value(name, kind, value)) is not None:
                            sets.append((name, v))
        if add_node is not None:
            if not isinstance(add_node, Map):
                self.expected(add_node, "a mapping of variable to number", "add")
            else:
                for name, (key, value) in add_node.pairs.items():
                    if (kind := self._variable(key)) is not None:
                        if (n := self._add_amount(name, kind, key, value)) is not None:
                            adds.append((name, n))
        return Effect(tuple(sets), tuple(adds), self.pos(node))

    def _set_value(self, name: str, kind: type, node: Node) -> Value | None:
        ok, v = self._literal(node)
        if not ok:
            return None
        if kind is float and type(v) is int:
            return float(v)
        if v is None or type(v) is not kind:
            got = "null" if v is None else f"{_TYPE_NAMES[type(v)]} {describe(node)}"
            self.error(node, f"'{name}' is {_TYPE_NAMES[kind]}; cannot set it to {got}")
            return None
        return v

    def _add_amount(self, name: str, kind: type, key: Scalar, node: Node) -> int | float | None:
        if kind not in (int, float):
            self.error(key, f"'add' needs a number variable; '{name}' is {_TYPE_NAMES[kind]}")
            return None
        ok, v = self._literal(node)
        if not ok:
            return None
        if (
            isinstance(v, bool)
            or not isinstance(v, int | float)
            or (isinstance(node, Scalar) and not node.plain)
        ):
            self.error(node, f"'add' to '{name}' needs a number, not {describe(node)}")
            return None
        if kind is int and isinstance(v, float):
            self.error(node, f"'{name}' is int; cannot add {v} to it")
            return None
        return float(v) if kind is float else v
