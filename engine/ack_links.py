"""Acknowledge links: the signed token a page carries so its reader can acknowledge from the page.

Pure rules (no I/O, no clock reads): :func:`mint` makes a token, :func:`read` checks one against the key
and an instant given by the caller. A token is ``<payload>.<signature>``, both unpadded base64url:

* payload: compact JSON ``{"i": incident id, "u": user id, "e": expiry (epoch ms), "n": token id}``;
* signature: HMAC-SHA256 of the payload's base64url text under the database's link key, truncated to
  128 bits.

The token names one incident and one person, so it acknowledges that incident as that person and
nothing else; the token id (derived from the page's idempotency key, so a retried page carries the same
link) is what the use case records to refuse a replay (engine/service/ack_links.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

SIGNATURE_BYTES = 16
MAX_TOKEN_CHARS = 600


class BadToken(Exception):
    """The token is malformed, forged (wrong signature) or expired; ``reason`` says which, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AckClaim:
    """What a valid token says: acknowledge ``incident_id`` as ``user_id``; ``token_id`` marks its use."""

    incident_id: str
    user_id: str
    expires_ms: int
    token_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()[:SIGNATURE_BYTES])


def token_id_for(page_key: str) -> str:
    """The token id of the link a page carries: stable for the page (its idempotency key), 96 bits."""
    return _b64(hashlib.sha256(page_key.encode()).digest()[:12])


def mint(key: bytes, incident_id: str, user_id: str, expires_ms: int, token_id: str) -> str:
    """A token for ``incident_id`` and ``user_id``, valid until ``expires_ms`` (epoch ms)."""
    body = json.dumps({"i": incident_id, "u": user_id, "e": expires_ms, "n": token_id}, separators=(",", ":"))
    payload = _b64(body.encode())
    return f"{payload}.{_signature(key, payload)}"


def read(key: bytes, token: str, now_ms: int) -> AckClaim:
    """The claim of a genuine, unexpired ``token``; raises :class:`BadToken` otherwise.

    The signature is compared in constant time before anything of the payload is trusted.
    """
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise BadToken("this acknowledge link is malformed")
    payload, signature = token.split(".")
    if not hmac.compare_digest(
        signature.encode("ascii", "replace"), _signature(key, payload).encode("ascii")
    ):
        raise BadToken("this acknowledge link is not genuine (its signature does not match)")
    try:
        doc = json.loads(_unb64(payload))
        claim = AckClaim(str(doc["i"]), str(doc["u"]), int(doc["e"]), str(doc["n"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BadToken("this acknowledge link is malformed") from None
    if now_ms >= claim.expires_ms:
        raise BadToken("this acknowledge link has expired")
    return claim
