"""Benchmark of schedule resolution: ``python bench/resolve.py``.

Prints figures only and asserts nothing about timing, because machines differ. The numbers tell us
whether the escalation engine can call ``resolve`` on every page and the console can draw a year of
shifts without caching. The target is at least 20k resolves/s.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import rotation  # noqa: E402
from engine.model import Override, RotationLayer, Schedule  # noqa: E402
from engine.rotation import parse_handoff_time, resolve, shifts  # noqa: E402

ZONES = ("America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata", "UTC")
ORIGIN = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


def make_schedule(n: int, zone: str) -> Schedule:
    """Three layers (weekly primary, daily secondary, 3-day shadow) and a couple of overrides."""
    people = tuple(f"user_{n}_{i}" for i in range(6))
    layers = (
        RotationLayer(f"rot_{n}_0", "Primary", 0, "weekly", 7, parse_handoff_time("09:00"), ORIGIN, None,
                      people[:4]),
        RotationLayer(f"rot_{n}_1", "Secondary", 1, "daily", 1, parse_handoff_time("02:30"),
                      ORIGIN - timedelta(days=3), None, people[2:]),
        RotationLayer(f"rot_{n}_2", "Shadow", 2, "custom", 3, parse_handoff_time("17:45"),
                      ORIGIN + timedelta(days=10), ORIGIN + timedelta(days=300), people[::2]),
    )  # fmt: skip
    overrides = (
        Override(f"ovr_{n}_1", "user_cover", ORIGIN + timedelta(days=60), ORIGIN + timedelta(days=63)),
        Override(f"ovr_{n}_2", "user_cover2", ORIGIN + timedelta(days=61), ORIGIN + timedelta(days=62)),
    )
    return Schedule(f"sched_{n}", f"Schedule {n}", zone, layers, overrides)


def bench_resolve(count: int = 200_000) -> tuple[float, float]:
    sched = make_schedule(0, "America/New_York")
    clear_caches()
    # ~1 year of instants 157 s apart: mostly distinct, crossing both DST changes and the overrides
    instants = [ORIGIN + timedelta(seconds=157 * i) for i in range(count)]
    t0 = time.perf_counter()
    for at in instants:
        resolve(sched, at)
    elapsed = time.perf_counter() - t0
    return count / elapsed, elapsed


def clear_caches() -> None:
    """Forget cached wall-clock conversions so the first timing is what a freshly started process sees."""
    rotation._wall_to_utc.cache_clear()
    rotation._wall_info.cache_clear()


def bench_shifts(n_schedules: int = 20, repeat: int = 5) -> tuple[float, float, int, int]:
    schedules = [make_schedule(n, ZONES[n % len(ZONES)]) for n in range(n_schedules)]
    start, end = ORIGIN, ORIGIN + timedelta(weeks=52)
    clear_caches()
    timings: list[float] = []
    handoffs = owners = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        results = [shifts(s, start, end) for s in schedules]
        timings.append(time.perf_counter() - t0)
        handoffs = sum(len(r.handoffs) for r in results)
        owners = sum(len(r.owners) for r in results)
    return timings[0], min(timings), handoffs, owners


def main() -> None:
    rate, elapsed = bench_resolve()
    print(f"resolve: {rate:,.0f} /s  (3 layers + 2 overrides, 200,000 instants in {elapsed:.2f} s)")
    cold, best, handoffs, owners = bench_shifts()
    print(
        f"shifts:  {cold * 1000:,.1f} ms cold, {best * 1000:,.1f} ms warm (best of 5) "
        f"for 20 schedules x 3 layers x 52 weeks ({handoffs:,} handoffs, {owners:,} owner intervals)"
    )


if __name__ == "__main__":
    main()
