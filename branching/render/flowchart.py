"""The terminal flowchart: a Rich renderable of the aggregated story graph.

`Flowchart(graph)` works with `console.print` and inside a Textual `Static`
alike (STYLE habit 12). It measures itself (`__rich_measure__`) and lays
itself out for the width it is given (`__rich_console__`, `options.max_width`):
the bar narrows, labels are cut with an ellipsis, and the tree stops nesting
deeper than the width allows. With `options.ascii_only` (a console that
cannot encode Unicode) or `ascii_only=True`, guides and bars use ASCII only.

Each choice is a row: its label, a share bar with eighth-cell precision,
the percentage, the count and the scene it leads to, with where to find it
when it hangs elsewhere. Scenes show their visits; endings their kind; a
"left here" row shows who stopped at a scene; "↑ also from" rows name the
other ways into a scene (with their counts, never cut: a long label is cut
first). The walk itself is in `layout.py`, where each scene hangs in
`parents.py`. The story map (`graph.telemetry` False) draws the same tree with
no figures at all, and each choice's condition beside its label.

Every string from the story or the database (titles, labels, ending kinds,
chapters, where the figures came from) enters a line through `_t`
(`branching.escape.terminal_line`): control characters become visible
symbols and line breaks spaces, so nothing recorded can drive the terminal.
"""

from __future__ import annotations

import textwrap
import unicodedata

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text

from branching.analytics.graph import FlowGraph, FlowScene
from branching.escape import terminal_line as _t
from branching.render.bars import share_cell
from branching.render.dot import box_note
from branching.render.figures import UNIT_SENTENCE, Figures, ended_here, plural, timed_out
from branching.render.layout import Layout, Row

UNICODE = {
    "pipe": "│  ",
    "fork": "├─ ",
    "end": "└─ ",
    "space": "   ",
    "scene": "■ ",
    "ending": "◆ ",
    "left": "✕ ",
    "more": "… ",
    "above": "↑",
    "below": "↓",
    "rule": "─",
    "arrow": "→",
    "clock": "⏱",
}
ASCII = {
    "pipe": "|  ",
    "fork": "|- ",
    "end": "`- ",
    "space": "   ",
    "scene": "* ",
    "ending": "# ",
    "left": "x ",
    "more": "+ ",
    "above": "^",
    "below": "v",
    "rule": "-",
    "arrow": "->",
    "clock": "t",
}
_TO_ASCII = str.maketrans(
    {"·": "|", "…": "~", "—": "-", "–": "-", "“": '"', "”": '"', "‘": "'", "’": "'"}
)
MIN_WIDTH = 40
MAP_SENTENCE = (
    "The story map, with no telemetry: every scene, choice and ending as written, "
    "each scene under the first way a reader meets it; [if ...] and [requires ...] "
    "say when a choice or route is offered. Nothing was recorded, so there are no counts."
)


class Flowchart:
    """The flowchart of `graph`, pruned by `depth`/`min_share`, hiding counts < `min_count`."""

    def __init__(
        self,
        graph: FlowGraph,
        *,
        depth: int | None = None,
        min_share: float = 0.0,
        min_count: int = 0,
        ascii_only: bool | None = None,
        header: bool = True,
    ) -> None:
        self.graph = graph
        self.depth = depth
        self.min_share = min_share
        self.figures = Figures(min_count)
        self.ascii_only = ascii_only
        self.header = header

    # -- Rich protocol --------------------------------------------------------------

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        lines = self.lines(options.max_width, ascii_only=self._ascii(options), natural=True)
        widest = max((line.cell_len for line in lines), default=MIN_WIDTH)
        return Measurement(min(MIN_WIDTH, options.max_width), min(widest, options.max_width))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines(options.max_width, ascii_only=self._ascii(options))

    def _ascii(self, options: ConsoleOptions) -> bool:
        return options.ascii_only if self.ascii_only is None else self.ascii_only

    # -- lines --------------------------------------------------------------------

    def lines(self, width: int, *, ascii_only: bool = False, natural: bool = False) -> list[Text]:
        """The flowchart as lines of at most `width` cells (`natural`: uncut labels)."""
        width = max(width, MIN_WIDTH)
        glyphs = ASCII if ascii_only else UNICODE
        layout = Layout(
            self.graph,
            max_nest=max(1, (width - 40) // 8),
            depth=self.depth,
            min_share=self.min_share,
        )
        cw = max(
            3,
            len(self.figures.count(self.graph.max_edge)),
            *(len(self.figures.count(s.left)) for s in self.graph.scenes.values()),
        )
        bar = max(4, min(24, (width - 40) // 3))
        text_width = min(width, 80) if natural else width  # prose and rules in a measure
        painter = _Painter(self, glyphs, text_width, bar, cw)
        painted = [painter.row(row) for row in layout.rows]
        edges = [p for p in painted if isinstance(p, _EdgeLine)]
        room = width - (edges[0].numbers.cell_len if edges else 0)
        column = max((e.natural for e in edges), default=0)
        column = column if natural else min(column, room)
        out = self._header(text_width) if self.header else []
        for row, line in zip(layout.rows, painted, strict=True):
            if row.kind == "section" and out and out[-1].plain:
                out.append(Text(""))
            out.append(line.fit(column) if isinstance(line, _EdgeLine) else line)
        out += self._footer(layout, text_width)
        for line in out:
            line.no_wrap = True
            line.overflow = "ellipsis"
            if not natural:
                line.truncate(width, overflow="ellipsis")
            if ascii_only:  # same length, so the styles stay where they were
                line.plain = _asciify(line.plain)
        return out

    def _header(self, width: int) -> list[Text]:
        g = self.graph
        if not g.telemetry:
            lines = [Text(f"{_t(g.title)} ({_t(g.story_id)}): the story map", style="bold")]
            lines += [Text(line, style="dim") for line in _wrap(MAP_SENTENCE, width)]
            for note in g.notes:
                lines += [Text(line, style="yellow") for line in _wrap(f"Note: {_t(note)}", width)]
            return [*lines, Text("")]
        lines = [Text(f"{_t(g.title)} ({_t(g.story_id)}): which way viewers went", style="bold")]
        lines += [Text(line, style="dim") for line in _wrap(UNIT_SENTENCE[g.unit], width)]
        if g.sessions is not None:
            done = self.figures.count(g.completed)
            pct = self.figures.pct(g.completed, g.viewers if g.unit == "viewers" else g.sessions)
            sessions, viewers = self.figures.count(g.sessions), self.figures.count(g.viewers)
            who = f"{sessions} sessions"
            if g.viewers is not None:
                who = (
                    f"{viewers} viewers ({sessions} sessions)"
                    if g.unit == "viewers"
                    else f"{sessions} sessions by {viewers} viewers"
                )
            lines.append(Text(f"{who}, {done} completed (reached an ending): {pct}."))
        lines += [
            Text(line, style="dim")
            for line in _wrap(f"From {_t(g.source)} · {_t(g.filters)}", width)
        ]
        for note in g.notes:
            lines += [Text(line, style="yellow") for line in _wrap(f"Note: {_t(note)}", width)]
        lines.append(Text(""))
        return lines

    def _footer(self, layout: Layout, width: int) -> list[Text]:
        out: list[Text] = []
        pruned = layout.pruned
        if pruned.hidden_edges:
            out.append(
                Text(
                    f"Hidden by --min-share {self.min_share * 100:g}%: "
                    f"{pruned.hidden_edges} choices taken "
                    f"{self.figures.count(pruned.hidden_count)} times.",
                    style="dim",
                )
            )
        if pruned.beyond_depth:
            out.append(
                Text(
                    f"Beyond --depth {self.depth}: {len(pruned.beyond_depth)} scenes not drawn.",
                    style="dim",
                )
            )
        far = [s for s in pruned.not_drawn if s.id not in pruned.beyond_depth]
        if far:
            names = ", ".join(f"{_t(s.title)} ({self.figures.count(s.visits)})" for s in far)
            out += [
                Text(line, style="dim")
                for line in _wrap(
                    f"Not drawn (reached only by hidden choices, or not from the start): {names}.",
                    width,
                )
            ]
        endings = [s for s in self.graph.scenes.values() if s.is_ending]
        if endings:
            parts = [
                f"{_t(s.ending_title or s.title)} ({_t(str(s.ending_kind))})"
                + (f" {self.figures.count(_ending_count(s))}" if self.graph.telemetry else "")
                for s in endings
            ]
            about = f"Endings ({_ended_unit(self.graph.unit)} that ended there): "
            if not self.graph.telemetry or any(s.ended is None for s in endings):
                about = "Endings: "
            out += [Text(line) for line in _wrap(about + " · ".join(parts), width)]
        return ([Text("")] + out) if out else out


def _ended_unit(unit: str) -> str:
    return "viewers" if unit == "viewers" else "sessions"


def _ending_count(scene: FlowScene) -> int:
    """Who ended at `scene`; where the counts do not say, how often it was reached."""
    return scene.visits if scene.ended is None else scene.ended


def _asciify(text: str) -> str:
    """`text` in ASCII, one character for one (so styled spans keep their place)."""
    if text.isascii():
        return text
    out = []
    for ch in text.translate(_TO_ASCII):
        if not ch.isascii():
            base = unicodedata.normalize("NFKD", ch)[:1]
            ch = base if base.isascii() and base.isprintable() else "?"
        out.append(ch)
    return "".join(out)


def _wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` (a longer word gets a line of its own)."""
    words = " ".join(text.split())  # any run of whitespace is one space, as the words flow
    return textwrap.wrap(words, width, break_long_words=False, break_on_hyphens=False)


class _Painter:
    """Turns layout rows into Text at one width."""

    def __init__(
        self, chart: Flowchart, glyphs: dict[str, str], width: int, bar: int, count_width: int
    ) -> None:
        self.chart, self.g, self.width, self.bar_width = chart, glyphs, width, bar
        self.cw = count_width
        self.figures = chart.figures
        self.unit = chart.graph.unit

    def row(self, row: Row) -> Text | _EdgeLine:
        if row.kind == "section":
            title = f"{self.g['rule'] * 2} {_t(row.text)} "
            return Text(title + self.g["rule"] * max(0, self.width - len(title)), style="bold")
        if row.kind == "scene":
            return self._scene(row)
        if row.kind == "from":
            return self._from(row)
        return self._edge(row)

    def _from(self, row: Row) -> Text:
        """'↑ also from The Boatman via Let him go · 47': another way into the scene above."""
        line = self._guides(row, branch=False)
        line.append(self.g["space"] if row.last else self.g["pipe"], style="dim")
        arrow = self.g["above"] if row.ref == "above" else self.g["below"]
        words = "also from" if row.also else "from"
        via = ""
        if row.target is None:
            text = f"{self.g['more']}{words} {row.text} more ways in"
        else:
            source = row.target
            if row.edge is None:
                via = f" via {row.text} choices"
            elif source.is_box:  # a chapter, a run of scenes, a way in: no one choice
                via = ""
            elif row.edge.is_route:
                via = " via (random)" if source.kind == "random" else " via (next)"
            else:
                via = f" via {_t(row.edge.label)}"
            name = source.title
            if source.kind == "entry" and name.startswith("from "):
                name = name.removeprefix("from ")  # "from elsewhere in The Booth"
            text = f"{arrow} {words} {_t(name)}"
        count = f" · {self.figures.count(row.count)}" if self.chart.graph.telemetry else ""
        room = self.width - line.cell_len - len(text) - len(count)
        if len(via) > room:  # cut the label, never the count
            via = via[: max(0, room - 1)].rstrip() + "…" if room > 4 else ""
        line.append(text + via + count, style="dim cyan")
        return line

    def _guides(self, row: Row, *, branch: bool) -> Text:
        text = "".join(self.g["pipe"] if more else self.g["space"] for more in row.guides)
        if branch:
            text += self.g["end"] if row.last else self.g["fork"]
        return Text(text, style="dim")

    def _scene(self, row: Row) -> Text:
        scene = row.scene
        assert scene is not None
        line = self._guides(row, branch=row.nested)
        f = self.figures
        counted = self.chart.graph.telemetry
        if scene.is_ending:
            title = _t(scene.ending_title or scene.title)
            line.append(self.g["ending"] + title, style="bold magenta")
            kind = f" · {_t(str(scene.ending_kind))} ending"
            if counted:
                kind += " · " + ended_here(scene, self.unit, f)
            line.append(kind, style="magenta")
            return line
        line.append(self.g["scene"] + _t(scene.title), style="bold")
        meta = f" · {note}" if (note := box_note(scene)) else ""
        if not counted:
            if scene.timer:
                meta += f" · {self.g['clock']} {scene.timer:g} s"
            line.append(meta, style="dim")
            return line
        meta += f" · {f.count(scene.visits)} {plural(scene.visits, self.unit)}"
        if scene.timer:
            meta += f" · {self.g['clock']} {scene.timer:g} s, " + timed_out(scene, self.unit, f)
        if scene.retired:
            meta += " · not in this version"
        line.append(meta, style="dim")
        return line

    def _label(self, row: Row) -> Text:
        edge, g = row.edge, self.g
        if row.kind == "left":
            return Text(g["left"] + "left here", style="red")
        if row.kind == "more":
            return Text(
                f"{g['more']}{row.text} more under {self.chart.min_share * 100:g}%", style="dim"
            )
        assert edge is not None
        if edge.is_route and row.scene is not None and row.scene.is_box:
            text = Text("(way out)" if row.scene.kind != "entry" else "(way in)", style="italic")
        elif edge.is_route:
            kind = "random" if row.scene is not None and row.scene.kind == "random" else "next"
            text = Text(f"({kind})", style="italic")
        else:
            text = Text(_t(edge.label))
        if edge.condition:
            text.append(f" [{_t(edge.condition)}]", style="yellow")
        if edge.timeouts:
            text.append(f" {g['clock']}{self.figures.count(edge.timeouts)}", style="yellow")
        if edge.retired:
            text.append(" (not in this version)", style="dim")
        return text

    def _target(self, row: Row) -> Text | None:
        g, target = self.g, row.target
        edge = row.edge
        if row.kind != "edge" or edge is None:
            return None
        title = _t(target.title if target is not None else edge.target)
        where = {
            "": "",
            "here": "",
            "above": g["above"],
            "below": f"{g['below']} below",
            "chapter": f"{g['below']} {_t(str(target.chapter)) if target else ''}",
            "depth": "(beyond --depth)",
            "missing": "(not in the story)",
        }[row.ref]
        style = "magenta" if target is not None and target.is_ending else "cyan"
        where = f" {where}" if where else ""
        return Text.assemble((f" {g['arrow']} ", "dim"), (title, style), (where, "dim"))

    def _edge(self, row: Row) -> _EdgeLine:
        f = self.figures
        if not self.chart.graph.telemetry:  # the story map: no figures at all
            return _EdgeLine(
                self._guides(row, branch=True), self._label(row), self._target(row), Text("")
            )
        base = row.scene.base if row.scene is not None else None
        share = f.share(row.count, base)
        style = {"left": "red", "more": "dim"}.get(row.kind, "green")
        cell = share_cell(
            share,
            f.pct(row.count, base),  # '-' exactly when `share` is None
            self.bar_width,
            style=style,
            ascii_only=self.g is ASCII,
        )
        numbers = Text.assemble(" ", cell, " ", f.count(row.count).rjust(self.cw))
        return _EdgeLine(
            self._guides(row, branch=True), self._label(row), self._target(row), numbers
        )


class _EdgeLine:
    """An edge row before it is fitted to the label column."""

    def __init__(self, guides: Text, label: Text, target: Text | None, numbers: Text) -> None:
        self.guides, self.label, self.target, self.numbers = guides, label, target, numbers

    @property
    def natural(self) -> int:
        extra = self.target.cell_len if self.target is not None else 0
        return self.guides.cell_len + self.label.cell_len + extra + 2

    def fit(self, column: int) -> Text:
        """The row with its text cut or padded to `column` cells, then the numbers."""
        room = max(1, column - self.guides.cell_len)
        label, target = self.label.copy(), self.target.copy() if self.target else None
        if target is not None:
            target.truncate(min(target.cell_len, max(0, room - 8)), overflow="ellipsis")
            label.truncate(max(1, min(label.cell_len, room - target.cell_len)), overflow="ellipsis")
            label.append_text(target)
        label.truncate(room, overflow="ellipsis", pad=bool(self.numbers))
        return Text.assemble(self.guides, label, self.numbers)
