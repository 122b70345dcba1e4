"""The delivery worker (engine/runtime/delivery_worker.py): woken directly, a wake during a pass is never lost."""

from __future__ import annotations

import threading

from engine.runtime.delivery_worker import DeliveryWorker

WAIT_S = 30  # a bound for a hung worker, never a pause: each wait ends when its event is set
NEVER = 3600.0  # an interval no test waits for: every pass below is a wake's


def test_a_wake_runs_a_pass_at_once_not_at_the_interval() -> None:
    ran = threading.Event()
    worker = DeliveryWorker(ran.set, interval=NEVER).start()
    try:
        worker.wake()
        assert ran.wait(WAIT_S)
    finally:
        worker.stop()


def test_a_wake_during_a_pass_runs_another_pass_after_it() -> None:
    in_first, release, second = threading.Event(), threading.Event(), threading.Event()
    calls: list[int] = []

    def deliver() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            in_first.set()
            release.wait(WAIT_S)
        else:
            second.set()

    worker = DeliveryWorker(deliver, interval=NEVER).start()
    try:
        worker.wake()
        assert in_first.wait(WAIT_S)
        worker.wake()  # a page queued while the first pass sends: APScheduler's job dropped this one
        worker.wake()  # wakes coalesce: one more pass, not two
        release.set()
        assert second.wait(WAIT_S)
    finally:
        worker.stop()
    assert calls == [0, 1]
