"""Personal notification rules through the real engine on a virtual clock: delays, acknowledge, urgency,
escalated away, the fall-through on a failed channel; and the use cases' rules (self-or-admin, errors)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from engine.clock import VirtualClock
from engine.errors import DomainError, NotFound, Unauthorized, ValidationError
from engine.runtime import delivery, timers
from engine.service import Ctx
from engine.service import contacts as contacts_svc
from engine.service import incidents as inc_svc
from engine.service import notification_rules as rules_svc
from engine.service import policies as pol_svc
from engine.service.orgs import add_user
from engine.service.timer_kinds import HANDLERS
from storage.db import Database
from tests.conftest import T0


@pytest.fixture
def alice(ctx: Ctx) -> str:
    return add_user(ctx, email="alice@example.com", first_name="Alice")["id"]


def _log_method(ctx: Ctx, user_id: str) -> str:
    return contacts_svc.add_contact_method(ctx, user_id, {"channel": "log"})["id"]


def _incident(ctx: Ctx, user_ids: list[list[str]], severity: str = "high", timeout: int = 30) -> str:
    pid = pol_svc.create_policy(ctx, {"name": f"P{severity}{len(pol_svc.list_policies(ctx))}"})["id"]
    for n, users in enumerate(user_ids, start=1):
        pol_svc.add_layer(
            ctx,
            pid,
            {"position": n, "ackTimeoutMinutes": timeout, "target": {"type": "users", "userIds": users}},
        )
    body = {"title": "Disk full", "severity": severity, "escalationPolicyId": pid}
    return inc_svc.create_incident(ctx, body)["id"]


def _pages(db: Database, iid: str, user_id: str) -> list[tuple[str | None, int | None]]:
    """(contact method, rule step) of every page queue row to ``user_id``, in order."""
    rows = db.all(
        "SELECT contact_id, rule_step FROM outbox WHERE incident_id = ? AND user_id = ? ORDER BY seq",
        (iid, user_id),
    )
    return [(r["contact_id"], r["rule_step"]) for r in rows]


def _events(db: Database, iid: str, kind: str) -> list[dict[str, Any]]:
    rows = db.all("SELECT data FROM timeline WHERE incident_id = ? AND kind = ? ORDER BY seq", (iid, kind))
    return [json.loads(r["data"]) for r in rows]


def _drive(db: Database, clock: VirtualClock, minutes: float) -> None:
    timers.drive(db, clock, T0 + timedelta(minutes=minutes), HANDLERS)


def _rules(ctx: Ctx, user_id: str, urgency: str, *steps: tuple[str, int]) -> None:
    for method, delay in steps:
        rules_svc.add_rule(
            ctx, user_id, {"urgency": urgency, "contactMethodId": method, "delayMinutes": delay}
        )


def test_a_later_step_does_not_fire_once_acknowledged(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str
) -> None:
    email, ntfy = _log_method(ctx, alice), _log_method(ctx, alice)
    _rules(ctx, alice, "high", (email, 0), (ntfy, 2))
    iid = _incident(ctx, [[alice]])
    assert _pages(db, iid, alice) == [(email, 0)]
    _drive(db, clock, 1)
    inc_svc.acknowledge(ctx, iid)
    _drive(db, clock, 10)
    assert _pages(db, iid, alice) == [(email, 0)]
    assert [e["reason"] for e in _events(db, iid, "notification_rules_stopped")] == ["incident acknowledged"]


def test_steps_fire_at_their_delays_once(ctx: Ctx, db: Database, clock: VirtualClock, alice: str) -> None:
    a, b, c = _log_method(ctx, alice), _log_method(ctx, alice), _log_method(ctx, alice)
    _rules(ctx, alice, "high", (c, 5), (a, 0), (b, 2))
    iid = _incident(ctx, [[alice]], severity="critical")
    _drive(db, clock, 1.99)
    assert _pages(db, iid, alice) == [(a, 0)]
    _drive(db, clock, 2)
    assert _pages(db, iid, alice) == [(a, 0), (b, 1)]
    _drive(db, clock, 20)
    assert _pages(db, iid, alice) == [(a, 0), (b, 1), (c, 2)]
    steps = _events(db, iid, "notification_rule_step")
    assert [(e["step"], e["delayMinutes"]) for e in steps] == [(1, 2), (2, 5)]
    keys = [r["idem_key"] for r in db.all("SELECT idem_key FROM outbox WHERE incident_id = ?", (iid,))]
    assert keys[-1].endswith(f":{alice}:log/{c}:step2")
    assert db.scalar("SELECT count(*) FROM timers WHERE kind = 'notification_rule'") == 0


def test_low_and_high_urgency_use_their_own_rules(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str
) -> None:
    a, b = _log_method(ctx, alice), _log_method(ctx, alice)
    _rules(ctx, alice, "high", (a, 0), (b, 2))
    _rules(ctx, alice, "low", (b, 0))
    low = _incident(ctx, [[alice]], severity="medium")
    high = _incident(ctx, [[alice]], severity="high")
    _drive(db, clock, 5)
    assert _pages(db, low, alice) == [(b, 0)]
    assert _pages(db, high, alice) == [(a, 0), (b, 1)]


def test_a_person_without_rules_for_the_urgency_gets_every_method_at_once(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str
) -> None:
    a, b = _log_method(ctx, alice), _log_method(ctx, alice)
    _rules(ctx, alice, "high", (a, 0), (b, 2))
    iid = _incident(ctx, [[alice]], severity="low")
    assert _pages(db, iid, alice) == [(a, None), (b, None)]


def test_steps_stop_when_the_escalation_moves_away(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str
) -> None:
    bob = add_user(ctx, email="bob@example.com")["id"]
    a, b = _log_method(ctx, alice), _log_method(ctx, alice)
    _rules(ctx, alice, "high", (a, 0), (b, 5))
    iid = _incident(ctx, [[alice], [bob]], timeout=1)
    _drive(db, clock, 10)
    assert _pages(db, iid, alice) == [(a, 0)]
    assert [e["reason"] for e in _events(db, iid, "notification_rules_stopped")] == ["escalated away"]


class _Refuser(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(400)  # permanent: delivery gives up at once
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def refusing_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Refuser)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/page"
    server.shutdown()
    server.server_close()


def test_a_failed_channel_falls_through_to_the_next_step_at_once(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, refusing_url: str
) -> None:
    hook = contacts_svc.add_contact_method(ctx, alice, {"channel": "webhook", "address": refusing_url})["id"]
    email = _log_method(ctx, alice)
    _rules(ctx, alice, "high", (hook, 0), (email, 2))
    iid = _incident(ctx, [[alice]])
    clock.advance(timedelta(seconds=10))
    assert delivery.deliver_due(db, clock) == 1
    assert _events(db, iid, "page_delivery_failed")
    _drive(db, clock, 0.5)  # long before the 2-minute delay
    assert _pages(db, iid, alice) == [(hook, 0), (email, 1)]
    (step,) = _events(db, iid, "notification_rule_step")
    assert step["fallThrough"] is True


def test_a_deleted_method_ends_its_steps(ctx: Ctx, db: Database, clock: VirtualClock, alice: str) -> None:
    a, b = _log_method(ctx, alice), _log_method(ctx, alice)
    _rules(ctx, alice, "high", (a, 0), (b, 2))
    contacts_svc.delete_contact_method(ctx, alice, b)
    assert [(s["contactMethodId"], s["step"]) for s in rules_svc.list_rules(ctx, alice)["high"]] == [(a, 0)]


def test_rules_use_cases_check_the_body_and_the_caller(ctx: Ctx, alice: str) -> None:
    bob = add_user(ctx, email="bob@example.com")["id"]
    a = _log_method(ctx, alice)
    theirs = _log_method(ctx, bob)
    with pytest.raises(ValidationError) as err:
        rules_svc.add_rule(ctx, alice, {"urgency": "high", "contactMethodId": theirs})
    assert "contactMethodId" in str(err.value)
    with pytest.raises(ValidationError, match="urgency"):
        rules_svc.add_rule(ctx, alice, {"urgency": "urgent", "contactMethodId": a})
    with pytest.raises(ValidationError, match="delayMinutes"):
        rules_svc.add_rule(ctx, alice, {"urgency": "low", "contactMethodId": a, "delayMinutes": -1})
    member = Ctx(db=ctx.db, org_id=ctx.org_id, actor_user_id=bob, is_admin=False, clock=ctx.clock)
    with pytest.raises(Unauthorized):
        rules_svc.add_rule(member, alice, {"urgency": "high", "contactMethodId": a})
    with pytest.raises(NotFound):
        rules_svc.remove_rule(ctx, alice, "nr_missing")
    step = rules_svc.add_rule(ctx, alice, {"urgency": "high", "contactMethodId": a, "delayMinutes": 3})
    assert (step["step"], step["delayMinutes"], step["channel"]) == (0, 3, "log")
    with pytest.raises(DomainError) as moved:
        rules_svc.move_rule(ctx, alice, step["id"], {"direction": "up"})
    assert moved.value.code == "cannot_move"
    assert rules_svc.clear_rules(ctx, alice, "high") == 1
    assert rules_svc.list_rules(ctx, alice) == {"high": [], "low": []}


def test_moving_a_step_swaps_methods_and_keeps_delays(ctx: Ctx, alice: str) -> None:
    a, b = _log_method(ctx, alice), _log_method(ctx, alice)
    _rules(ctx, alice, "high", (a, 0), (b, 2))
    second = rules_svc.list_rules(ctx, alice)["high"][1]
    moved = rules_svc.move_rule(ctx, alice, second["id"], {"direction": "up"})["high"]
    assert [(s["contactMethodId"], s["delayMinutes"]) for s in moved] == [(b, 0), (a, 2)]


def test_steps_stop_when_the_person_is_removed(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str
) -> None:
    from engine.service.orgs import remove_user

    a, b = _log_method(ctx, alice), _log_method(ctx, alice)
    _rules(ctx, alice, "high", (a, 0), (b, 2))
    iid = _incident(ctx, [[alice]])
    _drive(db, clock, 1)
    remove_user(ctx, alice)
    _drive(db, clock, 5)
    assert _pages(db, iid, alice) == [(a, 0)]
    assert [e["reason"] for e in _events(db, iid, "notification_rules_stopped")] == ["person removed"]
