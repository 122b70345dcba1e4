"""The delivery worker: one thread that runs delivery passes when woken, and at least every ``interval``.

:meth:`DeliveryWorker.wake` is what a commit that queued a page calls (the runner's cycle, the API's
writer after a batch): the pass starts at once, not at the next interval. A wake that arrives while a pass
runs is never lost: the flag is cleared *before* each pass, so a wake during the pass makes the worker run
another one straight after it (APScheduler's ``max_instances=1`` job dropped such wakes, and the page then
waited for the 1 s interval: the receipt → page p99 of ~1 s measured by ``bench/ingest.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class DeliveryWorker:
    """Runs ``deliver`` (one pass; it catches its own errors) on its own daemon thread: at once when
    :meth:`wake` is called, otherwise every ``interval`` seconds (retries, pages that came due)."""

    def __init__(self, deliver: Callable[[], None], *, interval: float = 1.0, name: str = "delivery") -> None:
        self._deliver = deliver
        self._interval = interval
        self._wake = threading.Event()
        self._stopping = False
        self.passes = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> DeliveryWorker:
        self._thread.start()
        return self

    def wake(self) -> None:
        """Run a pass now (or right after the running one). Cheap: sets an event; never blocks."""
        self._wake.set()

    def stop(self) -> None:
        """Ask the thread to end after its running pass, if any; does not wait (the caller waits for the
        pass through its own lock, as :class:`engine.runtime.runner.EngineRunner` does)."""
        self._stopping = True
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            if self._stopping:
                return
            self._wake.clear()  # before the pass: a wake during it runs another pass
            self._deliver()
            self.passes += 1
