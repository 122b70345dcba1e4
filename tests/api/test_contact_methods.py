"""Contact methods over real HTTP (local extension): who may touch them, the once-only secret, 422s, 404s,
command methods being the operator's alone, and where an API key may point a webhook.

Webhook addresses here are public IP literals (nothing is ever sent to them: the engine is off) or
loopback/private literals and ``localhost``, so no test needs DNS."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from engine.errors import ValidationError
from engine.runtime.operator_config import OperatorConfig
from engine.service import contacts
from engine.service.orgs import create_key, create_org
from tests.api.conftest import Live
from tests.api.test_http import data, error

PUBLIC = "https://9.9.9.9/page"  # a public address literal: allowed for any key, no DNS needed


def cm_path(user_id: str, contact_id: str | None = None) -> str:
    base = f"/v1/users/{user_id}/contact-methods"
    return base if contact_id is None else f"{base}/{contact_id}"


def member(live: Live, email: str = "m@example.com") -> tuple[dict[str, Any], httpx.Client]:
    """A new org:member and a client holding their own API key."""
    user = data(live.client.post("/v1/users", json={"email": email, "role": "org:member"}), 201)
    key, _ = create_key(live.ctx().as_user(user["id"], is_admin=False), "member key")
    return user, live.as_key(key)


def test_webhook_secret_is_returned_once(live: Live) -> None:
    url = PUBLIC
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
        live.client.post(cm_path(live.admin_id), json={"channel": "webhook", "address": PUBLIC}), 201
    )
    del via_api["secret"]
    listed = data(live.client.get(cm_path(live.admin_id)))["contactMethods"]
    assert [c["id"] for c in listed] == [via_service["id"], via_api["id"]]
    assert contacts.list_contact_methods(ctx, live.admin_id) == listed


def test_update_and_delete(live: Live) -> None:
    cm = data(
        live.client.post(cm_path(live.admin_id), json={"channel": "webhook", "address": "http://8.8.4.4/x"}),
        201,
    )
    path = cm_path(live.admin_id, cm["id"])
    updated = data(live.client.patch(path, json={"address": "https://1.1.1.1/y", "secret": "n" * 16}))
    assert updated["address"] == "https://1.1.1.1/y" and "secret" not in updated
    assert data(live.client.patch(path, json={}))["address"] == "https://1.1.1.1/y"

    resp = live.client.delete(path)
    assert resp.status_code == 204 and resp.content == b"" and resp.headers["x-request-id"]
    error(live.client.get(path), 404, "not_found")
    error(live.client.delete(path), 404, "not_found")
    error(live.client.patch(path, json={"address": PUBLIC}), 404, "not_found")
    assert data(live.client.get(cm_path(live.admin_id)))["contactMethods"] == []


def test_a_member_manages_only_their_own(live: Live) -> None:
    user, as_member = member(live)
    own = data(as_member.post(cm_path(user["id"]), json={"channel": "webhook", "address": PUBLIC}), 201)
    del own["secret"]
    assert data(as_member.get(cm_path(user["id"])))["contactMethods"] == [own]
    assert data(as_member.patch(cm_path(user["id"], own["id"]), json={"address": PUBLIC + "?loud"}))
    # An admin may manage anyone's.
    assert data(live.client.get(cm_path(user["id"], own["id"])))["address"] == PUBLIC + "?loud"
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
        ({"channel": "webhook", "address": PUBLIC, "secret": "short"}, "secret"),
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
        live.client.post(cm_path(live.admin_id), json={"channel": "webhook", "address": PUBLIC}),
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
        live.client.post(cm_path(live.admin_id), json={"channel": "webhook", "address": PUBLIC}),
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


# -- command methods are the machine operator's ------------------------------------------------------


def _keys(live: Live) -> dict[str, tuple[str, httpx.Client]]:
    """The admin key and a member key, each with the user it acts for."""
    user, as_member = member(live, "cmd@example.com")
    return {"admin": (live.admin_id, live.client), "member": (user["id"], as_member)}


@pytest.mark.parametrize("who", ["admin", "member"])
def test_no_api_key_can_create_change_or_delete_a_command(live: Live, who: str) -> None:
    user_id, client = _keys(live)[who]
    for body in (
        {"channel": "command", "address": "touch /tmp/owned"},
        {"channel": "command", "address": "'unterminated"},  # refused before the address is looked at
        {"channel": "command"},
    ):
        err = error(client.post(cm_path(user_id), json=body), 403, "operator_only", "invalid_request_error")
        assert "oncall users contacts" in err["message"] and "operator" in err["message"]
    assert data(client.get(cm_path(user_id)))["contactMethods"] == []

    # One the operator added (the CLI's context) can be read through the key, but not changed or removed.
    made = contacts.add_contact_method(live.ctx(), user_id, {"channel": "command", "address": "notify --me"})
    assert data(client.get(cm_path(user_id, made["id"]))) == made
    assert data(client.get(cm_path(user_id)))["contactMethods"] == [made]
    path = cm_path(user_id, made["id"])
    for resp in (
        client.patch(path, json={"address": "touch /tmp/owned"}),
        client.patch(path, json={}),
        client.delete(path),
    ):
        error(resp, 403, "operator_only", "invalid_request_error")
    # The exact order (docs/API.md): the body's shape first (a JSON object of known fields), then 403,
    # before any field's value is checked.
    headers = {"Content-Type": "application/json"}
    error(client.patch(path, content=b"not json", headers=headers), 422, "validation_error")
    error(client.patch(path, json=[]), 422, "validation_error")
    error(client.patch(path, json={"channel": "webhook"}), 422, "validation_error")
    error(client.patch(path, json={"address": 42, "secret": ""}), 403, "operator_only")
    assert data(client.get(path)) == made


def test_the_operator_still_manages_commands(live: Live) -> None:
    """Through the service with the CLI's context: add, change, remove; the command's own 422s stay."""
    ctx = live.ctx()
    for body, field in (
        ({"channel": "command", "address": "'unterminated"}, "address"),
        ({"channel": "command", "address": "   "}, "address"),
        ({"channel": "command", "address": "run", "secret": "s" * 16}, "secret"),
    ):
        with pytest.raises(ValidationError) as err:
            contacts.add_contact_method(ctx, live.admin_id, body)
        assert err.value.field == field
    cm = contacts.add_contact_method(ctx, live.admin_id, {"channel": "command", "address": "true"})
    assert (
        contacts.update_contact_method(ctx, live.admin_id, cm["id"], {"address": "false"})["address"]
        == "false"
    )
    contacts.delete_contact_method(ctx, live.admin_id, cm["id"])
    assert data(live.client.get(cm_path(live.admin_id)))["contactMethods"] == []


# -- where an API key may point a webhook -------------------------------------------------------------

INSIDE = [
    "http://127.0.0.1:9/x",
    "http://127.9.8.7/",
    "http://localhost:8080/hook",
    "http://LOCALHOST./hook",
    "http://[::1]:8080/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://10.0.0.5/",
    "http://172.16.3.4/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://0.0.0.0:8080/",
    "http://[::]/",
    "http://100.64.0.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a00:1]/",
    "http://127.1/",  # short forms and numbers the resolver reads as 127.0.0.1
    "http://2130706433/",
    "https://224.0.0.1/",
]


@pytest.mark.parametrize("who", ["admin", "member"])
@pytest.mark.parametrize("address", INSIDE)
def test_an_api_key_cannot_point_a_webhook_inside(live: Live, who: str, address: str) -> None:
    user_id, client = _keys(live)[who]
    err = error(
        client.post(cm_path(user_id), json={"channel": "webhook", "address": address}),
        422,
        "validation_error",
    )
    assert err["field"] == "address" and "allow" in err["message"], err
    # Nor move an existing one there.
    hook = data(client.post(cm_path(user_id), json={"channel": "webhook", "address": PUBLIC}), 201)
    err = error(
        client.patch(cm_path(user_id, hook["id"]), json={"address": address}), 422, "validation_error"
    )
    assert err["field"] == "address"
    assert data(client.get(cm_path(user_id, hook["id"])))["address"] == PUBLIC
    # The operator may (the CLI's context).
    made = contacts.add_contact_method(live.ctx(), user_id, {"channel": "webhook", "address": address})
    assert made["address"] == address


def test_a_name_that_does_not_resolve_is_refused(live: Live) -> None:
    err = error(
        live.client.post(
            cm_path(live.admin_id), json={"channel": "webhook", "address": "https://hooks.invalid/p"}
        ),
        422,
        "validation_error",
    )
    assert err["field"] == "address" and "cannot be resolved" in err["message"]


MALFORMED = [
    "http://[",
    "http://[::1",
    "http://[zzz::1]/",
    "http://:99999",
    "http://host:99999/",
    "http://host:0/",
    "http://",
    "http:///path",
    "https://exa mple.com",
    "https://example.com/a b",
    "https://exa\tmple.com/",
    "https://exa\x00mple.com/",
    "http://" + "a" * 64 + ".example/",
    "http://" + ".".join(["abcdefghij"] * 25) + "/",
    "http://xn--/",
    "http://xn--zz-zzz.com/",
    "http://a..b/",
    "http://-a.example/",
    "http://\u2603\u200b\ufffd.example/",
    "http://user:pw@9.9.9.9/",
    "http://user@9.9.9.9/",
    "ftp://9.9.9.9/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "gopher://9.9.9.9:70/",
    "//9.9.9.9/",
    "9.9.9.9",
]


@pytest.mark.parametrize("address", MALFORMED)
def test_a_malformed_webhook_address_is_422(live: Live, address: str) -> None:
    err = error(
        live.client.post(cm_path(live.admin_id), json={"channel": "webhook", "address": address}),
        422,
        "validation_error",
        "validation_error",
    )
    # Control characters are refused by the text rule every field shares (validate.string), before the URL
    # is parsed; everything else by the webhook address rule.
    assert err["field"] == "address", err
    assert err["message"].startswith(("webhook address", "address must not contain control characters")), err
    hook = data(live.client.post(cm_path(live.admin_id), json={"channel": "webhook", "address": PUBLIC}), 201)
    err = error(
        live.client.patch(cm_path(live.admin_id, hook["id"]), json={"address": address}),
        422,
        "validation_error",
    )
    assert err["field"] == "address"
    # Malformed is malformed for the operator too.
    with pytest.raises(ValidationError):
        contacts.add_contact_method(live.ctx(), live.admin_id, {"channel": "webhook", "address": address})


ALLOWING = OperatorConfig().allowing_webhooks(["127.0.0.1", "10.1.0.0/16", "fd00::/8", "hooks.localhost"])


@pytest.mark.parametrize("operator_config", [ALLOWING], indirect=True)
def test_the_operators_allow_list_lets_some_through(live: Live) -> None:
    user, as_member = member(live)
    for address in (
        "http://127.0.0.1:8080/x",
        "http://10.1.2.3/",
        "http://[fd00::5]/",
        "http://hooks.localhost/",
    ):
        for user_id, client in ((live.admin_id, live.client), (user["id"], as_member)):
            made = data(client.post(cm_path(user_id), json={"channel": "webhook", "address": address}), 201)
            assert made["address"] == address
    for address in ("http://127.0.0.2/", "http://10.2.0.1/", "http://[fe00::1]/", "http://[::1]/"):
        error(
            live.client.post(cm_path(live.admin_id), json={"channel": "webhook", "address": address}),
            422,
            "validation_error",
        )
