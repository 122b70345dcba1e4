"""The one place that reads the machine's time.

Everything else takes a :class:`Clock`, so drills, simulations and tests run the real engine on a
virtual clock. Three clocks share the interface:

* :class:`WallClock` is real time.
* :class:`ScaledClock` runs N times faster than real time from the moment it is made (live drills,
  the crash test). It is deterministic across processes when given the same ``origin``/``epoch`` pair.
* :class:`VirtualClock` only moves when told to; ``advance_to`` lets a driver jump to the next due time.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    def sleep_seconds(self, clock_seconds: float) -> float:
        """How many real seconds to wait for ``clock_seconds`` of this clock to pass."""
        ...


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep_seconds(self, clock_seconds: float) -> float:
        return max(0.0, clock_seconds)

    def __repr__(self) -> str:
        return "WallClock()"


MAX_SPEED = 10_000.0
"""The fastest scaled clock (``--speed N``): 0 < N <= 10,000 (a week in about a minute)."""


def check_speed(speed: float) -> float:
    """``speed`` unchanged if it is a finite number with 0 < speed <= :data:`MAX_SPEED`; else ValueError.

    Infinity, NaN and absurd factors would write instants no datetime can hold (or none at all)."""
    if not (isinstance(speed, int | float) and math.isfinite(speed) and 0 < speed <= MAX_SPEED):
        raise ValueError(f"speed must be positive and at most {MAX_SPEED:g}, got {speed!r}")
    return float(speed)


class ScaledClock:
    """Real time sped up ``speed`` times, anchored at ``origin`` (clock time) = ``epoch`` (real time).

    Deterministic across processes given the same anchor. A scaled database stores its anchor
    (:mod:`storage.db_clock`); :meth:`re_anchor` lets a process follow the stored anchor when another
    process moved it. Thread-safe.
    """

    def __init__(
        self,
        speed: float,
        origin: datetime | None = None,
        epoch: float | None = None,
        *,
        real: Clock | None = None,
    ) -> None:
        self.speed = check_speed(speed)
        self.real = real  # the real time it scales: the machine's (None), or a clock a test moves
        self._lock = threading.Lock()
        self.epoch = self.real_seconds() if epoch is None else epoch
        self.origin = origin or datetime.fromtimestamp(self.epoch, UTC)

    def real_seconds(self) -> float:
        """Real time now, seconds since the Unix epoch (the machine's unless ``real`` was given)."""
        return time.time() if self.real is None else self.real.now().timestamp()

    def now(self) -> datetime:
        with self._lock:
            origin, epoch = self.origin, self.epoch
        return origin + timedelta(seconds=(self.real_seconds() - epoch) * self.speed)

    def re_anchor(self, origin: datetime, epoch: float) -> None:
        """From now on, clock time ``origin`` is real time ``epoch`` (seconds since the Unix epoch)."""
        with self._lock:
            self.origin, self.epoch = origin.astimezone(UTC), epoch

    def sleep_seconds(self, clock_seconds: float) -> float:
        return max(0.0, clock_seconds / self.speed)

    def __repr__(self) -> str:
        return f"ScaledClock(speed={self.speed})"


class VirtualClock:
    """A clock that never moves by itself. Thread-safe."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now = self._now + delta
            return self._now

    def advance_to(self, instant: datetime) -> datetime:
        """Move forward to ``instant``; never backwards."""
        with self._lock:
            if instant > self._now:
                self._now = instant.astimezone(UTC)
            return self._now

    def sleep_seconds(self, clock_seconds: float) -> float:
        return 0.0

    def __repr__(self) -> str:
        return f"VirtualClock({self._now.isoformat()})"


def monotonic() -> float:
    """Real monotonic seconds, for measuring durations (benchmarks, timeouts), never for domain time."""
    return time.monotonic()
