"""Shift reminders delivered through people's contact methods (the notices queue, docs/PAGES.md "Shift
reminders"): real loopback receivers (a signed webhook and Apprise's ``json://``), the real engine's timers
and delivery pass on a virtual clock; retries, the rate limit and the crash rule as for pages."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from engine.clock import VirtualClock
from engine.runtime import delivery, timers
from engine.runtime.operator_config import OperatorConfig, PageSettings
from engine.service import Ctx, schedules
from engine.service import contacts as contacts_svc
from engine.service import incidents as inc_svc
from engine.service import notification_rules as rules_svc
from engine.service import policies as pol_svc
from engine.service.orgs import add_user
from engine.service.timer_kinds import HANDLERS
from storage.db import Database
from tests.test_channels import _free_port

START = datetime(2026, 10, 23, 12, 0, tzinfo=UTC)
REMIND_AT = datetime(2026, 10, 24, 6, 0, tzinfo=UTC)  # 07:00 BST: two hours before Alice's 09:00 shift
TEXT = "Your on-call shift on Primary starts in 2 h (09:00 Europe/London)"


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], bytes]] = []
    fail_first: int = 0  # answer 503 to this many requests first

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        cls = type(self)
        cls.received.append((self.path, dict(self.headers), body))
        failing = cls.fail_first > 0
        cls.fail_first -= 1 if failing else 0
        self.send_response(503 if failing else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[int, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "fail_first": 0})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port, handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def config(operator_config_file: Path) -> OperatorConfig:
    return OperatorConfig(key_file=operator_config_file.parent / "contact-key")


@pytest.fixture
def alice(ctx: Ctx) -> str:
    """Alice and Bob take turns daily at 09:00 London time from 20 October (Alice first); Alice wants to
    be told two hours before her shifts start."""
    alice = add_user(ctx, email="alice@example.com")["id"]
    bob = add_user(ctx, email="bob@example.com")["id"]
    sched = schedules.create_schedule(ctx, {"name": "Primary", "timezone": "Europe/London"})
    schedules.add_rotation_layer(
        ctx,
        sched["id"],
        {
            "name": "Daily",
            "rotationType": "daily",
            "rotationLengthDays": 1,
            "handoffTime": "09:00",
            "effectiveFrom": "2026-10-20T08:00:00.000Z",
            "effectiveUntil": None,
            "participantIds": [alice, bob],
        },
    )
    rules_svc.set_reminders(ctx, alice, {"beforeMinutes": 120})
    return str(alice)


def _drive(db: Database, clock: VirtualClock, until: datetime) -> None:
    timers.drive(db, clock, until, HANDLERS)


def _notices(db: Database, user_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in db.all("SELECT * FROM notices WHERE user_id = ? ORDER BY seq", (user_id,))]


def _events(db: Database, seq: int) -> list[dict[str, Any]]:
    rows = db.all("SELECT kind, data FROM notice_events WHERE notice_seq = ? ORDER BY seq", (seq,))
    return [{"kind": r["kind"], **json.loads(r["data"])} for r in rows]


def test_a_reminder_reaches_a_webhook_and_json_at_its_instant(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, config: OperatorConfig, receiver: Any
) -> None:
    port, handler = receiver
    hook = contacts_svc.add_contact_method(
        ctx, alice, {"channel": "webhook", "address": f"http://127.0.0.1:{port}/hook"}
    )
    contacts_svc.add_contact_method(
        ctx, alice, {"channel": "apprise", "address": f"json://127.0.0.1:{port}/j"}
    )
    _drive(db, clock, REMIND_AT - timedelta(seconds=1))
    assert delivery.deliver_due(db, clock, config=config) == 0 and handler.received == []
    _drive(db, clock, REMIND_AT)
    assert delivery.deliver_due(db, clock, config=config) == 2
    got = {path: (headers, body) for path, headers, body in handler.received}
    headers, raw = got["/hook"]
    expected_sig = "sha256=" + hmac.new(hook["secret"].encode(), raw, hashlib.sha256).hexdigest()
    assert headers["X-Oncall-Signature"] == expected_sig
    page = json.loads(raw)
    key = page.pop("idempotencyKey")
    assert headers["X-Oncall-Idempotency-Key"] == key
    assert (
        key
        == f"reminder:{alice}:{page['schedule']['id']}:before:2026-10-24T08:00:00.000Z:webhook/{hook['id']}"
    )
    assert page == {
        "type": "shift_reminder",
        "kind": "before",
        "schedule": {"id": page["schedule"]["id"], "name": "Primary", "timezone": "Europe/London"},
        "shiftStart": "2026-10-24T08:00:00.000Z",
        "shiftEnd": "2026-10-25T09:00:00.000Z",
        "remindAt": "2026-10-24T06:00:00.000Z",
        "title": "Shift reminder: Primary",
        "text": TEXT,
        "userId": alice,
        "channel": "webhook",
    }
    message = json.loads(got["/j"][1])
    assert message["title"] == "Shift reminder: Primary" and message["message"] == TEXT
    rows = _notices(db, alice)
    assert [(r["channel"], r["status"], r["attempts"], r["created_at"], r["sent_at"]) for r in rows] == [
        ("webhook", "sent", 1, "2026-10-24T06:00:00.000Z", "2026-10-24T06:00:00.000Z"),
        ("apprise", "sent", 1, "2026-10-24T06:00:00.000Z", "2026-10-24T06:00:00.000Z"),
    ]
    (attempt,) = _events(db, rows[1]["seq"])
    assert attempt["kind"] == "notice_delivery_attempt" and attempt["ok"] is True
    assert attempt["address"] == f"json://127.0.0.1:{port}/…"
    # Sent once: the next shift's reminder is the next message, two days later.
    handler.received.clear()
    _drive(db, clock, REMIND_AT + timedelta(days=1))
    assert delivery.deliver_due(db, clock, config=config) == 0 and handler.received == []
    _drive(db, clock, REMIND_AT + timedelta(days=2, hours=1))  # 07:00 GMT on the 26th
    assert delivery.deliver_due(db, clock, config=config) == 2
    assert len(handler.received) == 2 and len(_notices(db, alice)) == 4


def test_a_person_without_contact_methods_is_reminded_in_the_log(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, config: OperatorConfig, caplog: Any
) -> None:
    with caplog.at_level("INFO", logger="oncall.engine"):
        _drive(db, clock, REMIND_AT)
    ((row),) = _notices(db, alice)
    assert (row["channel"], row["status"], row["contact_id"]) == ("log", "sent", None)
    assert TEXT in caplog.text
    assert delivery.deliver_due(db, clock, config=config) == 0


def test_a_failed_reminder_is_retried_and_then_recorded(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, config: OperatorConfig
) -> None:
    closed = _free_port()
    contacts_svc.add_contact_method(
        ctx, alice, {"channel": "apprise", "address": f"json://tk_secret:pw@127.0.0.1:{closed}/x"}
    )
    _drive(db, clock, REMIND_AT)
    for _ in range(delivery.MAX_ATTEMPTS):
        assert delivery.deliver_due(db, clock, config=config) == 1
        assert delivery.deliver_due(db, clock, config=config) == 0  # the back-off: not again at once
        clock.advance(timedelta(minutes=1))
    assert delivery.deliver_due(db, clock, config=config) == 0  # given up
    ((row),) = _notices(db, alice)
    assert row["status"] == "failed" and row["attempts"] == delivery.MAX_ATTEMPTS and row["last_error"]
    events = _events(db, row["seq"])
    assert [e["kind"] for e in events] == ["notice_delivery_attempt"] * delivery.MAX_ATTEMPTS + [
        "notice_delivery_failed"
    ]
    assert [e["ok"] for e in events[:-1]] == [False] * delivery.MAX_ATTEMPTS
    assert all(e["retryAt"] for e in events[:-2]) and events[-2]["retryAt"] is None
    assert "tk_secret" not in json.dumps(events) and all(e["userId"] == alice for e in events)


def test_a_reminder_answered_2xx_after_a_retry_is_never_resent(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, config: OperatorConfig, receiver: Any
) -> None:
    port, handler = receiver
    handler.fail_first = 1
    contacts_svc.add_contact_method(
        ctx, alice, {"channel": "webhook", "address": f"http://127.0.0.1:{port}/h"}
    )
    _drive(db, clock, REMIND_AT)
    assert delivery.deliver_due(db, clock, config=config) == 1
    clock.advance(timedelta(seconds=delivery.BACKOFF_BASE_S))
    assert delivery.deliver_due(db, clock, config=config) == 1
    clock.advance(timedelta(hours=1))
    assert delivery.deliver_due(db, clock, config=config) == 0
    keys = [headers["X-Oncall-Idempotency-Key"] for _, headers, _ in handler.received]
    assert len(keys) == 2 and keys[0] == keys[1]  # the same reminder, tried twice, taken once
    ((row),) = _notices(db, alice)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert [e["ok"] for e in _events(db, row["seq"])] == [False, True]


def test_a_reminder_waits_for_room_under_the_rate_limit(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, operator_config_file: Path, receiver: Any
) -> None:
    port, handler = receiver
    config = OperatorConfig(
        pages=PageSettings(rate_limit_per_minute=1), key_file=operator_config_file.parent / "contact-key"
    )
    contacts_svc.add_contact_method(
        ctx, alice, {"channel": "webhook", "address": f"http://127.0.0.1:{port}/h"}
    )
    pid = pol_svc.create_policy(ctx, {"name": "P"})["id"]
    target = {"type": "users", "userIds": [alice]}
    pol_svc.add_layer(ctx, pid, {"position": 1, "ackTimeoutMinutes": 600, "target": target})
    _drive(db, clock, REMIND_AT)
    inc_svc.create_incident(ctx, {"title": "Disk full", "severity": "low", "escalationPolicyId": pid})
    assert delivery.deliver_due(db, clock, config=config) == 1  # the page takes the minute's one message
    assert [json.loads(b)["type"] for _, _, b in handler.received] == ["page"]
    assert delivery.deliver_due(db, clock, config=config) == 0
    clock.advance(timedelta(seconds=61))
    assert delivery.deliver_due(db, clock, config=config) == 1
    assert [json.loads(b)["type"] for _, _, b in handler.received] == ["page", "shift_reminder"]


def test_a_reminder_cut_off_by_a_crash_is_unknown_and_never_resent(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, config: OperatorConfig, receiver: Any
) -> None:
    port, handler = receiver
    contacts_svc.add_contact_method(
        ctx, alice, {"channel": "webhook", "address": f"http://127.0.0.1:{port}/h"}
    )
    _drive(db, clock, REMIND_AT)
    assert len(delivery.claim(db, clock)) == 1  # ... and the engine dies here, mid-send
    assert delivery.mark_orphans_unknown(db, clock) == 1  # the engine that takes over
    clock.advance(timedelta(hours=1))
    assert delivery.deliver_due(db, clock, config=config) == 0 and handler.received == []
    ((row),) = _notices(db, alice)
    assert row["status"] == "unknown"
    (event,) = _events(db, row["seq"])
    assert event["kind"] == "notice_delivery_unknown" and "not retried" in event["note"]
    # The timer firing again (a replayed decision) queues nothing new.
    from engine.runtime import shift_reminders

    with db.write():
        reminder = shift_reminders.next_reminder(db, ctx.org_id, alice, REMIND_AT - timedelta(seconds=1))
        assert reminder is not None and reminder.at == REMIND_AT
        assert shift_reminders.send(db, clock.now(), ctx.org_id, alice, reminder) == 0
