"""Every output of every command, fed hostile story text, attributes, TERM values and merged rows.

Issue #10, findings 4, 5 and 6. Two databases are built the same way: one
with hostile data everywhere data can enter (the story's every text field,
`--attr` values, `TERM`/`TERM_PROGRAM`, and rows a `merge` brings in from a
database poisoned with SQL), and a benign twin with plain words in the same
places. Every command then writes every format from both, and:

- no output (stdout or stderr, any format) holds a terminal control character
  (ESC, BEL, CR, C1 codes such as the 8-bit CSI, bidi overrides), and on a
  real pseudo-terminal no payload sequence (a window title, an OSC 8 link)
  arrives;
- CSV has the benign twin's rows and columns, and no text cell starts a
  formula (`=`, `+`, `-`, `@`, tab, CR);
- Mermaid has the benign twin's statements, line for line (no `click`
  injected through a newline), DOT parses (Graphviz) to the same nodes,
  edges and attribute names, SVG parses as XML with no script or handler;
- the HTML report and the SVG, opened in headless Chromium, run no script:
  a payload that would mark the page (`data-pwned`) leaves no mark, while
  the same payload on a control page does.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from branching.render.tables import TABLES

from ._support import (
    Run,
    assert_handled,
    decode_strict,
    require,
    run_cli,
    run_in_pty,
    story_yaml,
    traceback_in,
    unsafe_characters,
)

pytestmark = pytest.mark.slow

# -- the payloads --------------------------------------------------------------------------

PWN_JS = "document.documentElement.setAttribute('data-pwned','1')"
PWN_SHORT = "<img src=x onerror=document.documentElement.dataset.pwned=1>"  # fits an --attr
HTML_PAYLOAD = f'</script><img src=x onerror="{PWN_JS}"><svg onload="{PWN_JS}">'
TERMINAL_PAYLOAD = (
    "\x1b]2;PWNED-TITLE\x1b\\\x1b[2J\x1b[H\x07"
    "\x1b]8;;http://evil.invalid/\x1b\\CLICK\x1b]8;;\x1b\\\x9b31m\u202eevil\u202c\rSPOOF"
)
GRAPH_PAYLOAD = (
    'x"]\nclick n0 href "javascript:alert(1)"\n%%{init: {"securityLevel": "loose"}}%%\n'
    'evil [URL="javascript:alert(1)"]; <<b>html</b>> &bogus; \\" ` | #'
)
FORMULAS = ['=HYPERLINK("http://evil.invalid","x")', "+1+2", "-3+4", "@SUM(A1)", "\t=1", "\r=2"]
# What the payloads try to make happen, as they would appear if they got through.
TERMINAL_EFFECTS = [
    b"\x1b]2;PWNED",
    b"\x1b]0;PWNED",
    b"\x1b]8;;http://evil.invalid",
    b"\x9b31m",
    "\u202eevil".encode(),
    b"\x07",
]


def hostile(prefix: str) -> str:
    return f"{prefix} {TERMINAL_PAYLOAD} {HTML_PAYLOAD} {GRAPH_PAYLOAD}"


def benign(prefix: str) -> str:
    """Plain words in the same place (the prefix's letters and digits only)."""
    return "plain " + (re.sub(r"[^A-Za-z0-9 ]", "", prefix).strip() or "words")


def tale(plain_text: Any) -> dict[str, Any]:
    """The story, with `text(field)` in every field that holds text."""

    def text(prefix: str) -> str:
        return plain_text(prefix)

    def interpolated(prefix: str) -> str:  # text and labels interpolate {expr}: braces doubled
        return plain_text(prefix).replace("{", "{{").replace("}", "}}")

    return {
        "branching": 1,
        "id": "tale",
        "title": text("Title"),
        "author": text("Author"),
        "description": text("Description"),
        "start": "gate",
        "scenes": {
            "gate": {
                "title": text(FORMULAS[1] + " gate"),
                "chapter": text(FORMULAS[3] + " chapter"),
                "tags": [text("\t=1 tag")],
                "text": interpolated("Gate text"),
                "choices": [
                    {"id": "left", "label": interpolated(FORMULAS[3] + " left"), "goto": "hall"},
                    {
                        "id": "right",
                        "label": interpolated(FORMULAS[0] + " right"),
                        "goto": "end",
                        "tags": [text("choice tag")],
                    },
                ],
            },
            "hall": {"title": text("Hall"), "text": interpolated("Hall text"), "next": "end"},
            "end": {
                "title": text("End"),
                "text": interpolated("End text"),
                "ending": {"kind": text(FORMULAS[0]), "title": text(FORMULAS[2] + " ending")},
            },
        },
    }


KIOSK = {
    "branching": 1,
    "id": "kiosk",
    "title": "Kiosk",
    "start": "a",
    "scenes": {
        "a": {
            "text": "A.",
            "choices": [
                {"id": "x", "label": "X", "goto": "b"},
                {"id": "y", "label": "Y", "goto": "b"},
            ],
        },
        "b": {"text": "B.", "ending": {"kind": "good", "title": "B"}},
    },
}


def attrs(text: Any) -> list[str]:
    values = [
        TERMINAL_PAYLOAD[:30],
        "\x1b]8;;http://evil.invalid/\x1b\\CLICK\x1b]8;;\x1b\\",
        PWN_SHORT,
        *FORMULAS[:4],
        'x"]\nclick n0 href "javascript:alert(1)"',
    ]
    return [
        f"a{n}={(text(value) if text is benign else value)[:64]}" for n, value in enumerate(values)
    ]


TERMS = [
    ("xterm\x1b]2;PWNED-TITLE\x1b\\\x1b[2J", "\x1b]8;;http://evil.invalid/\x1b\\iTerm"),
    (PWN_SHORT, '=HYPERLINK("http://evil.invalid","x")'),
    ('x"]\nclick n0 href "javascript:alert(1)"', "@SUM(A1)"),
]


# -- building the two databases --------------------------------------------------------


def _poison_json(value: Any, text: Any) -> Any:
    """A stored story structure with `text` in every title and label."""
    if isinstance(value, dict):
        return {
            k: text(f"{v}")
            if k in ("title", "label", "chapter") and isinstance(v, str)
            else _poison_json(v, text)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_poison_json(v, text) for v in value]
    return value


def _poison_source(src: Path, text: Any) -> None:
    """Rewrite a recorded database with SQL, the way a hostile kiosk's file could arrive."""
    conn = sqlite3.connect(src)
    try:
        (structure,) = conn.execute("SELECT structure FROM stories").fetchone()
        conn.execute(
            "UPDATE stories SET title = ?, author = ?, version_label = ?, structure = ?",
            [
                text("Merged title"),
                text("Merged author"),
                text("=1+1"),
                json.dumps(_poison_json(json.loads(structure), text)),
            ],
        )
        conn.execute(
            "UPDATE sessions SET terminal = ?, term_program = ?, platform = ?, locale = ?, "
            "app_version = ?, ending_kind = ?",
            [text(f"m{n}") for n in range(5)] + [text(FORMULAS[0])],
        )
        conn.execute("UPDATE session_attrs SET value = ?", [text("@attr")[:64]])
        (session,) = conn.execute("SELECT session_id FROM sessions LIMIT 1").fetchone()
        conn.execute(
            "INSERT OR REPLACE INTO session_attrs (session_id, key, value) VALUES (?, ?, ?)",
            [session, "kiosk" if text is benign else "k\x1b[2J", text("-2+3")[:64]],
        )
        conn.commit()
    finally:
        conn.close()


@dataclass
class World:
    """One of the two databases, its story file, and every output made from them."""

    name: str
    story: Path
    db: Path
    env: dict[str, str]
    builds: list[Run] = field(default_factory=list)
    outputs: dict[str, Run] = field(default_factory=dict)
    attrs_run: Run | None = None


STATS_TABLES = list(TABLES)  # every table `stats` can print
FLOW_FORMATS = ["terminal", "dot", "svg", "mermaid", "html", "json"]


def commands(world: World) -> dict[str, list[object]]:
    story, db = world.story, world.db
    out: dict[str, list[object]] = {
        "play": ["play", story, "--plain", "--no-telemetry", "--choices", "1"],
        "check": ["check", story],
        "check json": ["check", "--format", "json", story],
        "explore": ["explore", story],
        "explore json": ["explore", "--format", "json", story],
        "export jsonl": ["export", "--db", db, "--format", "jsonl"],
        "export csv": ["export", "--db", db, "--format", "csv"],
        "stats file": ["stats", story, "--db", db],
    }
    for sid in ("tale", "kiosk"):
        out[f"stats {sid}"] = ["stats", sid, "--db", db]
        out[f"stats {sid} viewers"] = ["stats", sid, "--db", db, "--by", "viewers"]
        out[f"stats {sid} json"] = ["stats", sid, "--db", db, "--format", "json"]
        for table in STATS_TABLES:
            out[f"stats {sid} csv {table}"] = [
                "stats",
                sid,
                "--db",
                db,
                "--format",
                "csv",
                "--table",
                table,
            ]
        for fmt in FLOW_FORMATS:
            out[f"flowchart {sid} {fmt}"] = ["flowchart", sid, "--db", db, "--format", fmt]
        out[f"flowchart {sid} ascii"] = ["flowchart", sid, "--db", db, "--ascii"]
    return out


def _build(root: Path, name: str, text: Any) -> World:
    folder = root / name
    folder.mkdir()
    env = {
        "XDG_CONFIG_HOME": str(folder / "config"),
        "XDG_DATA_HOME": str(folder / "data"),
        "COLUMNS": "200",
    }
    story = folder / "tale.yaml"
    story.write_text(story_yaml(tale(text)), encoding="utf-8")
    kiosk = folder / "kiosk.yaml"
    kiosk.write_text(story_yaml(KIOSK), encoding="utf-8")
    world = World(name, story, folder / "main.db", env)
    # TERM and TERM_PROGRAM come from whoever connects: they are recorded whatever they hold.
    for n, ((term, program), choices) in enumerate(zip(TERMS, ("1", "2", "q"), strict=True)):
        term_env = {
            **env,
            "TERM": text(term) if text is benign else term,
            "TERM_PROGRAM": text(program) if text is benign else program,
        }
        world.builds.append(
            run_cli(
                "play",
                story,
                "--db",
                world.db,
                "--viewer",
                f"viewer{n}",
                "--choices",
                choices,
                env=term_env,
            )
        )
    # --attr values: recorded, or refused with a usage error (either keeps outputs safe).
    attr_args = [arg for a in attrs(text) for arg in ("--attr", a)]
    world.attrs_run = run_cli(
        "play",
        story,
        "--db",
        world.db,
        "--viewer",
        "viewer-attrs",
        "--choices",
        "1",
        *attr_args,
        env=env,
    )
    source = folder / "kiosk-source.db"
    for choices in ("1", "2"):
        world.builds.append(
            run_cli("play", kiosk, "--db", source, "--viewer", "k", "--choices", choices, env=env)
        )
    _poison_source(source, text)
    world.builds.append(run_cli("merge", world.db, source, env=env))
    world.outputs["merge"] = world.builds[-1]
    jobs = commands(world)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda args: run_cli(*args, env=env), jobs.values())
        world.outputs.update(zip(jobs, results, strict=True))
    return world


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, World]:
    root = tmp_path_factory.mktemp("hostile")
    return {"hostile": _build(root, "hostile", hostile), "benign": _build(root, "benign", benign)}


def _pairs(worlds: dict[str, World], prefix: str) -> Iterator[tuple[str, Run, Run]]:
    for key, run in worlds["hostile"].outputs.items():
        if key.startswith(prefix):
            yield key, run, worlds["benign"].outputs[key]


# -- the tests -------------------------------------------------------------------------


def test_recording_hostile_data_works(worlds: dict[str, World], figure: Any) -> None:
    """Hostile story text, attributes and TERM values are recorded (or refused) cleanly."""
    for world in worlds.values():
        for run in world.builds:
            assert_handled(run, statuses=(0, 1) if run.argv[1] == "merge" else (0,))
        assert world.attrs_run is not None
        assert_handled(world.attrs_run, statuses=(0, 2))
    assert worlds["benign"].attrs_run.returncode == 0  # type: ignore[union-attr]
    figure(
        "hostile --attr values",
        "recorded" if worlds["hostile"].attrs_run.returncode == 0 else "refused",  # type: ignore[union-attr]
    )
    sessions = (
        sqlite3.connect(worlds["hostile"].db).execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
    )
    figure("hostile sessions recorded (direct and merged)", sessions)
    assert sessions >= len(TERMS), "the hostile plays were not recorded"


def test_no_escape_reaches_the_terminal_from_any_output(
    worlds: dict[str, World], figure: Any
) -> None:
    """No output of any command carries a terminal control character."""
    problems = []
    for key, run in worlds["hostile"].outputs.items():
        if traceback_in(run) or run.timed_out:
            problems.append(f"{key}: {run.describe()}")
            continue
        for stream, data in (("stdout", run.stdout), ("stderr", run.stderr)):
            try:
                text = decode_strict(data, f"{key} {stream}")
            except AssertionError as exc:
                problems.append(str(exc))
                continue
            found = unsafe_characters(text, csv="csv" in key)
            if found:
                problems.append(f"{key} {stream}: {', '.join(found)}")
    figure("outputs checked (command x format)", len(worlds["hostile"].outputs))
    figure("outputs with a terminal control character", len(problems))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "args",
    [
        ["stats", "tale", "--table", "segments"],
        ["stats", "kiosk", "--table", "segments"],
        ["stats", "kiosk"],
        ["flowchart", "tale"],
        ["flowchart", "kiosk"],
        ["export", "--format", "csv"],
    ],
    ids=lambda a: " ".join(a),
)
def test_no_payload_reaches_a_real_terminal(
    worlds: dict[str, World], args: list[str], figure: Any
) -> None:
    """On a pseudo-terminal (where Rich styles its output) no payload sequence arrives."""
    world = worlds["hostile"]
    run = run_in_pty(*args, "--db", world.db, env=world.env, timeout=60)
    assert_handled(run)
    effects = [seq for seq in TERMINAL_EFFECTS if seq in run.stdout]
    figure("payload sequences on the terminal", len(effects))
    assert not effects, f"reached the terminal: {effects}"


def _csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


NUMBER = re.compile(r"-?\d+(\.\d+)?%?")


def test_csv_outputs_keep_their_shape_and_start_no_formula(
    worlds: dict[str, World], figure: Any
) -> None:
    """CSV from export and stats: every row as wide as the header, no cell starts a formula."""
    problems = []
    cells = 0
    for key, run in worlds["hostile"].outputs.items():
        if "csv" not in key:
            continue
        if run.returncode != 0:
            assert_handled(run)
            continue
        rows = _csv_rows(run.out)
        widths = sorted({len(r) for r in rows})
        if rows and widths != [len(rows[0])]:
            problems.append(f"{key}: rows of different widths {widths}: quoting broke")
        for row in rows:
            for cell in row:
                cells += 1
                if cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not NUMBER.fullmatch(cell):
                    problems.append(f"{key}: formula cell {cell[:40]!r}")
    figure("CSV cells checked", cells)
    figure("CSV cells that start a formula", sum("formula cell" in p for p in problems))
    assert cells, "no CSV was produced"
    assert not problems, "\n".join(problems[:40])


NODE = re.compile(r"^\s*n\d+\s*[\[(]")


TOKEN = re.compile(r"\s*([^\s\[\](){}\"|>-]+)")


def _first_tokens(text: str) -> set[str]:
    """What each line's statement starts with: a keyword or a node id (not its label)."""
    return {m.group(1) for line in text.splitlines() if (m := TOKEN.match(line))}


def test_mermaid_output_gains_no_statement(worlds: dict[str, World], figure: Any) -> None:
    """Mermaid: no newline in any text adds a statement (`click ... href`, a directive)."""
    problems = []
    for key, run, twin in _pairs(worlds, "flowchart"):
        if not key.endswith("mermaid") or not _comparable(key, run, twin):
            continue
        nodes = sum(1 for line in run.out.splitlines() if NODE.match(line))
        twin_nodes = sum(1 for line in twin.out.splitlines() if NODE.match(line))
        if nodes != twin_nodes:
            problems.append(f"{key}: {nodes} node statements, the benign twin has {twin_nodes}")
        extra = _first_tokens(run.out) - _first_tokens(twin.out)
        if extra:
            problems.append(f"{key}: statements the benign twin lacks: {sorted(extra)[:8]}")
        for line in run.out.splitlines():
            if line.strip().startswith(("click", "%%{", "<", "style ")):
                problems.append(f"{key}: injected line {line.strip()[:80]!r}")
    figure("Mermaid statements injected", len(problems))
    assert not problems, "\n".join(problems)


def _comparable(key: str, run: Run, twin: Run) -> bool:
    """Both outputs exist; a merged story whose poisoned rows were refused has none to compare."""
    if run.returncode == 0 and twin.returncode == 0:
        return True
    assert_handled(run)
    assert "kiosk" in key and twin.returncode == 0, f"{key}: {run.describe()}"
    return False


def _dot_json(dot: str) -> dict[str, Any]:
    result = subprocess.run(
        ["dot", "-Tjson"], input=dot, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"Graphviz cannot read the DOT: {result.stderr[:500]}"
    return json.loads(result.stdout)


def _dot_shape(graph: dict[str, Any]) -> tuple[int, int, set[str]]:
    names: set[str] = set()
    for item in [graph, *graph.get("objects", []), *graph.get("edges", [])]:
        names.update(k for k in item if not k.startswith("_"))
    return len(graph.get("objects", [])), len(graph.get("edges", [])), names


def test_dot_and_svg_outputs_parse_to_the_benign_graph(
    worlds: dict[str, World], figure: Any
) -> None:
    """DOT parses to the benign twin's nodes, edges and attributes; SVG is script-free XML."""
    require(shutil.which("dot"), "Graphviz's dot is not installed")
    problems = []
    for key, run, twin in _pairs(worlds, "flowchart"):
        if not key.endswith((" dot", " svg")) or not _comparable(key, run, twin):
            continue
        if key.endswith(" dot"):
            nodes, edges, names = _dot_shape(_dot_json(run.out))
            b_nodes, b_edges, b_names = _dot_shape(_dot_json(twin.out))
            if (nodes, edges) != (b_nodes, b_edges):
                problems.append(f"{key}: {nodes} nodes/{edges} edges, benign {b_nodes}/{b_edges}")
            if names - b_names:
                problems.append(f"{key}: attributes injected: {sorted(names - b_names)}")
            if re.search(r"(?i)\b(URL|href)\s*=\s*\"javascript", run.out):
                problems.append(f"{key}: a javascript: link")
        else:
            try:
                root = ET.fromstring(run.stdout)
            except ET.ParseError as exc:
                problems.append(f"{key}: not well-formed XML ({exc})")
                continue
            twin_tags = {el.tag for el in ET.fromstring(twin.stdout).iter()}
            for el in root.iter():
                tag = el.tag.rsplit("}", 1)[-1]
                if el.tag not in twin_tags or tag in ("script", "foreignObject"):
                    problems.append(f"{key}: element <{tag}> injected")
                for name, value in el.attrib.items():
                    local = name.rsplit("}", 1)[-1].lower()
                    if local.startswith("on") or "javascript:" in value.lower():
                        problems.append(f"{key}: attribute {local}={value[:40]!r}")
    figure("DOT/SVG injections", len(problems))
    assert not problems, "\n".join(problems)


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend((tag, name, value or "") for name, value in attrs)


def _elements(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


def test_html_report_keeps_hostile_text_as_text(worlds: dict[str, World], figure: Any) -> None:
    """The HTML report has the benign twin's elements and handlers: hostile text adds none."""
    problems = []
    for key, run, twin in _pairs(worlds, "flowchart"):
        if not key.endswith(" html") or not _comparable(key, run, twin):
            continue
        mine, theirs = _elements(run.out), _elements(twin.out)
        if set(mine.tags) - set(theirs.tags):
            problems.append(
                f"{key}: elements injected: {sorted(set(mine.tags) - set(theirs.tags))}"
            )
        if mine.tags.count("script") != theirs.tags.count("script"):
            problems.append(
                f"{key}: {mine.tags.count('script')} scripts, benign has "
                f"{theirs.tags.count('script')}"
            )
        handlers = {(t, n) for t, n, _ in mine.attrs if n.startswith("on")}
        benign_handlers = {(t, n) for t, n, _ in theirs.attrs if n.startswith("on")}
        if handlers - benign_handlers:
            problems.append(f"{key}: handlers injected: {sorted(handlers - benign_handlers)}")
        if any("javascript:" in v.lower() for _, _, v in mine.attrs):
            problems.append(f"{key}: a javascript: URL in an attribute")
    figure("HTML injections", len(problems))
    assert not problems, "\n".join(problems)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


PWNED = re.compile(r"<(html|svg)\b[^>]*\bdata-pwned=")


def _pwned(dom: str) -> bool:
    """The payload ran: it marked the document's root element (its text alone is inert)."""
    return PWNED.search(dom) is not None


def _dump_dom(browser: str, page: Path, profile: Path) -> str:
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=3000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stdout.strip(), (
        f"headless Chromium failed on {page.name}: {result.stderr[-1000:]}"
    )
    return result.stdout


def test_html_and_svg_run_no_script_in_a_real_browser(
    worlds: dict[str, World], tmp_path: Path, figure: Any
) -> None:
    """Headless Chromium opens the HTML report and the SVG: no payload script runs."""
    browser = _chromium()
    require(browser, "headless Chromium is not installed (apt-get install chromium)")
    assert browser is not None
    profile = tmp_path / "profile"
    control = tmp_path / "control.html"
    control.write_text(f"<html><body><p>control</p>{HTML_PAYLOAD}</body></html>", encoding="utf-8")
    assert _pwned(_dump_dom(browser, control, profile)), (
        "the control page's payload did not run: this browser check would prove nothing"
    )
    ran = []
    pages = 0
    for key, run, _ in _pairs(worlds, "flowchart"):
        if not key.endswith((" html", " svg")) or run.returncode != 0:
            continue
        page = tmp_path / (key.replace(" ", "-") + (".html" if key.endswith("html") else ".svg"))
        page.write_bytes(run.stdout)
        pages += 1
        if _pwned(_dump_dom(browser, page, profile)):
            ran.append(key)
    figure("pages opened in headless Chromium", pages)
    figure("pages where a payload script ran", len(ran))
    assert pages >= 2, "no HTML or SVG page was produced"
    assert not ran, f"a payload script ran in: {ran}"


def test_dashboard_shows_hostile_data_inertly(worlds: dict[str, World], figure: Any) -> None:
    """The full-screen dashboard, on a real pseudo-terminal, through all seven tabs."""
    world = worlds["hostile"]
    keys = [(4.0 + 0.6 * n, str(n).encode()) for n in range(1, 8)] + [
        (t, b"q") for t in (9.5, 11.0, 14.0, 18.0, 24.0, 30.0)
    ]
    problems = []
    for sid in ("tale", "kiosk"):
        run = run_in_pty("dashboard", sid, "--db", world.db, env=world.env, keys=keys, timeout=45)
        if run.timed_out or traceback_in(run):
            problems.append(f"{sid}: {run.describe()}")
        # Textual rings the bell itself (a key with nothing to do): BEL proves nothing here.
        effects = [seq for seq in TERMINAL_EFFECTS if seq != b"\x07" and seq in run.stdout]
        if effects:
            problems.append(f"{sid}: reached the terminal: {effects}")
    figure("payload sequences from the dashboard", len(problems))
    assert not problems, "\n".join(problems)


def test_json_outputs_parse(worlds: dict[str, World], figure: Any) -> None:
    """JSON and JSON-lines outputs parse, hostile text and all."""
    checked = 0
    for key, run in worlds["hostile"].outputs.items():
        if "json" not in key or run.returncode != 0:
            continue
        text = run.out
        docs = (
            [json.loads(line) for line in text.splitlines() if line]
            if "jsonl" in key
            else [json.loads(text)]
        )
        checked += len(docs)
    figure("JSON documents parsed", checked)
    assert checked
