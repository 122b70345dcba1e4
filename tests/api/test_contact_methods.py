"""Contact methods over real HTTP (local extension): who may touch them, the once-only secret, 422s, 404s."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from storage.service import contacts
from storage.service.orgs import create_key, create_org
from tests.api.conftest import Live
from tests.api.test_http import data, error


def cm_path(user_id: str, contact_id: str | None = None) -> str:
    base = f"/v1/users/{user_id}/contact-methods"
    return base if contact_id is None else f"{base}/{contact_id}"


def member(live: Live, email: str = "m@example.com") -> tuple[dict[str, Any], httpx.Client]:
    """A new org:member and a client holding their own API key."""
    user = data(live.client.post("/v1/users", json={"email": email, "role": "org:member"}), 201)
    key, _ = create_key(live.ctx().as_user(user["id"], is_admin=False), "member key")
    return user, live.as_key(key)


def test_webhook_secret_is_returned_once(live: Live) -> None:
    url = "https://hooks.example.com/page"
    created = data(live.client.post(cm_path(live.admin_id), json={"channel": "webhook", "address": url}), 201)
    assert created["id"].startswith("cm_")
    assert created["userId"] == live.admin_id and created["channel"] == "webhook"
    assert created["address"] == url and created["hasSecret"] is True
    assert isinstance(created["secret"], str) and len(created["secret"]) >= 16

    listed = data(live.client.get(cm_path(live.admin_id)))
    assert set(listed) == {"contactMethods"}
    assert listed["contactMethods"] == [{k: v for k, v in created.items() if k != "secret"}]
    one = data(live.client.get(cm_path(live.admin_id, created["id"])))
    assert "secret" not in one and one["hasSecret"] is True

    # A secret of one's own is accepted, and still only shown in the create answer.
    given = "s" * 24
    mine = data(
        live.client.post(
            cm_path(live.admin_id), json={"channel": "webhook", "address": url, "secret": given}
        ),
        201,
    )
    assert mine["secret"] == given
    # Other channels have no secret at all.
    log = data(live.client.post(cm_path(live.admin_id), json={"channel": "log"}), 201)
    assert "secret" not in log and log["hasSecret"] is False and log["address"] is None


def test_the_api_and_the_service_agree(live: Live) -> None:
    """What the CLI (the service) adds, the API lists, and the other way round."""
    ctx = live.ctx()
    via_service = contacts.add_contact_method(ctx, live.admin_id, {"channel": "command", "address": "true"})
    via_api = data(
        live.client.post(cm_path(live.admin_id), json={"channel": "command", "address": "notify --x"}), 201
    )
    listed = data(live.client.get(cm_path(live.admin_id)))["contactMethods"]
    assert [c["id"] for c in listed] == [via_service["id"], via_api["id"]]
    assert contacts.list_contact_methods(ctx, live.admin_id) == listed


def test_update_and_delete(live: Live) -> None:
    cm = data(
        live.client.post(
            cm_path(live.admin_id), json={"channel": "webhook", "address": "http://a.example/x"}
        ),
        201,
    )
    path = cm_path(live.admin_id, cm["id"])
    updated = data(live.client.patch(path, json={"address": "https://b.example/y", "secret": "n" * 16}))
    assert updated["address"] == "https://b.example/y" and "secret" not in updated
    assert data(live.client.patch(path, json={}))["address"] == "https://b.example/y"

    resp = live.client.delete(path)
    assert resp.status_code == 204 and resp.content == b"" and resp.headers["x-request-id"]
    error(live.client.get(path), 404, "not_found")
    error(live.client.delete(path), 404, "not_found")
    error(live.client.patch(path, json={"address": "https://c.example"}), 404, "not_found")
    assert data(live.client.get(cm_path(live.admin_id)))["contactMethods"] == []


def test_a_member_manages_only_their_own(live: Live) -> None:
    user, as_member = member(live)
    own = data(as_member.post(cm_path(user["id"]), json={"channel": "command", "address": "page-me"}), 201)
    assert data(as_member.get(cm_path(user["id"])))["contactMethods"] == [own]
    assert data(as_member.patch(cm_path(user["id"], own["id"]), json={"address": "page-me --loud"}))
    # An admin may manage anyone's.
    assert data(live.client.get(cm_path(user["id"], own["id"])))["address"] == "page-me --loud"
    admins = data(live.client.post(cm_path(live.admin_id), json={"channel": "log"}), 201)

    # Anyone else's (existing or not) is 401 not_authorized, as on the team endpoints; checked before the
    # body, so even malformed JSON gets the 401.
    for resp in (
        as_member.get(cm_path(live.admin_id)),
        as_member.post(cm_path(live.admin_id), json={"channel": "log"}),
        as_member.post(cm_path(live.admin_id), content=b"{not json"),
        as_member.get(cm_path(live.admin_id, admins["id"])),
        as_member.patch(cm_path(live.admin_id, admins["id"]), json={"address": None}),
        as_member.delete(cm_path(live.admin_id, admins["id"])),
        as_member.get(cm_path("user_does_not_exist")),
    ):
        error(resp, 401, "not_authorized", "not_authorized_error")
    # Someone else's method id under one's own user id is simply not found.
    error(as_member.get(cm_path(user["id"], admins["id"])), 404, "not_found")
    error(as_member.delete(cm_path(user["id"], admins["id"])), 404, "not_found")
    assert len(data(live.client.get(cm_path(live.admin_id)))["contactMethods"]) == 1

    assert as_member.delete(cm_path(user["id"], own["id"])).status_code == 204
    # A removed member's key stops working; their contact methods are 404 for an admin.
    assert live.client.delete(f"/v1/team/members/{user['id']}").status_code == 204
    error(as_member.get(cm_path(user["id"])), 401, "invalid_api_key")
    error(live.client.get(cm_path(user["id"])), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "channel"),
        ({"channel": "sms"}, "channel"),
        ({"channel": "log", "address": "x"}, "address"),
        ({"channel": "webhook"}, "address"),
        ({"channel": "webhook", "address": "ftp://x.example/"}, "address"),
        ({"channel": "webhook", "address": "https://x.example/", "secret": "short"}, "secret"),
        ({"channel": "command", "address": "'unterminated"}, "address"),
        ({"channel": "command", "address": "   "}, "address"),
        ({"channel": "command", "address": "run", "secret": "s" * 16}, "secret"),
        ({"channel": "log", "extra": 1}, "extra"),
        ([], None),
    ],
)
def test_create_validation_is_422(live: Live, body: Any, field: str | None) -> None:
    err = error(
        live.client.post(cm_path(live.admin_id), json=body), 422, "validation_error", "validation_error"
    )
    assert err.get("field") == field


def test_update_validation_is_422(live: Live) -> None:
    log = data(live.client.post(cm_path(live.admin_id), json={"channel": "log"}), 201)
    hook = data(
        live.client.post(cm_path(live.admin_id), json={"channel": "webhook", "address": "https://h.example"}),
        201,
    )
    for path, body, field in (
        (cm_path(live.admin_id, log["id"]), {"address": "x"}, "address"),
        (cm_path(live.admin_id, log["id"]), {"secret": "s" * 16}, "secret"),
        (cm_path(live.admin_id, hook["id"]), {"address": None}, "address"),
        (cm_path(live.admin_id, hook["id"]), {"secret": None}, "secret"),
        (cm_path(live.admin_id, hook["id"]), {"channel": "log"}, "channel"),
    ):
        err = error(live.client.patch(path, json=body), 422, "validation_error")
        assert err.get("field") == field, (body, err)
    error(live.client.post(cm_path(live.admin_id), content=b"{bad"), 422, "validation_error")
    error(live.client.patch(cm_path(live.admin_id, hook["id"])), 422, "validation_error")


def test_another_orgs_user_is_not_found(live: Live) -> None:
    ctx = live.ctx()
    other = create_org(ctx.db, "Globex", "boss@globex.example", clock=live.clock)
    theirs = httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {other.api_key}"})
    hook = data(
        live.client.post(cm_path(live.admin_id), json={"channel": "webhook", "address": "https://h.example"}),
        201,
    )
    # Their admin on our user, and our admin on theirs: 404, as for an id that never existed.
    error(theirs.get(cm_path(live.admin_id)), 404, "not_found", "invalid_request_error")
    error(theirs.post(cm_path(live.admin_id), json={"channel": "log"}), 404, "not_found")
    error(theirs.get(cm_path(live.admin_id, hook["id"])), 404, "not_found")
    error(theirs.delete(cm_path(live.admin_id, hook["id"])), 404, "not_found")
    error(live.client.get(cm_path(other.admin["id"])), 404, "not_found")
    error(live.client.get(cm_path("user_nope")), 404, "not_found")
    # Our method under their user id is not found either.
    error(theirs.get(cm_path(other.admin["id"], hook["id"])), 404, "not_found")
    assert data(live.client.get(cm_path(live.admin_id, hook["id"])))["id"] == hook["id"]
