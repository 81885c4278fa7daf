"""The coverage table as plain text: a summary, then the rows that need the author's eye.

Plain aligned columns at the width of the content, laid out as `stats` lays
out piped tables (`sheet_text.plain_lines`; it is read in CI logs and pipes as
often as on a terminal), every story string through
`escape.terminal_line`. Rows that are `ok` are listed only with `show_all`.
"""

from __future__ import annotations

from branching.analytics.coverage import Coverage, CoverageRow
from branching.escape import terminal_line
from branching.render.sheet_text import plain_lines

HEADERS = ("verdict", "kind", "where", "title", "static", "sim runs", "real")
KINDS = ("text", "text", "text", "text", "text", "count", "count")


def coverage_text(table: Coverage, *, show_all: bool = False) -> str:
    """The summary lines and the table."""
    scenes = sum(1 for r in table.rows if r.choice is None)
    choices = len(table.rows) - scenes
    lines = [
        f"Coverage of '{terminal_line(table.title)}': {scenes} scenes, {choices} choices.",
        "  static: the explorer, "
        + (
            f"complete ({table.explored_states:,} states)"
            if table.explored_complete
            else f"stopped at {table.explored_states:,} states, so 'unknown' is not proven"
        ),
        f"  simulated: {table.runs:,} seeded runs preferring the option taken least so far; "
        f"rare = reached by fewer than {table.rare * 100:g}% of them",
        "  real: " + terminal_line(table.telemetry or "no database named (--db)"),
        "  verdicts: " + ", ".join(f"{count} {verdict}" for verdict, count in table.totals.items()),
    ]
    shown = [r for r in table.rows if show_all or r.verdict != "ok"]
    if not shown:
        lines.append("Every scene and choice is reachable and reached.")
        return "\n".join(lines)
    rows = [_cells(r, table.runs) for r in shown]
    table_text = plain_lines("", "", HEADERS, KINDS, rows).strip("\n")
    return "\n".join(lines) + "\n\n" + table_text


def _cells(row: CoverageRow, runs: int) -> tuple[str, ...]:
    where = row.scene if row.choice is None else f"{row.scene}.{row.choice}"
    title = terminal_line(row.title)
    if len(title) > 40:
        title = title[:39] + "…"
    return (
        row.verdict,
        row.kind,
        terminal_line(where),
        title,
        row.static,
        f"{row.runs}/{runs}",
        "-" if row.real is None else f"{row.real:,}",
    )
