"""The one share bar (flowchart and dashboard) and the timing quantiles."""

from __future__ import annotations

import pytest

from branching.analytics.metrics import median_p90
from branching.render.bars import share_bar, share_cell


@pytest.mark.parametrize(
    ("share", "ascii_only", "drawn"),
    [
        (None, False, "        "),
        (0.0, False, "        "),
        (1.0, False, "████████"),
        (1.7, False, "████████"),  # clamped
        (0.5, False, "████    "),
        (0.0625, False, "▌       "),  # four eighths of a cell
        (0.0625, True, "#       "),  # ASCII rounds to whole cells
        (0.001, True, "#       "),  # any traffic shows
        (0.0, True, "        "),
    ],
)
def test_share_bar_in_eighths_or_whole_ascii_cells(
    share: float | None, ascii_only: bool, drawn: str
) -> None:
    assert share_bar(share, 8, ascii_only=ascii_only).plain == drawn


def test_a_hidden_share_has_neither_bar_nor_figure() -> None:
    assert share_cell(0.5, "-").plain == " " * 8 + " " + "     -"
    assert share_cell(0.5, "50.0%").plain == "████     " + " 50.0%"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], (None, None)),
        ([1200], (1250.0, 1250.0)),  # the middle of its 100 ms bucket
        ([800, 900, 1000, 1500, 2500, 4000, 6000], (1550.0, 4850.0)),
        ([500, 700], (650.0, 730.0)),
    ],
)
def test_median_and_90th_percentile_interpolate_between_bucket_middles(
    values: list[int], expected: tuple[float | None, float | None]
) -> None:
    assert median_p90(values) == expected
