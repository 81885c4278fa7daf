"""The player screen: a scene's text, then its numbered choices and countdown.

The screen moves through phases: `loading` (a step is being recorded),
`reading` (the text is being revealed; any key completes it), `choosing` (the
choices are listed and, on a timed choice point, the countdown runs), and
`ended` (the ending screen is on top). Every step goes through `Playing` in a
`Jobs` worker, and the next scene is shown only when the step is recorded.

Every word stays reachable: a new step shows the start of its text at the top
of the story column, which PageUp/PageDown/Home/End and the mouse wheel scroll
while the choices keep the focus. A timed choice's clock counts only while
the viewer can act on it: it waits (and says so) while the end of the text is
off screen, until the viewer has scrolled down to it once; while a dialog is
on top; and until the playthrough is settled. Messages go to the notice bar,
which takes its own rows and covers nothing.

Opening: the first scene is shown at once (the engine is pure and fast),
while a worker opens telemetry and looks for an unfinished playthrough of the
story. If there is one, the resume offer appears over the first scene; the
new playthrough is recorded only once the viewer has declined it. Choices
wait until that is settled (`ready`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll

from branching.play.engine import ChoiceView, View
from branching.play.services import Resumable
from branching.play.stepper import Playing, Step
from branching.tui.common.chrome import branching_header
from branching.tui.common.text import clean, literal, prose
from branching.tui.player.jobs import Jobs
from branching.tui.player.screens.keys import CHROME_KEYS, number_bindings, scroll_bindings
from branching.tui.player.screens.story_scroll import StoryScrolling
from branching.tui.player.widgets import (
    Countdown,
    Item,
    KeyBar,
    KeyHint,
    NoticeBar,
    NumberedList,
    SceneText,
)

if TYPE_CHECKING:
    from branching.tui.player.app import BranchingApp
    from branching.tui.player.screens.ending import EndingChoice


HOLD_READING = "until you reach the end of the text (PgDn)"
HOLD_DIALOG = "while the dialog is open"
HOLD_OPENING = "while your playthrough opens"
POLL = 0.1  # seconds between looks at what the viewer can see


class PlayerScreen(StoryScrolling[None]):
    """Plays one story."""

    BINDINGS = [
        *number_bindings(),
        *scroll_bindings(),
        Binding("b", "back", "Back"),
        Binding("p", "pause", "Pause"),
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("q", "app.request_quit", "Quit"),
    ]

    app: BranchingApp

    def __init__(self, playing: Playing, check_resume: bool = False) -> None:
        super().__init__()
        self.playing = playing
        self.check_resume = check_resume
        self.jobs = Jobs(self)
        self.phase = "loading"
        self.ready = False  # the playthrough is settled (new and recorded, or resumed)
        self._pending: Callable[[], None] | None = None  # a key pressed before it was
        self._held: list[Callable[[], None]] = []  # events to record once it is
        self.step: Step | None = None
        self._shown_at = 0.0
        self._read_to_end = False  # the viewer scrolled down to the end of this step's text
        self._end_visible = False  # the end of the text is on screen now
        self._looking = False  # the layout may not yet show the choices just listed

    # -- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        clock = self.app.clock
        yield branching_header()
        with VerticalScroll(id="story"):
            yield SceneText(clock, self.app.options.reveal_rate, id="text")
        yield NoticeBar(id="notice")
        with Vertical(id="choices-panel"):
            yield Countdown(clock, id="countdown")
            yield NumberedList(id="choices")
        yield KeyBar()

    def on_mount(self) -> None:
        self.title = self.playing.story.title
        self.query_one("#choices-panel").display = False
        self._update_footer()
        self.set_interval(POLL, self._watch_view)
        first = self.playing.prepare()
        if first.view.finished:  # an ending needs the endings found: record first
            self.jobs.submit(self.playing.begin, self._settled)
            return
        self.show_step(first)
        # Telemetry opens after the first frame is painted: importing and opening
        # the store is the slowest part of starting, and the scene does not need it.
        if self.check_resume:
            self.call_after_refresh(
                self.jobs.submit, self.playing.look, self._looked, failed=self._start_anew
            )
        else:
            self.call_after_refresh(self._begin)

    # -- opening: resume or begin -------------------------------------------------------

    def _looked(self, found: tuple[Resumable | None, str | None]) -> None:
        self.app.show_notice()
        resumable, problem = found
        if problem is not None:
            self.app.say(
                f"Your unfinished playthrough cannot be resumed ({clean(problem)}); "
                "starting a new one.",
                severity="warning",
            )
        if resumable is None:
            if self.app.options.resume:
                self.app.say("No unfinished playthrough to resume: starting anew.")
            self._begin()
        elif self.app.options.resume:
            self._resume(resumable)
        else:
            from branching.tui.player.screens.resume import ResumeScreen

            self.app.push_screen(
                ResumeScreen(self.playing.story.title, resumable),
                partial(self._answered, resumable),
            )

    def _answered(self, found: Resumable, answer: bool | None) -> None:
        if answer:
            self._resume(found)
        elif answer is False:  # start again: the old playthrough is closed, not kept
            self.jobs.submit(partial(self.playing.services.abandon, found))
            self._begin()
        else:  # the viewer quit at the question: nothing to record
            self.app.story_finished()

    def _begin(self) -> None:
        self.ready = True
        self._sync_clock()
        self.jobs.submit(self.playing.record_begin, lambda _: self.app.show_notice())
        held, self._held = self._held, []
        for call in held:
            self.jobs.submit(call)
        self._run_pending()

    def _later(self, action: Callable[..., None], *args: Any) -> bool:
        """True (and `action` kept for later) while the playthrough is not settled.

        A key pressed while telemetry opens is taken once the new playthrough is
        recorded (so its events stay in order); if the viewer resumes instead, it
        is dropped, since it was meant for a scene no longer shown.
        """
        if self.ready:
            return False
        self._pending = partial(action, *args)
        return True

    def _run_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending()

    def _resume(self, found: Resumable) -> None:
        self.jobs.submit(
            partial(self.playing.resume_from, found), self._resumed, failed=self._start_anew
        )

    def _start_anew(self) -> None:
        """Looking for or reopening a playthrough failed (reported): begin a new one."""
        if self.app.fatal is None and self.app.crash is None:  # unless the app is stopping
            self._begin()

    def _resumed(self, playing: Playing) -> None:
        self.playing = playing
        self.app.playings.append(playing)
        self._pending = None
        self._held = []
        self.ready = True
        self.show_step(playing.prepare())
        self._sync_clock()

    def _settled(self, step: Step) -> None:
        self.ready = True
        self._sync_clock()
        self.app.show_notice()
        self.show_step(step)

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
            from branching.tui.player.screens.ending import EndingScreen  # not needed to start

            self.phase = "ended"
            self._update_footer()
            self.app.push_screen(
                EndingScreen(
                    self.playing.story, step, self.app.library_mode, take=self._from_ending
                ),
                self._after_ending,
            )
            return
        passages = view.passages[-1:] if step.only_last else view.passages
        self.phase = "reading"
        self._read_to_end = self._end_visible = False
        self._update_footer()
        self.story_column().scroll_home(animate=False)  # the new text starts at the top
        self.query_one(SceneText).show(prose([p.text for p in passages]))

    @on(SceneText.Revealed)
    def _revealed(self, event: SceneText.Revealed) -> None:
        view = self.view
        if self.phase != "reading" or view is None:
            return
        if event.skipped:
            call = partial(self.playing.event, "reveal_skipped", view.scene)
            if self.ready:
                self.jobs.submit(call)
            else:  # recorded after the playthrough's start, if it is not resumed instead
                self._held.append(call)
        self._show_choices(view)

    def _show_choices(self, view: View) -> None:
        timed = self._timed(view)
        choices = self.query_one(NumberedList)
        choices.set_items(
            [
                Item(
                    c.number,
                    c.id,
                    c.label,
                    locked=(c.reason or "locked") if c.locked else None,
                    default=c.default,
                )
                for c in view.choices
            ],
            mark_default=timed,
        )
        panel = self.query_one("#choices-panel")
        panel.display = True
        countdown = self.query_one(Countdown)
        countdown.display = timed
        self.phase = "choosing"
        self._shown_at = self.app.clock.now()
        if timed:  # full and waiting until the viewer can see everything (`_sync_clock`)
            countdown.arm(view.timer, HOLD_READING)
            self._sync_clock()  # a dialog may be up already: say so at once
        choices.focus()
        self._update_footer()
        self._looking = True
        self.call_after_refresh(self._laid_out)

    def _laid_out(self) -> None:
        """Once the choices take their room, look at what the viewer can see."""
        panel = self.query_one("#choices-panel")
        if self.phase == "choosing" and panel.display and panel.region.height == 0:
            self.set_timer(POLL / 5, self._laid_out)  # not laid out yet: look again soon
            return
        self._looking = False
        self._watch_view()

    # -- what the viewer can see, and the clock -----------------------------------

    def _watch_view(self) -> None:
        """Note whether the end of the text has been on screen; keep clock and keys true."""
        if self.app.screen is not self:
            return  # under a dialog or the ending: suspend and resume keep the clock
        if self.phase == "choosing" and not self._looking:
            self._end_visible = self.story_end_seen()
            if self._end_visible and self.story_column().scroll_y > 0:
                self._read_to_end = True  # scrolled down to it: read, whatever moves later
        self._sync_clock()
        self._update_footer()

    def _hold_reason(self) -> str | None:
        """Why the countdown may not run now, or None when it may."""
        if self.app.screen is not self:
            return HOLD_DIALOG
        if not self.ready:
            return HOLD_OPENING
        if not (self._read_to_end or self._end_visible):
            return HOLD_READING
        return None

    def _sync_clock(self) -> None:
        """Run the countdown exactly when the viewer can act on it (a viewer's pause stays)."""
        countdown = self.query_one(Countdown)
        if self.phase != "choosing" or countdown.state not in ("running", "held"):
            return
        reason = self._hold_reason()
        if reason is None:
            countdown.release()
        else:
            countdown.hold(reason)

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
        if self.phase != "choosing" or view is None or self._later(self.action_number, number):
            return
        shown = view.by_number(number)
        if shown is None:
            self.app.say(f"There is no choice {number}.", severity="warning")
        elif shown.locked:
            self.app.say(
                literal(f"Choice {number} is locked: {shown.reason}").plain,
                title="Locked",
                severity="warning",
            )
        else:
            self._take(shown, "key")

    @on(NumberedList.Picked, "#choices")
    def _picked(self, event: NumberedList.Picked) -> None:
        view = self.view
        if self.phase != "choosing" or view is None or self._later(self._picked, event):
            return
        shown = next((c for c in view.choices if c.id == event.item.key), None)
        if shown is not None and not shown.locked:
            self._take(shown, event.input)

    @on(Countdown.Expired)
    def _expired(self) -> None:
        view = self.view
        if self.phase == "choosing" and view is not None and view.default is not None:
            if not self._later(self._expired):
                self._take(view.default, "timeout", timeout=True)

    def _take(self, choice: ChoiceView, how: str, timeout: bool = False) -> None:
        view = self.view
        assert view is not None
        countdown = self.query_one(Countdown)
        timed = countdown.state != "idle"
        # time to decide: the clock's own count (it excludes pauses, dialogs and
        # reading), or for an untimed choice the time since the choices appeared
        elapsed = countdown.elapsed() if timed else self.app.clock.now() - self._shown_at
        # Nothing is redrawn for the key press itself: the step usually lands within
        # a frame, and a frame now would hold the next scene back to the frame after
        # it (Textual draws at most 60 a second). The bar stops, frozen; the keys
        # follow the phase at the next look (`_watch_view`) if the step takes longer.
        countdown.stop(repaint=False)
        self.phase = "loading"
        self.jobs.submit(
            partial(
                self.playing.choose,
                choice,
                scene=view.scene,
                decide_ms=max(0, int(elapsed * 1000)),
                how=how,
                timeout=timeout,
            ),
            self.show_step,
            failed=self._step_failed,
        )

    def _step_failed(self) -> None:
        """A step could not be taken: show the same choices again."""
        view = self.view
        if view is not None and not view.finished:
            self._show_choices(view)

    def action_back(self) -> None:
        if self.phase != "choosing" or self.step is None or self._later(self.action_back):
            return
        if not self.step.can_go_back:
            self.app.say("There is no earlier choice to go back to.")
            return
        self.query_one(Countdown).stop()
        self.phase = "loading"
        self._update_footer()
        self.jobs.submit(
            partial(self.playing.back, "key"), self.show_step, failed=self._step_failed
        )

    def action_pause(self) -> None:
        view = self.view
        countdown = self.query_one(Countdown)
        if self.phase != "choosing" or view is None or self._later(self.action_pause):
            return
        if countdown.held:  # waiting for the viewer already: `p` pauses it for good
            countdown.release()
        if countdown.pause():
            self.jobs.submit(partial(self.playing.event, "pause", view.scene))
        elif countdown.resume():
            self.jobs.submit(partial(self.playing.event, "resume", view.scene))
            self._sync_clock()
        else:
            self.app.say("This choice has no timer.")
        self._update_footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pause":
            return self._footer_state()[0]
        if action == "back":
            return True if self._footer_state()[1] else None  # None: shown, dimmed
        return True

    def _footer_state(self) -> tuple[bool, bool]:
        """(pause offered, back possible): what the key bar depends on."""
        view = self.view
        pause = self.phase == "choosing" and view is not None and self._timed(view)
        back = self.step is not None and self.step.can_go_back
        return pause, back

    def _update_footer(self) -> None:
        pause, back = self._footer_state()
        hints = [KeyHint("1-9", "Choose"), KeyHint("b", "Back", "b", enabled=back)]
        if pause:
            paused = self.query_one(Countdown).paused
            hints.append(KeyHint("p", "Resume" if paused else "Pause", "p"))
        hints += self.scroll_hint()
        hints += [KeyHint("?", "Help", "question_mark"), KeyHint("q", "Quit", "q")]
        self.query_one(KeyBar).set_hints(hints)

    # -- the countdown waits while another screen is on top ---------------------------

    def on_screen_suspend(self) -> None:
        self._sync_clock()  # held, and saying so, while the dialog is open

    def on_screen_resume(self) -> None:
        self._sync_clock()
        self._update_footer()

    # -- endings and leaving ----------------------------------------------------------

    def _after_ending(self, choice: EndingChoice | None) -> None:
        if choice is None or choice.action == "quit":
            self.jobs.submit(
                self.playing.close,
                lambda _: self.app.story_finished(),
                failed=self.app.story_finished,
            )
            return
        step = self._ending_step(choice)
        if step is None:
            return
        self.phase = "loading"
        ended = self.step
        self.jobs.submit(
            step,
            self.show_step,  # on failure: back to the ending screen
            failed=(lambda: self.show_step(ended)) if ended else None,
        )

    def _ending_step(self, choice: EndingChoice) -> Callable[[], Step] | None:
        if choice.action == "again":
            return self.playing.again
        if choice.action == "back":
            return partial(self.playing.back, choice.input)
        if choice.action == "rewind" and choice.scene is not None:
            return partial(self.playing.rewind, choice.scene, choice.input)
        return None

    def _from_ending(self, choice: EndingChoice) -> None:
        """A step taken on the ending screen: recorded first, then shown in its place.

        The ending stays up until the step is recorded; then it is popped and the
        step shown in the same turn, so the next frame is the new scene (popping
        first would draw the scene under the ending, and the new one a frame later).
        """
        from branching.tui.player.screens.ending import EndingScreen

        ending = self.app.screen
        step = self._ending_step(choice)
        if step is None or not isinstance(ending, EndingScreen):
            return

        def replace(result: Step) -> None:
            if self.app.screen is ending:
                self.app.pop_screen()
            self.show_step(result)

        def stay() -> None:  # reported by the jobs; the viewer can choose again
            ending.taking = False

        self.phase = "loading"
        self.jobs.submit(step, replace, failed=stay)

    def request_quit(self) -> None:
        """`q`: leave, after a confirmation when the story is under way."""
        from branching.tui.player.screens.confirm import ConfirmScreen

        if self.phase == "ended" or self.step is None or not self.ready:
            self.jobs.submit(self.playing.close, lambda _: self.app.story_finished())
            return
        if self.playing.services.where is not None:
            question = literal(
                "Leave this story? Your place is kept: you can resume it "
                "where you left off next time."
            )
        else:
            question = literal(
                "Leave this story? Nothing is being recorded "
                "(--no-telemetry), so it cannot be resumed later."
            )
        self.app.push_screen(
            ConfirmScreen(question, yes="Leave", no="Keep playing"), self._confirmed_quit
        )

    def _confirmed_quit(self, leave: bool | None) -> None:
        if not leave:
            return
        self.query_one(Countdown).stop()
        self.phase = "loading"

        def record_and_close() -> Any:
            self.playing.quit()
            self.playing.close()

        self.jobs.submit(
            record_and_close, lambda _: self.app.story_finished(), failed=self.app.story_finished
        )
