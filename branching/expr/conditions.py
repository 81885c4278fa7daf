"""The safe expression language of stories: conditions and `{expr}` interpolation.

The public face of the language (STORY-FORMAT.md, "Conditions and
interpolation", "Types"): what the loader, builder, checker and engine import.
It owns the compiled objects (`Expression`, `Template`), how a value reads in
text, compiling with its cache, and the template scanner. The work is done
below it, one concern per module, none of which imports this one:

- `expr_types`: values, `EvalError`, and the type rules of the operators;
- `expr_syntax`: limits, lexical pre-checks, source positions, `ast.parse`;
- `expr_build`: the whitelisted tree -> one closure, built once.

Nothing is ever handed to Python's evaluator, so evaluating an expression is a
few closure calls. Problems carry 0-based character offsets into the source so
the loader can report file:line:column.

Compiles are cached per (source, types of the names it mentions): a large story
repeats the same conditions and `{var}` parts many times, and Expression objects
are immutable, so sharing them is safe. Standard library only (headless core).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Protocol

from branching.expr.compile import Compiler
from branching.expr.syntax import (
    FUNCTIONS,
    MAX_DEPTH,
    MAX_LENGTH,
    ExprProblem,
    OffsetMap,
    SceneRef,
    parse,
    scan,
)
from branching.expr.values import TYPES, EvalError, Fn, Value

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "TYPES",
    "Env",
    "EvalError",
    "Expression",
    "ExprProblem",
    "SceneRef",
    "Template",
    "Value",
    "compile_expression",
    "compile_template",
    "format_value",
]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Env(Protocol):
    """What evaluation reads; the engine implements it."""

    def var(self, name: str) -> Value: ...
    def visits(self, scene: str) -> int: ...
    def chosen(self, scene: str, choice: str) -> bool: ...
    def turns(self) -> int: ...


@dataclass(frozen=True)
class Expression:
    """A compiled, immutable expression: evaluate it as often as needed."""

    source: str
    variables: frozenset[str]
    scene_refs: tuple[SceneRef, ...]
    uses_functions: bool
    result_type: str | None
    _fn: Fn = field(repr=False, compare=False)

    def evaluate(self, env: Env) -> Value:
        """The value of the expression; raises EvalError (e.g. division by zero)."""
        return self._fn(env)  # type: ignore[no-any-return]

    def holds(self, env: Env) -> bool:
        """Truthiness of the value; False when evaluation fails."""
        try:
            return bool(self._fn(env))
        except EvalError:
            return False


@dataclass(frozen=True)
class Template:
    """Text with `{expr}` parts. Scene refs of its expressions are offsets into `source`."""

    source: str
    expressions: tuple[Expression, ...]
    is_static: bool
    _parts: tuple[str | Expression, ...] = field(repr=False, compare=False)

    def render(self, env: Env) -> str:
        """The text with every expression's value; a failing expression shows as '?'."""
        if self.is_static:
            return self._parts[0]  # type: ignore[return-value]
        return "".join(p if isinstance(p, str) else _show(p, env) for p in self._parts)


def _show(expr: Expression, env: Env) -> str:
    try:
        return format_value(expr.evaluate(env))
    except EvalError:
        return "?"


def format_value(v: Value) -> str:
    """How a value reads in text: true/false, digits, shortest float, the string itself."""
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, int):
        try:
            return str(v)
        except ValueError:  # over Python's int->str digit limit
            return "<a number too long to show>"
    if isinstance(v, float):
        return repr(v)
    return str(v)


# ---------------------------------------------------------------- compiling

_Compiled = tuple[Expression | None, tuple[ExprProblem, ...], bool]


def _compile(source: str, variables: Mapping[str, Any]) -> _Compiled:
    if len(source) > MAX_LENGTH:
        return (
            None,
            (
                ExprProblem(
                    0, f"expression is longer than {MAX_LENGTH:,} characters ({len(source):,})"
                ),
            ),
            False,
        )
    text = source.lstrip()
    lead = len(source) - len(text)
    if not text:
        return None, (ExprProblem(0, "empty expression"),), False
    if (bad := scan(text)) is not None:
        return None, (ExprProblem(lead + bad[0], bad[1]),), False
    pos = OffsetMap(source, lead)
    tree = parse(text, pos)
    if isinstance(tree, ExprProblem):
        return None, (tree,), False
    b = Compiler(variables, pos)
    fn, result_type = b.root(tree)
    if b.problems:
        return None, tuple(sorted(b.problems, key=lambda p: p.offset)), b.needs_all_names
    expr = Expression(source, frozenset(b.names), tuple(b.refs), b.uses_functions, result_type, fn)
    return expr, (), False


@lru_cache(maxsize=1 << 16)
def _compile_cached(source: str, known: tuple[tuple[str, Any], ...]) -> _Compiled:
    return _compile(source, dict(known))


def compile_expression(
    source: str, variables: Mapping[str, Any]
) -> tuple[Expression | None, list[ExprProblem]]:
    """Parse and check `source`; (None, problems) when it is invalid. Never raises."""
    if not isinstance(source, str):
        return None, [ExprProblem(0, f"an expression must be text, not {type(source).__name__}")]
    if len(source) > MAX_LENGTH or not source.isascii():
        expr, problems, _ = _compile(source, variables)
        return expr, list(problems)
    names = dict.fromkeys(_IDENT.findall(source))
    known = tuple((n, variables[n]) for n in names if n in variables)
    try:
        hash(known)
    except TypeError:  # something unhashable in the mapping: compile without the cache
        expr, problems, _ = _compile(source, variables)
        return expr, list(problems)
    expr, problems, needs_all = _compile_cached(source, known)
    if needs_all:  # "did you mean" looks at every variable of the story
        expr, problems, _ = _compile(source, variables)
    return expr, list(problems)


# ---------------------------------------------------------------- templates

_BRACE = re.compile(r"[{}]")
_BODY = re.compile(r"""(?:[^'"{}\r\n]|'(?:[^'\\\r\n]|\\.)*'|"(?:[^"\\\r\n]|\\.)*")*""")


def compile_template(
    source: str, variables: Mapping[str, Any]
) -> tuple[Template, list[ExprProblem]]:
    """Parse text with `{expr}` parts. On problems the Template renders the raw text."""
    if "{" not in source and "}" not in source:
        return Template(source, (), True, (source,)), []
    parts: list[str | Expression] = []
    problems: list[ExprProblem] = []
    text, i = "", 0  # text: literal text not yet added to parts
    while (m := _BRACE.search(source, i)) is not None:
        j = m.start()
        text += source[i:j]
        i = j + 2
        if source.startswith("}}", j) or source.startswith("{{", j):
            text += source[j]
            continue
        i = j + 1
        if source[j] == "}":
            problems.append(ExprProblem(j, "single '}' in text: write '}}' for a literal brace"))
            continue
        end = _BODY.match(source, i).end()  # type: ignore[union-attr]
        if source[end : end + 1] != "}":
            problems.append(
                ExprProblem(
                    j, "unclosed '{' in text: close it with '}' or write '{{' for a literal brace"
                )
            )
            break
        if source[i:end].strip():
            expr, found = compile_expression(source[i:end], variables)
        else:
            expr, found = (
                None,
                [
                    ExprProblem(
                        -1,
                        "empty '{}' in text: put an expression inside, "
                        "or write '{{}}' for literal braces",
                    )
                ],
            )
        problems.extend(ExprProblem(p.offset + i, p.message) for p in found)
        if expr is not None and expr.scene_refs:  # refs point into the template source
            refs = tuple(SceneRef(r.scene, r.choice, r.offset + i) for r in expr.scene_refs)
            expr = replace(expr, scene_refs=refs)
        if expr is not None:
            parts += [text, expr] if text else [expr]
            text = ""
        i = end + 1
    text += source[i:]
    if problems:
        return Template(source, (), True, (source,)), problems
    exprs = tuple(p for p in parts if isinstance(p, Expression))
    return Template(source, exprs, not exprs, (*parts, text) if text else tuple(parts)), []
