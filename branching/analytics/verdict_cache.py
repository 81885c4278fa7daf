"""The explorer's verdicts on a story's pairs of choices, kept on disk between runs.

`stats` flags "choices that make no difference" from the explorer's proof
(`verify.choices.compare_choices`): it explores the story's whole state
space, about a second for Signal, and the same again on every run, although
the answer depends only on the story's files. So a complete answer (every
pair decided) is kept in the user's cache directory (platformdirs;
`$XDG_CACHE_HOME/branching/verdicts` on Linux), one small JSON file per story
version, named by the story id, its content hash (a hash of the story's
files) and the explorer's budget (the key of the answers a process keeps in
memory), and stamped with the branching version: a story edited, or a newer
explorer, is a new key, so a stale answer is never read.

The cache is only ever a shortcut: a file missing, unreadable, corrupt or of
another version is ignored (the explorer runs), and a cache directory that
cannot be written is not an error (nothing is kept). An answer is kept
only when the explorer's state budget settled it, undecided pairs included
(the same budget stops at the same place on every run); one cut short by the
clock, memory or a Ctrl-C is not (`verify.choices.repeatable`, as in memory:
`report._verdicts`).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import platformdirs

from branching import __version__
from branching.story.model import Story
from branching.verify import choices as verify_choices
from branching.verify.choices import ChoicePairVerdict

Verdicts = dict[tuple[str, str, str], ChoicePairVerdict]
_FORMAT = 1
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def cache_dir() -> Path:
    """Where the verdicts are kept (the user's cache directory for branching)."""
    return platformdirs.user_cache_path("branching") / "verdicts"


def _file(story: Story) -> Path:
    limits = verify_choices.CHECK_LIMITS
    budget = f"{limits.max_states}-{limits.max_seconds}-{limits.max_memory}"
    name = f"{_SAFE.sub('_', story.id)}-{_SAFE.sub('_', story.content_hash)}-{budget}.json"
    return cache_dir() / name


def _stamp(story: Story) -> dict[str, Any]:
    return {
        "format": _FORMAT,
        "branching": __version__,
        "story": story.id,
        "content_hash": story.content_hash,
        "limits": [
            verify_choices.CHECK_LIMITS.max_states,
            verify_choices.CHECK_LIMITS.max_seconds,
            verify_choices.CHECK_LIMITS.max_memory,
        ],
    }


def load(story: Story) -> Verdicts | None:
    """The verdicts kept for this very story version, or None (none kept, or unusable)."""
    if not story.content_hash:
        return None
    try:
        kept = json.loads(_file(story).read_text(encoding="utf-8"))
        if not isinstance(kept, dict) or kept.get("stamp") != _stamp(story):
            return None
        out: Verdicts = {}
        for scene, a, b, verdict, states, why in kept["verdicts"]:
            if verdict not in ("same", "differs", "unknown"):
                return None
            found = ChoicePairVerdict(str(scene), str(a), str(b), verdict, int(states), str(why))
            out[(found.scene, found.a, found.b)] = found
        return out
    except (OSError, ValueError, TypeError, KeyError):
        return None


def keep(story: Story, verdicts: Verdicts) -> None:
    """Keep an answer the budget alone settled (`verify.choices.repeatable`) for the
    next run; never fails."""
    if not story.content_hash or not verify_choices.repeatable(verdicts.values()):
        return
    body = {
        "stamp": _stamp(story),
        "verdicts": [[v.scene, v.a, v.b, v.verdict, v.states, v.why] for v in verdicts.values()],
    }
    target = _file(story)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".verdicts-", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(body, out)
            os.replace(temp, target)  # whole or not at all: a reader never sees half a file
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError:
        return
