"""A viewer's player reduced to its recording: one process writing choice events.

Run as a script (the concurrency and kill-soak tests start several at once):

    python writer.py DB OUT --tag w3 --events 10000 [--per-session 100]
                     [--busy-ms 10000] [--retry 2.0] [--go FILE]

It opens the store with the public API, registers the breakfast fixture story,
and records `choice_made` events, session after session, awaiting each
`record(...).result()` as a player does before it shows the next scene. The
moment `result()` returns, the viewer has moved past that event, so the
writer appends one line to OUT, with one `write()` (which a SIGKILL cannot
tear):

    ACK <session_id> <seq> <1 committed | 0 kept for later> <microseconds>

Other lines: `READY <pid>` once the store is open, `ERR <type>: <message>`
for any exception a caller saw, `WARN <store warning>` and `DONE` at a normal
end. With `--go FILE` it waits for FILE to exist before its first event, so
several writers start at once. `--events 0` writes until killed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

STORY = Path(__file__).resolve().parents[1] / "fixtures" / "good" / "breakfast.yaml"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    parser.add_argument("out")
    parser.add_argument("--tag", default="w")
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--per-session", type=int, default=50)
    parser.add_argument("--busy-ms", type=int, default=None)
    parser.add_argument("--retry", type=float, default=None)
    parser.add_argument("--go", default=None)
    args = parser.parse_args()

    fd = os.open(args.out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def say(line: str) -> None:
        os.write(fd, (line.replace("\n", " ") + "\n").encode("utf-8", "replace"))

    from branching.store import Store, StoreError, StoryInfo
    from branching.story.loader import load_story

    story = load_story(STORY)
    options: dict[str, object] = {}
    if args.busy_ms is not None:
        options["busy_timeout_ms"] = args.busy_ms
    if args.retry is not None:
        options["retry_window"] = args.retry
    deadline = time.monotonic() + 60
    while True:  # opening may meet the write lock (migrations, spool replay): try again
        try:
            store = Store.open(args.db, **options)  # type: ignore[arg-type]
            break
        except StoreError as exc:
            if time.monotonic() > deadline:
                say(f"ERR open: {exc}")
                return 1
            time.sleep(0.05)
    store.register_story(
        StoryInfo(
            story.id,
            story.title,
            story.author,
            story.version,
            story.content_hash,
            story.structure(),
        )
    )
    say(f"READY {os.getpid()}")
    if args.go:
        while not os.path.exists(args.go):
            time.sleep(0.002)

    written = 0
    session_number = 0
    while args.events == 0 or written < args.events:
        session = store.start_session(
            story.id, story.content_hash, f"viewer-{args.tag}-{session_number}"
        )
        session_number += 1
        seq = 0
        while seq < args.per_session and (args.events == 0 or written < args.events):
            seq += 1
            written += 1
            started = time.perf_counter()
            try:
                future = session.record(
                    "choice_made",
                    scene="kitchen",
                    choice=("puffs", "frosties")[written % 2],
                    target="bus",
                    decide_ms=written,
                    input="scripted",
                    state={"writer": args.tag, "n": written},
                )
                committed = future.result()
            except Exception as exc:  # a caller must never see one: report it
                say(f"ERR {type(exc).__name__}: {exc}")
                continue
            micros = int((time.perf_counter() - started) * 1e6)
            say(f"ACK {session.session_id} {seq} {int(bool(committed))} {micros}")
        session.close()
    store.close()
    for warning in store.warnings:
        say(f"WARN {warning}")
    say("DONE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
