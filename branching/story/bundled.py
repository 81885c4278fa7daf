"""Where the stories bundled with branching are, wherever it is installed.

The repository keeps them in its top-level `stories/` folder. A wheel carries
that folder inside the package as `branching/_stories` (the `force-include` in
pyproject.toml), so an installed branching finds them next to its own code.
An editable install (`pip install -e .`) runs the package from the
repository, where there is no `_stories`: there the repository's `stories/`
beside the package is the bundled folder. That fallback is taken only when
the package sits in a source checkout (a `pyproject.toml` beside it), never
for a `stories` folder that merely happens to be next to an installed package.

`bundled_story(name)` finds one of them by name, so `branching play tutorial`
works in any folder.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent  # the `branching` package folder


def bundled_stories() -> Path | None:
    """The folder of bundled stories, or None when this installation has none."""
    installed = PACKAGE / "_stories"
    if installed.is_dir():
        return installed
    checkout = PACKAGE.parent
    repository = checkout / "stories"
    if (checkout / "pyproject.toml").is_file() and repository.is_dir():
        return repository
    return None


def bundled_story(name: str) -> Path | None:
    """The bundled story called `name` (`tutorial`, `lighthouse`), or None.

    A name is a story folder's name or a story file's stem; anything with a
    path separator is a path, never a name.
    """
    folder = bundled_stories()
    if folder is None or not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    candidates = [folder / name / "story.yaml", folder / f"{name}.yaml", folder / f"{name}.yml"]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        return None
    return found.parent if found.name == "story.yaml" else found
