"""The line-mode player: numbered choices on stdin, a transcript on stdout.

It follows the plain player's contract of STORY-FORMAT.md: scene text, then the
numbered choices (locked ones marked); it reads a number, `b` (go back) or `q`
(quit). A scripted sequence (`--choices 1,2,b,1`) is played without asking;
mistakes in it are errors (exit 1), while interactively the viewer is asked
again. Timers are not run in line mode (a pipe has no clock to race): the
default choice is marked so a transcript still shows it. Text is printed as
plain characters; the loader has already neutralised control characters.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from branching.errors import EngineError
from branching.play.engine import Playthrough, View
from branching.play.recorder import NullRecorder, Recorder

WIDTH = 78


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
) -> PlainResult:
    """Play `run` to an ending, a quit, or the end of the input."""
    rec = recorder or NullRecorder()
    player = _Plain(run, out, rec, echo)
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
    def __init__(self, run: Playthrough, out: IO[str], rec: Recorder, echo: bool) -> None:
        self.run, self.out, self.rec, self.echo = run, out, rec, echo
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
            body = "\n\n".join(textwrap.fill(para, WIDTH) for para in paras if para)
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
                    self.write("(quit: the playthrough can be resumed with --resume)")
                    return PlainResult(0, run.view, "quit")
            except (EngineError, ValueError) as exc:
                if scripted:
                    raise _ScriptError(str(exc)) from None
                self.write(f"{exc}. Type a number, b (back) or q (quit).")

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
            raise ValueError(f"'{answer}' is not a choice")
        number = int(answer)
        if view.ending is not None:
            offer = next((o for o in view.offers if o.number == number), None)
            if offer is None:
                raise ValueError(f"there is no option {number}")
            run.rewind_to(offer.scene)
            self.rec.rewound(run, offer.scene, input=input_kind)
            self.write(f"(back to {offer.title})")
            self.show(run.view, only_last=True)
            return "rewind"
        shown = view.by_number(number)
        if shown is None:
            raise ValueError(f"there is no choice {number} (choose 1-{len(view.choices)})")
        if shown.locked:
            raise ValueError(f"choice {number} is locked ({shown.reason})")
        ms = self.clock.ms()
        run.choose(shown.id)
        self.rec.chose(run, view.scene, shown.id, shown.target, decide_ms=ms, input=input_kind)
        self.rec.shown(run)
        self.show(run.view)
        return "choice"
