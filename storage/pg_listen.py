"""Wake-ups through PostgreSQL's ``LISTEN``/``NOTIFY``: an engine sleeps until another process commits.

Every PostgreSQL write transaction that changed a row sends ``NOTIFY oncall_changes`` (delivered at its
commit; :meth:`storage.postgres.PgDatabase.write`). A :class:`ChangeListener` is one thread with its own
connection that ``LISTEN``s on that channel and calls ``on_change`` once per burst of notifications: an
incident created by ``oncall serve`` on another host wakes the engine holding the lease at once, instead
of at its next poll. A lost connection is reopened (with a short back-off) and followed by one
``on_change``, since notifications sent meanwhile were missed. :class:`ListenSource` is the engine
runner's wake source on PostgreSQL; on SQLite there is no listener: the runner polls ``PRAGMA data_version``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from storage.postgres import CHANNEL

log = logging.getLogger("oncall.engine")

WAIT_S = 0.5  # how often the thread looks at its stop flag between notifications
RETRY_S = 1.0  # the pause before reconnecting after the connection failed


class ChangeListener:
    """``LISTEN`` on :data:`storage.postgres.CHANNEL` in a daemon thread; ``on_change()`` for each burst
    of notifications. :meth:`stop` ends the thread within :data:`WAIT_S` seconds."""

    def __init__(self, url: str, on_change: Callable[[], None]) -> None:
        self.url = url
        self.on_change = on_change
        self.notified = 0  # notifications received (tests, status)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="oncall-listen", daemon=True)
        self._listening = threading.Event()

    def start(self) -> ChangeListener:
        """Start listening; returns once ``LISTEN`` is in place (or after 5 s if the server is away)."""
        self._thread.start()
        self._listening.wait(5)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(WAIT_S * 4)

    def _run(self) -> None:
        missed = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    if missed:
                        self._fire()
                    while not self._stop.is_set():
                        got = 0
                        for _ in conn.notifies(timeout=WAIT_S, stop_after=1):
                            got += 1
                        if got:
                            # Drain what else arrived with it, then wake once for the whole burst.
                            for _ in conn.notifies(timeout=0.0):
                                got += 1
                            self.notified += got
                            self._fire()
            except psycopg.Error as exc:
                missed = True
                log.warning(
                    "change listener: %s; reconnecting", str(exc).strip().splitlines()[0] if str(exc) else exc
                )
                self._stop.wait(RETRY_S)

    def _fire(self) -> None:
        try:
            self.on_change()
        except Exception:
            log.exception("change listener callback failed")


class ListenSource:
    """The engine runner's wake source on PostgreSQL (:class:`engine.runtime.runner.WakeSource`): a push
    source, never polled (``poll_every = None``); a :class:`ChangeListener` calls ``wake`` once per burst of
    other processes' commits."""

    poll_every: float | None = None

    def __init__(self, db: Any) -> None:
        self.url: str = db.url
        self.listener: ChangeListener | None = None

    def open(self, wake: Callable[[], None]) -> None:
        self.listener = ChangeListener(self.url, wake).start()

    def changed(self) -> bool:
        return False

    def close(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            listener.stop()
