"""The line-mode player: numbered choices on stdin, a transcript on stdout.

It follows the plain player's contract of STORY-FORMAT.md: scene text, then the
numbered choices (locked ones marked); it reads a number, `b` (go back) or `q`
(quit). A scripted sequence (`--choices 1,2,b,1`) is played without asking;
mistakes in it are errors (exit 1), while interactively the viewer is asked
again. Timers are not run in line mode (a pipe has no clock to race): the
default choice is marked so a transcript still shows it. Text is printed as
plain characters; the loader has already neutralised control characters.

Emphasis (`*emphasis*`, `**strong**`, as `branching.story.markup` reads it) is
shown as terminal italic and bold when the output is a terminal, and otherwise
(a pipe, a file, `NO_COLOR`, `TERM=dumb`) printed without its markers, so a
transcript reads as prose. These escapes are the player's own; a story's text
can never emit one. Lines are wrapped on the text as the viewer sees it.
"""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO

from branching.errors import EngineError
from branching.play.engine import Playthrough, View
from branching.play.recorder import NullRecorder, Recorder
from branching.story.markup import Span, unmark

WIDTH = 78

# Select Graphic Rendition codes: what each style turns on; 0 turns everything off.
_SGR = {"bold": "1", "italic": "3"}
_RESET = "\x1b[0m"


def wants_emphasis(out: IO[str], environ: Mapping[str, str] | None = None) -> bool:
    """Show emphasis with terminal escapes: `out` is a terminal that takes them.

    Not on a pipe or a file, not with `NO_COLOR` set to anything
    (https://no-color.org), not on a `TERM=dumb` terminal.
    """
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    isatty = getattr(out, "isatty", None)
    return bool(isatty is not None and isatty())


def paragraph(text: str, styled: bool, width: int = WIDTH) -> str:
    """One paragraph of story text wrapped to `width`, its emphasis shown or dropped.

    `text` is folded onto one line. The markers are removed before wrapping, so
    the lines are as long as what the viewer reads; with `styled`, each line
    opens and closes its own escapes, so a line never leaves the terminal styled.
    """
    plain, spans = unmark(text)
    wrapped = textwrap.fill(plain, width)
    if not styled or not spans:
        return wrapped
    return _styled(plain, wrapped, spans) or wrapped


def _styled(plain: str, wrapped: str, spans: list[Span]) -> str | None:
    """`wrapped` (a wrapping of `plain`) with `spans` drawn as escapes; None if they drift."""
    styles: list[frozenset[str]] = [frozenset()] * len(plain)
    for span in spans:
        for i in range(span.start, span.end):
            styles[i] = styles[i] | {span.style}
    out: list[str] = []
    on: frozenset[str] = frozenset()
    i = 0  # the character of `plain` that the next character of `wrapped` shows
    for ch in wrapped:
        if ch == "\n":
            if on:
                out.append(_RESET)
                on = frozenset()
            out.append(ch)
            if i < len(plain) and plain[i] == " ":
                i += 1  # the space the line break replaced
            continue
        if i >= len(plain) or plain[i] != ch:
            return None  # wrapping changed the text in a way not foreseen: show it unstyled
        want = styles[i]
        if want != on:
            if on:
                out.append(_RESET)
            if want:
                out.append("\x1b[" + ";".join(_SGR[s] for s in sorted(want)) + "m")
            on = want
        out.append(ch)
        i += 1
    if on:
        out.append(_RESET)
    return "".join(out)


class DecisionTimer:
    """Milliseconds since the choices were shown: the viewer's time to decide."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def reset(self) -> None:
        self.started = time.monotonic()

    def ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


@dataclass
class PlainResult:
    status: int  # process exit status
    view: View
    reason: str  # "ending", "stuck", "quit", "exhausted", "error"


class _ScriptError(Exception):
    pass


def play_plain(
    run: Playthrough,
    out: IO[str],
    *,
    script: list[str] | None = None,
    stdin: IO[str] | None = None,
    echo: bool = False,
    recorder: Recorder | None = None,
    resumed: bool = False,
    emphasis: bool | None = None,
    resume_with: str | None = None,
) -> PlainResult:
    """Play `run` to an ending, a quit, or the end of the input.

    `emphasis`: show emphasis with terminal escapes (default: when `out` is a
    terminal, see `wants_emphasis`). `resume_with`: the command that resumes
    this playthrough, told after a quit mid-story; None when nothing is kept
    (telemetry is off).
    """
    rec = recorder or NullRecorder()
    styled = wants_emphasis(out) if emphasis is None else emphasis
    player = _Plain(run, out, rec, echo, styled, resume_with)
    if resumed:
        out.write(f"(resuming {run.story.title} where you left it)\n")
    else:
        player.header()
        rec.started(run)
    player.show(run.view, only_last=resumed)
    source = iter(script) if script is not None else _lines(stdin)
    try:
        return player.loop(source, scripted=script is not None)
    except _ScriptError as exc:
        out.write(f"error: {exc}\n")
        return PlainResult(1, run.view, "error")


def _lines(stdin: IO[str] | None) -> Iterator[str]:
    if stdin is None:
        return
    for line in stdin:
        yield line.strip()


class _Plain:
    def __init__(
        self,
        run: Playthrough,
        out: IO[str],
        rec: Recorder,
        echo: bool,
        styled: bool = False,
        resume_with: str | None = None,
    ) -> None:
        self.run, self.out, self.rec, self.echo = run, out, rec, echo
        self.styled, self.resume_with = styled, resume_with
        self.clock = DecisionTimer()
        self.chapter: str | None = None  # the last chapter heading printed

    def write(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def header(self) -> None:
        story = self.run.story
        by = f" by {story.author}" if story.author else ""
        self.write(f"=== {story.title}{by} ===")

    def show(self, view: View, only_last: bool = False) -> None:
        passages = view.passages[-1:] if only_last else view.passages
        for p in passages:
            paras = [" ".join(para.split()) for para in p.text.strip().split("\n\n")]
            body = "\n\n".join(paragraph(para, self.styled) for para in paras if para)
            heading = p.chapter if p.chapter and p.chapter != self.chapter else None
            if not body and heading is None:
                continue  # a scene without text adds no blank lines
            self.write()
            if heading is not None:
                self.write(f"-- {heading} --")
                self.chapter = heading
            if body:
                self.write(body)
        self.write()
        if view.ending is not None:
            self.write(f"*** THE END: {view.ending.title} ({view.ending.kind} ending) ***")
            if view.offers:
                self.write("Go back to:")
                for o in view.offers:
                    self.write(f"  {o.number}. {o.title}")
        elif view.stuck is not None:
            self.write(f"The story is stuck here ({view.stuck}). The playthrough ends.")
        else:
            for c in view.choices:
                mark = " [locked: " + (c.reason or "") + "]" if c.locked else ""
                dflt = " (default)" if c.default and view.timer else ""
                self.write(f"  {c.number}. {c.label}{dflt}{mark}")
            if view.timer:
                self.write(f"  (timed choice: {view.timer:g} s in the player; here it waits)")
        self.clock.reset()

    def loop(self, source: Iterator[str], scripted: bool) -> PlainResult:
        run = self.run
        while True:
            view = run.view
            if view.stuck is not None:
                return PlainResult(0, view, "stuck")
            if view.ending is not None and not view.offers:
                if scripted and next(source, None) is not None:
                    raise _ScriptError("the story has ended, but choices are left over")
                return PlainResult(0, view, "ending")
            if not scripted:
                self.out.write("> ")
                self.out.flush()
            answer = next(source, None)
            if answer is None:
                if not scripted:
                    self.write()
                return PlainResult(0, view, "ending" if view.ending else "exhausted")
            if self.echo or scripted:
                self.write(answer if not scripted else f"> {answer}")
            try:
                if self.step(view, answer.strip().lower(), scripted) == "quit":
                    self.rec.quit(run)
                    self.write(self.farewell(run.view))
                    return PlainResult(0, run.view, "quit")
            except (EngineError, ValueError) as exc:
                if scripted:
                    raise _ScriptError(str(exc)) from None
                self.write(f"{exc}. Type a number, b (back) or q (quit).")

    def farewell(self, view: View) -> str:
        """What a quit leaves behind: a place to resume, or nothing."""
        if view.ending is not None:
            return "(quit) This playthrough reached an ending: there is nothing to resume."
        if self.resume_with is None:
            return (
                "(quit) Nothing was kept: telemetry is off, so next time the story "
                "starts from the beginning."
            )
        return f"(quit) Your place is kept: resume with `{self.resume_with}`"

    def step(self, view: View, answer: str, scripted: bool) -> str:
        run = self.run
        input_kind = "scripted" if scripted else "key"
        if answer == "q":
            return "quit"
        if answer == "b":
            run.back()
            self.rec.rewound(run, run.view.scene, input=input_kind)
            self.write("(back)")
            self.show(run.view, only_last=True)
            return "back"
        if not (answer.isascii() and answer.isdigit()):
            raise ValueError(f"'{_abridged(answer)}' is not a choice")
        # no choice is numbered past 9 digits: a longer number is no choice, never int() of it
        digits = answer.lstrip("0") or "0"
        number = int(digits) if len(digits) <= 9 else -1
        if view.ending is not None:
            offer = next((o for o in view.offers if o.number == number), None)
            if offer is None:
                raise ValueError(f"there is no option {_abridged(answer)}")
            run.rewind_to(offer.scene)
            self.rec.rewound(run, offer.scene, input=input_kind)
            self.write(f"(back to {offer.title})")
            self.show(run.view, only_last=True)
            return "rewind"
        shown = view.by_number(number)
        if shown is None:
            raise ValueError(
                f"there is no choice {_abridged(answer)} (choose 1-{len(view.choices)})"
            )
        if shown.locked:
            raise ValueError(f"choice {number} is locked ({shown.reason})")
        ms = self.clock.ms()
        run.choose(shown.id)
        self.rec.chose(
            run,
            view.scene,
            shown.id,
            shown.target,
            decide_ms=ms,
            input=input_kind,
            label=shown.label,
        )
        self.rec.shown(run)
        self.show(run.view)
        return "choice"


def _abridged(answer: str, most: int = 20) -> str:
    """What the viewer typed, cut short when it is long (a 5,000-digit number)."""
    return answer if len(answer) <= most else f"{answer[:most]}... ({len(answer):,} characters)"
