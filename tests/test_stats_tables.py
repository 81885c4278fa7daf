"""How `branching stats` lays its tables out for people: never a value lost.

On a terminal the Rich table wraps text but never a figure, and falls back to
the plain layout when the figures alone do not fit; piped, the plain layout
keeps every row on one line. Titles stand in for ids, with the id added only
where two scenes share a title.
"""

from __future__ import annotations

import io
import re

import pytest
from click.testing import CliRunner
from rich.console import Console
from rich.table import Table
from rich.text import Text

import branching.cli.analytics  # noqa: F401  (registers the commands)
from branching.analytics import build_report
from branching.analytics.rows import Overview, Report, SceneReach
from branching.cli import cli
from branching.escape import terminal_line
from branching.render.figures import Figures
from branching.render.sheet_text import NUMERIC, fit_widths, rich_table
from branching.render.tables import report_tables, scene_names


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Report:
    db = tmp_path_factory.mktemp("tables") / "t.db"
    args = ["simulate", "tutorial", "--sessions", "30", "--seed", "9", "--db", str(db)]
    result = CliRunner().invoke(cli, [*args, "--timeouts", "0.3", "--abandon", "0.1"])
    assert result.exit_code == 0, result.output
    return build_report("tutorial", db=db)


def drawn(renderable: object, width: int) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, legacy_windows=False)
    console.print(renderable, soft_wrap=isinstance(renderable, Text))
    return out.getvalue()


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_a_narrow_terminal_wraps_text_but_never_a_figure(tutorial: Report, width: int) -> None:
    figures = Figures()
    fell_back = 0
    for sheet in report_tables(tutorial):
        table = rich_table(sheet, figures, width=width)
        text = drawn(table, width)
        lines = [line.strip() for line in text.splitlines()]
        if isinstance(table, Table):
            assert max(len(line) for line in text.splitlines()) <= width
        else:
            fell_back += 1
        numeric = [i for i, c in enumerate(sheet.columns) if c.kind in NUMERIC]
        for row in sheet.rows:  # a row's figures: whole, in order, on its first line
            cells = [terminal_line(sheet.cell(row, i, figures)) for i in numeric]
            if cells:
                pattern = r"\s+".join(re.escape(c) for c in cells) + "$"
                assert any(re.search(pattern, line) for line in lines), (sheet.name, cells)
    if width >= 120:
        assert fell_back == 0  # wide enough: every table is a Rich table
    if width <= 40:
        assert fell_back > 0  # the choices' seven columns cannot fit: plain, every value


def test_fit_widths_shrinks_text_first_and_gives_up_when_figures_do_not_fit() -> None:
    headers, kinds = ["scene", "times taken", "share"], ["text", "count", "share"]
    cells = [["A very long scene title indeed", "12,345", "99.5%"]]
    assert fit_widths(headers, kinds, cells, 100) == [30, 6, 5]
    assert fit_widths(headers, kinds, cells, 25) == [14, 6, 5]  # the figures keep their width
    assert fit_widths(headers, kinds, cells, 20) is None  # text would go under 10 characters


def test_titles_that_collide_carry_their_id() -> None:
    overview = Overview("s", "S", "sessions", "", (), 1, 1, 1, 0, None, None, 0)
    reach = tuple(
        SceneReach(sid, title, None, "choice", 1, 1, 1)
        for sid, title in (("dock_a", "The Dock"), ("dock_b", "The Dock"), ("sea", "Open Sea"))
    )
    names = scene_names(Report(overview=overview, reach=reach))
    assert names == {
        "dock_a": "The Dock (dock_a)",
        "dock_b": "The Dock (dock_b)",
        "sea": "Open Sea",
    }


def test_people_never_see_id_columns_and_programs_always_do(tutorial: Report) -> None:
    for people, programs in zip(
        report_tables(tutorial), report_tables(tutorial, ids=True), strict=True
    ):
        assert all(c.kind != "id" for c in people.columns)
        assert programs.columns[: len(people.columns)] == people.columns
    choices = report_tables(tutorial, ("choices",), ids=True)[0]
    assert [c.name for c in choices.columns][-3:] == ["scene id", "choice id", "goes to id"]
