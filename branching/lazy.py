"""A package's public names, imported from their modules only when first used (PEP 562).

`branching.store`, `branching.analytics`, `branching.render` and
`branching.tui.dashboard` export names from modules that cost time and memory
to import (a read-only command should pay only for what it reads with, a
flowchart never for the stats report; a dashboard reading process must never
import textual).
`exports` gives such a package the module-level `__getattr__` and `__dir__`
that do this, so the rule is written once. Standard library only: any layer
may use it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def exports(
    package: str, homes: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`(__getattr__, __dir__)` for `package`, whose public name `n` lives in its
    submodule `homes[n]`: imported on first use, then kept in the package."""

    def get(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def listed() -> list[str]:
        return sorted({*vars(sys.modules[package]), *homes})

    return get, listed
