"""Delivery of the outbox: webhook (signed, bounded retries, never after a 2xx), command, orphans; pages
the API's group-commit writer claims for the runner's delivery (``EngineRunner.claim_pages``,
``share_writer``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.clock import VirtualClock, monotonic
from engine.runtime import delivery
from engine.runtime.operator_config import CommandSettings, OperatorConfig
from engine.runtime.runner import HANDED_MAX, EngineRunner
from engine.service import Ctx
from engine.service import contacts as contacts_svc
from engine.service import incidents as inc_svc
from engine.service import policies as pol_svc
from engine.service.database import open_db
from engine.service.group_commit import GroupCommit
from engine.service.orgs import add_user
from storage.db import Database
from tests.test_engine_process import wait_for


@pytest.fixture
def alice(ctx: Ctx) -> str:
    return add_user(ctx, email="alice@example.com", first_name="Alice")["id"]


def _incident(ctx: Ctx, user_id: str) -> str:
    pid = pol_svc.create_policy(ctx, {"name": "P"})["id"]
    pol_svc.add_layer(
        ctx, pid, {"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "users", "userIds": [user_id]}}
    )
    body = {"title": "Disk full", "severity": "high", "escalationPolicyId": pid, "ownerId": user_id}
    return inc_svc.create_incident(ctx, body)["id"]


def _kinds(db: Database, iid: str, prefix: str = "page_delivery") -> list[dict[str, Any]]:
    rows = db.all("SELECT kind, data FROM timeline WHERE incident_id = ? ORDER BY seq", (iid,))
    return [{"kind": r["kind"], **json.loads(r["data"])} for r in rows if r["kind"].startswith(prefix)]


def _outbox(db: Database, iid: str) -> dict[str, Any]:
    row = db.one("SELECT * FROM outbox WHERE incident_id = ? AND channel != 'log'", (iid,))
    assert row is not None
    return dict(row)


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    codes: list[int] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        code = type(self).codes.pop(0) if type(self).codes else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "codes": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/page", handler
    server.shutdown()
    server.server_close()


def test_webhook_signed_page_delivered_once(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    cm = contacts_svc.add_contact_method(ctx, alice, {"channel": "webhook", "address": url})
    iid = _incident(ctx, alice)
    assert delivery.deliver_due(db, clock) == 1
    ((headers, body),) = handler.received
    expected = "sha256=" + hmac.new(cm["secret"].encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Oncall-Signature"] == expected
    page = json.loads(body)
    assert page["incident"]["id"] == iid and page["layer"] == 1 and page["userId"] == alice
    assert headers["X-Oncall-Idempotency-Key"] == page["idempotencyKey"]
    assert _outbox(db, iid)["status"] == "sent"
    clock.advance(timedelta(hours=1))
    assert delivery.deliver_due(db, clock) == 0
    assert len(handler.received) == 1
    assert [(e["kind"], e["ok"], e["attempt"]) for e in _kinds(db, iid)] == [
        ("page_delivery_attempt", True, 1)
    ]


def test_webhook_retries_with_backoff_then_gives_up(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    handler.codes.extend([500, 503, 502, 500, 200])
    contacts_svc.add_contact_method(ctx, alice, {"channel": "webhook", "address": url})
    iid = _incident(ctx, alice)
    attempts = 0
    for _ in range(20):
        attempts += delivery.deliver_due(db, clock)
        clock.advance(timedelta(seconds=1))
    assert attempts == delivery.MAX_ATTEMPTS == len(handler.received)
    events = _kinds(db, iid)
    assert [e["kind"] for e in events] == ["page_delivery_attempt"] * 4 + ["page_delivery_failed"]
    assert all(e.get("ok") is False for e in events[:4])
    row = _outbox(db, iid)
    assert row["status"] == "failed" and row["last_error"] == "HTTP 500"


def test_webhook_retry_then_success_is_not_resent(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    handler.codes.extend([503, 204])
    contacts_svc.add_contact_method(ctx, alice, {"channel": "webhook", "address": url})
    iid = _incident(ctx, alice)
    delivery.deliver_due(db, clock)
    assert delivery.deliver_due(db, clock) == 0  # backing off
    clock.advance(timedelta(seconds=2))
    assert delivery.deliver_due(db, clock) == 1
    clock.advance(timedelta(hours=1))
    assert delivery.deliver_due(db, clock) == 0
    assert len(handler.received) == 2
    assert [e["ok"] for e in _kinds(db, iid)] == [False, True]


def test_webhook_permanent_4xx_and_transport_errors(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str
) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if "timeout" in str(request.url):
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(404)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    contacts_svc.add_contact_method(ctx, alice, {"channel": "webhook", "address": "http://x.test/gone"})
    contacts_svc.add_contact_method(ctx, alice, {"channel": "webhook", "address": "http://x.test/timeout"})
    iid = _incident(ctx, alice)
    for _ in range(30):
        delivery.deliver_due(db, clock, client=client)
        clock.advance(timedelta(seconds=5))
    assert calls.count("http://x.test/gone") == 1  # 404 is permanent
    assert calls.count("http://x.test/timeout") == delivery.MAX_ATTEMPTS
    failed = [e for e in _kinds(db, iid) if e["kind"] == "page_delivery_failed"]
    assert sorted(e["error"] for e in failed) == ["HTTP 404", "timed out after 5 s"]


def test_command_channel_gets_page_on_stdin(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, tmp_path: Path
) -> None:
    out = tmp_path / "page.json"
    script = tmp_path / "pager.py"
    script.write_text(
        "import os, sys\n"
        f"open({str(out)!r}, 'w').write(os.environ['ONCALL_IDEMPOTENCY_KEY'] + '\\n' + sys.stdin.read())\n"
    )
    contacts_svc.add_contact_method(
        ctx, alice, {"channel": "command", "address": f"{sys.executable} {script}"}
    )
    iid = _incident(ctx, alice)
    assert delivery.deliver_due(db, clock) == 1
    key, body = out.read_text().split("\n", 1)
    assert json.loads(body)["idempotencyKey"] == key and key.startswith(f"{iid}:1:0:{alice}:command/")
    assert _outbox(db, iid)["status"] == "sent"


def test_command_failure_is_retried_and_recorded(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str
) -> None:
    contacts_svc.add_contact_method(
        ctx, alice, {"channel": "command", "address": f"{sys.executable} -c 'import sys; sys.exit(3)'"}
    )
    iid = _incident(ctx, alice)
    for _ in range(10):
        delivery.deliver_due(db, clock)
        clock.advance(timedelta(seconds=10))
    events = _kinds(db, iid)
    assert [e.get("result") for e in events if e["kind"] == "page_delivery_attempt"] == ["exit 3"] * 4
    assert events[-1]["kind"] == "page_delivery_failed"


def test_orphaned_sending_row_is_marked_unknown_not_resent(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str
) -> None:
    contacts_svc.add_contact_method(ctx, alice, {"channel": "webhook", "address": "http://x.test/p"})
    iid = _incident(ctx, alice)
    assert len(delivery.claim(db, clock)) == 1  # ... and the engine dies here
    assert delivery.mark_orphans_unknown(db, clock) == 1
    assert _outbox(db, iid)["status"] == "unknown"
    assert [e["kind"] for e in _kinds(db, iid)] == ["page_delivery_unknown"]
    assert delivery.claim(db, VirtualClock(clock.now() + timedelta(hours=1))) == []


def test_contact_method_validation(ctx: Ctx, alice: str) -> None:
    from engine.errors import ValidationError

    for body in (
        {"channel": "sms", "address": "1"},
        {"channel": "webhook", "address": "ftp://x"},
        {"channel": "command", "address": "   "},
        {"channel": "log", "address": "x"},
        {"channel": "command", "address": "echo", "secret": "x" * 20},
    ):
        with pytest.raises(ValidationError):
            contacts_svc.add_contact_method(ctx, alice, body)
    cm = contacts_svc.add_contact_method(ctx, alice, {"channel": "command", "address": "cat"})
    assert "secret" not in cm
    listed = contacts_svc.list_contact_methods(ctx, alice)
    assert [c["id"] for c in listed] == [cm["id"]]
    contacts_svc.update_contact_method(ctx, alice, cm["id"], {"address": "tee /dev/null"})
    contacts_svc.delete_contact_method(ctx, alice, cm["id"])
    assert contacts_svc.list_contact_methods(ctx, alice) == []


def test_pending_retries_are_cancelled_by_ack_but_later_pages_go_out(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    handler.codes.extend([503])
    contacts_svc.add_contact_method(ctx, alice, {"channel": "webhook", "address": url})
    iid = _incident(ctx, alice)
    delivery.deliver_due(db, clock)  # 503: a retry is scheduled
    clock.advance(timedelta(seconds=1))
    inc_svc.acknowledge(ctx, iid)
    clock.advance(timedelta(minutes=1))
    assert delivery.deliver_due(db, clock) == 0
    assert len(handler.received) == 1
    kinds = [e["kind"] for e in _kinds(db, iid)]
    assert kinds == ["page_delivery_attempt", "page_delivery_cancelled"]
    # A handoff after the ack is a new page and is delivered.
    inc_svc.handoff(ctx, iid, {"targetUserId": alice})
    assert delivery.deliver_due(db, clock) == 1
    assert len(handler.received) == 2


def test_pending_page_is_cancelled_when_incident_resolved(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str
) -> None:
    contacts_svc.add_contact_method(ctx, alice, {"channel": "command", "address": "true"})
    iid = _incident(ctx, alice)
    for status in ("identified", "monitoring", "resolved"):
        inc_svc.advance_status(ctx, iid, {"status": status})
    assert delivery.deliver_due(db, clock) == 0
    assert _outbox(db, iid)["status"] == "cancelled"
    assert [e["reason"] for e in _kinds(db, iid)] == ["incident resolved"]


def test_page_acked_in_the_same_millisecond_is_not_sent(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str
) -> None:
    contacts_svc.add_contact_method(ctx, alice, {"channel": "command", "address": "true"})
    iid = _incident(ctx, alice)
    inc_svc.acknowledge(ctx, iid)  # same virtual instant as the page
    assert delivery.deliver_due(db, clock) == 0
    assert [e["reason"] for e in _kinds(db, iid)] == ["incident acknowledged"]


# -- what an API key set is re-checked; commands run with a minimal environment ------------------------


def _api_ctx(ctx: Ctx, allow: list[str]) -> Ctx:
    """The context of an admin API key on a server whose operator allows ``allow``."""
    return replace(ctx, via="api_key", config=OperatorConfig().allowing_webhooks(allow))


def test_an_api_set_webhook_is_rechecked_at_send_time(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, receiver: tuple[str, type[_Receiver]]
) -> None:
    """Allowed when it was set, refused when sent: the name now resolves where the engine's operator does
    not allow (the rebinding case), so the page fails for good and the timeline says why."""
    url, handler = receiver
    port = url.split(":")[2].split("/")[0]
    by_name = f"http://localhost:{port}/page"
    contacts_svc.add_contact_method(
        _api_ctx(ctx, ["127.0.0.0/8", "::1"]), alice, {"channel": "webhook", "address": by_name}
    )
    iid = _incident(ctx, alice)
    assert delivery.deliver_due(db, clock, config=OperatorConfig()) == 1
    assert handler.received == []
    (attempt, failed) = _kinds(db, iid)
    assert attempt["ok"] is False and attempt["result"].startswith("refused: webhook address localhost (127.")
    assert failed["kind"] == "page_delivery_failed" and failed["attempts"] == 1
    assert _outbox(db, iid)["status"] == "failed"


def test_an_allowed_api_set_webhook_is_sent_to_the_checked_address(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    port = url.split(":")[2].split("/")[0]
    allow = ["127.0.0.0/8", "::1"]
    contacts_svc.add_contact_method(
        _api_ctx(ctx, allow), alice, {"channel": "webhook", "address": f"http://localhost:{port}/page"}
    )
    iid = _incident(ctx, alice)
    assert delivery.deliver_due(db, clock, config=OperatorConfig().allowing_webhooks(allow)) == 1
    ((headers, _),) = handler.received
    assert headers["Host"] == f"localhost:{port}"  # the name the receiver expects, not the pinned address
    assert _outbox(db, iid)["status"] == "sent"


def test_an_operator_set_webhook_is_not_rechecked(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    contacts_svc.add_contact_method(ctx, alice, {"channel": "webhook", "address": url})
    _incident(ctx, alice)
    assert delivery.deliver_due(db, clock, config=OperatorConfig()) == 1
    assert len(handler.received) == 1


def test_a_command_from_before_the_rule_is_not_run(
    ctx: Ctx, db: Database, clock: VirtualClock, alice: str, tmp_path: Path
) -> None:
    """A command whose author is unknown (written before who-set-it was recorded, perhaps by an API key)
    fails permanently instead of running; the timeline says to re-add it from the CLI."""
    marker = tmp_path / "ran"
    cm = contacts_svc.add_contact_method(ctx, alice, {"channel": "command", "address": f"touch {marker}"})
    db.execute("UPDATE contact_methods SET address_set_via = NULL WHERE id = ?", (cm["id"],))  # as migrated
    iid = _incident(ctx, alice)
    assert delivery.deliver_due(db, clock) == 1
    assert not marker.exists()
    attempt, failed = _kinds(db, iid)
    assert "oncall users contacts add" in attempt["result"] and failed["kind"] == "page_delivery_failed"


def test_a_command_gets_only_path_home_lang_and_the_page(
    ctx: Ctx,
    db: Database,
    clock: VirtualClock,
    alice: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCALING_API_KEY", "scl_live_supersecret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    monkeypatch.setenv("LANG", "en_GB.UTF-8")
    dump = tmp_path / "env.json"
    script = tmp_path / "dump_env.py"
    script.write_text(f"import json, os\njson.dump(dict(os.environ), open({str(dump)!r}, 'w'))\n")
    cm = contacts_svc.add_contact_method(
        ctx, alice, {"channel": "command", "address": f"{sys.executable} {script}"}
    )
    iid = _incident(ctx, alice)
    config = OperatorConfig(commands=CommandSettings(path="/opt/pager/bin:/usr/bin:/bin"))
    assert delivery.deliver_due(db, clock, config=config) == 1
    env = json.loads(dump.read_text())
    env.pop("LC_CTYPE", None)  # the interpreter may set it itself (PEP 538)
    assert env == {
        "PATH": "/opt/pager/bin:/usr/bin:/bin",
        "HOME": os.environ["HOME"],
        "LANG": "en_GB.UTF-8",
        "ONCALL_IDEMPOTENCY_KEY": _outbox(db, iid)["idem_key"],
        "ONCALL_INCIDENT_ID": iid,
        "ONCALL_USER_ID": alice,
        "ONCALL_CONTACT_METHOD_ID": cm["id"],
        "ONCALL_LAYER": "1",
    }
    assert "supersecret" not in dump.read_text() and "hunter2" not in dump.read_text()


def test_a_command_that_overruns_is_killed_with_its_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "SEND_TIMEOUT_S", 0.5)
    pid_file = tmp_path / "child.pid"
    result = delivery.run_command(f"sh -c 'sleep 60 & echo $! > {pid_file}; wait'", "key", b"{}")
    assert not result.ok and result.retryable and result.detail == "timed out after 0.5 s"
    child = int(pid_file.read_text())
    deadline = monotonic() + 5
    while _alive(child) and monotonic() < deadline:
        threading.Event().wait(0.02)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[1].startswith("Z"))  # a zombie is dead


# -- pages queued by the API's group-commit writer: claimed in its transaction, recorded in its batches --


@pytest.fixture
def runner(db_path: Path | str, clock: VirtualClock) -> Iterator[EngineRunner]:
    r = EngineRunner(db_path, clock, "handover").start()
    wait_for(lambda: r.mode == "embedded", what="the lease")
    yield r
    if r.mode != "stopped":
        r.stop()


def _statuses(db: Database) -> list[str]:
    return [r["status"] for r in db.all("SELECT status FROM outbox WHERE channel != 'log' ORDER BY seq")]


@pytest.mark.both_backends
def test_a_page_the_writer_queued_is_claimed_in_its_transaction_sent_once_and_recorded_by_it(
    ctx: Ctx, db: Database, alice: str, receiver: tuple[str, type[_Receiver]], runner: EngineRunner
) -> None:
    url, handler = receiver
    contacts_svc.add_contact_method(ctx, alice, {"channel": "webhook", "address": url})
    in_transaction: list[list[str]] = []

    def claim(wdb: Database) -> Callable[[], None] | None:
        after = runner.claim_pages(wdb)
        in_transaction.append(_statuses(wdb))
        return after

    assert ctx.db.path
    wdb = open_db(ctx.db.path, migrate=False, create=False)
    writer = GroupCommit(wdb, before_commit=claim)
    runner.share_writer(writer.submit)
    try:
        iid = writer.call(lambda w: _incident(replace(ctx, db=w), alice))
        assert in_transaction == [["sending"]]  # claimed before the commit, in the batch that queued it
        wait_for(lambda: _outbox(db, iid)["status"] == "sent", what="the page recorded as sent")
        assert len(handler.received) == 1
        assert [(e["kind"], e["ok"], e["attempt"]) for e in _kinds(db, iid)] == [
            ("page_delivery_attempt", True, 1)
        ]
        # the incident, then the outcome recorded in one of the writer's batches (counted after its commit)
        wait_for(lambda: writer.requests == 2, what="the writer to count the outcome's batch")
        runner.stop()
        assert len(handler.received) == 1  # never sent again
    finally:
        runner.share_writer(None)
        writer.close()
        wdb.close()


def test_a_runner_that_does_not_hold_the_lease_claims_nothing(
    ctx: Ctx, db: Database, db_path: Path | str, clock: VirtualClock, alice: str,
    receiver: tuple[str, type[_Receiver]], runner: EngineRunner,
) -> None:  # fmt: skip
    url, _ = receiver
    contacts_svc.add_contact_method(ctx, alice, {"channel": "webhook", "address": url})
    standby = EngineRunner(db_path, clock, "standby").start()
    try:
        wait_for(lambda: standby.mode == "standby", what="the second runner to stand by")
        with db.write():
            iid = _incident(ctx, alice)
            assert standby.claim_pages(db) is None  # not the lease holder: the page is left to the holder
            assert _statuses(db) == ["pending"]
        wait_for(lambda: _outbox(db, iid)["status"] == "sent", what="the holder to deliver it")
    finally:
        standby.stop()


def test_an_outcome_the_writer_could_not_record_is_recorded_once_by_the_delivery_thread(
    ctx: Ctx, db: Database, alice: str, receiver: tuple[str, type[_Receiver]], runner: EngineRunner
) -> None:
    url, handler = receiver
    contacts_svc.add_contact_method(ctx, alice, {"channel": "webhook", "address": url})
    refused: list[str] = []

    def failing_writer(
        work: Callable[[Database], Any], done: Callable[[Any, BaseException | None], None]
    ) -> None:
        refused.append("refused")  # as a batch that could not commit: nothing of the work was kept
        done(None, RuntimeError("the batch did not commit"))

    assert ctx.db.path
    wdb = open_db(ctx.db.path, migrate=False, create=False)
    writer = GroupCommit(wdb, before_commit=runner.claim_pages)
    runner.share_writer(failing_writer)
    try:
        iid = writer.call(lambda w: _incident(replace(ctx, db=w), alice))
        wait_for(lambda: _outbox(db, iid)["status"] == "sent", what="the page recorded as sent")
        assert refused == ["refused"]
        assert len(handler.received) == 1
        assert [(e["kind"], e["ok"]) for e in _kinds(db, iid)] == [("page_delivery_attempt", True)]
    finally:
        runner.share_writer(None)
        writer.close()
        wdb.close()


class _GatedReceiver(_Receiver):
    """A receiver that holds every request until ``gate`` is set (a slow webhook): the delivery thread
    sending to it is busy meanwhile. ``arrived`` is set by the first request."""

    gate: threading.Event
    arrived: threading.Event

    def do_POST(self) -> None:  # noqa: N802
        type(self).arrived.set()
        type(self).gate.wait(timeout=30)
        super().do_POST()


@pytest.fixture
def gated_receiver() -> Iterator[tuple[str, type[_GatedReceiver]]]:
    attrs = {"received": [], "codes": [], "gate": threading.Event(), "arrived": threading.Event()}
    handler = type("GatedReceiver", (_GatedReceiver,), attrs)
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/page", handler
    handler.gate.set()
    server.shutdown()
    server.server_close()


def _paging(ctx: Ctx, user_id: str) -> Callable[[Database], str]:
    """A write (for the writer) opening an incident that pages ``user_id``, all on one policy."""
    pid = pol_svc.create_policy(ctx, {"name": "Paging"})["id"]
    layer = {"position": 1, "ackTimeoutMinutes": 5, "target": {"type": "users", "userIds": [user_id]}}
    pol_svc.add_layer(ctx, pid, layer)
    body = {"title": "Disk full", "severity": "high", "escalationPolicyId": pid}

    def open_incident(wdb: Database) -> str:
        return str(inc_svc.create_incident(replace(ctx, db=wdb), body)["id"])

    return open_incident


def _page_ids(handler: type[_Receiver]) -> list[str]:
    return sorted(json.loads(body)["incident"]["id"] for _, body in handler.received)


@pytest.fixture
def gated_handover(
    ctx: Ctx, alice: str, gated_receiver: tuple[str, type[_GatedReceiver]], runner: EngineRunner
) -> Iterator[tuple[type[_GatedReceiver], Callable[[], str]]]:
    """Alice paged by webhook at the gated receiver, and a group-commit writer whose batches claim their
    pages for ``runner`` (as the API's writer does). Yields the receiver's handler and a call that opens
    one incident through the writer (its id)."""
    url, handler = gated_receiver
    contacts_svc.add_contact_method(ctx, alice, {"channel": "webhook", "address": url})
    assert ctx.db.path
    wdb = open_db(ctx.db.path, migrate=False, create=False)
    writer = GroupCommit(wdb, before_commit=runner.claim_pages)
    open_incident = _paging(ctx, alice)
    yield handler, lambda: writer.call(open_incident)
    handler.gate.set()
    writer.close()
    wdb.close()


def test_the_writer_stops_claiming_while_hand_overs_wait_and_the_rest_is_sent_by_the_delivery_thread(
    db: Database, gated_handover: tuple[type[_GatedReceiver], Callable[[], str]]
) -> None:
    handler, open_incident = gated_handover
    first = open_incident()
    assert handler.arrived.wait(10), "the first page never reached the receiver"
    # The delivery thread is held inside the first send: the next hand-overs wait for it.
    waiting = [open_incident() for _ in range(HANDED_MAX)]
    assert [_outbox(db, i)["status"] for i in waiting] == ["sending"] * HANDED_MAX
    # HANDED_MAX hand-overs wait: the writer claims no more (few rows sit claimed in memory); the page
    # stays pending for the delivery thread's own pass.
    over = open_incident()
    assert _outbox(db, over)["status"] == "pending"
    handler.gate.set()
    every = [first, *waiting, over]
    wait_for(lambda: all(_outbox(db, i)["status"] == "sent" for i in every), what="every page sent")
    assert _page_ids(handler) == sorted(every)  # each page received once


def test_stop_sends_what_the_writer_handed_over_before_it_ends(
    db: Database, runner: EngineRunner, gated_handover: tuple[type[_GatedReceiver], Callable[[], str]]
) -> None:
    handler, open_incident = gated_handover
    first = open_incident()
    assert handler.arrived.wait(10), "the first page never reached the receiver"
    second = open_incident()
    assert _outbox(db, second)["status"] == "sending"  # handed over, waiting behind the held send
    stopper = threading.Thread(target=runner.stop)
    stopper.start()
    # Once the stop has begun, the delivery thread, freed, leaves the waiting hand-over to the stop.
    wait_for(lambda: runner._stopping, what="the stop to begin")
    handler.gate.set()
    stopper.join(timeout=60)
    assert not stopper.is_alive() and runner.mode == "stopped"
    assert [_outbox(db, i)["status"] for i in (first, second)] == ["sent", "sent"]
    assert _page_ids(handler) == sorted([first, second])  # each once
