"""The safe expression language: what authors can write, what they are told when they
cannot, and what the engine gets back (values, truthiness, rendered text)."""

from __future__ import annotations

import dataclasses
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from branching.expr import conditions
from branching.expr.conditions import (
    EvalError,
    Expression,
    ExprProblem,
    SceneRef,
    compile_expression,
    compile_template,
    format_value,
)

VARS: dict[str, type] = {"trust": int, "gold": float, "name": str, "brave": bool, "cereal": str}


class FakeEnv:
    """A playthrough moment: variables, visit counts, choices taken, turns."""

    def __init__(self, **values: object) -> None:
        self.values: dict[str, object] = {
            "trust": 3,
            "gold": 2.5,
            "name": "Ann",
            "brave": True,
            "cereal": "frosties",
        }
        self.values.update(values)
        self.visit_counts = {"kitchen": 2, "bus": 1}
        self.chosen_pairs = {("office", "accept")}
        self.turn_count = 4

    def var(self, name: str) -> object:
        return self.values[name]

    def visits(self, scene: str) -> int:
        return self.visit_counts.get(scene, 0)

    def chosen(self, scene: str, choice: str) -> bool:
        return (scene, choice) in self.chosen_pairs

    def turns(self) -> int:
        return self.turn_count


def compiled(source: str, variables: dict[str, type] | None = None) -> Expression:
    expr, problems = compile_expression(source, VARS if variables is None else variables)
    assert problems == [], problems
    assert expr is not None
    return expr


def value(source: str, **env: object) -> object:
    return compiled(source).evaluate(FakeEnv(**env))


def only_problem(source: str, variables: dict[str, type] | None = None) -> ExprProblem:
    expr, problems = compile_expression(source, VARS if variables is None else variables)
    assert expr is None
    assert len(problems) == 1, problems
    return problems[0]


# ------------------------------------------------------------------ operators


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("trust == 3", True),
        ("trust != 3", False),
        ("trust < 4", True),
        ("trust <= 3", True),
        ("trust > 3", False),
        ("trust >= 4", False),
        ("1 < trust < 5", True),
        ("1 < trust < 2", False),
        ("gold == 2.5", True),
        ("trust == 3.0", True),
        ("name == 'Ann'", True),
        ('name < "Bob"', True),
        ("brave == true", True),
        ("brave != True", False),
        ("cereal in ['frosties', 'sugar_puffs']", True),
        ("cereal not in ['frosties']", False),
        ("trust in [1, 2, trust]", True),
        ("trust in []", False),
        ("'nn' in name", True),
        ("'x' not in name", True),
        ("gold in [1, 2.5]", True),
    ],
)
def test_given_state_when_comparing_then_the_result_is_a_bool(source: str, expected: bool) -> None:
    expr = compiled(source)
    assert expr.result_type == "bool"
    assert expr.evaluate(FakeEnv()) is expected


@pytest.mark.parametrize(
    ("source", "expected", "rtype"),
    [
        ("trust + 2", 5, "int"),
        ("trust - 5", -2, "int"),
        ("trust * 2", 6, "int"),
        ("trust / 2", 1.5, "float"),
        ("trust / 3", 1.0, "float"),
        ("7 // 2", 3, "int"),
        ("7 % 4", 3, "int"),
        ("gold + 1", 3.5, "float"),
        ("gold * 2", 5.0, "float"),
        ("gold // 1", 2.0, "float"),
        ("-trust", -3, "int"),
        ("+trust", 3, "int"),
        ("-(-gold)", 2.5, "float"),
        ("1 + 2 * 3", 7, "int"),
        ("(1 + 2) * 3", 9, "int"),
        ("name + '!'", "Ann!", "str"),
        ("'a' + 'b' + name", "abAnn", "str"),
    ],
)
def test_given_numbers_when_doing_arithmetic_then_ints_stay_ints_except_division(
    source: str, expected: object, rtype: str
) -> None:
    expr = compiled(source)
    result = expr.evaluate(FakeEnv())
    assert result == expected
    assert type(result).__name__ == rtype
    assert expr.result_type == rtype


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("trust and name", True),
        ("trust and 0", False),
        ("0 or ''", False),
        ("0 or name", True),
        ("not name", False),
        ("not ''", True),
        ("not 0.0", True),
        ("brave and not false", True),
        ("trust > 5 or name == 'Ann'", True),
        ("true and true and false", False),
        ("false or false or 1", True),
    ],
)
def test_given_any_values_when_combined_with_and_or_not_then_truthiness_gives_a_bool(
    source: str, expected: bool
) -> None:
    expr = compiled(source)
    assert expr.result_type == "bool"
    assert expr.evaluate(FakeEnv()) is expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"trust": 0}, False),
        ({"trust": 2}, True),
        ({"name": ""}, False),
        ({"gold": 0.0}, False),
    ],
)
def test_given_a_bare_variable_when_tested_then_zero_and_empty_are_false(
    values: dict[str, object], expected: bool
) -> None:
    key = next(iter(values))
    assert compiled(key).holds(FakeEnv(**values)) is expected


def test_given_and_when_the_left_side_is_false_then_the_right_side_is_not_evaluated() -> None:
    assert compiled("trust > 10 and trust / 0 > 1").holds(FakeEnv()) is False
    assert compiled("trust < 10 or trust / 0 > 1").holds(FakeEnv()) is True


def test_given_literals_when_compiled_then_true_false_and_decimals_are_understood() -> None:
    assert value("true") is True and value("True") is True
    assert value("false") is False and value("False") is False
    assert value("1e3") == 1000.0 and value("0.5") == 0.5 and value("42") == 42
    assert value("'single' + \"double\"") == "singledouble"
    assert value("'it\\'s'") == "it's"


# ------------------------------------------------------------------ functions


def test_given_visits_when_calling_the_functions_then_they_read_the_playthrough() -> None:
    env = FakeEnv()
    assert compiled('visited("kitchen")').evaluate(env) is True
    assert compiled('visited("attic")').evaluate(env) is False
    assert compiled('visits("kitchen")').evaluate(env) == 2
    assert compiled('visits("attic")').evaluate(env) == 0
    assert compiled('chosen("office", "accept")').evaluate(env) is True
    assert compiled("chosen('office', 'refuse')").evaluate(env) is False
    assert compiled("turns()").evaluate(env) == 4
    assert compiled("turns() >= 4 and visits('bus') == 1").holds(env)


def test_given_function_calls_when_compiled_then_scene_refs_carry_ids_and_offsets() -> None:
    expr = compiled('visited("kitchen") and chosen("office", "accept") or turns() > 2')
    assert expr.uses_functions
    assert expr.scene_refs == (SceneRef("kitchen", None, 8), SceneRef("office", "accept", 30))
    assert expr.result_type == "bool"
    plain = compiled("trust > 1")
    assert not plain.uses_functions and plain.scene_refs == ()
    assert compiled("turns()").uses_functions
    assert compiled('visits("a")').result_type == "int"


def test_given_variables_when_compiled_then_the_names_read_are_listed() -> None:
    assert compiled("trust > 1 and name == cereal").variables == {"trust", "name", "cereal"}
    assert compiled("'trust' == 'x'").variables == frozenset()


@pytest.mark.parametrize(
    ("source", "offset", "fragment"),
    [
        ('visited("a", "b")', 0, "visited() takes 1 argument"),
        ("turns(1)", 0, "turns() takes no arguments"),
        ('chosen("office")', 0, "chosen() takes 2 arguments"),
        ("visited(name)", 8, "must be ids in quotes"),
        ("visits(1)", 7, "must be ids in quotes"),
        ("visited(scene='a')", 8, "keyword arguments are not allowed"),
        ("foo()", 0, "unknown function 'foo'"),
        ("visted('a')", 0, "did you mean 'visited'?"),
        ("__import__('os')", 0, "unknown function '__import__'"),
        ("name.upper()", 0, "only visited(), visits(), chosen() and turns() can be called"),
        ("visited", 0, "'visited' is a function"),
    ],
)
def test_given_a_bad_call_when_compiled_then_the_problem_names_it(
    source: str, offset: int, fragment: str
) -> None:
    problem = only_problem(source)
    assert fragment in problem.message
    assert problem.offset == offset


# ------------------------------------------------------------------ what is refused


@pytest.mark.parametrize(
    ("source", "offset", "fragment"),
    [
        ("x.y", 1, "attribute access"),
        ("name.__class__", 4, "attribute access"),
        ("x[0]", 1, "subscripts"),
        ("lambda: 1", 0, "lambda is not allowed"),
        ("[a for a in b]", 0, "comprehensions are not allowed"),
        ("{a for a in b}", 0, "comprehensions are not allowed"),
        ("2 ** 3", 2, "'**' is not allowed"),
        ("a if b else c", 0, "conditional expressions"),
        ("(a := 1)", 1, "assignment (':=')"),
        ("trust & 1", 6, "operator '&' is not allowed"),
        ("trust | 1", 6, "operator '|' is not allowed"),
        ("trust << 1", 6, "operator '<<' is not allowed"),
        ("~trust", 0, "operator '~' is not allowed"),
        ("trust is 3", 6, "'is' is not allowed"),
        ("None", 0, "None is not allowed"),
        ("{1: 2}", 0, "dicts"),
        ("{1}", 0, "sets"),
        ("trust in (1, 2)", 9, "tuples are not allowed"),
        ("[1, 2]", 0, "a list [...] can only be used on the right of 'in'"),
        ("[1] == [1]", 0, "a list [...] can only be used"),
        ("trust in [[1]]", 10, "a list [...] can only be used"),
        ("await trust", 0, "'await' is not allowed"),
        ("0x1F", 0, "only plain decimal numbers"),
        ("1_000", 0, "only plain decimal numbers"),
        ("1j", 0, "complex numbers"),
        ("b'x'", 0, "bytes literals"),
        ("f'{trust}'", 0, "f-strings"),
        ("r'x'", 0, "string prefixes"),
        ("'''x'''", 0, "triple-quoted strings"),
        ("'a' 'b'", 4, "two strings side by side"),
        ("trust # comment", 6, "comments"),
        ("'abc", 0, "unterminated string"),
        ("'\\d'", 0, "invalid escape sequence"),
        ("trust >", 7, "syntax error"),
        ("trust = 1", 0, "syntax error"),
        ("", 0, "empty expression"),
        ("   ", 0, "empty expression"),
    ],
)
def test_given_a_forbidden_construct_when_compiled_then_it_is_an_error_at_its_position(
    source: str, offset: int, fragment: str
) -> None:
    variables = {**VARS, "a": int, "b": int, "c": int, "x": int}
    expr, problems = compile_expression(source, variables)
    assert expr is None
    assert problems, source
    assert fragment in problems[0].message
    if fragment != "syntax error":  # where Python's parser points is its own business
        assert problems[0].offset == offset


def test_given_a_typo_when_compiled_then_the_unknown_variable_gets_a_suggestion() -> None:
    problem = only_problem("trust > 1 and trsut < 5")
    assert problem == ExprProblem(14, "unknown variable 'trsut' (did you mean 'trust'?)")
    bare = only_problem("cereal == frosties")
    assert "unknown variable 'frosties'" in bare.message and '"frosties"' in bare.message
    assert bare.offset == 10


def test_given_several_mistakes_when_compiled_then_all_are_reported_in_order() -> None:
    _, problems = compile_expression("trsut > 1 and foo() or name == 3", VARS)
    assert [p.offset for p in problems] == [0, 14, 28]


def test_given_a_cached_expression_when_the_story_has_other_variables_then_hints_follow_them() -> (
    None
):
    assert "did you mean 'trust'" in only_problem("trst > 1").message
    assert "did you mean 'tryst'" in only_problem("trst > 1", {"tryst": int}).message


# ------------------------------------------------------------------ types


@pytest.mark.parametrize(
    ("source", "offset", "message"),
    [
        ("trust == 'high'", 6, "cannot compare int with str using '=='"),
        ("name != 3", 5, "cannot compare str with int using '!='"),
        ("trust == true", 6, "cannot compare int with bool using '=='"),
        ("brave < 1", 6, "cannot compare bool with int using '<'"),
        ("1 < trust < 'z'", 10, "cannot compare int with str using '<'"),
        ("trust + 'a'", 6, "cannot add int and str"),
        ("name + 1", 5, "cannot add str and int"),
        ("brave + 1", 6, "'+' adds two numbers or joins two strings, not bool"),
        ("name - 'a'", 5, "'-' takes numbers, not str"),
        ("'ab' * 3", 5, "'*' takes numbers, not str"),
        ("name / 2", 5, "'/' takes numbers, not str"),
        ("trust // brave", 6, "'//' takes numbers, not bool"),
        ("name % 2", 5, "'%' takes numbers, not str"),
        ("-name", 0, "unary '-' takes a number, not str"),
        ("+brave", 0, "unary '+' takes a number, not bool"),
        ("trust in name", 6, "cannot look for int in a str"),
        ("name in [1, 2]", 5, "cannot look for str in a list of int"),
        ("trust in 5", 6, "'in' needs a list [...] or a str on its right, not int"),
        ("trust not in brave", 6, "'not in' needs a list"),
    ],
)
def test_given_known_types_when_they_do_not_fit_then_the_operator_is_blamed(
    source: str, offset: int, message: str
) -> None:
    problem = only_problem(source)
    assert message in problem.message
    assert problem.offset == offset


def test_given_a_division_result_when_typed_then_it_is_float_and_mixes_with_ints() -> None:
    assert compiled("trust / 2 > 1").evaluate(FakeEnv()) is True
    assert compiled("trust / 2").result_type == "float"
    assert compiled("trust + gold").result_type == "float"


def test_given_variables_of_unknown_type_when_values_clash_then_evaluation_fails_safely() -> None:
    variables: dict[str, type] = {"mystery": object}
    expr = compiled("mystery + 1 > 2", variables)
    assert expr.result_type == "bool"
    assert compiled("mystery", variables).result_type is None
    assert expr.evaluate(FakeEnv(mystery=5)) is True
    with pytest.raises(EvalError, match="cannot add str and int"):
        expr.evaluate(FakeEnv(mystery="x"))
    assert expr.holds(FakeEnv(mystery="x")) is False
    assert compiled("mystery == 1", variables).holds(FakeEnv(mystery="1")) is False
    assert compiled("mystery in ['a']", variables).holds(FakeEnv(mystery=True)) is False
    assert compiled("-mystery", variables).holds(FakeEnv(mystery="x")) is False


def test_given_the_same_source_when_types_differ_then_the_cache_does_not_mix_them_up() -> None:
    assert compiled("x + 1", {"x": int}).result_type == "int"
    assert "cannot add str and int" in only_problem("x + 1", {"x": str}).message
    assert compiled("x + 1", {"x": float}).result_type == "float"
    first, _ = compile_expression("trust >= 2", VARS)
    again, _ = compile_expression("trust >= 2", dict(VARS))
    assert first is again


# ------------------------------------------------------------------ run time


@pytest.mark.parametrize(
    "source",
    [
        "trust / 0",
        "trust // 0",
        "trust % 0",
        "gold / 0",
        "trust / (trust - 3)",
        "1 / 0",
        "not (1 % 0)",
    ],
)
def test_given_a_division_by_zero_when_evaluated_then_it_raises_and_does_not_hold(
    source: str,
) -> None:
    expr = compiled(source)
    assert expr.holds(FakeEnv()) is False
    with pytest.raises(EvalError, match="division by zero"):
        expr.evaluate(FakeEnv())


def test_given_an_expression_when_used_then_it_is_immutable() -> None:
    expr = compiled("trust > 1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        expr.source = "true"  # type: ignore[misc]


# ------------------------------------------------------------------ limits and robustness


def test_given_the_length_limit_when_exceeded_then_it_is_an_error() -> None:
    long_but_flat = "'" + "x" * 998 + "'"
    assert len(long_but_flat) == 1000
    assert compiled(long_but_flat).evaluate(FakeEnv()) == "x" * 998
    problem = only_problem(long_but_flat + " ")
    assert "longer than 1,000 characters" in problem.message


def test_given_nesting_when_over_fifty_levels_then_it_is_an_error() -> None:
    assert value("(" * 50 + "1" + ")" * 50) == 1
    problem = only_problem("(" * 51 + "1" + ")" * 51)
    assert "nested deeper than 50" in problem.message and problem.offset == 50
    assert value("'" + "(" * 80 + "'") == "(" * 80  # brackets inside strings do not count
    assert "nested deeper" in only_problem("-" * 999 + "1").message
    assert "nested deeper" in only_problem("not " * 240 + "brave").message
    assert "nested deeper" in only_problem(" + ".join(["1"] * 60)).message


def test_given_non_ascii_and_line_breaks_when_reporting_then_offsets_count_characters() -> None:
    assert only_problem("'é' + 1").offset == 4
    assert only_problem("'€€' == 'a' and trsut").offset == 16
    assert only_problem("(trust\n + 'x')").offset == 8
    assert only_problem("(trust\r\n == 'é')").offset == 9
    assert only_problem("  trsut").offset == 2
    assert compiled("\n  trust > 1").holds(FakeEnv())


def test_given_look_alike_letters_when_compiled_then_they_are_not_the_ascii_variable() -> None:
    assert "unknown variable" in only_problem("\U0001d42dust > 1", {"tust": int}).message


def test_given_random_garbage_when_compiled_then_it_never_raises() -> None:
    rng = random.Random(20240601)
    alphabet = "abtrus_ 019.()[]{}'\"\\+-*/%<>=!&|^~@:;,#\n\té€\x00"
    for _ in range(2000):
        source = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 30)))
        expr, problems = compile_expression(source, VARS)
        assert (expr is None) == bool(problems), source
        for p in problems:
            assert 0 <= p.offset <= len(source), (source, p)
        tpl, tproblems = compile_template(source, VARS)
        for p in tproblems:
            assert 0 <= p.offset <= len(source), (source, p)


def test_given_the_module_source_when_read_then_it_never_evaluates_code() -> None:
    package = Path(conditions.__file__).parent
    sources = sorted(package.glob("*.py"))
    assert len(sources) >= 4  # conditions plus its parts: values, syntax, compile
    for source in sources:
        text = source.read_text(encoding="utf-8")
        assert not re.search(r"(?<![.\w])(eval|exec|compile)\s*\(", text), source.name
        assert "__import__" not in text and "builtins" not in text, source.name


def test_given_a_fresh_interpreter_when_importing_then_no_ui_or_storage_library_loads() -> None:
    code = (
        "import sys, branching.expr.conditions; "
        "print([m for m in ('textual', 'rich', 'sqlite_utils', 'yaml') if m in sys.modules])"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env={"PYTHONPATH": str(root)},
    )
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ templates


def test_given_plain_text_when_compiled_then_it_is_static() -> None:
    tpl, problems = compile_template("Your father holds up two boxes.", VARS)
    assert problems == [] and tpl.is_static and tpl.expressions == ()
    assert tpl.render(FakeEnv()) == "Your father holds up two boxes."


def test_given_interpolations_when_rendered_then_values_are_formatted() -> None:
    tpl, problems = compile_template(
        "{name} has {trust} trust, {gold * 2} gold, brave: {brave}; {trust / 10}", VARS
    )
    assert problems == [] and not tpl.is_static and len(tpl.expressions) == 5
    assert tpl.render(FakeEnv()) == "Ann has 3 trust, 5.0 gold, brave: true; 0.3"
    assert (
        tpl.render(FakeEnv(brave=False, gold=0.05))
        == "Ann has 3 trust, 0.1 gold, brave: false; 0.3"
    )


def test_given_doubled_braces_when_rendered_then_they_are_literal() -> None:
    tpl, problems = compile_template("{{not an expression}} but {name} is, {{x}}", VARS)
    assert problems == []
    assert tpl.render(FakeEnv()) == "{not an expression} but Ann is, {x}"
    only_braces, problems = compile_template("a {{}} b", VARS)
    assert problems == [] and only_braces.is_static and only_braces.render(FakeEnv()) == "a {} b"


def test_given_braces_inside_strings_when_interpolating_then_they_belong_to_the_string() -> None:
    tpl, problems = compile_template("x {'}' + name + '{'} y", VARS)
    assert problems == [] and tpl.render(FakeEnv()) == "x }Ann{ y"


@pytest.mark.parametrize(
    ("source", "offset", "fragment"),
    [
        ("Hello {name", 6, "unclosed '{'"),
        ("Hello {name == 'x}", 6, "unclosed '{'"),
        ("Hello {name\n}", 6, "unclosed '{'"),
        ("a } b", 2, "single '}'"),
        ("a {} b", 2, "empty '{}'"),
        ("Hi {trsut}!", 4, "unknown variable 'trsut'"),
        ("Hi {name + 1}!", 9, "cannot add str and int"),
        ("é {x.y}", 4, "attribute access"),
    ],
)
def test_given_a_bad_template_when_compiled_then_offsets_point_into_the_text(
    source: str, offset: int, fragment: str
) -> None:
    tpl, problems = compile_template(source, {**VARS, "x": int})
    assert problems and fragment in problems[0].message
    assert problems[0].offset == offset
    assert tpl.render(FakeEnv()) == source  # the raw text, never a crash


def test_given_a_failing_interpolation_when_rendered_then_it_shows_a_question_mark() -> None:
    tpl, _ = compile_template("ratio: {gold / (trust - 3)}.", VARS)
    assert tpl.render(FakeEnv()) == "ratio: ?."
    assert tpl.render(FakeEnv(trust=4)) == "ratio: 2.5."


def test_given_a_function_in_a_template_when_compiled_then_refs_point_into_the_template() -> None:
    tpl, problems = compile_template('Visits: {visits("kitchen")}, {chosen("a", "b")}', VARS)
    assert problems == []
    assert [e.scene_refs for e in tpl.expressions] == [
        (SceneRef("kitchen", None, 16),),
        (SceneRef("a", "b", 37),),
    ]
    assert tpl.render(FakeEnv()) == "Visits: 2, false"
    bare, _ = compile_expression('visits("kitchen")', VARS)
    assert bare is not None and bare.scene_refs == (SceneRef("kitchen", None, 7),)


@pytest.mark.parametrize(
    ("v", "text"),
    [
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-12, "-12"),
        (2.0, "2.0"),
        (0.1, "0.1"),
        (1e20, "1e+20"),
        (0.1 + 0.2, "0.30000000000000004"),
        ("plain *text*", "plain *text*"),
        ("", ""),
    ],
)
def test_given_a_value_when_formatted_then_it_reads_as_the_format_says(
    v: object, text: str
) -> None:
    assert format_value(v) == text  # type: ignore[arg-type]
