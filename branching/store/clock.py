"""Timestamps as the store writes them, and parsing of the dates users type.

Every timestamp is UTC text with milliseconds, `2025-01-31T18:04:05.123Z`:
it sorts as text, reads in any SQLite client and compares directly against the
`--since`, `--until` and `--before` cut-offs, which are parsed here into the
same form.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from branching.store.errors import InvalidInput

_last: tuple[int, str] = (-1, "")  # the latest millisecond `now_ts` formatted, and its text


def format_ts(moment: datetime) -> str:
    """`moment` as stored: UTC, milliseconds, trailing Z."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"  # the year always has 4 digits


def now_ts() -> str:
    """The current time as stored (formatted once per millisecond: a key press stamps
    several records, mostly within the same one)."""
    global _last
    ms = time.time_ns() // 1_000_000
    last = _last
    if last[0] == ms:
        return last[1]
    seconds, milli = divmod(ms, 1000)  # `format_ts`'s text, without building datetimes
    text = f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{milli:03d}Z"
    _last = (ms, text)
    return text


def parse_cutoff(text: str) -> str:
    """A user's date or date-time as a stored timestamp; naive values are UTC.

    Accepts `2025-01-31`, `2025-01-31T18:00`, `2025-01-31 18:00:00+01:00`, `...Z`.
    """
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return format_ts(moment)
    except (ValueError, OverflowError):
        raise InvalidInput(
            f"'{text}' is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM] "
            "(UTC if no offset)"
        ) from None
