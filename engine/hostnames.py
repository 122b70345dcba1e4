"""What a DNS host name is, for webhook addresses and the operator's allow-list. Pure: no lookups.

A host name is ASCII labels of 1–63 letters, digits, ``-`` or ``_`` (not starting or ending with ``-``),
separated by single dots, 253 characters in all, a trailing dot ignored; an internationalised name is
taken in its IDNA (UTS 46) form, and an ``xn--`` label must decode. No wildcards, no empty labels.
"""

from __future__ import annotations

import re

MAX_HOST_CHARS = 253
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


def dns_name(host: str) -> str:
    """``host`` as a lower-case ASCII DNS name without a trailing dot.

    Raises ValueError with the reason (a phrase such as ``"is not valid IDNA (…)"``) for anything else.
    """
    import idna

    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError) as exc:
            raise ValueError(f"is not valid IDNA ({exc})") from None
    name = host.lower()
    name = name[:-1] if name.endswith(".") else name
    if not name or len(name) > MAX_HOST_CHARS:
        raise ValueError(f"is longer than {MAX_HOST_CHARS} characters (or empty)")
    labels = name.split(".")
    if "*" in name:
        raise ValueError("has a wildcard ('*'): list each host name, or the network as a CIDR")
    if not all(_LABEL.match(label) for label in labels):
        raise ValueError("is malformed (dot-separated labels of 1-63 letters, digits, '-' or '_')")
    if any(label.startswith("xn--") for label in labels):
        try:
            idna.decode(name)
        except (idna.IDNAError, UnicodeError, ValueError) as exc:
            raise ValueError(f"is not valid IDNA ({exc})") from None
    return name
