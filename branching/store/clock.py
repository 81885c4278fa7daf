"""Timestamps as the store writes them, and parsing of the dates users type.

Every timestamp is UTC text with milliseconds, `2025-01-31T18:04:05.123Z`:
it sorts as text, reads in any SQLite client and compares directly against the
`--since`, `--until` and `--before` cut-offs, which are parsed here into the
same form.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

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
    text = ms_ts(ms)
    _last = (ms, text)
    return text


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAYS: dict[int, str] = {}  # day number since 1970 -> "YYYY-MM-DD" (a run spans few days)


def ms_ts(ms: int) -> str:
    """Milliseconds since 1970 as stored (`format_ts`'s text, without building a datetime
    per call: each day's date made once)."""
    day, ms = divmod(ms, 86_400_000)
    date = _DAYS.get(day)
    if date is None:
        date = format_ts(_EPOCH + timedelta(days=day))[:10]
        if day >= 0 and date[0] != "-" and len(_DAYS) < 100_000:
            _DAYS[day] = date
    seconds, milli = divmod(ms, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{date}T{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}Z"


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
