"""How a story's files are read and hashed, shared by the loader and the verdict cache.

The loader reads each file of a story (the root and its includes) and hashes
them into the version's content hash; the verdict cache's `twin` recognises a
version by hashing the same files again without the YAML reader. Both read a
file the same way, never past the size cap (a story named `/dev/zero` cannot
exhaust memory), and hash it in the same form, so the two can never disagree
on which bytes make a version. No YAML here: `twin` must not import it.
"""

from __future__ import annotations

from pathlib import Path

MAX_BYTES = 10 * 1024 * 1024  # the largest story file read


def read_capped(path: Path) -> bytes:
    """Up to `MAX_BYTES + 1` bytes of `path`: more than `MAX_BYTES` means over the cap
    (a device or a file growing as it is read cannot make this read on)."""
    with path.open("rb") as handle:
        return handle.read(MAX_BYTES + 1)


def hash_part(name: str, data: bytes) -> bytes:
    """What one file adds to its story's content hash: its name as the loader names it
    (the root by its name, an include by its path from the root's folder) and its bytes."""
    return name.encode() + b"\0" + data + b"\0"
