"""Nothing a story, a viewer or a merged database holds can act on a producer's tools.

Story text (markup and escape sequences in the fixture story) stays literal.
Recorded data does too: `--attr` values, `TERM`/`TERM_PROGRAM` (an SSH client
chooses them) and a story structure, attributes and session context from a
database someone else wrote, read as it is (`hostile_db`) and as `branching
merge` brings it in (`merged`). Every output of `stats`, `flowchart` and
`export` is checked: no control character
reaches a terminal, no CSV cell starts a formula, no Mermaid or DOT statement
is added, the SVG is valid XML with nothing but Graphviz's own elements, the
HTML page runs no script but its own (loaded in headless Chromium when it is installed),
and JSON keeps every value exactly.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import shutil
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from branching.cli import cli
from branching.render.mermaid import LEGEND as MERMAID_LEGEND
from branching.store import aggregates
from tests.conftest import FIXTURES

HOSTILE = FIXTURES / "hostile"

# C0 but newline and tab, DEL, C1, bidi overrides and isolates: what a terminal obeys.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

# -- what the attacker recorded ------------------------------------------------------------

TERM = "x\x1b]2;TITLE\x1b\\\x1b[2J"  # the example: retitle the terminal, clear it
TERM_PROGRAM = "\x1b]8;;https://evil.invalid/\x1b\\term\x1b]8;;\x1b\\"  # an OSC 8 link
TITLE = (
    'Title \x1b]2;PWNED\x07\n    click n0 href "javascript:alert(1)"\n'
    '%%{init: {"securityLevel":"loose"}}%%'
)
CHAPTER = "@SUM(1) \u202eevil\u2066 \x9b31m"
GATE = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
HALL = '<script>document.body.setAttribute("data-pwned","2")</script>'
LABEL_1 = (
    '=HYPERLINK("https://evil.invalid","x") \x1b]8;;https://evil.invalid/\x1b\\l\x1b]8;;\x1b\\'
)
LABEL_2 = '+1 x"]; "injected" [URL="javascript:alert(1)"]; "y <b>b</b> &foo;'
MISSING = 'nowhere"]; x [URL="javascript:1"]; \x1b[2J'
END_ID = 'end &foo; --> "x" \x1b[2J'  # a scene id: DOT node name, SVG <title>
ENDING_KIND = "-2+3 </title><svg onload=\"document.body.setAttribute('data-pwned','3')\">"
ENDING_TITLE = "\t=1+1 \x1bP+q\x1b\\"
VERSION = "-v \x1b]2;VERSION\x07"
PLATFORM = "+cmd|calc \x9d0;t\x07"
LOCALE = "@x\x1b[31m"
ATTRS = {
    "=k\x1b[2J": '=HYPERLINK("http://evil.invalid")\x1b]2;T\x07',
    "region": "-1+1\r\n<script>alert(1)</script>",
}


def _invoke(args: list[str], **kwargs: Any) -> Result:
    return CliRunner(**kwargs).invoke(cli, args, catch_exceptions=False, terminal_width=200)


def _tamper(db: Path) -> None:
    """Rewrite a recorded database as a hostile kiosk would hand it over."""
    conn = sqlite3.connect(db)
    (structure,) = conn.execute("SELECT structure FROM stories").fetchone()
    story = json.loads(structure)
    story["title"], story["chapters"] = TITLE, [CHAPTER]
    gate, hall, end = story["scenes"]
    gate.update(title=GATE, chapter=CHAPTER)
    gate["choices"][0]["label"] = LABEL_1
    gate["choices"][1]["label"] = LABEL_2
    gate["choices"].append(
        {"id": "evil", "label": "-evil", "goto": MISSING, "tags": [], "default": False}
    )
    hall["title"] = HALL
    hall["choices"][0]["goto"] = end["id"] = END_ID
    end["ending"] = {"kind": ENDING_KIND, "title": ENDING_TITLE}
    conn.execute("UPDATE events SET scene = ? WHERE scene = 'end'", [END_ID])
    conn.execute("UPDATE events SET target = ? WHERE target = 'end'", [END_ID])
    conn.execute("UPDATE sessions SET last_scene = ?, ending_id = ?", [END_ID, END_ID])
    conn.execute(
        "UPDATE stories SET title = ?, version_label = ?, structure = ?",
        [TITLE, VERSION, json.dumps(story)],
    )
    conn.execute(
        "UPDATE sessions SET platform = ?, locale = ?, ending_kind = ?",
        [PLATFORM, LOCALE, ENDING_KIND],
    )
    (session,) = conn.execute("SELECT session_id FROM sessions").fetchone()
    conn.execute("DELETE FROM session_attrs")
    conn.executemany(
        "INSERT INTO session_attrs VALUES (?, ?, ?)", [(session, k, v) for k, v in ATTRS.items()]
    )
    aggregates.rebuild(conn)  # the split figures follow the edited rows, as after `merge`
    conn.commit()
    conn.close()


def _recorded_by_a_kiosk(tmp: Path, name: str) -> Path:
    """One playthrough of the hostile story, recorded with hostile `TERM`s, then tampered."""
    home = {"XDG_CONFIG_HOME": str(tmp / "config"), "XDG_DATA_HOME": str(tmp / "data")}
    db = tmp / name
    env = {**home, "TERM": TERM, "TERM_PROGRAM": TERM_PROGRAM}
    args = ["play", str(HOSTILE), "--db", str(db), "--seed", "1", "--choices", "1,1"]
    result = _invoke([*args, "--attr", "region=NL"], env=env)
    assert result.exit_code == 0, result.output
    _tamper(db)
    return db


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The worst case: a database edited by hand or written by another tool.

    Whatever the store would refuse on the way in (`play`, `merge`), analytics
    read what the file holds, so every output is checked against this one.
    """
    return _recorded_by_a_kiosk(tmp_path_factory.mktemp("hostile"), "kiosk.db")


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same kiosk database brought in by `branching merge` (which may refuse some of it)."""
    tmp = tmp_path_factory.mktemp("merged")
    kiosk = _recorded_by_a_kiosk(tmp, "kiosk.db")
    target = tmp / "all.db"
    home = {"XDG_CONFIG_HOME": str(tmp / "config"), "XDG_DATA_HOME": str(tmp / "data")}
    result = _invoke(["merge", str(target), str(kiosk)], env=home)
    assert result.exit_code in (0, 1), result.output  # merge may refuse what it cannot trust
    assert_terminal_safe(result.output)  # and its report of that is safe to print
    return target


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    db = tmp_path / "h.db"
    result = _invoke(["play", str(HOSTILE), "--db", str(db), "--seed", "1", "--choices", "1"])
    assert result.exit_code == 0, result.output
    return db


def assert_terminal_safe(text: str) -> None:
    found = UNSAFE.search(text.replace("\r\n", "\n"))
    assert found is None, f"{found.group()!r} reaches the output: {text[: found.start()][-80:]!r}"


# -- story text ------------------------------------------------------------------------------


def test_line_player_shows_markup_literally_and_no_escape_reaches_output(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["play", str(HOSTILE), "--no-telemetry", "--choices", "1"])
    assert "[bold red]Hostile[/]" in result.stdout
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\u241b" in result.stdout  # ESC drawn as a visible symbol


@pytest.mark.parametrize(
    "command",
    [
        ["stats"],
        ["flowchart"],
        ["flowchart", "--format", "json"],
        ["flowchart", "--format", "mermaid"],
    ],
)
def test_producer_outputs_keep_story_text_literal(recorded: Path, command: list[str]) -> None:
    result = _invoke([*command, "hostile", "--db", str(recorded)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "[@click=app.quit]" in result.stdout or "[@click=app.qu" in result.stdout


# -- recorded data: the terminal -----------------------------------------------------------


def test_term_and_attr_from_play_do_not_drive_the_producers_terminal(tmp_path: Path) -> None:
    """The issue's example: TERM and --attr as a viewer's session recorded them."""
    db = tmp_path / "t.db"
    play = ["play", str(HOSTILE), "--db", str(db), "--choices", "1,1"]
    attr = "region=\x1b]8;;https://evil.invalid/\x1b\\=HYPERLINK(1)\x07"
    result = _invoke([*play, "--attr", attr], env={"TERM": TERM, "TERM_PROGRAM": TERM_PROGRAM})
    if result.exit_code != 0:  # refusing the value at the door is safe too
        assert result.exit_code == 2
        assert_terminal_safe(result.output)
        result = _invoke(play, env={"TERM": TERM, "TERM_PROGRAM": TERM_PROGRAM})
        assert result.exit_code == 0, result.output
    for command in (
        ["stats", "hostile", "--table", "segments"],
        ["stats", "hostile", "--format", "csv", "--table", "segments"],
        ["export", "--format", "csv"],
        ["export", "--format", "jsonl"],
    ):
        out = _invoke([*command, "--db", str(db)])
        assert out.exit_code == 0, out.output
        assert_terminal_safe(out.stdout)
        assert "\u241b" in out.stdout or "\\u001b" in out.stdout  # shown, made harmless


TERMINAL_OUTPUTS = [
    ["stats", "hostile"],
    ["stats", "hostile", "--by", "viewers"],
    ["stats", "hostile", "--format", "json"],
    ["flowchart", "hostile"],
    ["flowchart", "hostile", "--ascii"],
    ["flowchart", "hostile", "--by", "sessions"],
    ["flowchart", "hostile", "--format", "json"],
    ["flowchart", "hostile", "--format", "mermaid"],
    ["flowchart", "hostile", "--format", "dot"],
    ["export", "--format", "jsonl"],
    ["export", "--format", "csv"],
    *(
        ["stats", "hostile", "--format", "csv", "--table", table]
        for table in ("overview", "reach", "choices", "endings", "paths", "segments")
    ),
]


ARRIVED = ("HYPERLINK", "PWNED", "data-pwned", "SUM(1)")


@pytest.mark.parametrize("command", TERMINAL_OUTPUTS, ids=" ".join)
def test_recorded_data_prints_safely(hostile_db: Path, command: list[str]) -> None:
    result = _invoke([*command, "--db", str(hostile_db)])
    assert result.exit_code == 0, result.output
    assert_terminal_safe(result.stdout)
    assert any(m in result.stdout for m in ARRIVED)  # the data did arrive


@pytest.mark.parametrize("command", TERMINAL_OUTPUTS, ids=" ".join)
def test_whatever_merge_brings_in_prints_safely(merged: Path, command: list[str]) -> None:
    result = _invoke([*command, "--db", str(merged)])
    assert result.exit_code in (0, 1), result.output  # 1: merge refused every playthrough
    assert_terminal_safe(result.output)


def test_error_messages_quoting_recorded_data_are_safe(hostile_db: Path) -> None:
    result = _invoke(["stats", "hostile", "--version", "nope", "--db", str(hostile_db)])
    assert result.exit_code == 1
    assert "]2;VERSION" in result.output
    assert_terminal_safe(result.output)


def test_the_terminal_flowchart_written_to_a_file_is_safe(hostile_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "chart.txt"
    result = _invoke(["flowchart", "hostile", "--db", str(hostile_db), "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert_terminal_safe(text)
    assert "\u241b]2;PWNED" in text


# -- CSV -----------------------------------------------------------------------------------

FORMULA = tuple("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _formulas(text: str) -> list[str]:
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    return [
        c
        for c in cells
        if not _number(c) and (c.startswith(FORMULA) or c.lstrip().startswith(FORMULA))
    ]


@pytest.mark.parametrize(
    "command",
    [
        ["export", "--format", "csv"],
        *(
            ["stats", "hostile", "--format", "csv", "--table", table]
            for table in ("overview", "reach", "choices", "endings", "segments", "unreached")
        ),
    ],
    ids=" ".join,
)
def test_no_csv_cell_starts_a_formula(hostile_db: Path, command: list[str]) -> None:
    result = _invoke([*command, "--db", str(hostile_db)])
    assert result.exit_code == 0, result.output
    assert _formulas(result.stdout) == []


def test_csv_cells_are_prefixed_and_otherwise_unchanged(hostile_db: Path) -> None:
    result = _invoke(
        ["stats", "hostile", "--format", "csv", "--table", "segments", "--db", str(hostile_db)]
    )
    rows = list(csv.reader(io.StringIO(result.stdout)))
    segments = {row[1] for row in rows[1:]}
    assert '\'=HYPERLINK("http://evil.invalid")\u241b]2;T\u2407' in segments
    assert "'-1+1\u240d\n<script>alert(1)</script>" in segments
    assert "'+cmd|calc \ufffd0;t\u2407" in segments
    assert "'=k\u241b[2J" in {row[0] for row in rows}
    result = _invoke(
        ["stats", "hostile", "--format", "csv", "--table", "choices", "--db", str(hostile_db)]
    )
    labels = {row[1] for row in csv.reader(io.StringIO(result.stdout))}
    assert "'" + LABEL_1.replace("\x1b", "\u241b") in labels
    assert "'" + LABEL_2 in labels and "'-evil" in labels


# -- JSON: exact values, safe text ----------------------------------------------------------


def test_json_outputs_keep_every_recorded_value_exactly(hostile_db: Path) -> None:
    db = ["--db", str(hostile_db)]
    graph = json.loads(_invoke(["flowchart", "hostile", "--format", "json", *db]).stdout)
    assert graph["story"]["title"] == TITLE and graph["story"]["chapters"] == [CHAPTER]
    labels = {e["label"] for s in graph["scenes"] for e in s["edges"]}
    assert {LABEL_1, LABEL_2} <= labels
    stats = json.loads(_invoke(["stats", "hostile", "--format", "json", *db]).stdout)
    segments = {(r["by"], r["segment"]) for r in stats["tables"]["segments"]["rows"]}
    assert {(k, v) for k, v in ATTRS.items()} <= segments
    assert ("terminal", TERM_PROGRAM) in segments
    lines = _invoke(["export", "--format", "jsonl", *db]).stdout.splitlines()
    record = json.loads(lines[0])
    assert record["terminal"] == TERM and record["term_program"] == TERM_PROGRAM
    assert record["platform"] == PLATFORM and record["locale"] == LOCALE
    assert record["attrs"] == ATTRS and record["version_label"] == VERSION


# -- Mermaid -------------------------------------------------------------------------------

MERMAID_LINE = re.compile(
    r"""flowchart\ TD
    | \ {4}%%\ [^\n]*
    | \s+subgraph\ c\d+\["[^"]*"\]
    | \s+end
    | \s+n\d+(\["[^"]*"\]|\(\["[^"]*"\]\))
    | \s+n\d+\ (-->|-\.->)\|"[^"]*"\|\ n\d+
    | \s+linkStyle\ \d+\ stroke-width:[\d.]+px
    | \s+classDef\ [a-z]+\ [a-z0-9:#,.\ -]+
    | \s+class\ n\d+\ [a-z]+""",
    re.VERBOSE,
)


def test_mermaid_holds_only_the_statements_we_write(hostile_db: Path) -> None:
    text = _invoke(["flowchart", "hostile", "--format", "mermaid", "--db", str(hostile_db)]).stdout
    for line in text.splitlines():
        assert MERMAID_LINE.fullmatch(line), f"unexpected Mermaid line: {line!r}"
        assert not line.lstrip().startswith(("click", "%%{"))
    assert "%%{" not in text and "}%%" not in text
    # the two comment lines, each still one line, and the fixed legend
    assert text.count("\n    %% ") == 2 + len(MERMAID_LEGEND)
    labels = re.findall(r'"([^"]*)"', text)
    assert all("<" not in label.replace("<br/>", "") for label in labels)
    assert "click n0 href" in text  # as words in a comment and a label, never a statement


# -- DOT, SVG, PNG -------------------------------------------------------------------------

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
SVG_TAGS = {"svg", "g", "title", "polygon", "polyline", "ellipse", "path", "text"}


@needs_dot
def test_dot_adds_no_statement_and_its_svg_is_plain_graphviz(hostile_db: Path) -> None:
    db = ["--db", str(hostile_db)]
    dot = _invoke(["flowchart", "hostile", "--format", "dot", *db]).stdout
    svg = _invoke(["flowchart", "hostile", "--format", "svg", *db]).stdout_bytes
    root = ET.fromstring(svg)  # valid XML: no control character, no undefined entity
    tags = {el.tag.rsplit("}", 1)[-1] for el in root.iter()}
    assert tags <= SVG_TAGS
    attributes = {k for el in root.iter() for k in el.attrib}
    assert not [k for k in attributes if k.startswith("on") or "href" in k]
    groups = [el.get("class") for el in root.iter() if el.get("class")]
    assert groups.count("node") == 3 + 1 and groups.count("edge") == 4  # + the legend
    assert groups.count("cluster") == 1
    titles = {el.text for el in root.iter() if el.tag.endswith("title")}
    assert not [t for t in titles if t and "injected" in t]
    shown = " ".join(el.text or "" for el in root.iter() if el.tag.endswith("text"))
    assert "&foo;" in shown and "<b>b</b>" in shown  # drawn as the text it is
    parsed = json.loads(
        subprocess.run(
            ["dot", "-Tjson"], input=dot.encode(), capture_output=True, check=True
        ).stdout
    )
    names = {o["name"] for o in parsed["objects"] if "nodes" not in o} - {"legend:"}
    assert names == {"gate", "hall", END_ID.replace("&", "&amp;").replace("\x1b", "\u241b")}
    keys = {k for item in parsed["objects"] + parsed["edges"] for k in item}
    assert not keys & {"URL", "href", "tooltip"}
    ids = {o.get("id") for o in parsed["objects"] + parsed["edges"]} - {None}
    assert all(re.fullmatch(r"s\d+|legend", i) for i in ids), ids  # only our own node ids


@needs_dot
def test_png_of_hostile_data_renders(hostile_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "chart.png"
    result = _invoke(
        ["flowchart", "hostile", "--format", "png", "--db", str(hostile_db), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- HTML ----------------------------------------------------------------------------------

HTML_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "div", "pre",
    "table", "caption", "thead", "tbody", "tr", "th", "td",
    "script", "input", "datalist", "option", "button", "span", "aside", "ul", "li", "i",
} | SVG_TAGS  # fmt: skip


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes |= {name for name, _ in attrs}


@pytest.fixture(scope="module")
def page(hostile_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("page") / "report.html"
    result = _invoke(
        ["flowchart", "hostile", "--format", "html", "--db", str(hostile_db), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def test_html_page_holds_only_our_elements(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert_terminal_safe(text)
    parser = _Tags()
    parser.feed(text)
    assert parser.tags <= HTML_TAGS, parser.tags - HTML_TAGS
    assert not [a for a in parser.attributes if a.startswith("on") or "href" in a or a == "src"]
    assert "document.body.setAttribute" in text  # the payloads are there, as text


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed")
def test_html_page_runs_no_script_in_a_browser(page: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    body = re.search(r"<body[^>]*>", done.stdout)
    assert body is not None and "data-pwned" not in body.group()
    assert "<img" not in done.stdout
    assert done.stdout.count("<script") == 2  # our two: the figures as JSON, and our code


# -- counts computed elsewhere ------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["terminal", "json", "mermaid", "dot", "html"])
def test_a_hostile_counts_file_is_drawn_safely(tmp_path: Path, fmt: str) -> None:
    counts = tmp_path / "counts.csv"
    counts.write_text(
        'scene,choice,target,count\ngate,"=evil\x1b]2;COUNTS\x07",hall,3\ngate,quit_label,hall,2\n',
        encoding="utf-8",
    )
    result = _invoke(["flowchart", str(HOSTILE), "--counts", str(counts), "--format", fmt])
    assert result.exit_code == 0, result.output
    assert_terminal_safe(result.stdout)
    assert "=evil" in result.stdout or "=evil" in html.unescape(result.stdout)
