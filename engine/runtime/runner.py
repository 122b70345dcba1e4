"""The process side of the engine: a lease, an alarm clock, and the tick/deliver loops.

:class:`EngineRunner` runs inside the console (embedded) or headless (``oncall engine``). It never holds
escalation state in memory: APScheduler, with a ``MemoryJobStore`` only, is the alarm clock. One ``wake``
date job is re-armed at the earliest ``due_at`` in the database; a ``safety`` interval job (≤ 2 s) and a
``poll`` job watching ``PRAGMA data_version`` (other processes' commits: the console creating an
incident, the API server acknowledging one) catch everything else. Each wake calls
:func:`engine.runtime.escalator.tick` and :func:`engine.runtime.timers.fire_due` (the other timer kinds it
was given: heartbeats, window ends, rule steps, reminders), fenced by the lease, until nothing is due,
then re-arms at the earliest due time of either.

Exactly one runner per database fires timers: the one holding the lease (:mod:`storage.lease`). The
others are ``standby`` and try to take the lease every ``renew_every`` seconds; with the default 5 s TTL
a standby takes over within about 6 s of the holder dying (SIGKILL included). On taking over, sends the
dead holder left in flight are marked unknown (never resent), then every overdue step fires at once, in
due order, with its lateness recorded.

Modes (``mode``; ``on_mode`` is called at each change): ``starting`` from :meth:`start` until the first
lease attempt has decided, never announced (a runner on a database nobody else uses would otherwise say
``standby`` and at once ``embedded``); then ``embedded`` or ``standby``; ``stopped``; ``lost``.

The database file: every ``poll`` (0.2 s, standby included) checks that the file is still the one that was
opened (:meth:`storage.db.Database.check_file`). Once it was deleted or replaced the runner stops for good:
mode ``lost``, ``lost`` holds the :class:`storage.db.DatabaseGone`, ``on_lost`` is called once, and nothing
more is written. A read-only file or a full disk is reported once per burst by the database layer; the
runner counts the failure and retries at its next wake, without a traceback.

Clocks: the escalations run on the injected clock (wall, scaled, virtual), read inside each step's
transaction; a scaled clock's latest instant is recorded every second (:func:`storage.db_clock.heartbeat`)
so a process opening the file later joins it or resumes from it. The lease and APScheduler's waits are
real time. With a virtual clock nothing is armed (a virtual clock never moves by itself):
whoever moves it calls :meth:`poke`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from engine.clock import Clock, WallClock
from engine.runtime import delivery, escalator, timers
from engine.runtime.delivery_worker import DeliveryWorker
from engine.runtime.operator_config import OperatorConfig
from engine.timefmt import to_epoch_ms
from storage import db_clock, lease
from storage.db import Database, DatabaseGone, DatabaseUnavailable, open_db
from storage.queries import page_queue as queued_pages

log = logging.getLogger("oncall.engine")
logging.getLogger("apscheduler").setLevel(logging.ERROR)

SAFETY_TICK_S = 2.0
POLL_S = 0.2
RENEW_S = 1.0

FiredHook = Callable[[list[tuple[str, int]], datetime], None]

_wall = WallClock()


class EngineRunner:
    """Runs the engine for the database at ``db_path`` on ``clock``; see the module docstring."""

    def __init__(
        self,
        db_path: str | Path,
        clock: Clock,
        name: str = "engine",
        *,
        lease_ttl: float = lease.DEFAULT_TTL_S,
        renew_every: float = RENEW_S,
        safety_tick: float = SAFETY_TICK_S,
        poll_every: float = POLL_S,
        deliver: bool = True,
        synchronous: str = "FULL",
        batch: int = escalator.DEFAULT_BATCH,
        catchup_batch: int = 2000,
        on_fired: FiredHook | None = None,
        on_mode: Callable[[str], None] | None = None,
        config: OperatorConfig | None = None,
        on_lost: Callable[[DatabaseGone], None] | None = None,
        timer_handlers: Mapping[str, timers.TimerHandler] | None = None,
    ) -> None:
        """``config`` is the operator's configuration delivery obeys (the webhook allow-list re-checked
        before sending to an API-set webhook, the commands' PATH); default: no file's. ``timer_handlers``
        are the timer kinds this engine fires besides escalation steps (the surfaces pass
        ``engine.service.timer_kinds.HANDLERS``, through ``timer_kinds.new_runner``); default: none."""
        if safety_tick > SAFETY_TICK_S:
            raise ValueError(f"the safety tick must be at most {SAFETY_TICK_S:g} s")
        self.db_path = str(db_path)
        self.clock = clock
        self.name = name
        self.holder = lease.holder_name(name)
        self.lease_ttl = lease_ttl
        self.renew_every = renew_every
        self.safety_tick = safety_tick
        self.poll_every = poll_every
        self.deliver = deliver
        self.synchronous = synchronous
        self.batch = batch
        self.catchup_batch = max(batch, catchup_batch)
        self.on_fired = on_fired
        self.on_mode = on_mode
        self.config = config or OperatorConfig()
        self.on_lost = on_lost
        self.timer_handlers: Mapping[str, timers.TimerHandler] = dict(timer_handlers or {})
        self.lost: DatabaseGone | None = None
        self.mode = "stopped"
        self.fired_total = 0
        self.errors = 0
        self._fence: lease.Fence | None = None
        self._cycle_lock = threading.Lock()
        self._delivery_lock = threading.Lock()
        self._version: int | None = None
        self._sched: BackgroundScheduler | None = None
        self._db: Database | None = None
        self._delivery_db: Database | None = None
        self._delivery_worker: DeliveryWorker | None = None

    # -- life cycle ---------------------------------------------------------------------------------

    def start(self) -> EngineRunner:
        self._db = db = open_db(self.db_path, synchronous=self.synchronous, create=False)
        # A catch-up touches many pages: a 32 MB cache, and checkpoints every 16 MB of WAL instead of 4 MB
        # (fewer copies of pages that every step touches), with the WAL file trimmed back to 64 MB.
        db.set_pragma("cache_size", -32768)
        db.set_pragma("wal_autocheckpoint", 4000)
        db.set_pragma("journal_size_limit", 67108864)
        if self.deliver:
            self._delivery_db = open_db(
                self.db_path, synchronous=self.synchronous, migrate=False, create=False, identity=db.file
            )
        sched = BackgroundScheduler(
            timezone=UTC,
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(1), "delivery": ThreadPoolExecutor(1)},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        sched.add_job(self._safe(self._lease_step), "interval", seconds=self.renew_every, id="lease")
        sched.add_job(self._safe(self._heartbeat), "interval", seconds=self.renew_every, id="clock")
        sched.add_job(self._safe(self._cycle), "interval", seconds=self.safety_tick, id="safety")
        sched.add_job(self._safe(self._poll), "interval", seconds=self.poll_every, id="poll")
        self._sched = sched
        if self.deliver:  # its own thread, woken directly (delivery_worker.py), every 1 s otherwise
            self._delivery_worker = DeliveryWorker(self._safe(self._deliver), name=f"{self.name}-delivery")
            self._delivery_worker.start()
        self.mode = "starting"  # not announced: the first lease attempt says embedded or standby
        sched.start()
        sched.add_job(self._safe(self._lease_step), id="lease-now")
        return self

    def stop(self) -> None:
        """Stop cleanly and release the lease so a standby engine takes over at once.

        The scheduler is shut down without waiting (APScheduler holds its job-store lock while waiting
        for running jobs, and a running cycle re-arms its wake through that lock: waiting would
        deadlock); then the running cycle and delivery pass, if any, are waited for through our own locks.
        """
        self._shutdown_scheduler()
        with self._delivery_lock, self._cycle_lock:
            if self._fence is not None and self._db is not None:
                try:
                    lease.release(self._db, self._fence)
                except DatabaseUnavailable:
                    pass  # already reported by the database layer; the lease expires by itself
                except sqlite3.Error:
                    log.exception("could not release the engine lease")
            self._fence = None
            self._close()
        self._set_mode("stopped")

    def abandon(self) -> None:
        """Stop without releasing the lease: what a crash looks like to the other engines (tests)."""
        self._shutdown_scheduler()
        with self._delivery_lock, self._cycle_lock:
            self._fence = None
            self._close()
        self._set_mode("stopped")

    def _shutdown_scheduler(self) -> None:
        worker, self._delivery_worker = self._delivery_worker, None
        if worker is not None:
            worker.stop()
        sched, self._sched = self._sched, None
        if sched is not None:
            sched.shutdown(wait=False)

    def _close(self) -> None:
        for db in (self._db, self._delivery_db):
            if db is not None:
                db.close()
        self._db = self._delivery_db = None

    def poke(self) -> None:
        """Something changed (or a virtual clock moved): run a cycle now."""
        sched = self._sched
        if sched is not None:
            sched.add_job(self._safe(self._cycle), id="wake", replace_existing=True)

    def wake_delivery(self) -> None:
        """A page was queued by a commit of this process: deliver it now (no interval on the path)."""
        worker = self._delivery_worker
        if worker is not None:
            worker.wake()

    @property
    def fence(self) -> lease.Fence | None:
        return self._fence

    def _set_mode(self, mode: str) -> None:
        if mode != self.mode:
            self.mode = mode
            log.info("engine %s is %s", self.holder, mode)
            if self.on_mode is not None:
                self.on_mode(mode)

    def _safe(self, fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except DatabaseGone as exc:
                self._lose(exc)
            except DatabaseUnavailable:
                # Read-only or full: logged once per burst below us; the next wake retries.
                self.errors += 1
            except sqlite3.Error:
                # A busy database or a closing connection: the next wake (≤ 2 s) retries. Nothing is lost
                # because the rows, not this process, hold the schedule.
                self.errors += 1
                log.warning("engine step failed; will retry", exc_info=True)
            except Exception:
                self.errors += 1
                log.exception("engine job %s failed; will retry", fn.__name__)

        run.__name__ = fn.__name__
        return run

    def _lose(self, exc: DatabaseGone) -> None:
        """The file is gone: stop every job for good; nothing more is written (the lease expires)."""
        if self.lost is not None:
            return
        self.lost = exc
        self._shutdown_scheduler()
        self._fence = None
        self._set_mode("lost")
        if self.on_lost is not None:
            self.on_lost(exc)

    # -- jobs ---------------------------------------------------------------------------------------

    def _lease_step(self) -> None:
        db = self._db
        if db is None:
            return
        if self._fence is not None:
            if lease.renew(db, self._fence, self.lease_ttl):
                return
            with self._cycle_lock:
                self._fence = None
            self._set_mode("standby")
            return
        fence = lease.acquire(db, self.holder, self.lease_ttl)
        if fence is None:
            self._set_mode("standby")
            return
        delivery.mark_orphans_unknown(db, self.clock)
        self._fence = fence
        self._set_mode("embedded")
        self._cycle()

    def _heartbeat(self) -> None:
        """A scaled clock is still running here: record its latest instant (see storage.db_clock)."""
        db = self._db
        if db is not None:
            db_clock.heartbeat(db, self.clock)

    def _poll(self) -> None:
        db = self._db
        if db is None:
            return
        db.check_file()
        if self._fence is None:
            return
        version = db.data_version()
        if version != self._version:
            self._version = version
            self._cycle()

    def _cycle(self) -> None:
        with self._cycle_lock:
            db, fence = self._db, self._fence
            if db is None or fence is None:
                return
            fired_any = False
            batch = self.batch
            while True:
                fired: list[tuple[str, int]] | None = [] if self.on_fired is not None else None
                n = escalator.tick(db, self.clock, batch, fence=fence, fired=fired)
                if n and self.on_fired is not None and fired:
                    self.on_fired(fired, self.clock.now())
                self.fired_total += n
                fired_any = fired_any or n > 0
                n_timers = timers.fire_due(db, self.clock, self.timer_handlers, batch, fence=fence)
                self.fired_total += n_timers
                fired_any = fired_any or n_timers > 0
                if n < batch and n_timers < batch:
                    break
                # Behind (a restart, a burst): the first batch is committed quickly, then larger
                # transactions catch up with less per-commit work (each still well under a second).
                batch = self.catchup_batch
            if not lease.holds(db, fence):
                self._fence = None
                self._set_mode("standby")
                return
            self._arm(db)
            # A page queued by a request (an incident created, an alert received) goes out now, not at
            # the next delivery interval.
            pages_due = self.deliver and queued_pages.has_due(db, to_epoch_ms(self.clock.now()))
        if fired_any or pages_due:
            self.wake_delivery()

    def _arm(self, db: Database) -> None:
        sched = self._sched
        if sched is None:
            return
        dues = [
            d for d in (escalator.next_due(db), timers.next_due(db, self.timer_handlers)) if d is not None
        ]
        due = min(dues) if dues else None
        if due is None:
            try:
                sched.remove_job("wake")
            except JobLookupError:
                pass
            return
        now = self.clock.now()
        delay = (due - now).total_seconds()
        if delay <= 0:
            real = 0.0
        else:
            real = self.clock.sleep_seconds(delay)
            if real <= 0:  # a virtual clock: it only moves when told to, and then poke() is called
                return
        run_date = _wall.now() + timedelta(seconds=real)
        sched.add_job(self._safe(self._cycle), "date", run_date=run_date, id="wake", replace_existing=True)

    def _deliver(self) -> None:
        with self._delivery_lock:
            db, fence = self._delivery_db, self._fence
            if db is None or fence is None:
                return
            while delivery.deliver_due(db, self.clock, limit=20, fence=fence, config=self.config) == 20:
                if self._fence is None or self._sched is None:
                    return
