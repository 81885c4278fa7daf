"""A list of numbered options: a scene's choices, or an ending's offers.

Built on `OptionList`, so arrows + Enter and the mouse work as everywhere in
Textual; the screen adds the number keys through `by_number`. Locked items are
listed with a lock and the reason, keep their number, and cannot be selected.
Prompts are `Content` built by `branching.tui.common.text.literal`, so labels are never
read as markup. `Picked` says which item was taken and how (`key` or `mouse`),
because the telemetry records the input.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from branching.tui.common.text import literal

LOCK = "🔒"
DEFAULT_MARK = "◀ default"


@dataclass(frozen=True, slots=True)
class Item:
    """One numbered option."""

    number: int
    key: str  # what the screen acts on: a choice id, an offer's scene, "again", "quit"
    label: str
    locked: str | None = None  # why it is locked; None when it can be taken
    default: bool = False
    icon: str = ""


def prompt(item: Item, mark_default: bool) -> Content:
    """The option's text: number, label, and its default mark or lock."""
    number = Content(f"{item.number:>2}. ").stylize("bold")
    parts = [number]
    if item.icon:
        parts.append(Content(item.icon + " "))
    if item.locked is not None:
        parts.append(Content(LOCK + " "))
        parts.append(literal(item.label).stylize("strike"))
        parts.append(literal(f"  ({item.locked})", "italic"))
    else:
        parts.append(literal(item.label))
    if mark_default and item.default and item.locked is None:
        parts.append(Content("  " + DEFAULT_MARK).stylize("bold $warning"))
    return Content.assemble(*parts)


class NumberedList(OptionList):
    """Numbered options, chosen by number key, arrows + Enter, or a click."""

    @dataclass
    class Picked(Message):
        """An item was chosen."""

        numbered_list: NumberedList
        item: Item
        input: str  # "key" or "mouse"

        @property
        def control(self) -> NumberedList:
            return self.numbered_list

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.items: tuple[Item, ...] = ()
        self._input = "key"

    def set_items(self, items: tuple[Item, ...] | list[Item], mark_default: bool = False) -> None:
        """Show `items`, highlighting the first that can be taken."""
        self.items = tuple(items)
        self.set_options(
            Option(prompt(item, mark_default), id=str(i), disabled=item.locked is not None)
            for i, item in enumerate(self.items)
        )
        first = next((i for i, it in enumerate(self.items) if it.locked is None), None)
        self.highlighted = first

    def by_number(self, number: int) -> Item | None:
        return next((it for it in self.items if it.number == number), None)

    async def _on_click(self, event: events.Click) -> None:
        # Runs before OptionList's own click handler (Textual calls each class's
        # handler, subclass first), which then calls `action_select`.
        index = event.style.meta.get("option")
        if isinstance(index, int) and index < len(self.items) and self.items[index].locked is None:
            self._input = "mouse"

    def action_select(self) -> None:
        how, self._input = self._input, "key"
        index = self.highlighted
        if index is None or index >= len(self.items) or self.items[index].locked is not None:
            return
        self.post_message(self.Picked(self, self.items[index], how))
