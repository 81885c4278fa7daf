"""The values of the expression language and the type rules over them.

Owns what an expression can compute (`Value`: bool, int, float, str, plus a
list literal on the right of `in`), the type names authors read in messages,
which operator accepts which operand types, and the operators themselves
wrapped so that a failure at run time is an `EvalError`, never a Python
exception. One set of rules serves both sides: `expr_build` applies them when
the types are known statically, and the checked operators apply the same
rules at run time when an operand's type is not known until then. Kept apart
from the syntax so the rules can be read (and changed) in one place.
Standard library only (headless core).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

Value = bool | int | float | str
TYPES: dict[type, str] = {bool: "bool", int: "int", float: "float", str: "str"}
NUM = ("int", "float")
Fn = Callable[[Any], Any]


class EvalError(Exception):
    """An expression failed at run time (division by zero, a value of the wrong type)."""


def kind(t: str) -> str:
    """Numbers compare with numbers: int and float are one kind."""
    return "number" if t in NUM else t


def tname(v: object) -> str | None:
    """The type name of a run-time value (a tuple is a list literal's value)."""
    return "list" if type(v) is tuple else TYPES.get(type(v))


def arith(sym: str, lt: str | None, rt: str | None) -> tuple[str | None, str | None]:
    """(result type, error) of a binary arithmetic operator on these operand types."""
    if sym == "+" and "str" in (lt, rt):
        if lt in ("str", None) and rt in ("str", None):
            return "str", None
        return None, f"cannot add {lt} and {rt}: '+' adds two numbers or joins two strings"
    for t in (lt, rt):
        if t is not None and t not in NUM:
            what = "adds two numbers or joins two strings" if sym == "+" else "takes numbers"
            return None, f"'{sym}' {what}, not {t}"
    if sym == "/":
        return "float", None
    if lt is None or rt is None:
        return None, None
    return ("int" if lt == rt == "int" else "float"), None


def pair_error(sym: str, lt: str | None, rt: str | None, elems: tuple[Any, ...]) -> str | None:
    """Why `lt sym rt` is a type error, or None."""
    if sym in ("in", "not in") and lt != "list":
        if rt is None:
            return None
        if rt == "str":
            return None if lt in (None, "str") else f"cannot look for {lt} in a str"
        if rt != "list":
            return f"'{sym}' needs a list [...] or a str on its right, not {rt}"
        for et in elems:
            if lt is not None and et is not None and kind(et) != kind(lt):
                return f"cannot look for {lt} in a list of {et}"
        return None
    if "list" in (lt, rt):
        return "a list [...] can only be used on the right of 'in' or 'not in'"
    if lt is not None and rt is not None and kind(lt) != kind(rt):
        return f"cannot compare {lt} with {rt} using '{sym}'"
    return None


ARITH: dict[type, tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
    ast.FloorDiv: ("//", operator.floordiv),
    ast.Mod: ("%", operator.mod),
}
BAD_BINOPS = {
    ast.Pow: "**",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.MatMult: "@",
}
CMP: dict[type, tuple[str, Callable[[Any, Any], bool]]] = {
    ast.Eq: ("==", operator.eq),
    ast.NotEq: ("!=", operator.ne),
    ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le),
    ast.Gt: (">", operator.gt),
    ast.GtE: (">=", operator.ge),
    ast.In: ("in", lambda a, b: a in b),
    ast.NotIn: ("not in", lambda a, b: a not in b),
}


def const(v: Any) -> Fn:
    """A closure that always gives `v`."""
    return lambda env: v


def never(env: Any) -> Any:
    """The closure of an invalid expression (never handed out in an Expression)."""
    raise EvalError("invalid expression")


def arith_op(
    sym: str, op: Callable[[Any, Any], Any], seg: str, checked: bool
) -> Callable[[Any, Any], Any]:
    """`op` with run-time failures (zero division, overflow, wrong types) as EvalError."""

    def apply(a: Any, b: Any) -> Any:
        if checked and (err := arith(sym, tname(a), tname(b))[1]):
            raise EvalError(err)
        try:
            return op(a, b)
        except ZeroDivisionError:
            raise EvalError(f"division by zero in '{seg}'") from None
        except (OverflowError, TypeError, ValueError) as exc:
            raise EvalError(f"{exc} in '{seg}'") from None

    return apply


def cmp_op(sym: str, op: Callable[[Any, Any], bool], checked: bool) -> Callable[[Any, Any], bool]:
    """`op`, type-checked at run time when `checked` (an operand's type was unknown)."""
    if not checked:
        return op

    def apply(a: Any, b: Any) -> bool:
        elems = tuple(tname(x) for x in b) if type(b) is tuple else ()
        if err := pair_error(sym, tname(a), tname(b), elems):
            raise EvalError(err)
        try:
            return op(a, b)
        except TypeError as exc:
            raise EvalError(str(exc)) from None

    return apply
