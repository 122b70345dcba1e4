"""Pages out through real receivers on loopback: the apprise channel (email to an aiosmtpd server, json://
to an HTTP receiver), webhooks with the acknowledge link, the per-contact-method rate limit, failures in
the timeline, sealing and masking (docs/PAGES.md)."""

from __future__ import annotations

import email
import itertools
import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from engine.clock import VirtualClock, monotonic
from engine.errors import DomainError, ValidationError
from engine.runtime import delivery
from engine.runtime.operator_config import OperatorConfig, PageSettings
from engine.service import Ctx, ack_links
from engine.service import contacts as contacts_svc
from engine.service import incidents as inc_svc
from engine.service import policies as pol_svc
from storage.db import Database, open_db
from tests.helpers import run_oncall

PUBLIC = "https://oncall.example.com"
SECRET_TOKEN = "tk_9f8e7d6c5b4a3921"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Http(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_receiver() -> Iterator[tuple[int, type[_Http]]]:
    handler = type("Receiver", (_Http,), {"received": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port, handler
    server.shutdown()
    server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Mailbox]]:
    box = _Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, box
    controller.stop()


@pytest.fixture
def config(operator_config_file: Path) -> OperatorConfig:
    """The operator's configuration with a public URL: pages carry acknowledge links."""
    return OperatorConfig(
        pages=PageSettings(public_url=PUBLIC), key_file=operator_config_file.parent / "contact-key"
    )


@pytest.fixture
def alice(ctx: Ctx) -> str:
    return str(ctx.actor_user_id)


_names = itertools.count(1)


def _policy(ctx: Ctx, user_id: str) -> str:
    pid = pol_svc.create_policy(ctx, {"name": f"P{next(_names)}"})["id"]
    target = {"type": "users", "userIds": [user_id]}
    pol_svc.add_layer(ctx, pid, {"position": 1, "ackTimeoutMinutes": 5, "target": target})
    return str(pid)


def _incident(ctx: Ctx, pid: str, title: str = "Disk full") -> dict[str, Any]:
    return inc_svc.create_incident(ctx, {"title": title, "severity": "critical", "escalationPolicyId": pid})


def _events(db: Database, iid: str) -> list[dict[str, Any]]:
    rows = db.all("SELECT kind, data FROM timeline WHERE incident_id = ? ORDER BY seq", (iid,))
    return [{"kind": r["kind"], **json.loads(r["data"])} for r in rows]


def _body(message: EmailMessage) -> str:
    part = message.get_payload(decode=True) if not message.is_multipart() else None
    if part is None:
        for sub in message.walk():
            if sub.get_content_type() == "text/plain":
                part = sub.get_payload(decode=True)
                break
    assert isinstance(part, bytes)
    return part.decode()


def _ack_token(text: str) -> str:
    start = text.index(f"{PUBLIC}/ack/") + len(f"{PUBLIC}/ack/")
    end = start
    while end < len(text) and (text[end].isalnum() or text[end] in "-_."):
        end += 1
    return text[start:end]


# -- the apprise channel: validation, sealing, masking ---------------------------------------------------


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("bogus://x", "unknown scheme bogus://"),
        ("not a url", "spaces"),
        ("ntfy.sh/topic", "must be an Apprise URL"),
        ("json://", "cannot be used by Apprise's json:// service"),
    ],
)
def test_an_address_apprise_cannot_use_is_422_on_address(
    ctx: Ctx, alice: str, address: str, says: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        contacts_svc.add_contact_method(ctx, alice, {"channel": "apprise", "address": address})
    assert (
        caught.value.status_code == 422 and caught.value.field == "address" and says in caught.value.message
    )
    assert contacts_svc.list_contact_methods(ctx, alice) == []


def test_an_api_key_may_not_point_apprise_at_loopback_but_the_operator_may(ctx: Ctx, alice: str) -> None:
    api = Ctx(ctx.db, ctx.org_id, ctx.actor_id, ctx.actor_user_id, clock=ctx.clock, via="api_key")
    for address in ("json://127.0.0.1:9/x", "mailto://localhost:25?to=a@example.com", "ntfys://10.1.2.3/t"):
        with pytest.raises(ValidationError, match="apprise target .* not point|apprise target") as caught:
            contacts_svc.add_contact_method(api, alice, {"channel": "apprise", "address": address})
        assert caught.value.field == "address"
    # A token-as-host URL of a public service (the host is not a server name) is not checked.
    assert contacts_svc.add_contact_method(api, alice, {"channel": "apprise", "address": "ntfy://sometopic"})
    assert contacts_svc.add_contact_method(
        ctx, alice, {"channel": "apprise", "address": "json://127.0.0.1:9/x"}
    )


def test_an_apprise_url_is_sealed_in_the_database_and_masked_in_every_answer(
    ctx: Ctx, db: Database, alice: str, operator_config_file: Path
) -> None:
    url = f"ntfys://bob:{SECRET_TOKEN}@ntfy.example.com/oncall-{SECRET_TOKEN}?priority=high"
    cm = contacts_svc.add_contact_method(ctx, alice, {"channel": "apprise", "address": url})
    assert cm["address"] == "ntfys://ntfy.example.com/…" and "secret" not in cm
    assert contacts_svc.get_contact_method(ctx, alice, cm["id"])["address"] == "ntfys://ntfy.example.com/…"
    db.execute("PRAGMA wal_checkpoint(FULL)")
    on_disk = b"".join(p.read_bytes() for p in Path(db.path).parent.glob(Path(db.path).name + "*"))
    assert SECRET_TOKEN.encode() not in on_disk
    key_file = operator_config_file.parent / "contact-key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    listed = run_oncall(Path(db.path), "users", "contacts", "list", "admin@example.com").stdout
    as_json = run_oncall(Path(db.path), "users", "contacts", "list", "admin@example.com", "--json").stdout
    assert "ntfys://ntfy.example.com/…" in listed and SECRET_TOKEN not in listed + as_json
    assert json.loads(as_json)[0]["address"] == "ntfys://ntfy.example.com/…"
    slack = contacts_svc.add_contact_method(
        ctx,
        alice,
        {"channel": "apprise", "address": "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#ops"},
    )
    assert slack["address"] == "slack://…"


# -- real receivers ---------------------------------------------------------------------------------------


def test_email_through_apprise_reaches_a_real_smtp_server_with_the_ack_link(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, config: OperatorConfig, smtp_server: Any
) -> None:
    port, box = smtp_server
    url = f"mailto://127.0.0.1:{port}?to=alice@example.com&from=oncall@example.com"
    cm = contacts_svc.add_contact_method(ctx, alice, {"channel": "apprise", "address": url})
    assert cm["address"] == f"mailto://127.0.0.1:{port}/…"
    inc = _incident(ctx, _policy(ctx, alice))
    assert delivery.deliver_due(db, clock, config=config) == 1
    ((sender, recipients),) = box.envelopes
    assert sender == "oncall@example.com" and recipients == ["alice@example.com"]
    (message,) = box.messages
    assert message["Subject"] == "#1 [critical] Disk full"
    text = _body(message)
    assert "Incident #1: Disk full" in text and "Paged by layer 1 of 1" in text
    view = ack_links.inspect(db, clock, _ack_token(text))
    assert view["state"] == "ready" and view["incident"]["id"] == inc["id"] and view["person"]["id"] == alice
    (attempt,) = [e for e in _events(db, inc["id"]) if e["kind"] == "page_delivery_attempt"]
    assert attempt["ok"] is True and attempt["address"] == f"mailto://127.0.0.1:{port}/…"


def test_json_and_webhook_pages_carry_the_number_and_the_ack_link(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, config: OperatorConfig, http_receiver: Any
) -> None:
    port, handler = http_receiver
    contacts_svc.add_contact_method(
        ctx, alice, {"channel": "apprise", "address": f"json://127.0.0.1:{port}/apprise"}
    )
    hook = contacts_svc.add_contact_method(
        ctx, alice, {"channel": "webhook", "address": f"http://127.0.0.1:{port}/hook"}
    )
    inc = _incident(ctx, _policy(ctx, alice))
    assert delivery.deliver_due(db, clock, config=config) == 2
    by_path = {path: json.loads(body) for path, _, body in handler.received}
    apprise_page, webhook_page = by_path["/apprise"], by_path["/hook"]
    assert apprise_page["title"] == "#1 [critical] Disk full"
    assert "Incident #1: Disk full" in apprise_page["message"] and f"{PUBLIC}/ack/" in apprise_page["message"]
    assert webhook_page["incident"]["number"] == 1 and webhook_page["incident"]["id"] == inc["id"]
    assert webhook_page["ackUrl"].startswith(f"{PUBLIC}/ack/")
    for token in (_ack_token(webhook_page["ackUrl"]), _ack_token(apprise_page["message"])):
        assert ack_links.inspect(db, clock, token)["incident"]["number"] == 1
    assert hook["secret"]  # the webhook is still signed as before
    # Without a public URL, no link (and nothing else changes).
    handler.received.clear()
    inc2 = _incident(ctx, _policy(ctx, alice), "Second")
    assert delivery.deliver_due(db, clock, config=OperatorConfig(key_file=config.key_file)) == 2
    pages = {path: json.loads(body) for path, _, body in handler.received}
    assert "ackUrl" not in pages["/hook"] and "/ack/" not in pages["/apprise"]["message"]
    assert pages["/hook"]["incident"]["id"] == inc2["id"]


def test_a_failed_channel_is_in_the_timeline_with_its_masked_address(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, config: OperatorConfig
) -> None:
    closed = _free_port()
    url = f"json://{SECRET_TOKEN}:pw@127.0.0.1:{closed}/x"
    contacts_svc.add_contact_method(ctx, alice, {"channel": "apprise", "address": url})
    inc = _incident(ctx, _policy(ctx, alice))
    for _ in range(delivery.MAX_ATTEMPTS):
        assert delivery.deliver_due(db, clock, config=config) == 1
        clock.advance(timedelta(minutes=1))
    events = _events(db, inc["id"])
    attempts = [e for e in events if e["kind"] == "page_delivery_attempt"]
    assert [a["ok"] for a in attempts] == [False] * delivery.MAX_ATTEMPTS
    assert all(a["address"] == f"json://127.0.0.1:{closed}/…" and a["channel"] == "apprise" for a in attempts)
    assert events[-1]["kind"] == "page_delivery_failed"
    assert SECRET_TOKEN not in json.dumps(events)


def test_the_rate_limit_folds_a_storm_into_one_summary_page(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, operator_config_file: Path, http_receiver: Any
) -> None:
    port, handler = http_receiver
    config = OperatorConfig(
        pages=PageSettings(rate_limit_per_minute=2), key_file=operator_config_file.parent / "contact-key"
    )
    contacts_svc.add_contact_method(
        ctx, alice, {"channel": "apprise", "address": f"json://127.0.0.1:{port}/p"}
    )
    pid = _policy(ctx, alice)
    incidents = [_incident(ctx, pid, f"Storm {n}") for n in range(1, 6)]
    assert delivery.deliver_due(db, clock, config=config) == 2  # 1 page on its own, 1 summary carrying 3 more
    pages = sorted((json.loads(body) for _, _, body in handler.received), key=lambda p: p["title"])
    assert [p["title"] for p in pages] == ["#1 [critical] Storm 1", "#2 [critical] Storm 2 (+3 more pages)"]
    summary = pages[1]["message"]
    assert "3 more pages (rate limit):" in summary and all(f"Storm {n}" in summary for n in (3, 4, 5))
    for inc in incidents[2:]:
        events = _events(db, inc["id"])
        (folded,) = [e for e in events if e["kind"] == "page_delivery_folded"]
        assert folded["intoIncidentId"] == incidents[1]["id"]
        (carried,) = [e for e in events if e["kind"] == "page_delivery_attempt"]
        assert carried["ok"] is True and carried["inSummary"] == folded["intoIdempotencyKey"]
    # The minute is used up: the next page waits for the window, then goes.
    sixth = _incident(ctx, pid, "Storm 6")
    assert delivery.deliver_due(db, clock, config=config) == 0
    clock.advance(timedelta(seconds=61))
    assert delivery.deliver_due(db, clock, config=config) == 1
    assert json.loads(handler.received[-1][2])["title"] == "#6 [critical] Storm 6"
    assert [e["ok"] for e in _events(db, sixth["id"]) if e["kind"] == "page_delivery_attempt"] == [True]


# -- acknowledge links at the service ---------------------------------------------------------------------


def test_an_ack_link_acknowledges_once_as_its_person_and_refuses_forgeries_and_expiry(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, config: OperatorConfig, http_receiver: Any
) -> None:
    port, handler = http_receiver
    contacts_svc.add_contact_method(
        ctx, alice, {"channel": "webhook", "address": f"http://127.0.0.1:{port}/h"}
    )
    inc = _incident(ctx, _policy(ctx, alice))
    delivery.deliver_due(db, clock, config=config)
    token = _ack_token(json.loads(handler.received[0][2])["ackUrl"])
    payload, signature = token.split(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    for bad in (forged, "nonsense", token + "x"):
        with pytest.raises(ack_links.AckLinkRefused) as refused:
            ack_links.inspect(db, clock, bad)
        assert refused.value.status_code == 403
    done = ack_links.acknowledge(db, clock, config, token)
    assert done["state"] == "acknowledged" and done["incident"]["status"] == "investigating"
    assert inc_svc.get_incident(ctx, inc["id"])["acknowledgedBy"] == alice
    (acked,) = [e for e in _events(db, inc["id"]) if e["kind"] == "incident_acknowledged"]
    assert acked["userId"] == alice and acked["via"] == "acknowledge link"
    with pytest.raises(DomainError) as replay:
        ack_links.acknowledge(db, clock, config, token)
    assert replay.value.status_code == 409 and replay.value.code == "already_acknowledged"
    assert ack_links.inspect(db, clock, token)["state"] == "already_acknowledged"
    clock.advance(timedelta(hours=config.pages.ack_link_hours, seconds=1))
    with pytest.raises(ack_links.AckLinkRefused) as expired:
        ack_links.inspect(db, clock, token)
    assert expired.value.status_code == 410 and "expired" in expired.value.message


# -- oncall users contacts test ---------------------------------------------------------------------------


def test_contacts_test_sends_a_test_page_and_exits_1_when_one_fails(
    ctx: Ctx, db: Database, alice: str, http_receiver: Any
) -> None:
    port, handler = http_receiver
    good = contacts_svc.add_contact_method(
        ctx, alice, {"channel": "apprise", "address": f"json://127.0.0.1:{port}/t"}
    )
    path = Path(db.path)
    done = run_oncall(path, "users", "contacts", "test", "admin@example.com", good["id"], "--json")
    (result,) = json.loads(done.stdout)
    assert result["ok"] is True and result["address"] == f"json://127.0.0.1:{port}/…"
    (page,) = [json.loads(body) for _, _, body in handler.received]
    assert page["title"] == "Test page from oncall" and "no incident" in page["message"]
    bad = contacts_svc.add_contact_method(
        ctx, alice, {"channel": "apprise", "address": f"json://127.0.0.1:{_free_port()}/t"}
    )
    failed = run_oncall(path, "users", "contacts", "test", "admin@example.com", ok=False)
    assert failed.returncode == 1
    lines = failed.stdout.splitlines()
    assert any(good["id"] in line and "✓" in line for line in lines)
    assert any(bad["id"] in line and "✗" in line for line in lines)
    assert db.scalar("SELECT count(*) FROM outbox") == 0  # a test page is not an incident's page


# -- end to end: a real `oncall serve`, a page on a loopback receiver, the link clicked with httpx --------


def test_the_ack_link_works_end_to_end_against_a_live_oncall_serve(
    tmp_path: Path, http_receiver: Any
) -> None:
    import httpx

    from tests.api.conftest import oncall, start_serve, stop_serve

    port, handler = http_receiver
    serve_port = _free_port()
    public = f"http://127.0.0.1:{serve_port}"
    db = tmp_path / "served.db"
    server = start_serve(db, "--port", str(serve_port), "--public-url", public)
    try:
        assert server.proc.stdout is not None
        assert server.proc.stdout.readline().strip() == f"acknowledge links: {public}/ack/…"
        added = oncall("--db", str(db), "users", "contacts", "add", "admin@example.com", "--channel", "apprise",
                       "--address", f"json://127.0.0.1:{port}/page", "--json")  # fmt: skip
        assert added.returncode == 0, added.stderr
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}, timeout=10)
        policy = api.post("/v1/escalation/policies", json={"name": "P"}).json()["data"]["id"]
        layer = {
            "position": 1,
            "ackTimeoutMinutes": 5,
            "target": {"type": "users", "userIds": [server.admin_id]},
        }
        assert api.post(f"/v1/escalation/policies/{policy}/layers", json=layer).status_code == 201
        body = {"title": "Checkout down", "severity": "critical", "escalationPolicyId": policy}
        incident = api.post("/v1/incidents", json=body).json()["data"]
        deadline = monotonic() + 30
        while not handler.received and monotonic() < deadline:
            threading.Event().wait(0.05)
        (page,) = [json.loads(b) for _, _, b in handler.received]
        assert page["title"] == "#1 [critical] Checkout down"
        link = page["message"].split("Acknowledge: ", 1)[1].split()[0]
        assert link.startswith(f"{public}/ack/")
        browser = httpx.Client(timeout=10)
        shown = browser.get(link)
        assert shown.status_code == 200 and "Checkout down" in shown.text and "<form" in shown.text
        assert (
            shown.headers["referrer-policy"] == "no-referrer" and shown.headers["cache-control"] == "no-store"
        )
        assert (
            api.get(f"/v1/incidents/{incident['id']}").json()["data"]["acknowledgedAt"] is None
        )  # GET is safe
        clicked = browser.post(link)
        assert clicked.status_code == 200 and "acknowledged by Ada" in clicked.text
        after = api.get(f"/v1/incidents/{incident['id']}").json()["data"]
        assert after["acknowledgedBy"] == server.admin_id
        replay = browser.post(link)
        assert replay.status_code == 409 and "already used" in replay.text
        forged = browser.post(link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB"))
        assert forged.status_code == 403 and "not genuine" in forged.text
        reader = open_db(db)
        try:
            (ack,) = [e for e in _events(reader, incident["id"]) if e["kind"] == "incident_acknowledged"]
        finally:
            reader.close()
        assert ack["userId"] == server.admin_id and ack["via"] == "acknowledge link"
    finally:
        stop_serve(server)


# -- the operator's settings ------------------------------------------------------------------------------


def test_the_config_file_sets_the_public_url_rate_limit_and_key_file(tmp_path: Path) -> None:
    from engine.runtime.operator_config import ConfigError, load_operator_config

    path = tmp_path / "config.toml"
    path.write_text(
        '[serve]\npublic_url = "https://oncall.example.com/"\n'
        "[pages]\nrate_limit_per_minute = 3\nack_link_hours = 2\n"
        '[secrets]\nkey_file = "/srv/oncall/key"\n'
    )
    config = load_operator_config(path)
    assert config.pages == PageSettings("https://oncall.example.com", 3, 2.0)
    assert config.key_file == Path("/srv/oncall/key")
    assert load_operator_config(tmp_path / "absent.toml").key_file == tmp_path / "contact-key"
    for bad, says in (
        ('[serve]\npublic_url = "ftp://x"\n', "serve.public_url"),
        ('[serve]\npublic_url = "https://x/?a=1"\n', "no query"),
        ("[pages]\nrate_limit_per_minute = -1\n", "pages.rate_limit_per_minute"),
        ("[pages]\nack_link_hours = 0\n", "pages.ack_link_hours"),
        ("[pages]\nburst = 3\n", "unknown key pages.burst"),
    ):
        path.write_text(bad)
        with pytest.raises(ConfigError, match=says):
            load_operator_config(path)


def test_serve_refuses_a_public_url_that_is_not_http_in_one_line(tmp_path: Path) -> None:
    done = run_oncall(tmp_path / "x.db", "serve", "--public-url", "javascript:alert(1)", ok=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: --public-url: 'javascript:alert(1)' must be an http(s) URL with a host and no query"
    ]


def test_a_summary_whose_own_incident_is_acknowledged_lets_its_folded_pages_go_on_their_own(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, operator_config_file: Path
) -> None:
    """The carrier of a summary fails once, its incident is acknowledged before the retry: the carrier is
    cancelled and the pages it carried are not lost but wait again and go on their own."""
    closed = _free_port()
    config = OperatorConfig(
        pages=PageSettings(rate_limit_per_minute=1), key_file=operator_config_file.parent / "contact-key"
    )
    cm = contacts_svc.add_contact_method(
        ctx, alice, {"channel": "apprise", "address": f"json://127.0.0.1:{closed}/p"}
    )
    pid = _policy(ctx, alice)
    first, second = _incident(ctx, pid, "One"), _incident(ctx, pid, "Two")
    assert delivery.deliver_due(db, clock, config=config) == 1  # "One" carries "Two"; the send fails
    inc_svc.acknowledge(ctx, first["id"])
    clock.advance(timedelta(minutes=2))
    contacts_svc.delete_contact_method(ctx, alice, cm["id"])  # so the page of "Two" fails fast, on its own
    assert delivery.deliver_due(db, clock, config=config) == 0  # the carrier is cancelled: "Two" unfolds
    assert delivery.deliver_due(db, clock, config=config) == 1
    kinds = [e["kind"] for e in _events(db, second["id"]) if e["kind"].startswith("page_delivery")]
    assert kinds == ["page_delivery_folded", "page_delivery_attempt", "page_delivery_failed"]
    assert [e["kind"] for e in _events(db, first["id"])][-1] == "page_delivery_cancelled"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ntfy://my-secret-topic", "ntfy://…"),
        ("ntfys://user:pw@ntfy.example.com/topic", "ntfys://ntfy.example.com/…"),
        ("mailtos://me:hunter2@smtp.example.com:465?to=a@example.com", "mailtos://smtp.example.com:465/…"),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#ops", "slack://…"),
        ("pover://user@token", "pover://…"),
        ("json://[::1]:8080/hook", "json://[::1]:8080/…"),
        ("json://127.0.0.1:9", "json://127.0.0.1:9"),
    ],
)
def test_a_masked_address_shows_scheme_and_server_only(url: str, shown: str) -> None:
    from engine.runtime.apprise_channel import mask

    assert mask(url) == shown


def test_ntfy_gets_the_ack_link_as_action_buttons(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, config: OperatorConfig, http_receiver: Any
) -> None:
    """A self-hosted ntfy server (our loopback receiver) gets the link as the click target and as two
    action buttons: view (the confirmation page) and http POST (acknowledge at once)."""
    port, handler = http_receiver
    contacts_svc.add_contact_method(
        ctx, alice, {"channel": "apprise", "address": f"ntfy://127.0.0.1:{port}/alerts"}
    )
    _incident(ctx, _policy(ctx, alice))
    assert delivery.deliver_due(db, clock, config=config) == 1
    ((path, headers, body),) = handler.received
    sent = json.loads(body) if body.startswith(b"{") else {}
    click = headers.get("X-Click") or sent.get("click", "")
    actions = headers.get("X-Actions") or json.dumps(sent.get("actions", ""))
    assert click.startswith(f"{PUBLIC}/ack/")
    token = _ack_token(click)
    assert f"view, Open, {PUBLIC}/ack/{token}" in actions
    assert f"http, Acknowledge, {PUBLIC}/ack/{token}, method=POST" in actions
    assert "#1 [critical] Disk full" in (headers.get("X-Title", "") + sent.get("title", ""))
