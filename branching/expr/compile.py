"""From a parsed expression to one closure: the whitelist and the tree builder.

Owns the walk over the ast tree that `expr_syntax.parse` returns: every node
type is whitelisted (anything else gets a message saying what to write
instead), names are resolved against the story's variables (with "did you
mean"), calls against `FUNCTIONS`, the type rules of `expr_types` are applied
where types are known statically and deferred to checked operators where they
are not, and each node becomes a closure once, so evaluating an expression is
a few calls and nothing is ever handed to Python's evaluator. Constant
subtrees are folded while building. All problems are collected, not just the
first. Standard library only (headless core).
"""

from __future__ import annotations

import ast
import difflib
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from branching.expr.syntax import EXAMPLES, FUNCTIONS, MAX_DEPTH, ExprProblem, OffsetMap, SceneRef
from branching.expr.values import (
    ARITH,
    BAD_BINOPS,
    CMP,
    NUM,
    TYPES,
    EvalError,
    Fn,
    arith,
    arith_op,
    cmp_op,
    const,
    never,
    pair_error,
    tname,
)

_DECIMAL = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")
_FORBIDDEN = {
    "Attribute": "attribute access ('.') is not allowed in conditions",
    "Subscript": "subscripts ('[...]' after a value) are not allowed in conditions",
    "Lambda": "lambda is not allowed in conditions",
    "IfExp": "conditional expressions ('a if b else c') are not allowed in conditions",
    "NamedExpr": "assignment (':=') is not allowed in conditions",
    "Dict": "dicts ('{...}') are not allowed in conditions",
    "Set": "sets ('{...}') are not allowed in conditions",
    "Tuple": "tuples are not allowed in conditions (after 'in', use a list [...])",
    "Starred": "unpacking ('*') is not allowed in conditions",
    "JoinedStr": "f-strings are not allowed in conditions",
    "Await": "'await' is not allowed in conditions",
    "List": "a list [...] can only be used on the right of 'in' or 'not in'",
    **dict.fromkeys(
        ("ListComp", "SetComp", "DictComp", "GeneratorExp"),
        "comprehensions are not allowed in conditions",
    ),
}


class _N(NamedTuple):
    fn: Fn
    type: str | None
    const: bool = False
    elems: tuple[str | None, ...] = ()


_BAD = _N(never, None)


class _TooDeep(Exception):
    pass


class Compiler:
    """Walks a whitelisted ast tree once, collecting closures, names and problems."""

    def __init__(self, variables: Mapping[str, Any], pos: OffsetMap) -> None:
        self.variables, self.pos = variables, pos
        self.problems: list[ExprProblem] = []
        self.names: set[str] = set()
        self.refs: list[SceneRef] = []
        self.uses_functions = False
        self.needs_all_names = False  # a message depends on the whole variable mapping

    def problem(self, where: Any, message: str) -> _N:
        offset = where if isinstance(where, int) else self.pos.start(where)
        self.problems.append(ExprProblem(offset, message))
        return _BAD

    def op_at(self, left: ast.AST, right: ast.AST, sym: str) -> int:
        a, b = self.pos.end(left), self.pos.start(right)
        found = self.pos.source.find(sym.split()[0], a, b)
        return found if found >= 0 else a

    def root(self, tree: ast.Expression) -> tuple[Fn, str | None]:
        """The closure and result type of the whole tree (check `problems` first)."""
        try:
            node = self.build(tree.body, 1)
        except _TooDeep:
            node = _BAD
        return node.fn, node.type

    def build(self, node: ast.AST, depth: int) -> _N:
        if depth > MAX_DEPTH:
            self.problem(node, f"expression is nested deeper than {MAX_DEPTH} levels")
            raise _TooDeep
        handler = _HANDLERS.get(type(node))
        if handler is not None:
            return handler(self, node, depth)
        name = type(node).__name__
        where: Any = node
        if name in ("Attribute", "Subscript"):
            where = self.pos.end(node.value)  # type: ignore[attr-defined]
        return self.problem(where, _FORBIDDEN.get(name, f"{name} is not allowed in conditions"))

    def fold(self, fn: Fn, typ: str | None, *parts: _N) -> _N:
        """Constant subtrees are computed now (unless they fail: then at run time)."""
        for p in parts:
            if not p.const:
                return _N(fn, typ)
        if not self.problems:
            try:
                return _N(const(fn(None)), typ, True)
            except EvalError:
                pass
        return _N(fn, typ)

    def b_Constant(self, node: ast.Constant, depth: int) -> _N:
        v, t = node.value, type(node.value)
        if t is bool or t is str:
            return _N(const(v), TYPES[t], True)
        text = self.pos.segment(node)
        if t is complex:
            return self.problem(node, "complex numbers are not allowed in conditions")
        if t in (int, float):
            if not _DECIMAL.match(text):
                return self.problem(node, f"only plain decimal numbers are allowed, not '{text}'")
            return _N(const(v), TYPES[t], True)
        if v is None:
            return self.problem(node, "None is not allowed in conditions (there is no null value)")
        if t is bytes:
            return self.problem(node, "bytes literals are not allowed in conditions")
        return self.problem(node, f"'{text}' is not allowed in conditions")

    def b_Name(self, node: ast.Name, depth: int) -> _N:
        name = node.id
        if not self.pos.simple and self.pos.segment(node) != name:
            name = self.pos.segment(node)  # NFKC-folded look-alike: take it as written
        elif name in ("true", "false"):
            return _N(const(name == "true"), "bool", True)
        if name in self.variables:
            self.names.add(name)
            t = self.variables[name]
            typ = TYPES.get(t) if isinstance(t, type) else t if t in TYPES.values() else None
            return _N(lambda env: env.var(name), typ)
        if name in FUNCTIONS:
            return self.problem(node, f"'{name}' is a function: call it, like {EXAMPLES[name]}")
        self.needs_all_names = True
        close = difflib.get_close_matches(name, list(self.variables), n=1)
        hint = (
            f"did you mean '{close[0]}'?"
            if close
            else f'if you meant text, put it in quotes: "{name}"'
        )
        return self.problem(node, f"unknown variable '{name}' ({hint})")

    def b_UnaryOp(self, node: ast.UnaryOp, depth: int) -> _N:
        if isinstance(node.op, ast.Invert):
            return self.problem(node, "operator '~' is not allowed in conditions")
        x = self.build(node.operand, depth + 1)
        f = x.fn
        if isinstance(node.op, ast.Not):
            return self.fold(lambda env: not f(env), "bool", x)
        sym = "-" if isinstance(node.op, ast.USub) else "+"
        if x.type is not None and x.type not in NUM:
            return self.problem(node, f"unary '{sym}' takes a number, not {x.type}")
        op = operator.neg if sym == "-" else operator.pos
        if x.type is not None:
            return self.fold(lambda env: op(f(env)), x.type, x)

        def checked(env: Any) -> Any:
            if (t := tname(v := f(env))) not in NUM:
                raise EvalError(f"unary '{sym}' takes a number, not {t}")
            return op(v)

        return self.fold(checked, None, x)

    def b_BinOp(self, node: ast.BinOp, depth: int) -> _N:
        bad = BAD_BINOPS.get(type(node.op))
        if bad is not None:
            at = self.op_at(node.left, node.right, bad)
            if bad == "**":
                return self.problem(at, "'**' is not allowed in conditions (no exponent operator)")
            return self.problem(at, f"operator '{bad}' is not allowed in conditions")
        sym, op = ARITH[type(node.op)]
        left, right = self.build(node.left, depth + 1), self.build(node.right, depth + 1)
        typ, err = arith(sym, left.type, right.type)
        if err:
            return self.problem(self.op_at(node.left, node.right, sym), err)
        checked = left.type is None or right.type is None
        apply, lf, rf = arith_op(sym, op, self.pos.segment(node), checked), left.fn, right.fn
        return self.fold(lambda env: apply(lf(env), rf(env)), typ, left, right)

    def b_BoolOp(self, node: ast.BoolOp, depth: int) -> _N:
        parts = [self.build(v, depth + 1) for v in node.values]
        fns = tuple(p.fn for p in parts)
        is_and = isinstance(node.op, ast.And)

        def both(env: Any) -> bool:
            for f in fns:
                if bool(f(env)) is not is_and:
                    return not is_and
            return is_and

        if len(fns) == 2:
            a, b = fns
            if is_and:
                return self.fold(lambda env: bool(a(env)) and bool(b(env)), "bool", *parts)
            return self.fold(lambda env: bool(a(env)) or bool(b(env)), "bool", *parts)
        return self.fold(both, "bool", *parts)

    def b_Compare(self, node: ast.Compare, depth: int) -> _N:
        left_ast, first = node.left, self.build(node.left, depth + 1)
        left, steps, parts = first, [], [first]
        for op, right_ast in zip(node.ops, node.comparators, strict=True):
            if type(op) not in CMP:
                return self.problem(
                    self.op_at(left_ast, right_ast, "is"),
                    "'is' is not allowed in conditions: use '==' or '!='",
                )
            sym, fn = CMP[type(op)]
            right = (
                self.b_list(right_ast, depth + 1)
                if isinstance(right_ast, ast.List) and sym in ("in", "not in")
                else self.build(right_ast, depth + 1)
            )
            if err := pair_error(sym, left.type, right.type, right.elems):
                self.problem(self.op_at(left_ast, right_ast, sym), err)
            checked = None in (left.type, right.type) or None in right.elems
            steps.append((cmp_op(sym, fn, checked), right.fn))
            left_ast, left = right_ast, right
            parts.append(right)
        lf = first.fn
        if len(steps) == 1:
            ((cmp, rf),) = steps
            return self.fold(lambda env: cmp(lf(env), rf(env)), "bool", *parts)

        def chain(env: Any) -> bool:
            a = lf(env)
            for cmp, rf in steps:
                b = rf(env)
                if not cmp(a, b):
                    return False
                a = b
            return True

        return self.fold(chain, "bool", *parts)

    def b_list(self, node: ast.List, depth: int) -> _N:
        items = [self.build(e, depth + 1) for e in node.elts]
        fns, elems = tuple(i.fn for i in items), tuple(i.type for i in items)
        n = self.fold(lambda env: tuple(f(env) for f in fns), "list", *items)
        return n._replace(elems=elems)

    def b_Call(self, node: ast.Call, depth: int) -> _N:
        func = node.func
        if not isinstance(func, ast.Name):
            return self.problem(
                node, "only visited(), visits(), chosen() and turns() can be called in conditions"
            )
        name = func.id
        if name not in FUNCTIONS:
            close = difflib.get_close_matches(name, list(FUNCTIONS), n=1)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else "conditions can call visited, visits, chosen and turns"
            )
            return self.problem(func, f"unknown function '{name}' ({hint})")
        if node.keywords:
            return self.problem(node.keywords[0], "keyword arguments are not allowed in conditions")
        args, want = node.args, FUNCTIONS[name]
        if len(args) != want:
            what = {
                0: "no arguments",
                1: "1 argument (a scene id)",
                2: "2 arguments (a scene id and a choice id)",
            }[want]
            return self.problem(
                node, f"{name}() takes {what}, got {len(args)}; write {EXAMPLES[name]}"
            )
        for arg in args:
            if not (isinstance(arg, ast.Constant) and type(arg.value) is str):
                return self.problem(
                    arg, f"the arguments of {name}() must be ids in quotes, like {EXAMPLES[name]}"
                )
        self.uses_functions = True
        ids = [a.value for a in args]  # type: ignore[attr-defined]
        if name == "turns":
            return _N(lambda env: env.turns(), "int")
        scene = ids[0]
        self.refs.append(SceneRef(scene, ids[1] if want == 2 else None, self.pos.start(args[0])))
        if name == "visited":
            return _N(lambda env: env.visits(scene) > 0, "bool")
        if name == "visits":
            return _N(lambda env: env.visits(scene), "int")
        choice = ids[1]
        return _N(lambda env: bool(env.chosen(scene, choice)), "bool")


_HANDLERS: dict[type, Callable[..., _N]] = {
    ast.Constant: Compiler.b_Constant,
    ast.Name: Compiler.b_Name,
    ast.UnaryOp: Compiler.b_UnaryOp,
    ast.BinOp: Compiler.b_BinOp,
    ast.BoolOp: Compiler.b_BoolOp,
    ast.Compare: Compiler.b_Compare,
    ast.Call: Compiler.b_Call,
}
