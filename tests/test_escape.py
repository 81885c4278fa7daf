"""`branching.escape`: one function per output format, each tested on what that format obeys."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from branching.escape import (
    csv_cell,
    dot_string,
    html_text,
    json_text,
    mermaid_comment,
    mermaid_label,
    terminal,
    terminal_line,
)

# Every character class a terminal obeys, one of each.
CONTROLS = "\x00\x07\x08\x0b\x0c\x0d\x1b\x7f\x85\x9b\x9d\u202a\u202e\u2066\u2069"
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
OSC_TITLE = "x\x1b]2;PWNED\x1b\\\x1b[2J"
OSC8 = "\x1b]8;;https://evil.invalid/\x1b\\click me\x1b]8;;\x1b\\"


# -- terminal ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", [CONTROLS, OSC_TITLE, OSC8, "\x9b31m 8-bit CSI", "\u202eevil"])
def test_terminal_leaves_no_control_character(text: str) -> None:
    shown = terminal(text)
    assert UNSAFE.search(shown) is None
    assert len(shown) == len(text)  # one visible symbol for each


def test_terminal_draws_c0_as_control_pictures_and_keeps_newline_and_tab() -> None:
    assert terminal("a\x1b[2Jb\x07") == "a\u241b[2Jb\u2407"
    assert terminal("\x7f") == "\u2421"
    assert terminal("\x9b\u202e") == "\ufffd\ufffd"
    assert terminal("two\nlines\tand a tab") == "two\nlines\tand a tab"
    plain = "Ünïcode · — “quotes” [markup] 👍"
    assert terminal(plain) is plain


def test_terminal_line_keeps_a_value_on_its_line() -> None:
    assert terminal_line("a\nb\tc\u2028d\re") == "a b c d\u240de"


# -- CSV ---------------------------------------------------------------------------------

FORMULAS = [
    '=HYPERLINK("https://evil.invalid","x")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "  =1+1",
    "\uff1d1+1",  # full-width equals sign
]


@pytest.mark.parametrize("value", FORMULAS)
def test_csv_cell_prefixes_anything_a_spreadsheet_reads_as_a_formula(value: str) -> None:
    cell = csv_cell(value)
    assert isinstance(cell, str) and cell.startswith("'")
    assert UNSAFE.search(cell) is None


def test_csv_cell_leaves_plain_text_and_numbers_alone() -> None:
    assert csv_cell("Go in quietly") == "Go in quietly"
    assert csv_cell("a=b, c-d") == "a=b, c-d"  # only the first character matters
    assert csv_cell(-5) == -5 and csv_cell(0.25) == 0.25  # numbers are numbers
    assert csv_cell(None) == ""
    assert csv_cell("'quoted") == "'quoted"


def test_csv_cells_round_trip_through_the_csv_module() -> None:
    out = io.StringIO()
    csv.writer(out).writerow([csv_cell(v) for v in ['say "hi", ok', "two\nlines", "\x1b[2J"]])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == [
        'say "hi", ok',
        "two\nlines",
        "\u241b[2J",
    ]


# -- JSON --------------------------------------------------------------------------------


def test_json_text_is_lossless_and_safe_to_print() -> None:
    data = {"k\x1b": [CONTROLS, OSC8, "\u2028\u2029", "ünï 👍"]}
    text = json_text(data, indent=2)
    assert UNSAFE.search(text) is None and "\u2028" not in text
    assert json.loads(text) == data
    assert "ünï 👍" in text  # UTF-8 kept, not \u-escaped
    compact = json_text(data, compact=True)
    assert "\n" not in compact and ", " not in compact and json.loads(compact) == data


# -- Mermaid -----------------------------------------------------------------------------

MERMAID_ATTACK = (
    'Title"]\n    click n0 href "javascript:alert(1)"\n'
    '    %%{init: {"securityLevel": "loose"}}%%\n<img src=x onerror=alert(1)> `md` a|b #35;'
)


def test_mermaid_label_cannot_leave_its_quotes() -> None:
    label = mermaid_label(MERMAID_ATTACK + "\x1b[2J")
    assert label.startswith('"') and label.endswith('"') and label.count('"') == 2
    assert "\n" not in label and "%%" not in label
    assert "<" not in label.replace("<br/>", "")
    assert "|" not in label and "`" not in label
    assert "#35;35;" in label  # a literal entity code stays literal text
    assert UNSAFE.search(label) is None
    assert mermaid_label("A (b) [c] {d}") == '"A (b) [c] {d}"'  # safe inside the quotes


def test_mermaid_comment_stays_on_its_line_and_opens_no_directive() -> None:
    comment = mermaid_comment(MERMAID_ATTACK)
    assert "\n" not in comment and "\r" not in comment
    assert "%%" not in comment
    assert mermaid_comment("%%%{init}") == "% % %{init}"
    assert mermaid_comment("50% done") == "50% done"


# -- DOT and the SVG Graphviz draws from it ----------------------------------------------

DOT_ATTACK = 'x"]; "injected" [URL="javascript:alert(1)"]; "y\\" <b>html</b> &foo; &lt; \\N\n'

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")


def test_dot_string_is_one_quoted_string() -> None:
    quoted = dot_string(DOT_ATTACK + "\x1b[2J\ufffe")
    body = quoted[1:-1]
    assert quoted[0] == quoted[-1] == '"'
    assert re.search(r'(?<!\\)(\\\\)*"', body) is None  # every quote inside is escaped
    assert "\n" not in quoted and UNSAFE.search(quoted) is None
    assert "&amp;foo;" in quoted and "&amp;lt;" in quoted and "\ufffe" not in quoted


@needs_dot
def test_graphviz_draws_a_hostile_label_as_text_in_valid_svg() -> None:
    source = (
        f"digraph {dot_string(DOT_ATTACK)} {{ {dot_string(DOT_ATTACK)} "
        f"[label={dot_string(DOT_ATTACK)}]; }}"
    )
    done = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True, check=True)
    root = ET.fromstring(done.stdout)  # valid XML: no undefined entity, no control character
    tags = {el.tag.rsplit("}", 1)[-1] for el in root.iter()}
    assert tags <= {"svg", "g", "title", "polygon", "ellipse", "text"}
    nodes = [el for el in root.iter() if el.get("class") == "node"]
    assert len(nodes) == 1  # nothing "injected"
    texts = "".join(el.text or "" for el in root.iter() if el.tag.endswith("text"))
    assert "<b>html</b>" in texts and "&foo;" in texts and "&lt;" in texts
    assert not [k for el in root.iter() for k in el.attrib if "href" in k or k.startswith("on")]


# -- HTML --------------------------------------------------------------------------------


def test_html_text_is_inert_in_content_and_attributes() -> None:
    attack = "<script>x()</script><img src=x onerror=\"y()\" title='z'>&amp;\x1b[2J"
    shown = html_text(attack)
    assert "<" not in shown and ">" not in shown and '"' not in shown and "'" not in shown
    assert "&amp;amp;" in shown and UNSAFE.search(shown) is None
