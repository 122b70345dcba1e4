"""The process side of the engine: a lease, one wake-up loop, and the delivery loop.

:class:`EngineRunner` runs inside the console (embedded) or headless (``oncall engine``). It never holds
escalation state in memory. One thread (``oncall-engine``) runs the wake-up loop: it waits on a
:class:`threading.Event` with a timeout equal to the earliest of

* the next due time of the escalations and timers (read once per cycle, in the cycle's own transaction),
* the next lease renewal (every ``renew_every`` s) and clock heartbeat,
* the next poll of the :class:`WakeSource` (``poll_every`` s: other processes' commits),
* the safety cycle (every ``safety_tick`` ≤ 2 s, in case anything was missed),

and is woken early by :meth:`poke` (which only sets the event: O(1), nothing allocated) or by a push
wake source calling the same function. A cycle is one fenced transaction: it checks the lease once, then
runs :func:`engine.runtime.escalator.tick` and :func:`engine.runtime.timers.fire_due` (the other timer kinds
it was given: heartbeats, window ends, rule steps, reminders) as savepoints of it, and reads the next due
time before committing; a runner behind (a restart, a burst) repeats cycles with larger batches until
nothing is due. A second thread (``oncall-delivery``) delivers the page queue (network I/O never holds
the engine's loop): every second, and at once after a cycle that fired or noticed a change.

Pages queued by another writer of this process (the API's group-commit writer) skip the delivery thread's
own write turns: the writer claims them in the transaction that queued them (:meth:`claim_pages`, fenced
like any claim) and hands them over after its commit; the delivery thread sends them at once, and with
:meth:`share_writer` their outcomes are recorded in the writer's next batch rather than in a
transaction (and a commit) of its own. Claimed is claimed: the crash rule (``sending`` rows of a dead
engine become ``unknown``) covers them as it covers the delivery thread's own claims.

Wake sources (:class:`WakeSource`): how the runner learns that *another process* committed (the console
creating an incident, the API server acknowledging one). SQLite's is :class:`DataVersionSource`: a
``PRAGMA data_version`` poll (~3 µs) every ``poll_every`` (0.2 s). A push source (PostgreSQL
``LISTEN``/``NOTIFY``) is given ``wake`` in :meth:`WakeSource.open` and calls it from its own thread;
it returns ``poll_every = None`` so the loop does not poll it. Pass ``wake_source=`` a factory taking the
engine's :class:`storage.db.Database`.

Exactly one runner per database fires timers: the one holding the lease (:mod:`storage.lease`). The
others are ``standby`` and try to take the lease every ``renew_every`` seconds; with the default 5 s TTL
a standby takes over within about 6 s of the holder dying (SIGKILL included). On taking over, sends the
dead holder left in flight are marked unknown (never resent), then every overdue step fires at once, in
due order, with its lateness recorded.

Modes (``mode``; ``on_mode`` is called at each change): ``starting`` from :meth:`start` until the first
lease attempt has decided, never announced (a runner on a database nobody else uses would otherwise say
``standby`` and at once ``embedded``); then ``embedded`` or ``standby``; ``stopped``; ``lost``.

The database file: every poll (0.2 s, standby included) checks that the file is still the one that was
opened (:meth:`storage.db.Database.check_file`). Once it was deleted or replaced the runner stops for good:
mode ``lost``, ``lost`` holds the :class:`storage.db.DatabaseGone`, ``on_lost`` is called once, and nothing
more is written. A read-only file or a full disk is reported once per burst by the database layer; the
runner counts the failure and retries at its next wake, without a traceback.

Clocks: the escalations run on the injected clock (wall, scaled, virtual), read inside each step's
transaction; a scaled clock's latest instant is recorded every second (:func:`storage.db_clock.heartbeat`)
so a process opening the file later joins it or resumes from it. The lease and the loop's waits are
real time. With a virtual clock no due time is waited for (a virtual clock never moves by itself):
whoever moves it calls :meth:`poke`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from engine.clock import Clock, monotonic
from engine.runtime import delivery, escalator, timers
from engine.runtime.operator_config import OperatorConfig
from engine.timefmt import to_epoch_ms
from storage import db_clock, lease
from storage.db import Database, DatabaseGone, DatabaseUnavailable, open_db
from storage.queries import page_queue as queued_pages

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("oncall.engine")

SAFETY_TICK_S = 2.0
POLL_S = 0.2
RENEW_S = 1.0
DELIVER_S = 1.0
DELIVER_BATCH = 20  # pages claimed per delivery pass
DELIVER_WORKERS = 4  # pages of a pass sent at once (network waits, not CPU)
HANDED_MAX = 2  # hand-overs from the API's writer waiting for the delivery thread (claim_pages)

FiredHook = Callable[[list[tuple[str, int]], datetime], None]

Work = Callable[[Database], Any]
Submit = Callable[[Work, Callable[[Any, BaseException | None], None]], None]
"""A writer of this process that runs ``work(db)`` in one of its transactions and then calls ``done(result,
error)`` (``engine.service.group_commit.GroupCommit.submit``)."""

Claimed = tuple[list[sqlite3.Row], dict[str, delivery.Outgoing]]
"""Rows claimed for delivery (``sending``) with what goes with each (:func:`delivery.outgoing`)."""


class WakeSource(Protocol):
    """How the runner learns that another process committed something (see the module docstring).

    ``poll_every``: seconds between :meth:`changed` calls, or None for a push source that is never polled.
    """

    poll_every: float | None

    def open(self, wake: Callable[[], None]) -> None:
        """Start watching; a push source calls ``wake()`` (thread-safe, O(1)) on each change."""
        ...

    def changed(self) -> bool:
        """Non-blocking: did another process commit since the last call? (Only called if polled.)"""
        ...

    def close(self) -> None:
        """Stop watching (called once, from the thread that called :meth:`EngineRunner.stop`)."""
        ...


def default_wake_source(db: Database, poll_every: float = POLL_S) -> WakeSource:
    """SQLite: :class:`DataVersionSource` polled every ``poll_every`` s. PostgreSQL: a push source on
    ``LISTEN``/``NOTIFY`` (:class:`storage.pg_listen.ListenSource`, loaded only there: it imports psycopg)."""
    if getattr(db, "dialect", "sqlite") == "postgresql":
        from storage.pg_listen import ListenSource

        return ListenSource(db)
    return DataVersionSource(db, poll_every)


class DataVersionSource:
    """SQLite's wake source: ``PRAGMA data_version`` of the engine's connection, polled every ``poll_every``
    seconds; it changes when another connection commits (our own commits leave it alone)."""

    def __init__(self, db: Database, poll_every: float = POLL_S) -> None:
        self.db = db
        self.poll_every: float | None = poll_every
        self._version: int | None = None

    def open(self, wake: Callable[[], None]) -> None:
        self._version = self.db.data_version()

    def changed(self) -> bool:
        version = self.db.data_version()
        if version == self._version:
            return False
        self._version = version
        return True

    def close(self) -> None:
        pass


WakeSourceFactory = Callable[[Database], WakeSource]


ENGINE_PRAGMAS: dict[str, int] = {
    "cache_size": -32768,
    "wal_autocheckpoint": 4000,
    "journal_size_limit": 67108864,
}
"""The engine connection's SQLite settings. A catch-up touches many pages: a 32 MB cache, and checkpoints
every 16 MB of WAL instead of 4 MB (fewer copies of pages that every step touches), with the WAL file
trimmed back to 64 MB. ``bench/engine.py`` runs both its engine and its floor with them."""


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
        wake_source: WakeSourceFactory | None = None,
    ) -> None:
        """``config`` is the operator's configuration delivery obeys (the webhook allow-list re-checked
        before sending to an API-set webhook, the commands' PATH); default: no file's. ``timer_handlers``
        are the timer kinds this engine fires besides escalation steps (the surfaces pass
        ``engine.service.timer_kinds.HANDLERS``, through ``timer_kinds.new_runner``); default: none.
        ``wake_source`` builds the :class:`WakeSource` from the engine's database; default:
        :class:`DataVersionSource` polled every ``poll_every`` seconds."""
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
        self.wake_source_factory: WakeSourceFactory = wake_source or (
            lambda db: default_wake_source(db, poll_every)
        )
        self.lost: DatabaseGone | None = None
        self.mode = "stopped"
        self.fired_total = 0
        self.errors = 0
        self.cycles = 0
        self._fence: lease.Fence | None = None
        self._wake = threading.Event()
        self._deliver_wake = threading.Event()
        self._pass_wanted = False  # the delivery thread is to look for due pages itself (not a hand-over)
        self._pass_lock = threading.Lock()  # read-and-clear of _pass_wanted against a wake setting it
        self._stopping = False
        self._loop_thread: threading.Thread | None = None
        self._delivery_thread: threading.Thread | None = None
        self._source: WakeSource | None = None
        self._db: Database | None = None
        self._delivery_db: Database | None = None
        self._http: httpx.Client | None = None  # the delivery thread's, kept between passes (keep-alive)
        self._pool: ThreadPoolExecutor | None = None  # sends a pass's pages, kept between passes
        self._handed: deque[Claimed] = deque()  # claimed by another writer of this process, to send
        self._writer: Submit | None = None  # records outcomes in that writer's batches (share_writer)
        self._records = threading.Condition()  # outcomes given to the writer and not yet settled
        self._records_out = 0
        self._unrecorded: deque[tuple[list[sqlite3.Row], list[delivery.Result]]] = deque()
        self._cache = escalator.EngineCache()
        self._next_due_at: float | None = None  # monotonic instant of the next due step or timer
        self._changed = False  # the wake source saw another process's commit since the last cycle

    # -- life cycle ---------------------------------------------------------------------------------

    def start(self) -> EngineRunner:
        self._db = db = open_db(self.db_path, synchronous=self.synchronous, create=False)
        for name, value in ENGINE_PRAGMAS.items():
            db.set_pragma(name, value)
        if self.deliver:
            self._delivery_db = open_db(
                self.db_path, synchronous=self.synchronous, migrate=False, create=False, identity=db.file
            )
            self._pool = ThreadPoolExecutor(DELIVER_WORKERS, thread_name_prefix="oncall-send")
        self._source = self.wake_source_factory(db)
        self._source.open(self._pushed)
        self._stopping = False
        self.mode = "starting"  # not announced: the first lease attempt says embedded or standby
        self._loop_thread = threading.Thread(target=self._loop, name="oncall-engine", daemon=True)
        self._loop_thread.start()
        if self.deliver:
            self._delivery_thread = threading.Thread(
                target=self._delivery_loop, name="oncall-delivery", daemon=True
            )
            self._delivery_thread.start()
        return self

    def _pushed(self) -> None:
        """A push wake source (PostgreSQL's NOTIFY) saw another process commit: a cycle now, one that also
        looks for pages that commit queued (as a poll that saw a change does)."""
        self._changed = True
        self.poke()

    def stop(self) -> None:
        """Stop cleanly and release the lease so a standby engine takes over at once.

        Waits for the running cycle and delivery pass, if any, to finish (each is short: one transaction,
        one bounded delivery batch)."""
        self._halt()
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
        self._halt()
        self._fence = None
        self._close()
        self._set_mode("stopped")

    def _halt(self) -> None:
        """Ask both loops to end and wait for them (not for the calling thread itself)."""
        self._stopping = True
        self._wake.set()
        self._deliver_wake.set()
        me = threading.current_thread()
        for thread in (self._loop_thread, self._delivery_thread):
            if thread is not None and thread is not me:
                thread.join()
        self._loop_thread = self._delivery_thread = None
        if self._delivery_db is not None and self.lost is None:
            self._safe(self._finish_delivery)

    def _finish_delivery(self) -> None:
        """On stop: send what the API's writer handed over and record every outcome still unrecorded (the
        pass the delivery thread was in would have). A hand-over committed after this stays ``sending``
        and is marked unknown by the next engine (the crash rule)."""
        db = self._delivery_db
        assert db is not None
        self._writer = None
        with self._records:  # outcomes the writer still holds: let it record them (bounded wait)
            self._records.wait_for(lambda: self._records_out == 0, timeout=2 * delivery.SEND_TIMEOUT_S)
        self._record_leftovers(db)
        if self._handed and self._pool is not None:
            http = self._http or delivery.new_client(connections=DELIVER_WORKERS)
            self._http = http
            while self._handed:
                rows, extras = self._handed.popleft()
                delivery.record_all(
                    db, self.clock, rows, delivery.send_claimed(rows, extras, http, self.config, self._pool)
                )

    def _close(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            source.close()
        for db in (self._db, self._delivery_db):
            if db is not None:
                db.close()
        self._db = self._delivery_db = None
        http, self._http = self._http, None
        if http is not None:
            http.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self._handed.clear()  # claimed but never sent: the next engine marks them unknown (crash rule)

    def poke(self) -> None:
        """Something changed (or a virtual clock moved): run a cycle now. Sets an event; O(1), any thread."""
        self._wake.set()

    def wake_delivery(self) -> None:
        """A commit of this process queued a page (the API's writer after a batch): deliver it now, not at
        the next delivery interval. Sets an event; O(1), any thread. The delivery loop clears the event
        before each pass, so a wake during a pass runs another pass straight after it."""
        with self._pass_lock:
            self._pass_wanted = True
        self._deliver_wake.set()

    def claim_pages(self, db: Database) -> Callable[[], None] | None:
        """Claim the pages due now for this runner's delivery, inside the caller's transaction on ``db``
        (another connection of this process: the API's writer, after its batch's requests); returns the
        hand-over to call once that transaction committed, or None (nothing due, not delivering, not
        holding the lease, or :data:`HANDED_MAX` hand-overs not yet taken). Fenced like the delivery thread's own
        claims; at most one pass's worth (:data:`DELIVER_BATCH`)."""
        fence = self._fence
        if not self.deliver or fence is None or self._stopping:
            return None
        if len(self._handed) >= HANDED_MAX:
            # The delivery thread is behind (a slow receiver): leave these pending for its own pass, so
            # that few rows sit claimed in memory (a crash makes claimed rows unknown, never sent: at most
            # HANDED_MAX hand-overs waiting and one being sent).
            with self._pass_lock:
                self._pass_wanted = True
            return None
        if not queued_pages.has_due(db, to_epoch_ms(self.clock.now())):
            return None
        rows = delivery.claim(
            db,
            self.clock,
            DELIVER_BATCH,
            fence=fence,
            rate_limit_per_minute=self.config.pages.rate_limit_per_minute,
        )
        if not rows:
            return None
        claimed = (rows, delivery.outgoing(db, self.clock, rows, self.config))

        def hand_over() -> None:
            self._handed.append(claimed)
            self._deliver_wake.set()

        return hand_over

    def share_writer(self, submit: Submit | None) -> None:
        """Record delivery outcomes through ``submit`` (a writer of this process that commits in batches:
        no write turn and no commit of the delivery thread's own per pass); None: in its own transactions
        again. An outcome the writer fails to record is recorded by the delivery thread itself."""
        self._writer = submit

    @property
    def fence(self) -> lease.Fence | None:
        return self._fence

    def _set_mode(self, mode: str) -> None:
        if mode != self.mode:
            self.mode = mode
            log.info("engine %s is %s", self.holder, mode)
            if self.on_mode is not None:
                self.on_mode(mode)

    def _safe(self, fn: Callable[[], None]) -> None:
        """Run one step of a loop; a failure is counted and logged, and the next wake retries."""
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
            log.exception("engine step %s failed; will retry", getattr(fn, "__name__", fn))

    def _lose(self, exc: DatabaseGone) -> None:
        """The file is gone: stop both loops for good; nothing more is written (the lease expires)."""
        if self.lost is not None:
            return
        self.lost = exc
        self._stopping = True
        self._wake.set()
        self._deliver_wake.set()
        self._fence = None
        self._set_mode("lost")
        if self.on_lost is not None:
            self.on_lost(exc)

    # -- the wake-up loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        """Wait for the earliest of: a poke, the next due time, a poll, the lease, the safety cycle."""
        now = monotonic()
        next_lease = next_poll = now
        next_safety = now + self.safety_tick
        source = self._source
        poll_every = source.poll_every if source is not None else None
        while not self._stopping:
            now = monotonic()
            run_cycle = False
            if self._wake.is_set():
                self._wake.clear()
                run_cycle = True
            if now >= next_lease:
                next_lease = now + self.renew_every
                self._safe(self._lease_step)
                self._safe(self._heartbeat)
                if self._stopping:
                    break
            if poll_every is not None and now >= next_poll:
                next_poll = now + poll_every
                changed = False

                def poll() -> None:
                    nonlocal changed
                    db = self._db
                    if db is not None and source is not None:
                        db.check_file()
                        changed = source.changed()

                self._safe(poll)
                if changed:
                    run_cycle = True
                    self._changed = True
            due_at = self._next_due_at
            if due_at is not None and now >= due_at:
                run_cycle = True
            if now >= next_safety:
                run_cycle = True
            if run_cycle and self._fence is not None and not self._stopping:
                self._safe(self._cycle)
                next_safety = monotonic() + self.safety_tick
            if self._stopping:
                break
            now = monotonic()
            deadline = min(next_lease, next_safety)
            if poll_every is not None:
                deadline = min(deadline, next_poll)
            if self._fence is not None and self._next_due_at is not None:
                deadline = min(deadline, self._next_due_at)
            timeout = deadline - now
            if timeout > 0:
                self._wake.wait(timeout)

    def _lease_step(self) -> None:
        db = self._db
        if db is None:
            return
        if self._fence is not None:
            if lease.renew(db, self._fence, self.lease_ttl):
                return
            self._fence = None
            self._next_due_at = None
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

    def _cycle(self) -> None:
        """Fire what is due, in fenced transactions (the lease read once in each), until nothing is due;
        then remember the next due time (read in the last transaction) for the loop's wait."""
        db, fence = self._db, self._fence
        if db is None or fence is None:
            return
        self.cycles += 1
        changed, self._changed = self._changed, False
        fired_any = False
        batch = self.batch
        on_fired = self.on_fired
        while True:
            fired: list[tuple[str, int]] | None = [] if on_fired is not None else None
            with db.write():
                if not lease.holds(db, fence):
                    self._fence = None
                    self._next_due_at = None
                    self._set_mode("standby")
                    return
                n = escalator.tick(db, self.clock, batch, fired=fired, cache=self._cache)
                n_timers = timers.fire_due(db, self.clock, self.timer_handlers, batch)
                behind = n >= batch or n_timers >= batch
                due = None if behind else self._next_due(db)
                pages_due = (
                    self.deliver
                    and changed
                    and not (n or n_timers)
                    and queued_pages.has_due(db, to_epoch_ms(self.clock.now()))
                )
            if n and on_fired is not None and fired:
                on_fired(fired, self.clock.now())
            self.fired_total += n + n_timers
            fired_any = fired_any or n > 0 or n_timers > 0
            if not behind:
                break
            # Behind (a restart, a burst): the first batch is committed quickly, then larger
            # transactions catch up with less per-commit work (each still well under a second).
            batch = self.catchup_batch
        self._arm(due)
        # A page queued by a request (an incident created, an alert received) goes out now, not at
        # the next delivery interval.
        if self.deliver and (fired_any or pages_due):
            self.wake_delivery()

    def _next_due(self, db: Database) -> datetime | None:
        dues = [
            d for d in (escalator.next_due(db), timers.next_due(db, self.timer_handlers)) if d is not None
        ]
        return min(dues) if dues else None

    def _arm(self, due: datetime | None) -> None:
        """Remember the monotonic instant of ``due`` for the loop (None: nothing, or a virtual clock)."""
        if due is None:
            self._next_due_at = None
            return
        delay = (due - self.clock.now()).total_seconds()
        if delay <= 0:
            self._next_due_at = monotonic()
            return
        real = self.clock.sleep_seconds(delay)
        # A virtual clock only moves when told to, and then poke() is called.
        self._next_due_at = monotonic() + real if real > 0 else None

    # -- the delivery loop --------------------------------------------------------------------------

    def _delivery_loop(self) -> None:
        """Deliver what the API's writer handed over as soon as it is handed; a pass of its own (claim,
        send, record) when woken for one (:meth:`wake_delivery`) or every :data:`DELIVER_S` otherwise."""
        while not self._stopping:
            if not self._deliver_wake.wait(DELIVER_S):
                with self._pass_lock:  # the interval: look for retries and anything missed
                    self._pass_wanted = True
            self._deliver_wake.clear()
            if self._stopping:
                break
            self._safe(self._warm_up)
            self._safe(self._deliver)

    def prepare_delivery(self) -> None:
        """Have the delivery thread build its HTTP client now (httpx imported, the TLS context's CA bundle
        loaded: ~0.2 s of CPU, seconds on a loaded machine) rather than at its first wake, which may be a
        storm's first page. The API server calls it once started; the console does not (its first
        frame comes first). O(1), any thread."""
        self._deliver_wake.set()

    def _warm_up(self) -> None:
        """Build the kept HTTP client (at the delivery thread's first wake: :meth:`prepare_delivery`,
        the first page, or the first interval)."""
        if self._http is None:
            self._http = delivery.new_client(connections=DELIVER_WORKERS)

    def _deliver(self) -> None:
        db, fence = self._delivery_db, self._fence
        if db is None:
            return
        self._record_leftovers(db)
        self._warm_up()
        http, pool = self._http, self._pool
        assert http is not None and pool is not None
        # Claimed by the API's writer (under the lease then): sent at once, as a pass that has claimed
        # finishes sending even if the lease is lost meanwhile.
        while self._handed and not self._stopping:
            rows, extras = self._handed.popleft()
            results = delivery.send_claimed(rows, extras, http, self.config, pool)
            self._record(db, rows, results)
        with self._pass_lock:
            wanted, self._pass_wanted = self._pass_wanted, False
        if not wanted or fence is None:
            return  # woken for a hand-over only: no claim (and no write turn) of its own
        while (
            not self._stopping
            and self._fence is not None
            and delivery.deliver_due(
                db,
                self.clock,
                limit=DELIVER_BATCH,
                client=http,
                fence=fence,
                config=self.config,
                pool=pool,
            )
            == DELIVER_BATCH
        ):
            if self._handed:
                self.wake_delivery()  # the loop comes straight back for them, then for the rest
                return

    def _record(self, db: Database, rows: list[sqlite3.Row], results: list[delivery.Result]) -> None:
        """Record sent rows' outcomes: in the shared writer's next batch, else in a transaction here."""
        submit = self._writer
        if submit is None:
            delivery.record_all(db, self.clock, rows, results)
            return

        def work(wdb: Database) -> None:
            delivery.record_all(wdb, self.clock, rows, results)

        def done(_: Any, error: BaseException | None) -> None:
            with self._records:
                if error is not None:  # the writer could not: the delivery thread records them itself
                    self._unrecorded.append((rows, results))
                    self._deliver_wake.set()
                self._records_out -= 1
                self._records.notify_all()

        with self._records:
            self._records_out += 1
        try:
            submit(work, done)
        except Exception:
            with self._records:
                self._records_out -= 1
            delivery.record_all(db, self.clock, rows, results)

    def _record_leftovers(self, db: Database) -> None:
        """Record the outcomes the shared writer failed to record (each once; re-queued if this fails)."""
        while self._unrecorded:
            rows, results = self._unrecorded.popleft()
            try:
                delivery.record_all(db, self.clock, rows, results)
            except BaseException:
                self._unrecorded.appendleft((rows, results))
                raise
