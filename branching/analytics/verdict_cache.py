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

An answer also lists the story's files as its content hash names them, so
a story named by id whose bundled files are the recorded version is
answered without reading them as YAML (`twin`); an answer kept before that
is listed again when it is next read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import platformdirs

from branching import __version__
from branching.story.files import MAX_BYTES, hash_part, read_capped
from branching.story.model import Story
from branching.verify import choices as verify_choices
from branching.verify.choices import ChoicePairVerdict

Verdicts = dict[tuple[str, str, str], ChoicePairVerdict]
_FORMAT = 1  # (an answer may list its story's files, `twin`: older readers ignore them)
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def cache_dir() -> Path:
    """Where the verdicts are kept (the user's cache directory for branching)."""
    return platformdirs.user_cache_path("branching") / "verdicts"


def _file(story_id: str, content_hash: str) -> Path:
    limits = verify_choices.CHECK_LIMITS
    budget = f"{limits.max_states}-{limits.max_seconds}-{limits.max_memory}"
    name = f"{_SAFE.sub('_', story_id)}-{_SAFE.sub('_', content_hash)}-{budget}.json"
    return cache_dir() / name


def _stamp(story_id: str, content_hash: str) -> dict[str, Any]:
    return {
        "format": _FORMAT,
        "branching": __version__,
        "story": story_id,
        "content_hash": content_hash,
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
        kept = _kept(story.id, story.content_hash)
        found = _verdicts(kept) if kept is not None else None
        if kept is not None and found is not None and "files" not in kept:
            keep(story, found)  # kept by an older version: name the files, for `twin`
        return found
    except _UNUSABLE:
        return None


# what a kept answer that is not one can raise while it is read: ignored, as none kept
# (`Infinity` states: OverflowError; JSON nested past Python's limit: RecursionError)
_UNUSABLE = (OSError, ValueError, TypeError, KeyError, OverflowError, RecursionError)


def twin(story_id: str, content_hash: str, root: Path) -> Verdicts | None:
    """The verdicts kept for version `content_hash` of story `story_id` when the story
    file `root` (and the files it includes) is that very version, without loading it.

    The content hash is a hash of the story's files, each named as the loader
    names it (the root by its name, an include by its path from the root's
    folder) and in the order it read them, and a kept answer lists those
    names: hashing the files of those names next to `root` gives the same
    hash only if they hold the same bytes, which the loader would read the
    same way into the same story (a `stats` of a story named by id then
    flags from its bundled file without the YAML reader: 0.06 s of CPU).
    None when nothing is kept, a file differs or is missing."""
    if not content_hash:
        return None
    try:
        kept = _kept(story_id, content_hash)
        if kept is None:
            return None
        names = kept["files"]
        if not isinstance(names, list) or not names or names[0] != root.name:
            return None
        folder = root.resolve().parent
        digest = hashlib.sha256()
        for at, name in enumerate(map(str, names)):
            # the root read as the loader reads it (through a link of another name);
            # an include only by a plain path inside the root's folder, as `_names` wrote
            path = root if at == 0 else folder / name
            plain = at == 0 or not (PurePosixPath(name).is_absolute() or ".." in name.split("/"))
            data = read_capped(path) if plain and path.is_file() else None
            if data is None or len(data) > MAX_BYTES:  # (a pipe, a device, a huge file)
                return None
            digest.update(hash_part(name, data))
        if digest.hexdigest()[:16] != content_hash:
            return None
        return _verdicts(kept)
    except _UNUSABLE:
        return None


def _kept(story_id: str, content_hash: str) -> dict[str, Any] | None:
    """The answer kept for this story version, read whole (None: none, or another stamp)."""
    kept = json.loads(_file(story_id, content_hash).read_text(encoding="utf-8"))
    return (
        kept
        if isinstance(kept, dict) and kept.get("stamp") == _stamp(story_id, content_hash)
        else None
    )


def _verdicts(kept: dict[str, Any]) -> Verdicts | None:
    """The verdicts of a kept answer (None: one is not a verdict)."""
    out: Verdicts = {}
    for scene, a, b, verdict, states, why in kept["verdicts"]:
        if verdict not in ("same", "differs", "unknown"):
            return None
        found = ChoicePairVerdict(str(scene), str(a), str(b), verdict, int(states), str(why))
        out[(found.scene, found.a, found.b)] = found
    return out


def _names(story: Story) -> list[str]:
    """The story's files as its content hash names them (`twin`): the root by its name,
    the others by their path from its folder; [] when they cannot be named so."""
    if not story.files:
        return []
    root = Path(story.files[0])
    folder = root.resolve().parent
    try:
        return [root.name] + [
            Path(name).resolve().relative_to(folder).as_posix() for name in story.files[1:]
        ]
    except ValueError:  # an include outside the root's folder
        return []


def keep(story: Story, verdicts: Verdicts) -> None:
    """Keep an answer the budget alone settled (`verify.choices.repeatable`) for the
    next run; never fails."""
    if not story.content_hash or not verify_choices.repeatable(verdicts.values()):
        return
    body = {
        "stamp": _stamp(story.id, story.content_hash),
        "verdicts": [[v.scene, v.a, v.b, v.verdict, v.states, v.why] for v in verdicts.values()],
        "files": _names(story),
    }
    target = _file(story.id, story.content_hash)
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
