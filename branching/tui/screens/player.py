"""The player screen: a scene's text, then its numbered choices and countdown.

The screen moves through phases: `loading` (a step is being recorded),
`reading` (the text is being revealed; any key completes it), `choosing` (the
choices are listed and, on a timed choice point, the countdown runs), and
`ended` (the ending screen is on top). Every step goes through `Playing` in a
`Jobs` worker, and the next scene is shown only when the step is recorded.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header

from branching.engine import ChoiceView, View
from branching.tui.jobs import Jobs
from branching.tui.playing import Playing, Step
from branching.tui.screens.ending import EndingChoice, EndingScreen
from branching.tui.text import literal, prose
from branching.tui.widgets import Countdown, Item, NumberedList, SceneText

if TYPE_CHECKING:
    from branching.tui.app import BranchingApp

CHROME_KEYS = {"question_mark", "q", "ctrl+q", "ctrl+c"}  # work even during the reveal


def number_bindings() -> list[Binding]:
    """1-9 choose; only the first is shown in the footer, as `1-9`."""
    first = Binding("1", "number(1)", "Choose", key_display="1-9")
    return [first] + [Binding(str(n), f"number({n})", show=False) for n in range(2, 10)]


class PlayerScreen(Screen[None]):
    """Plays one story."""

    BINDINGS = [
        *number_bindings(),
        Binding("b", "back", "Back"),
        Binding("p", "pause", "Pause"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("q", "app.request_quit", "Quit"),
    ]

    app: BranchingApp

    def __init__(self, playing: Playing) -> None:
        super().__init__()
        self.playing = playing
        self.jobs = Jobs(self)
        self.phase = "loading"
        self.step: Step | None = None
        self._shown_at = 0.0
        self._auto_paused = False

    # -- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        clock = self.app.clock
        yield Header()
        with VerticalScroll(id="story"):
            yield SceneText(clock, self.app.options.reveal_rate, id="text")
        with Vertical(id="choices-panel"):
            yield Countdown(clock, id="countdown")
            yield NumberedList(id="choices")
        yield Footer()

    def on_mount(self) -> None:
        self.title = self.playing.story.title
        self.query_one("#choices-panel").display = False
        self.jobs.submit(self.playing.begin, self.show_step)

    @property
    def view(self) -> View | None:
        return self.step.view if self.step is not None else None

    # -- showing ----------------------------------------------------------------------

    def show_step(self, step: Step) -> None:
        """Show what a recorded step led to."""
        self.step = step
        view = step.view
        self.sub_title = view.chapter or ""
        self.query_one(Countdown).stop()
        self.query_one("#choices-panel").display = False
        if view.finished:
            self.phase = "ended"
            self.refresh_bindings()
            self.app.push_screen(EndingScreen(self.playing.story, step, self.app.library_mode),
                                 self._after_ending)
            return
        passages = view.passages[-1:] if step.only_last else view.passages
        self.phase = "reading"
        self.refresh_bindings()
        self.query_one("#story", VerticalScroll).scroll_home(animate=False)
        self.query_one(SceneText).show(prose([p.text for p in passages]))

    @on(SceneText.Revealed)
    def _revealed(self, event: SceneText.Revealed) -> None:
        view = self.view
        if self.phase != "reading" or view is None:
            return
        if event.skipped:
            self.jobs.submit(partial(self.playing.event, "reveal_skipped", view.scene))
        self._show_choices(view)

    def _show_choices(self, view: View) -> None:
        timed = self._timed(view)
        choices = self.query_one(NumberedList)
        choices.set_items([
            Item(c.number, c.id, c.label, locked=(c.reason or "locked") if c.locked else None,
                 default=c.default)
            for c in view.choices
        ], mark_default=timed)
        panel = self.query_one("#choices-panel")
        panel.display = True
        countdown = self.query_one(Countdown)
        countdown.display = timed
        self.phase = "choosing"
        self._shown_at = self.app.clock.now()
        if timed:
            countdown.start(view.timer)
        choices.focus()
        self.refresh_bindings()

    def _timed(self, view: View) -> bool:
        return view.timer > 0 and not self.app.options.no_timer

    # -- input ------------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        if self.phase == "reading" and event.key not in CHROME_KEYS:
            event.stop()
            event.prevent_default()
            self.query_one(SceneText).complete()

    def action_number(self, number: int) -> None:
        view = self.view
        if self.phase != "choosing" or view is None:
            return
        shown = view.by_number(number)
        if shown is None:
            self.notify(f"There is no choice {number}.", severity="warning", markup=False)
        elif shown.locked:
            self.notify(literal(f"Choice {number} is locked: {shown.reason}").plain,
                        title="Locked", severity="warning", markup=False)
        else:
            self._take(shown, "key")

    @on(NumberedList.Picked, "#choices")
    def _picked(self, event: NumberedList.Picked) -> None:
        view = self.view
        if self.phase != "choosing" or view is None:
            return
        shown = next((c for c in view.choices if c.id == event.item.key), None)
        if shown is not None and not shown.locked:
            self._take(shown, event.input)

    @on(Countdown.Expired)
    def _expired(self) -> None:
        view = self.view
        if self.phase == "choosing" and view is not None and view.default is not None:
            self._take(view.default, "timeout", timeout=True)

    def _take(self, choice: ChoiceView, how: str, timeout: bool = False) -> None:
        view = self.view
        assert view is not None
        countdown = self.query_one(Countdown)
        timed = countdown.state != "idle"
        elapsed = countdown.elapsed() if timed else self.app.clock.now() - self._shown_at
        countdown.stop()
        self.phase = "loading"
        self.refresh_bindings()
        self.jobs.submit(
            partial(self.playing.choose, choice, scene=view.scene,
                    decide_ms=max(0, int(elapsed * 1000)), how=how, timeout=timeout),
            self.show_step, failed=self._step_failed)

    def _step_failed(self) -> None:
        """A step could not be taken: show the same choices again."""
        view = self.view
        if view is not None and not view.finished:
            self._show_choices(view)

    def action_back(self) -> None:
        if self.phase != "choosing" or self.step is None:
            return
        if not self.step.can_go_back:
            self.notify("There is no earlier choice to go back to.", markup=False)
            return
        self.query_one(Countdown).stop()
        self.phase = "loading"
        self.refresh_bindings()
        self.jobs.submit(partial(self.playing.back, "key"), self.show_step,
                         failed=self._step_failed)

    def action_pause(self) -> None:
        view = self.view
        countdown = self.query_one(Countdown)
        if self.phase != "choosing" or view is None:
            return
        if countdown.pause():
            self.jobs.submit(partial(self.playing.event, "pause", view.scene))
        elif countdown.resume():
            self.jobs.submit(partial(self.playing.event, "resume", view.scene))
        else:
            self.notify("This choice has no timer.", markup=False)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pause":
            view = self.view
            return self.phase == "choosing" and view is not None and self._timed(view)
        if action == "back":
            return None if self.step is None or not self.step.can_go_back else True
        return True

    # -- the countdown waits while another screen is on top ---------------------------

    def on_screen_suspend(self) -> None:
        self._auto_paused = self.query_one(Countdown).pause()

    def on_screen_resume(self) -> None:
        if self._auto_paused:
            self._auto_paused = False
            self.query_one(Countdown).resume()

    # -- endings and leaving ----------------------------------------------------------

    def _after_ending(self, choice: EndingChoice | None) -> None:
        if choice is None or choice.action == "quit":
            self.jobs.submit(self.playing.close, lambda _: self.app.story_finished())
        elif choice.action == "again":
            self.phase = "loading"
            self.jobs.submit(self.playing.again, self.show_step)
        elif choice.action == "back":
            self.phase = "loading"
            self.jobs.submit(partial(self.playing.back, choice.input), self.show_step)
        elif choice.action == "rewind" and choice.scene is not None:
            self.phase = "loading"
            self.jobs.submit(partial(self.playing.rewind, choice.scene, choice.input),
                             self.show_step)

    def request_quit(self) -> None:
        """`q`: leave, after a confirmation when the story is under way."""
        from branching.tui.screens.confirm import ConfirmScreen

        if self.phase == "ended" or self.step is None:
            self.jobs.submit(self.playing.close, lambda _: self.app.story_finished())
            return
        question = literal("Leave this story? Your place is kept: you can resume it "
                           "where you left off next time.")
        self.app.push_screen(ConfirmScreen(question, yes="Leave", no="Keep playing"),
                             self._confirmed_quit)

    def _confirmed_quit(self, leave: bool | None) -> None:
        if not leave:
            return
        self.query_one(Countdown).stop()
        self.phase = "loading"

        def record_and_close() -> Any:
            self.playing.quit()
            self.playing.close()

        self.jobs.submit(record_and_close, lambda _: self.app.story_finished())
