"""Where the stories bundled with branching are, wherever it is installed.

The repository keeps them in its top-level `stories/` folder. A wheel carries
that folder inside the package as `branching/_stories` (the `force-include` in
pyproject.toml), so an installed branching finds them next to its own code.
An editable install (`pip install -e .`) runs the package from the
repository, where there is no `_stories`: there the repository's `stories/`
beside the package is the bundled folder. That fallback is taken only when
the package sits in a source checkout (a `pyproject.toml` beside it), never
for a `stories` folder that merely happens to be next to an installed package.
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
