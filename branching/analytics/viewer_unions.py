"""Counting the flowchart's viewers from digest rows read in viewer order; a half of them in a
second process.

`flow_viewers` reads the chosen sessions' digests in viewer order and counts
each viewer once per code and end (`ViewerUnions`). At ten million events
that is 0.6-0.75 s of one core, most of it Python making and counting the
180,000 rows. Viewers add up, so the viewers can be read in two halves, one
in this process and one in a second (`python viewer_unions.py`, which
imports the standard library alone: it starts in 0.03 s where importing the
analytics takes 0.2), the two counts added.

Two connections see the same data only if nothing was committed between the
starts of their reads: `flow_viewers` proves it with SQLite's `PRAGMA
data_version`, which on one connection changes whenever another connection
(of any process) has committed since its last read. It is read before the
second process starts and again after both halves are in; when it moved,
the halves are thrown away and everything is read again in one statement
(one snapshot).

The second process gets its job as JSON on stdin (`uri`, `sql`, `params`)
and answers one JSON object on stdout (`ViewerUnions.to_json`).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import Counter
from itertools import groupby
from operator import itemgetter
from typing import Any

_FLUSH = 4096  # viewers' texts counted at a time (memory stays small)
BUSY_TIMEOUT_MS = 10_000  # as the store's connections wait (`store.db.BUSY_TIMEOUT_MS`)


class ViewerUnions:
    """The figures of the digests read in viewer order, counted by viewer.

    Rows: (viewer, end, views, reached, clocked), the end one text (`flow_viewers._READ`).
    Two counts of disjoint sets of viewers add up (`add`)."""

    def __init__(self) -> None:
        self.sessions = self.viewers = self.views = self.completed = 0
        self.ends: Counter[str | None] = Counter()  # an end -> viewers
        self.reached: Counter[str] = Counter()  # code (a character) -> viewers
        self.clocked: Counter[str] = Counter()

    def read(self, rows: Any) -> None:
        """Count `rows` (an iterator of tuples), a viewer's rows all together.

        The work per code is done by C code (`str.join`, `set`, `Counter`): a
        viewer with one session (most of them) passes its texts on untouched,
        one with several passes the union of theirs; every text of a batch is
        then counted at once (a `Counter.update` per viewer costs more than the
        counting itself)."""
        reached, clocked = self.reached, self.clocked
        ends: list[str | None] = []
        walks: list[str] = []
        clocks: list[str] = []
        end, walk, clock = ends.append, walks.append, clocks.append
        viewers = sessions = views = completed = 0
        for _, group in groupby(rows, key=itemgetter(0)):
            held = list(group)
            viewers += 1
            if len(held) == 1:  # one session: its own lists and end
                _, finish, seen, walked, late = held[0]
                sessions += 1
                views += seen
                end(finish)
                if finish is not None and finish[0] == "+":
                    completed += 1
                walk(walked)
                if late:
                    clock(late)
            else:  # several: the union of their lists, each end once
                sessions += len(held)
                views += sum(row[2] for row in held)
                mine = {row[1] for row in held}
                ends += mine
                completed += any(f is not None and f[0] == "+" for f in mine)
                walk("".join(set("".join([row[3] for row in held]))))
                clock("".join(set("".join([row[4] for row in held]))))
            if len(walks) >= _FLUSH:
                self.ends.update(ends)
                reached.update("".join(walks))
                clocked.update("".join(clocks))
                ends.clear()
                walks.clear()
                clocks.clear()
        self.ends.update(ends)
        reached.update("".join(walks))
        clocked.update("".join(clocks))
        self.viewers += viewers
        self.sessions += sessions
        self.views += views
        self.completed += completed

    def add(self, other: ViewerUnions) -> None:
        """Add the count of other viewers (none of them counted here)."""
        self.sessions += other.sessions
        self.viewers += other.viewers
        self.views += other.views
        self.completed += other.completed
        self.ends.update(other.ends)
        self.reached.update(other.reached)
        self.clocked.update(other.clocked)

    def to_json(self) -> str:
        return json.dumps(
            {
                "figures": [self.sessions, self.viewers, self.views, self.completed],
                "ends": list(self.ends.items()),  # (an end may be None: not a JSON key)
                "reached": self.reached,
                "clocked": self.clocked,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ViewerUnions:
        got = json.loads(text)
        out = cls()
        out.sessions, out.viewers, out.views, out.completed = (int(n) for n in got["figures"])
        out.ends = Counter({end: int(n) for end, n in got["ends"]})
        out.reached = Counter({code: int(n) for code, n in got["reached"].items()})
        out.clocked = Counter({code: int(n) for code, n in got["clocked"].items()})
        return out


def connect(uri: str) -> sqlite3.Connection:
    """A connection to the database at `uri` (read-only: the caller's URI says so)."""
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA trusted_schema = OFF")
    return conn


def count_job(job: dict[str, Any]) -> ViewerUnions:
    """Count the rows of `job["sql"]` (with `job["params"]`) on a read-only connection
    to `job["uri"]`, in one statement (one snapshot)."""
    conn = connect(job["uri"])
    try:
        tally = ViewerUnions()
        tally.read(conn.execute(job["sql"], job["params"]))
        return tally
    finally:
        conn.close()


def main() -> None:
    """The second process: the job from stdin, the count to stdout."""
    sys.stdout.write(count_job(json.load(sys.stdin)).to_json())


if __name__ == "__main__":
    main()
