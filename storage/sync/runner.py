"""``SyncRunner``: continuous sync in a background thread (``oncall --sync``).

Every ``interval`` seconds it pushes the outbox and then pulls. In between it looks at the outbox once a
second and pushes new local changes at once. While the remote is unreachable (or failing) it backs off
exponentially with jitter, up to a minute, and says ``offline``; local work goes on and queues.

:meth:`SyncRunner.status` is what the console's status bar shows::

    {"state": "ok" | "pulling" | "pushing" | "offline" | "error" | "off",
     "waiting": 3 (pending or sending; not the failed or uncertain), "failed": [{"id", "kind", "error"}], "uncertain": [{"id", "kind", "candidates"}],
     "lastPullAt": "…", "lastError": "…" | None}
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.clock import Clock, monotonic
from engine.errors import DomainError
from storage.db import Database, open_db
from storage.lease import holder_name
from storage.sync import link
from storage.sync.change_queue import failed_changes, push, uncertain_changes, waiting_count
from storage.sync.client import RemoteError, ScalingClient, Unreachable, backoff_delay
from storage.sync.pull import pull

log = logging.getLogger("oncall.sync.runner")

DEFAULT_INTERVAL_S = 30.0
MAX_BACKOFF_S = 60.0
TICK_S = 1.0


class SyncRunner:
    def __init__(
        self,
        db_path: str | Path,
        clock: Clock,
        *,
        org: str | None = None,
        interval: float = DEFAULT_INTERVAL_S,
        client_factory: Callable[[Database, str], ScalingClient] | None = None,
        name: str = "console",
    ) -> None:
        self.db_path = str(db_path)
        self.clock = clock
        self.org = org
        self.interval = interval
        self.name = name
        self.holder = holder_name(f"sync-{name}")
        self._client_factory = client_factory
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._status: dict[str, Any] = {
            "state": "off",
            "waiting": 0,
            "failed": [],
            "uncertain": [],
            "lastPullAt": None,
            "lastError": None,
        }
        self.cycles = 0

    # -- control --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"sync-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._set(state="off")

    def poke(self) -> None:
        """Push and pull now instead of at the next interval."""
        self._wake.set()

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                **self._status,
                "failed": list(self._status["failed"]),
                "uncertain": list(self._status["uncertain"]),
            }

    def _set(self, **values: Any) -> None:
        with self._lock:
            self._status.update(values)

    # -- the loop -------------------------------------------------------------------------------

    def _client(self, db: Database, org_id: str) -> ScalingClient:
        if self._client_factory is not None:
            return self._client_factory(db, org_id)
        return link.make_client(db, org_id, sleep=self._stop.wait)

    def _refresh_counts(self, db: Database, org_id: str) -> None:
        self._set(
            waiting=waiting_count(db, org_id),
            failed=[
                {
                    "id": c["id"],
                    "kind": c["kind"],
                    "error": (c["error"] or {}).get("message") or (c["error"] or {}).get("code"),
                }
                for c in failed_changes(db, org_id)
            ],
            uncertain=[
                {"id": c["id"], "kind": c["kind"], "candidates": [k["id"] for k in c["candidates"]]}
                for c in uncertain_changes(db, org_id)
            ],
        )

    def _run(self) -> None:
        try:
            db = open_db(self.db_path, create=False)
        except Exception as exc:
            self._set(state="error", lastError=f"cannot open the database: {exc}")
            return
        try:
            self._loop(db)
        finally:
            db.close()

    def _loop(self, db: Database) -> None:
        from engine.service.orgs import find_org

        failures = 0
        next_full = 0.0  # monotonic time of the next push + pull
        client: ScalingClient | None = None
        last_waiting = 0  # the outbox size after the last cycle
        while not self._stop.is_set():
            try:
                org_id = find_org(db, self.org)
                cfg = link.config(db, org_id)
            except DomainError as exc:
                self._set(state="off", lastError=exc.message)
                self._stop.wait(self.interval)
                continue
            if cfg is None:
                self._set(state="off", lastError=None)
                self._stop.wait(TICK_S * 5)
                continue
            self._refresh_counts(db, org_id)
            self._set(lastPullAt=cfg["lastPullAt"])
            woke = self._wake.is_set()
            self._wake.clear()
            due = woke or monotonic() >= next_full
            # New local changes go at once; changes held behind a failure do not trigger a push each second.
            sendable = self._status["waiting"]  # failed and uncertain changes are counted apart
            fresh = sendable > 0 and self._status["waiting"] != last_waiting and failures == 0
            if not due and not fresh:
                self._wake.wait(TICK_S)
                continue
            try:
                if client is None:
                    client = self._client(db, org_id)
                self._cycle(db, org_id, client, full=due)
                failures = 0
                if due:
                    next_full = monotonic() + self.interval
            except (Unreachable, RemoteError, DomainError) as exc:
                failures += 1
                delay = min(MAX_BACKOFF_S, backoff_delay(failures - 1, random.random))
                offline = isinstance(exc, Unreachable)
                msg = exc.describe() if isinstance(exc, RemoteError) else exc.message
                self._set(state="offline" if offline else "error", lastError=msg)
                log.info("sync %s; next try in %.1f s", "offline" if offline else "failed", delay)
                next_full = monotonic() + delay
                if client is not None and not offline:
                    client.close()
                    client = None
            except Exception as exc:  # never let the thread die silently
                failures += 1
                log.exception("sync cycle failed")
                self._set(state="error", lastError=f"{type(exc).__name__}: {exc}")
                next_full = monotonic() + min(MAX_BACKOFF_S, backoff_delay(failures - 1, random.random))
            self._refresh_counts(db, org_id)
            last_waiting = self._status["waiting"]
            self.cycles += 1
            self._wake.wait(TICK_S)
        if client is not None:
            client.close()

    def _cycle(self, db: Database, org_id: str, client: ScalingClient, *, full: bool) -> None:
        self._set(state="pushing")
        result = push(db, org_id, client, clock=self.clock, holder=self.holder, should_stop=self._stop.is_set)
        if result.state == "offline":
            raise Unreachable(result.error or "the remote is unreachable", maybe_sent=False)
        if result.state == "error":
            raise DomainError("sync_push_held", result.error or "the remote refused the push")
        if full:
            self._set(state="pulling")
            pull(db, org_id, client, clock=self.clock)
            cfg = link.config(db, org_id)
            self._set(lastPullAt=cfg["lastPullAt"] if cfg else None)
        self._set(state="ok", lastError=None)

    def run_once(self) -> dict[str, Any]:
        """One push + pull on the caller's thread (tests, ``oncall sync pull``)."""
        from engine.service.orgs import find_org

        db = open_db(self.db_path, create=False)
        try:
            org_id = find_org(db, self.org)
            client = self._client(db, org_id)
            try:
                self._cycle(db, org_id, client, full=True)
            finally:
                client.close()
            self._refresh_counts(db, org_id)
        finally:
            db.close()
        return self.status()
