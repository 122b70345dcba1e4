"""IDs we create: a prefix and a ULID in lowercase Crockford base32 (time-sortable, 26 chars).

``<prefix>_<10 chars: epoch milliseconds, 48 bits><16 chars: 80 random bits>``, e.g.
``pol_01jqm5x3k8vz9e2f4g7hab12cd``. This module is the only id encoder: callers that mint many ids at one
instant (the escalator's catch-up) take :func:`id_head` once and add :func:`random_tail` per id.

IDs that come from elsewhere (the remote service) are opaque strings; nothing parses a prefix.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from uuid import uuid4

__all__ = ["ALPHABET", "id_head", "new_id", "random_tail", "random_tails"]

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
"""Crockford's base32 alphabet, lowercase (no i, l, o, u)."""

# RFC 4648 base32 of 80 bits is 16 characters with no padding, most significant first: mapped onto the
# Crockford alphabet it is exactly the big-endian base32 of the 80-bit number, at C speed.
_FROM_RFC4648 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET)
_MS_MASK = (1 << 48) - 1


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def id_head(prefix: str, at: datetime) -> str:
    """``<prefix>_`` and the 10-character time part for ``at`` (an aware datetime; milliseconds, 48 bits)."""
    return f"{prefix}_{_encode(int(at.timestamp() * 1000) & _MS_MASK, 10)}"


def random_tail() -> str:
    """The 16-character random part: 80 bits from the system's CSPRNG, Crockford base32.

    The bits are ``uuid4()``'s: 16 bytes of ``os.urandom`` (what ``secrets.token_bytes`` returns) with the
    version in byte 6 and the variant in byte 8; bytes 0-5 and 10-13 are untouched. ``uuid`` is loaded by
    the command line anyway, where ``secrets`` would add ``random``, ``hmac`` and ``hashlib`` to the
    start-up of every command that writes (issue 17)."""
    raw = uuid4().bytes
    return base64.b32encode(raw[:6] + raw[10:14]).decode("ascii").translate(_FROM_RFC4648)


# Byte -> Crockford character of its low 5 bits: 256 is a multiple of 32, so a uniform random byte maps
# to a uniform character (5 of its 8 bits are used).
_LOW_BITS = bytes(ord(ALPHABET[b & 31]) for b in range(256))


def random_tails(count: int, randbytes: Callable[[int], bytes] | None = None) -> list[str]:
    """``count`` random parts at once, 80 bits of the system's CSPRNG each, as :func:`random_tail`'s.

    With ``randbytes`` (``os.urandom``, passed by a caller that may do I/O: this module may not), one
    read of ``16 * count`` bytes, each byte's low 5 bits one Crockford character (``bytes.translate``, at
    C speed: 0.25 µs an id). Without it, :func:`random_tail`'s bits (``uuid4`` per id, ~2.5 µs, and one
    base32 encoding for the lot: 10 bytes are exactly 16 base32 characters)."""
    if randbytes is not None:
        text = randbytes(16 * count).translate(_LOW_BITS).decode("ascii")
    else:
        raw = b"".join(u[:6] + u[10:14] for u in (uuid4().bytes for _ in range(count)))
        text = base64.b32encode(raw).decode("ascii").translate(_FROM_RFC4648)
    return [text[i : i + 16] for i in range(0, 16 * count, 16)]


def new_id(prefix: str, at: datetime) -> str:
    """A new sortable id, e.g. ``pol_01jqm5x3k8vz9e2f4g7hab12cd``. ``at`` is the creating clock's now."""
    return id_head(prefix, at) + random_tail()
