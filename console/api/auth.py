"""Bearer authentication: ``Authorization: Bearer scl_live_…``, scoped to the key's organisation.

* No header, or one that does not use the Bearer scheme → 401 ``missing_authorization_header``.
* A Bearer token that is unknown, revoked, or whose user was removed → 401 ``invalid_api_key``.
  (The lookup hashes the token and compares digests in constant time: see
  :func:`engine.service.orgs.authenticate`; keys are never stored in clear.)
* Team endpoints also need the key's user to be ``org:admin``, else 401 ``not_authorized``, as the
  reference says (not 403).
* Per-user endpoints (contact methods, a local extension) are for an ``org:admin`` key on anyone, or a
  member key on its own user only; any other user id is the same 401 ``not_authorized``, checked before
  the user is looked up (so a member learns nothing about which ids exist).

The scheme name is matched case-insensitively (RFC 9110 §11.1); the token itself is exact.
"""

from __future__ import annotations

from console.api.errors import ApiError
from engine.clock import Clock
from engine.errors import Unauthorized
from engine.runtime.operator_config import OperatorConfig
from engine.service import Ctx
from engine.service.database import Database
from engine.service.orgs import authenticate

_SCHEME = "bearer "


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or 401 missing_authorization_header."""
    if header is None or not header[: len(_SCHEME)].lower() == _SCHEME:
        raise ApiError(
            401,
            "not_authorized_error",
            "missing_authorization_header",
            "send Authorization: Bearer <API key>",
        )
    return header[len(_SCHEME) :].strip()


def authenticate_header(
    db: Database, header: str | None, clock: Clock, config: OperatorConfig | None = None
) -> Ctx:
    """The caller's Ctx (``via="api_key"``, with the server's ``config``), or 401 as the module says."""
    token = bearer_token(header)
    if not token:
        raise Unauthorized("invalid_api_key", "the API key is unknown or has been revoked")
    return authenticate(db, token, clock, via="api_key", config=config)


def require_admin(ctx: Ctx) -> None:
    if not ctx.is_admin:
        raise ApiError(
            401, "not_authorized_error", "not_authorized", "this endpoint needs an org:admin API key"
        )


def require_self_or_admin(ctx: Ctx, user_id: str) -> None:
    if not ctx.is_admin and ctx.actor_user_id != user_id:
        raise ApiError(
            401,
            "not_authorized_error",
            "not_authorized",
            "a member API key may only act on its own user; this needs an org:admin API key",
        )
