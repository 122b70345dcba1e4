"""Shift reminders under a real engine process SIGKILLed around their due instants: each reminder is
recorded once, queued once, and reaches the loopback webhook at most once (exactly once unless a kill cut
its send off, when it is ``unknown``), never before its instant."""

from __future__ import annotations

import os
import random
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from engine.service import Ctx, schedules
from engine.service import contacts as contacts_svc
from engine.service import notification_rules as rules_svc
from engine.service.orgs import add_user, create_org
from engine.timefmt import parse_iso, to_iso
from storage.db import Database
from storage.db_clock import bind_clock
from tests.test_engine_process import _spawn, wait_for

SPEED = 60.0  # a clock minute is a real second
PEOPLE = 4  # four due instants, each with a kill around it


class _SlowReceiver(BaseHTTPRequestHandler):
    """Takes the page, then answers 200 a moment later (so a kill can fall between the two)."""

    keys: list[str] = []
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            type(self).keys.append(self.headers["X-Oncall-Idempotency-Key"])
        threading.Event().wait(0.15)  # the receiver's own processing time, not a test pause
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[int, type[_SlowReceiver]]]:
    handler = type("Receiver", (_SlowReceiver,), {"keys": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port, handler
    server.shutdown()
    server.server_close()


@pytest.mark.slow
def test_sigkill_around_the_due_instant_sends_each_reminder_once(
    db_path: Path, db: Database, receiver: Any
) -> None:
    port, handler = receiver
    clock = bind_clock(db, SPEED)
    init = create_org(db, "Acme", "admin@example.com", clock=clock)
    admin = init.admin["id"]
    ctx = Ctx(db=db, org_id=init.org["id"], actor_id=admin, actor_user_id=admin, clock=clock, via="operator")
    bob = add_user(ctx, email="bob@example.com")["id"]
    sched = schedules.create_schedule(ctx, {"name": "Primary", "timezone": "Europe/London"})
    base = clock.now().replace(second=0, microsecond=0)
    schedules.add_rotation_layer(
        ctx,
        sched["id"],
        {
            "name": "Daily",
            "rotationType": "daily",
            "rotationLengthDays": 1,
            "handoffTime": "09:00",
            "effectiveFrom": to_iso(base - timedelta(days=2)),
            "effectiveUntil": None,
            "participantIds": [bob],
        },
    )
    people: dict[str, str] = {}  # user id -> the instant their shift (and reminder) starts
    for i in range(PEOPLE):
        user = add_user(ctx, email=f"p{i}@example.com")["id"]
        start = base + timedelta(minutes=4 + 3 * i)
        schedules.add_override(
            ctx,
            sched["id"],
            {"userId": user, "start": to_iso(start), "end": to_iso(start + timedelta(hours=1))},
        )
        contacts_svc.add_contact_method(
            ctx, user, {"channel": "webhook", "address": f"http://127.0.0.1:{port}/h"}
        )
        rules_svc.set_reminders(ctx, user, {"atStart": True})
        people[user] = to_iso(start)
    rng = random.Random(int(os.environ.get("ONCALL_CRASH_SEED", "20261129")))
    kills = 0
    proc = _spawn(db_path, "reminders", SPEED)
    try:
        # One kill around each reminder's due instant: from 30 clock seconds before to a minute after.
        for due in sorted(parse_iso(at) for at in people.values()):
            moment = due + timedelta(seconds=rng.uniform(-30, 60))
            wait_for(lambda m=moment: clock.now() >= m, timeout=60, what="the moment to kill the engine")
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            proc = _spawn(db_path, "reminders", SPEED)
        wait_for(
            lambda: (
                db.scalar("SELECT count(*) FROM notices WHERE status IN ('pending', 'sending')") == 0
                and db.scalar("SELECT count(*) FROM notices") == PEOPLE
            ),
            timeout=120,
            what="every reminder to be settled",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)

    sent = db.all("SELECT user_id, kind, shift_start, remind_at FROM shift_reminders_sent ORDER BY user_id")
    assert sorted((r["user_id"], r["shift_start"]) for r in sent) == sorted(people.items())
    assert all(r["kind"] == "start" and r["remind_at"] == r["shift_start"] for r in sent)
    rows = db.all("SELECT * FROM notices ORDER BY seq")
    assert sorted(r["user_id"] for r in rows) == sorted(people)  # one notice per person, none doubled
    received = Counter(handler.keys)
    statuses = Counter(r["status"] for r in rows)
    for r in rows:
        assert r["created_at"] >= people[r["user_id"]], f"{r['user_id']}'s reminder was queued early"
        assert r["status"] in ("sent", "unknown"), f"{r['idem_key']}: {r['status']} ({r['last_error']})"
        if r["status"] == "sent":
            assert received[r["idem_key"]] == 1, (
                f"{r['idem_key']} reached the receiver {received[r['idem_key']]}x"
            )
        else:
            assert received[r["idem_key"]] <= 1, f"{r['idem_key']} was resent after a crash"
    assert set(received) <= {r["idem_key"] for r in rows}
    assert statuses["sent"] >= 1
    print(f"\nreminder crash test: {PEOPLE} reminders, {kills} SIGKILLs, outcomes {dict(statuses)}")
