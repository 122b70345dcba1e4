"""The apprise channel and acknowledge links over real HTTP: masked answers, 422 on ``address``, the
allow-list for API keys, and the ``/ack/{token}`` page refusing what is not a genuine link."""

from __future__ import annotations

import httpx

from tests.api.conftest import Live
from tests.api.test_http import data, error

SECRET = "s3cr3t-topic-4f9a"


def test_an_apprise_method_is_answered_masked_and_never_in_clear(live: Live) -> None:
    path = f"/v1/users/{live.admin_id}/contact-methods"
    body = {"channel": "apprise", "address": f"ntfys://me:{SECRET}@9.9.9.9/{SECRET}"}
    created = data(live.client.post(path, json=body), 201)
    assert created["address"] == "ntfys://9.9.9.9/…" and created["hasSecret"] is False
    listed = live.client.get(path)
    assert SECRET not in listed.text and data(listed)["contactMethods"][0]["address"] == created["address"]
    changed = live.client.patch(f"{path}/{created['id']}", json={"address": f"pover://{SECRET}@{SECRET}2"})
    assert data(changed)["address"] == "pover://…" and SECRET not in changed.text


def test_bad_or_inward_apprise_addresses_are_422_on_address(live: Live) -> None:
    path = f"/v1/users/{live.admin_id}/contact-methods"
    for address, says in (
        ("nosuch://x", "unknown scheme nosuch://"),
        ("json://", "cannot be used by Apprise's json:// service"),
        ("json://127.0.0.1:9/x", "apprise target 127.0.0.1"),
        ("mailtos://u:p@10.0.0.5?to=a@example.com&from=o@example.com", "apprise target 10.0.0.5"),
    ):
        err = error(
            live.client.post(path, json={"channel": "apprise", "address": address}), 422, "validation_error"
        )
        assert err["field"] == "address" and says in err["message"], err
    assert data(live.client.get(path))["contactMethods"] == []


def test_the_ack_page_refuses_what_is_not_a_genuine_link(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=10) as browser:  # no API key: the token is the right
        for token in ("nonsense", "eyJpIjoiaW5jIn0.AAAAAAAAAAAAAAAAAAAAAA"):
            for method in ("GET", "POST"):
                answer = browser.request(method, f"/ack/{token}")
                assert answer.status_code == 403, answer.text
                assert answer.headers["content-type"].startswith("text/html")
                assert answer.headers["referrer-policy"] == "no-referrer"
                assert "Link refused" in answer.text
        assert browser.put("/ack/nonsense").status_code == 405
