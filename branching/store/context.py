"""The context of a playthrough: terminal, platform, locale, clock, app version.

Producers study sessions by terminal size, platform, time of day and day of
week (hence the local UTC offset), and by the coarse attributes viewers give
with `--attr KEY=VALUE`. Nothing here identifies a person: the platform is
the OS family and machine type, not a host name or kernel build.
"""

from __future__ import annotations

import locale
import os
import platform
import re
import shutil
from dataclasses import dataclass
from datetime import datetime

from branching import __version__
from branching.store.errors import InvalidInput

ATTR_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,31}")
ATTR_VALUE_MAX = 64
ATTRS_MAX = 16


@dataclass(frozen=True, slots=True)
class SessionContext:
    """Where and with what a playthrough ran."""

    terminal: str | None
    term_program: str | None
    term_cols: int | None
    term_rows: int | None
    platform: str
    locale: str | None
    utc_offset_min: int
    app_version: str

    @classmethod
    def detect(
        cls, *, size: tuple[int, int] | None = None, terminal: str | None = None
    ) -> SessionContext:
        """The context of this process; pass `size`/`terminal` when the UI knows better."""
        if size is None:
            cols, rows = shutil.get_terminal_size(fallback=(0, 0))
            size = (cols, rows) if cols and rows else None
        return cls(
            terminal=terminal if terminal is not None else os.environ.get("TERM") or None,
            term_program=os.environ.get("TERM_PROGRAM") or None,
            term_cols=size[0] if size else None,
            term_rows=size[1] if size else None,
            platform=f"{platform.system() or 'unknown'} {platform.machine() or ''}".strip(),
            locale=_locale_name(),
            utc_offset_min=_utc_offset_min(),
            app_version=__version__,
        )


def session_context(
    cols: int | None = None, rows: int | None = None, *, terminal: str | None = None
) -> SessionContext:
    """The context of this process with the terminal size the UI knows (0 = unknown)."""
    size = (cols, rows) if cols and rows else None
    return SessionContext.detect(size=size, terminal=terminal)


def _locale_name() -> str | None:
    try:
        name = locale.getlocale(locale.LC_CTYPE)[0]
    except (ValueError, TypeError):
        name = None
    if name and name not in ("C", "POSIX"):
        return name
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "").split(".")[0]
        if value and value not in ("C", "POSIX"):
            return value
    return None


def _utc_offset_min() -> int:
    offset = datetime.now().astimezone().utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def check_attrs(attrs: dict[str, str]) -> dict[str, str]:
    """Validate coarse viewer attributes; raise InvalidInput saying what is wrong."""
    if len(attrs) > ATTRS_MAX:
        raise InvalidInput(f"at most {ATTRS_MAX} --attr values are recorded, got {len(attrs)}")
    for key, value in attrs.items():
        if not isinstance(key, str) or not ATTR_KEY.fullmatch(key):
            raise InvalidInput(
                f"attribute name {key!r} is not allowed: use a letter then letters, "
                "digits, '_', '.' or '-' (at most 32)"
            )
        if not isinstance(value, str) or not value.strip() or len(value) > ATTR_VALUE_MAX:
            raise InvalidInput(f"attribute {key} needs a value of 1 to {ATTR_VALUE_MAX} characters")
    return dict(attrs)


def parse_attrs(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`['region=NL', 'age=25-34']` -> `{'region': 'NL', 'age': '25-34'}`, validated."""
    attrs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"--attr {item!r} must look like KEY=VALUE, e.g. region=NL")
        key = key.strip()
        if key in attrs:
            raise InvalidInput(f"--attr {key} is given twice")
        attrs[key] = value.strip()
    return check_attrs(attrs)
