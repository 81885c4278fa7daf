"""The ending screen: the ending's text, its title and kind, and what next.

It also shows how many of the story's endings this viewer has found (from the
database, through `Step.endings_found`) and lists the others as locked, with
no title and no kind, so nothing is spoiled. The options are the author's
`rewind` scenes visited in this playthrough, then "play again" and "quit".
A stuck playthrough lands here too, with the reason instead of a title.
The screen only decides; the player screen below records and acts.

The ending's text always comes first: the column opens at the start of the
text, with the card after it, and PageUp/PageDown/Home/End (or the wheel)
scroll to the card while the options keep the focus. The key bar says when
there is more below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from branching.play.stepper import Step
from branching.story.model import Story
from branching.tui.common.chrome import branching_header
from branching.tui.common.text import literal, prose
from branching.tui.player.screens.keys import CHROME_KEYS, number_bindings, scroll_bindings
from branching.tui.player.screens.story_scroll import StoryScrolling
from branching.tui.player.widgets import Item, KeyBar, KeyHint, NoticeBar, NumberedList, SceneText
from branching.tui.player.widgets.numbered import LOCK

if TYPE_CHECKING:
    from branching.tui.player.app import BranchingApp

KIND_STYLES = {"good": "bold $success", "bad": "bold $error", "secret": "bold $accent"}


@dataclass(frozen=True, slots=True)
class EndingChoice:
    action: str  # "rewind", "back", "again", "quit"
    scene: str | None = None
    input: str = "key"


def ending_items(step: Step, library_mode: bool) -> list[Item]:
    """Numbered options: rewind offers, then play again, then quit."""
    items = [
        Item(o.number, f"rewind:{o.scene}", f"Go back to: {o.title}", icon="↩")
        for o in step.view.offers
    ]
    n = len(items)
    items.append(Item(n + 1, "again", "Play again", icon="↻"))
    items.append(Item(n + 2, "quit", "Back to the library" if library_mode else "Quit", icon="⏏"))
    return items


def endings_tally(
    story: Story, found: frozenset[str], current: str, recorded: bool = True
) -> Content:
    """`Endings found: 2 of 4`, then one line per ending; undiscovered ones locked.

    Without telemetry nothing is kept between sessions (that is what the viewer
    asked for), so the tally says it counts this session only.
    """
    endings = story.endings()
    got = [s for s in endings if s.id in found]
    lines = [
        Content.assemble(
            ("Endings found: ", "bold"), (f"{len(got)} of {len(endings)}", "bold $accent")
        )
    ]
    for scene in endings:
        assert scene.ending is not None
        if scene.id in found:
            line = Content.assemble(
                ("  ✓  ", "$success"),
                literal(scene.ending.title, "bold"),
                literal(f"  · {scene.ending.kind}", "$text-muted"),
            )
            if scene.id == current:
                line = line + Content("  ◀ this ending").stylize("$warning")
        else:
            line = Content.assemble(("  " + LOCK + " ", ""), ("???", "$text-muted"))
        lines.append(line)
    if not recorded:
        lines.append(
            Content(
                "Counted for this session only: with --no-telemetry nothing is kept, "
                "not even the endings you found."
            ).stylize("italic $text-muted")
        )
    return Content("\n").join(lines)


class EndingScreen(StoryScrolling[EndingChoice]):
    """The end of a playthrough (or a stuck one)."""

    BINDINGS = [
        *number_bindings(),
        *scroll_bindings(),
        Binding("b", "back", "Back"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("q", "quit_story", "Quit"),
    ]

    app: BranchingApp

    def __init__(
        self,
        story: Story,
        step: Step,
        library_mode: bool,
        take: Callable[[EndingChoice], None] | None = None,
    ) -> None:
        super().__init__(classes="ending")
        self.story = story
        self.step = step
        self.library_mode = library_mode
        self.revealed = False
        self.take = take
        self.taking = False  # a step is being taken: this screen waits to be replaced

    def compose(self) -> ComposeResult:
        # Only what the first frame shows: the card and the options are mounted when
        # the text is revealed, so the key press that ends a story paints sooner.
        yield branching_header()
        with VerticalScroll(id="story"):
            yield SceneText(self.app.clock, self.app.options.reveal_rate, id="text")
        yield NoticeBar(id="notice")
        yield KeyBar(self._hints())

    def _card(self) -> Vertical:
        view = self.step.view
        parts: list[Static] = [Static(self._title(), id="ending-title")]
        if view.ending is not None:
            recorded = self.app.services.where is not None
            parts.append(
                Static(
                    endings_tally(self.story, self.step.endings_found, view.scene, recorded),
                    id="ending-tally",
                )
            )
        return Vertical(*parts, id="ending-card")

    def _hints(self) -> list[KeyHint]:
        return [
            KeyHint("1-9", "Choose"),
            KeyHint("b", "Back", "b", enabled=self.step.can_go_back),
            *(self.scroll_hint() if self.is_mounted else []),
            KeyHint("?", "Help", "question_mark"),
            KeyHint("q", "Quit", "q"),
        ]

    def _update_hints(self) -> None:
        self.query_one(KeyBar).set_hints(self._hints())

    def _title(self) -> Content:
        view = self.step.view
        if view.ending is None:
            return Content.assemble(
                ("The story is stuck here", "bold $error"),
                "\n",
                literal(f"({view.stuck}). The playthrough ends.", "italic"),
            )
        kind = view.ending.kind
        return Content.assemble(
            ("THE END", "bold"),
            "\n",
            literal(view.ending.title, "bold $text"),
            "\n",
            literal(f"a {kind} ending", KIND_STYLES.get(kind, "bold $text-muted")),
        )

    def on_mount(self) -> None:
        view = self.step.view
        self.title = self.story.title
        self.sub_title = view.chapter or ""
        passages = view.passages[-1:] if self.step.only_last else view.passages
        self.query_one(SceneText).show(prose([p.text for p in passages]))
        self.set_interval(0.1, self._update_hints)

    @on(SceneText.Revealed)
    def _revealed(self) -> None:
        self.revealed = True
        self.story_column().mount(self._card())
        offers = NumberedList(id="offers")
        self.mount(Vertical(offers, id="choices-panel"), before=self.query_one(KeyBar))
        offers.set_items(ending_items(self.step, self.library_mode))
        offers.focus()
        # the ending's text first: the card follows it, a PageDown away if need be
        self.story_column().scroll_home(animate=False)
        self.call_after_refresh(self._update_hints)

    def on_key(self, event: events.Key) -> None:
        if not self.revealed and event.key not in CHROME_KEYS:
            event.stop()
            event.prevent_default()
            self.query_one(SceneText).complete()

    def action_number(self, number: int) -> None:
        item = self.query_one(NumberedList).by_number(number)
        if item is None:
            self.app.say(f"There is no option {number}.", severity="warning")
        else:
            self._act(item, "key")

    @on(NumberedList.Picked)
    def _picked(self, event: NumberedList.Picked) -> None:
        self._act(event.item, event.input)

    def _act(self, item: Item, how: str) -> None:
        if item.key.startswith("rewind:"):
            self._choose(EndingChoice("rewind", item.key.removeprefix("rewind:"), how))
        else:
            self._choose(EndingChoice(item.key, None, how))

    def _choose(self, choice: EndingChoice) -> None:
        """Leave with `choice`; a step (again, back, rewind) goes to `take` when given.

        Then this screen stays up while the step is recorded, and the player shows
        the step's scene in its place in one frame, instead of uncovering the
        scene below first and drawing the new one a frame later.
        """
        if self.taking:  # one step at a time
            return
        if self.take is None or choice.action == "quit":
            self.dismiss(choice)
        else:
            self.taking = True
            self.take(choice)

    def action_back(self) -> None:
        if self.step.can_go_back:
            self._choose(EndingChoice("back", None, "key"))
        else:
            self.app.say("There is no earlier choice to go back to.")

    def action_quit_story(self) -> None:
        self._choose(EndingChoice("quit"))

    def request_quit(self) -> None:
        self.dismiss(EndingChoice("quit"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return True if self.step.can_go_back else None
        return True
