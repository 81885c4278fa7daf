"""The filter dialog (`f`): which sessions to count, how to count them, how much to draw.

The same selection as the `stats` and `flowchart` options: a version (picked
from those recorded), a date range, viewer attributes (`region=NL`, several
separated by commas, all must hold), first playthrough of each viewer only,
counting sessions or unique viewers, and for the flowchart a minimum share and
a depth, plus the small-count threshold. Apply checks the selection with the
analytics' own `make_filters` and shows any problem in the dialog, so a typo
never reaches a worker; the dialog returns the new `Selection` (None when
cancelled) and the story screen reads its figures again.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from branching.analytics import AnalyticsError
from branching.tui.dashboard.data import Selection
from branching.tui.dashboard.views import literal

ALL = ""


def _number(text: str, what: str, *, whole: bool) -> float | None:
    text = text.strip().rstrip("%")
    if not text:
        return None
    try:
        return int(text) if whole else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise AnalyticsError(f"{what} must be {kind}, not {text!r}") from None


class FilterScreen(ModalScreen[Selection | None]):
    """Edit the selection; Apply (or Enter in a field) returns it, Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, selection: Selection, versions: tuple[tuple[str, str], ...]) -> None:
        super().__init__(classes="dialog-screen")
        self.selection = selection
        self.versions = versions

    def _version_options(self) -> list[tuple[Text, str]]:
        options = [(Text("all versions"), ALL)]
        options += [(literal(described), chash) for chash, described in self.versions]
        current = self.selection.version
        if current and current not in {chash for chash, _ in self.versions}:
            options.append((literal(current), current))  # a label or prefix from the CLI
        return options

    def compose(self) -> ComposeResult:
        s = self.selection
        with Vertical(classes="dialog filters"):
            yield Static(Text("Filters", style="bold"), classes="dialog-title")
            with VerticalScroll(classes="fields"):
                yield from self._field(
                    "Version",
                    Select(
                        self._version_options(),
                        value=s.version or ALL,
                        allow_blank=False,
                        compact=True,
                        id="version",
                    ),
                )
                yield from self._field(
                    "Since",
                    Input(
                        s.since or "",
                        placeholder="YYYY-MM-DD[THH:MM] (UTC)",
                        compact=True,
                        id="since",
                    ),
                )
                yield from self._field(
                    "Until",
                    Input(
                        s.until or "",
                        placeholder="YYYY-MM-DD: that whole day included",
                        compact=True,
                        id="until",
                    ),
                )
                yield from self._field(
                    "Where",
                    Input(
                        ", ".join(s.where),
                        placeholder="region=NL, device=kiosk",
                        compact=True,
                        id="where",
                    ),
                )
                yield from self._field(
                    "Viewers",
                    Checkbox(
                        "first playthrough of each only",
                        s.first_only,
                        compact=True,
                        id="first-only",
                    ),
                )
                yield from self._field(
                    "Count",
                    Select(
                        [
                            (Text("sessions (playthroughs)"), "sessions"),
                            (Text("unique viewers"), "viewers"),
                        ],
                        value=s.unit,
                        allow_blank=False,
                        compact=True,
                        id="unit",
                    ),
                )
                yield from self._field(
                    "Min share %",
                    Input(
                        f"{s.min_share * 100:g}" if s.min_share else "",
                        type="number",
                        placeholder="fold smaller choices in the flowchart",
                        compact=True,
                        id="min-share",
                    ),
                )
                yield from self._field(
                    "Depth",
                    Input(
                        "" if s.depth is None else str(s.depth),
                        type="integer",
                        placeholder="the whole story",
                        compact=True,
                        id="depth",
                    ),
                )
                yield from self._field(
                    "Hide below",
                    Input(
                        str(s.min_count) if s.min_count else "",
                        type="integer",
                        placeholder="show every count",
                        compact=True,
                        id="min-count",
                    ),
                )
            yield Static(id="filter-error")
            with Horizontal(classes="buttons"):
                yield Button("Apply", variant="primary", compact=True, id="apply")
                yield Button("Clear", compact=True, id="clear")
                yield Button("Cancel", compact=True, id="cancel")

    @staticmethod
    def _field(name: str, widget: Input | Select[str] | Checkbox) -> ComposeResult:
        with Horizontal(classes="field"):
            yield Label(name, classes="field-name")
            yield widget

    def on_mount(self) -> None:
        self.query_one("#filter-error").display = False
        self.query_one(".fields").can_focus = False  # Tab goes from field to field
        self.query_one("#version").focus()

    # -- reading the fields -------------------------------------------------------------

    def _text(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def chosen(self) -> Selection:
        """The selection the fields describe; a problem raises AnalyticsError."""
        version = self.query_one("#version", Select).value
        unit = self.query_one("#unit", Select).value
        min_share = _number(self._text("min-share"), "the minimum share", whole=False)
        depth = _number(self._text("depth"), "the depth", whole=True)
        min_count = _number(self._text("min-count"), "the small-count threshold", whole=True)
        selection = Selection(
            version=str(version) if version and version is not Select.NULL else None,
            since=self._text("since") or None,
            until=self._text("until") or None,
            where=tuple(p.strip() for p in self._text("where").split(",") if p.strip()),
            first_only=self.query_one("#first-only", Checkbox).value,
            unit="viewers" if unit == "viewers" else "sessions",
            min_share=(min_share or 0.0) / 100,
            depth=None if depth is None else int(depth),
            min_count=int(min_count or 0),
        )
        selection.filters()  # the analytics' own checks
        return selection

    # -- actions ------------------------------------------------------------------------

    def _apply(self) -> None:
        try:
            selection = self.chosen()
        except AnalyticsError as exc:
            error = self.query_one("#filter-error", Static)
            error.update(Text.assemble(("Cannot apply: ", "bold red"), literal(exc)))
            error.display = True
            return
        self.dismiss(selection)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "apply":
            self._apply()
        elif event.button.id == "clear":
            self.dismiss(Selection())
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
