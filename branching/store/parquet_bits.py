"""A session's digest lists as sets of bits, as the Parquet export writes them (layout 5).

The store's digests keep each session's lists (`reached`, `clocked`: a character a
code of `digest_names`, `digests.chars`; `rewound`, `paused`, `skipped`: the codes as
a JSON list). Counting viewers from that text meant splitting it into codes, which
took DuckDB as long as reading the events, so the export writes each list once more
as bits: code c is bit c % 64 of word c // 64, each word an int64 (two's complement),
as many words as the session's highest code needs. An engine ORs a viewer's
sessions' words and counts each bit's viewers (`analytics.parquet_viewers`). The
codes are numbered across every story of a database, so a list holding a code of
`BITS_CODES` or more is written as null and its reader counts the text or the events.

One definition of the lists and the word, for the writer and the readers.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable

from branching.store import digests

BITS_LISTS = ("reached", "clocked", "rewound", "paused", "skipped")  # column NAME_bits each
WORD_BITS = 64  # an int64 word
BITS_CODES = 4096  # the highest code a session's bits hold, plus one (64 words)


def code_bits(codes: str | None) -> list[int] | None:
    """A digest list (`reached`, `clocked`: a character a code, `digests.chars`) as the
    bits of its codes; None for None, or a code of `BITS_CODES` or more."""
    return None if codes is None else _words(map(digests.code_of, codes))


def listed_bits(codes: str | None) -> list[int] | None:
    """`code_bits` of a digest list of m016 (`rewound`, `paused`, `skipped`: the codes as
    a JSON list, `[3,7]`); None for None or a list that is not one of codes."""
    try:
        found = json.loads(codes) if codes is not None else None
    except ValueError:
        return None
    if not isinstance(found, list) or not all(type(c) is int and c >= 0 for c in found):
        return None
    return _words(found)


def _words(codes: Iterable[int]) -> list[int] | None:
    """The bits of `codes` as int64 words (`code_bits`), None past `BITS_CODES`."""
    bits = 0
    for code in codes:
        if code >= BITS_CODES:
            return None
        bits |= 1 << code
    words = (bits.bit_length() + WORD_BITS - 1) // WORD_BITS
    return list(struct.unpack(f"<{words}q", bits.to_bytes(WORD_BITS // 8 * words, "little")))
