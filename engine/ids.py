"""IDs we create: a prefix and a ULID in lowercase Crockford base32 (time-sortable, 26 chars).

IDs that come from elsewhere (the remote service) are opaque strings; nothing parses a prefix.
"""

from __future__ import annotations

import secrets
from datetime import datetime

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id(prefix: str, at: datetime) -> str:
    """A new sortable id, e.g. ``pol_01jqm5x3k8vz9e2f4g7hab12cd``. ``at`` is the creating clock's now."""
    ms = int(at.timestamp() * 1000) & ((1 << 48) - 1)
    rand = secrets.randbits(80)
    return f"{prefix}_{_encode(ms, 10)}{_encode(rand, 16)}"
