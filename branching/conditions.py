"""The safe expression language of stories: conditions and `{expr}` interpolation.

Owns parsing, static checking (names, functions, types, limits) and evaluation of
the expressions of STORY-FORMAT.md ("Conditions and interpolation", "Types").
Python's own parser (`ast.parse(..., mode="eval")`) gives the syntax tree; every
node type is whitelisted and turned into a closure once, so evaluating is a few
calls, and nothing is ever handed to eval/exec/compile. Problems carry 0-based
character offsets into the source so the loader can report file:line:column.

Compiles are cached per (source, types of the names it mentions): a large story
repeats the same conditions and `{var}` parts many times, and Expression objects
are immutable, so sharing them is safe. Standard library only (headless core).

It is longer than the usual ~400 lines on purpose: the lexical pre-checks, the
type rules, the tree builder and the template scanner share the position and
type helpers and make up one grammar; split them only along those seams.
"""

from __future__ import annotations

import ast
import difflib
import operator
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

Value = bool | int | float | str
TYPES: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str"}
MAX_LENGTH = 1000
MAX_DEPTH = 50
FUNCTIONS: dict[str, int] = {"visited": 1, "visits": 1, "chosen": 2, "turns": 0}
_EXAMPLES = {"visited": 'visited("kitchen")', "visits": 'visits("kitchen")',
             "chosen": 'chosen("office", "accept")', "turns": "turns()"}
_NUM = ("int", "float")
Fn = Callable[[Any], Any]


@dataclass(frozen=True)
class Problem:
    """Something wrong in an expression or template, at a 0-based character offset."""

    offset: int
    message: str


class EvalError(Exception):
    """An expression failed at run time (division by zero, a value of the wrong type)."""


class Env(Protocol):
    """What evaluation reads; the engine implements it."""

    def var(self, name: str) -> Value: ...
    def visits(self, scene: str) -> int: ...
    def chosen(self, scene: str, choice: str) -> bool: ...
    def turns(self) -> int: ...


@dataclass(frozen=True)
class SceneRef:
    """A literal scene (and choice) id passed to visited/visits/chosen, for the checker."""

    scene: str
    choice: str | None
    offset: int


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


# ---------------------------------------------------------------- lexical checks

_LEX = re.compile(r"""[()\[\]{}#\x00]|(['"])((?:(?!\1)[^\\\r\n]|\\(?:\r\n|[\s\S]))*)(\1)?""")
_PREFIX = re.compile(r"[A-Za-z0-9_]+\Z")
_NEXT_QUOTE = re.compile(r"[ \t]*['\"]")
_DECIMAL = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|\Z)")


def _scan(text: str) -> tuple[int, str] | None:
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
            what = ("f-strings are" if "f" in p else "bytes literals are" if "b" in p
                    else f"string prefixes ({prefix.group()}'...') are")
            return prefix.start(), f"{what} not allowed in conditions"
        if m.group(3) is None:
            return start, f"unterminated string: close it with {quote}"
        if nxt := _NEXT_QUOTE.match(text, m.end()):
            return nxt.end() - 1, "two strings side by side: join them with '+'"
    return None


class _Pos:
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
        return self.source[self.start(node):self.end(node)]


# ---------------------------------------------------------------- type rules


def _kind(t: str) -> str:
    return "number" if t in _NUM else t


def _tname(v: object) -> str | None:
    return "list" if type(v) is tuple else TYPES.get(type(v))


def _arith(sym: str, lt: str | None, rt: str | None) -> tuple[str | None, str | None]:
    """(result type, error) of a binary arithmetic operator on these operand types."""
    if sym == "+" and "str" in (lt, rt):
        if lt in ("str", None) and rt in ("str", None):
            return "str", None
        return None, f"cannot add {lt} and {rt}: '+' adds two numbers or joins two strings"
    for t in (lt, rt):
        if t is not None and t not in _NUM:
            what = "adds two numbers or joins two strings" if sym == "+" else "takes numbers"
            return None, f"'{sym}' {what}, not {t}"
    if sym == "/":
        return "float", None
    if lt is None or rt is None:
        return None, None
    return ("int" if lt == rt == "int" else "float"), None


def _pair_error(sym: str, lt: str | None, rt: str | None, elems: tuple[Any, ...]) -> str | None:
    """Why `lt sym rt` is a type error, or None."""
    if sym in ("in", "not in") and lt != "list":
        if rt is None:
            return None
        if rt == "str":
            return None if lt in (None, "str") else f"cannot look for {lt} in a str"
        if rt != "list":
            return f"'{sym}' needs a list [...] or a str on its right, not {rt}"
        for et in elems:
            if lt is not None and et is not None and _kind(et) != _kind(lt):
                return f"cannot look for {lt} in a list of {et}"
        return None
    if "list" in (lt, rt):
        return "a list [...] can only be used on the right of 'in' or 'not in'"
    if lt is not None and rt is not None and _kind(lt) != _kind(rt):
        return f"cannot compare {lt} with {rt} using '{sym}'"
    return None


_ARITH: dict[type, tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add), ast.Sub: ("-", operator.sub), ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv), ast.FloorDiv: ("//", operator.floordiv),
    ast.Mod: ("%", operator.mod)}
_BAD_BINOPS = {ast.Pow: "**", ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^",
               ast.LShift: "<<", ast.RShift: ">>", ast.MatMult: "@"}
_CMP: dict[type, tuple[str, Callable[[Any, Any], bool]]] = {
    ast.Eq: ("==", operator.eq), ast.NotEq: ("!=", operator.ne), ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le), ast.Gt: (">", operator.gt), ast.GtE: (">=", operator.ge),
    ast.In: ("in", lambda a, b: a in b), ast.NotIn: ("not in", lambda a, b: a not in b)}
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
    **dict.fromkeys(("ListComp", "SetComp", "DictComp", "GeneratorExp"),
                    "comprehensions are not allowed in conditions"),
}


def _const(v: Any) -> Fn:
    return lambda env: v


def _never(env: Any) -> Any:
    raise EvalError("invalid expression")


def _arith_op(sym: str, op: Callable[[Any, Any], Any], seg: str, checked: bool
              ) -> Callable[[Any, Any], Any]:
    """`op` with run-time failures (zero division, overflow, wrong types) as EvalError."""

    def apply(a: Any, b: Any) -> Any:
        if checked and (err := _arith(sym, _tname(a), _tname(b))[1]):
            raise EvalError(err)
        try:
            return op(a, b)
        except ZeroDivisionError:
            raise EvalError(f"division by zero in '{seg}'") from None
        except (OverflowError, TypeError, ValueError) as exc:
            raise EvalError(f"{exc} in '{seg}'") from None

    return apply


def _cmp_op(sym: str, op: Callable[[Any, Any], bool], checked: bool) -> Callable[[Any, Any], bool]:
    if not checked:
        return op

    def apply(a: Any, b: Any) -> bool:
        elems = tuple(_tname(x) for x in b) if type(b) is tuple else ()
        if err := _pair_error(sym, _tname(a), _tname(b), elems):
            raise EvalError(err)
        try:
            return op(a, b)
        except TypeError as exc:
            raise EvalError(str(exc)) from None

    return apply


# ---------------------------------------------------------------- tree -> closures


class _N(NamedTuple):
    fn: Fn
    type: str | None
    const: bool = False
    elems: tuple[str | None, ...] = ()


_BAD = _N(_never, None)


class _TooDeep(Exception):
    pass


class _Builder:
    """Walks a whitelisted ast tree once, collecting closures, names and problems."""

    def __init__(self, variables: Mapping[str, Any], pos: _Pos) -> None:
        self.variables, self.pos = variables, pos
        self.problems: list[Problem] = []
        self.names: set[str] = set()
        self.refs: list[SceneRef] = []
        self.uses_functions = False
        self.needs_all_names = False  # a message depends on the whole variable mapping

    def problem(self, where: Any, message: str) -> _N:
        offset = where if isinstance(where, int) else self.pos.start(where)
        self.problems.append(Problem(offset, message))
        return _BAD

    def op_at(self, left: ast.AST, right: ast.AST, sym: str) -> int:
        a, b = self.pos.end(left), self.pos.start(right)
        found = self.pos.source.find(sym.split()[0], a, b)
        return found if found >= 0 else a

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
                return _N(_const(fn(None)), typ, True)
            except EvalError:
                pass
        return _N(fn, typ)

    def b_Constant(self, node: ast.Constant, depth: int) -> _N:
        v, t = node.value, type(node.value)
        if t is bool or t is str:
            return _N(_const(v), TYPES[t], True)
        text = self.pos.segment(node)
        if t is complex:
            return self.problem(node, "complex numbers are not allowed in conditions")
        if t in (int, float):
            if not _DECIMAL.match(text):
                return self.problem(node, f"only plain decimal numbers are allowed, not '{text}'")
            return _N(_const(v), TYPES[t], True)
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
            return _N(_const(name == "true"), "bool", True)
        if name in self.variables:
            self.names.add(name)
            t = self.variables[name]
            typ = TYPES.get(t) if isinstance(t, type) else t if t in TYPES.values() else None
            return _N(lambda env: env.var(name), typ)
        if name in FUNCTIONS:
            return self.problem(node, f"'{name}' is a function: call it, like {_EXAMPLES[name]}")
        self.needs_all_names = True
        close = difflib.get_close_matches(name, list(self.variables), n=1)
        hint = (f"did you mean '{close[0]}'?" if close
                else f'if you meant text, put it in quotes: "{name}"')
        return self.problem(node, f"unknown variable '{name}' ({hint})")

    def b_UnaryOp(self, node: ast.UnaryOp, depth: int) -> _N:
        if isinstance(node.op, ast.Invert):
            return self.problem(node, "operator '~' is not allowed in conditions")
        x = self.build(node.operand, depth + 1)
        f = x.fn
        if isinstance(node.op, ast.Not):
            return self.fold(lambda env: not f(env), "bool", x)
        sym = "-" if isinstance(node.op, ast.USub) else "+"
        if x.type is not None and x.type not in _NUM:
            return self.problem(node, f"unary '{sym}' takes a number, not {x.type}")
        op = operator.neg if sym == "-" else operator.pos
        if x.type is not None:
            return self.fold(lambda env: op(f(env)), x.type, x)

        def checked(env: Any) -> Any:
            if (t := _tname(v := f(env))) not in _NUM:
                raise EvalError(f"unary '{sym}' takes a number, not {t}")
            return op(v)

        return self.fold(checked, None, x)

    def b_BinOp(self, node: ast.BinOp, depth: int) -> _N:
        bad = _BAD_BINOPS.get(type(node.op))
        if bad is not None:
            at = self.op_at(node.left, node.right, bad)
            if bad == "**":
                return self.problem(at, "'**' is not allowed in conditions (no exponent operator)")
            return self.problem(at, f"operator '{bad}' is not allowed in conditions")
        sym, op = _ARITH[type(node.op)]
        left, right = self.build(node.left, depth + 1), self.build(node.right, depth + 1)
        typ, err = _arith(sym, left.type, right.type)
        if err:
            return self.problem(self.op_at(node.left, node.right, sym), err)
        checked = left.type is None or right.type is None
        apply, lf, rf = _arith_op(sym, op, self.pos.segment(node), checked), left.fn, right.fn
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
            if type(op) not in _CMP:
                return self.problem(self.op_at(left_ast, right_ast, "is"),
                                    "'is' is not allowed in conditions: use '==' or '!='")
            sym, fn = _CMP[type(op)]
            right = (self.b_list(right_ast, depth + 1) if isinstance(right_ast, ast.List)
                     and sym in ("in", "not in") else self.build(right_ast, depth + 1))
            if err := _pair_error(sym, left.type, right.type, right.elems):
                self.problem(self.op_at(left_ast, right_ast, sym), err)
            checked = None in (left.type, right.type) or None in right.elems
            steps.append((_cmp_op(sym, fn, checked), right.fn))
            left_ast, left = right_ast, right
            parts.append(right)
        lf = first.fn
        if len(steps) == 1:
            (cmp, rf), = steps
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
            return self.problem(node, "only visited(), visits(), chosen() and turns() can be "
                                      "called in conditions")
        name = func.id
        if name not in FUNCTIONS:
            close = difflib.get_close_matches(name, list(FUNCTIONS), n=1)
            hint = f"did you mean '{close[0]}'?" if close else \
                "conditions can call visited, visits, chosen and turns"
            return self.problem(func, f"unknown function '{name}' ({hint})")
        if node.keywords:
            return self.problem(node.keywords[0], "keyword arguments are not allowed in conditions")
        args, want = node.args, FUNCTIONS[name]
        if len(args) != want:
            what = {0: "no arguments", 1: "1 argument (a scene id)",
                    2: "2 arguments (a scene id and a choice id)"}[want]
            return self.problem(node, f"{name}() takes {what}, got {len(args)}; "
                                      f"write {_EXAMPLES[name]}")
        for arg in args:
            if not (isinstance(arg, ast.Constant) and type(arg.value) is str):
                return self.problem(arg, f"the arguments of {name}() must be ids in quotes, "
                                         f"like {_EXAMPLES[name]}")
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
    ast.Constant: _Builder.b_Constant, ast.Name: _Builder.b_Name, ast.UnaryOp: _Builder.b_UnaryOp,
    ast.BinOp: _Builder.b_BinOp, ast.BoolOp: _Builder.b_BoolOp, ast.Compare: _Builder.b_Compare,
    ast.Call: _Builder.b_Call}

# ---------------------------------------------------------------- compiling

_Compiled = tuple[Expression | None, tuple[Problem, ...], bool]


def _parse(text: str, pos: _Pos) -> ast.Expression | Problem:
    try:
        if "\\" in text:  # invalid escapes warn; make them errors instead
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                return ast.parse(text, mode="eval")
        return ast.parse(text, mode="eval")
    except SyntaxError as exc:
        col = exc.offset - 1 if exc.offset and exc.offset > 0 else None
        at = pos.at(exc.lineno or 1, col, chars=True) if col is not None else len(pos.source)
        return Problem(min(at, len(pos.source)), f"syntax error: {exc.msg}")
    except (RecursionError, MemoryError):
        return Problem(pos.lead, f"expression is nested deeper than {MAX_DEPTH} levels")
    except (ValueError, Warning) as exc:
        return Problem(pos.lead, f"invalid expression: {exc}")


def _compile(source: str, variables: Mapping[str, Any]) -> _Compiled:
    if len(source) > MAX_LENGTH:
        return None, (Problem(0, f"expression is longer than {MAX_LENGTH:,} "
                                          f"characters ({len(source):,})"),), False
    text = source.lstrip()
    lead = len(source) - len(text)
    if not text:
        return None, (Problem(0, "empty expression"),), False
    if (bad := _scan(text)) is not None:
        return None, (Problem(lead + bad[0], bad[1]),), False
    pos = _Pos(source, lead)
    tree = _parse(text, pos)
    if isinstance(tree, Problem):
        return None, (tree,), False
    b = _Builder(variables, pos)
    try:
        node = b.build(tree.body, 1)
    except _TooDeep:
        node = _BAD
    if b.problems:
        return None, tuple(sorted(b.problems, key=lambda p: p.offset)), b.needs_all_names
    expr = Expression(source, frozenset(b.names), tuple(b.refs), b.uses_functions,
                      node.type, node.fn)
    return expr, (), False


@lru_cache(maxsize=1 << 16)
def _compile_cached(source: str, known: tuple[tuple[str, Any], ...]) -> _Compiled:
    return _compile(source, dict(known))


def compile_expression(source: str, variables: Mapping[str, Any]
                       ) -> tuple[Expression | None, list[Problem]]:
    """Parse and check `source`; (None, problems) when it is invalid. Never raises."""
    if not isinstance(source, str):
        return None, [Problem(0, f"an expression must be text, not {type(source).__name__}")]
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


def compile_template(source: str, variables: Mapping[str, Any]
                     ) -> tuple[Template, list[Problem]]:
    """Parse text with `{expr}` parts. On problems the Template renders the raw text."""
    if "{" not in source and "}" not in source:
        return Template(source, (), True, (source,)), []
    parts: list[str | Expression] = []
    problems: list[Problem] = []
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
            problems.append(Problem(j, "single '}' in text: write '}}' for a literal brace"))
            continue
        end = _BODY.match(source, i).end()  # type: ignore[union-attr]
        if source[end:end + 1] != "}":
            problems.append(Problem(j, "unclosed '{' in text: close it with '}' or write '{{' "
                                       "for a literal brace"))
            break
        if source[i:end].strip():
            expr, found = compile_expression(source[i:end], variables)
        else:
            expr, found = None, [Problem(-1, "empty '{}' in text: put an expression inside, "
                                             "or write '{{}}' for literal braces")]
        problems.extend(Problem(p.offset + i, p.message) for p in found)
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
