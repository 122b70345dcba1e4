"""Benchmark of ``oncall report``'s read: ``python bench/reports.py [--history 20000] [--recent 500]``.

Seeds the demo organisation, then ``--history`` incidents spread over the year before (each opened on a
policy, so layer 1 is paged, then acknowledged and resolved: a real timeline) and ``--recent`` in the last
7 days, all through the use cases on a virtual clock. Times the report of the last 7 days and of the whole
year (median of 5 runs each). The 7-day figure should not grow with the history: the read goes through
the window's incidents only. Prints the figures; asserts nothing about timing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.clock import VirtualClock, monotonic  # noqa: E402
from engine.service import Ctx, incidents, reports  # noqa: E402
from engine.service.database import open_db  # noqa: E402
from engine.service.demo import seed_demo  # noqa: E402

START = datetime(2025, 3, 1, tzinfo=UTC)
END = START + timedelta(days=365)


def _seed(ctx: Ctx, clock: VirtualClock, count: int, start: datetime, span: timedelta, policy: str) -> None:
    step = span / max(1, count)
    for n in range(count):
        clock.advance_to(start + step * n)
        created = incidents.create_incident(
            ctx, {"title": f"Incident {n}", "severity": "high", "escalationPolicyId": policy}
        )
        clock.advance(timedelta(seconds=30 + n % 300))
        incidents.acknowledge(ctx, created["id"])
        clock.advance(timedelta(minutes=5 + n % 60))
        incidents.resolve_incident(ctx, created["id"])


def _time(ctx: Ctx, start: str, runs: int = 5) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(runs):
        t0 = monotonic()
        count = reports.report(ctx, start, END.isoformat())["incidents"]
        times.append(monotonic() - t0)
    return statistics.median(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--history", type=int, default=20_000)
    parser.add_argument("--recent", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "bench.db", create=True)
        clock = VirtualClock(START - timedelta(days=1))
        demo = seed_demo(db, clock)
        admin = demo.users["alice"]
        ctx = Ctx(db=db, org_id=demo.org_id, actor_id=admin, actor_user_id=admin, clock=clock, via="operator")
        policy = demo.policies["default"]
        t0 = monotonic()
        _seed(ctx, clock, args.history, START, timedelta(days=358), policy)
        _seed(ctx, clock, args.recent, END - timedelta(days=7), timedelta(days=6, hours=23), policy)
        print(f"seeded {args.history + args.recent} incidents in {monotonic() - t0:.1f} s")
        week, n_week = _time(ctx, (END - timedelta(days=7)).isoformat())
        year, n_year = _time(ctx, START.isoformat(), runs=3)
        print(f"report, last 7 days:  {n_week:>6} incidents  {week * 1000:8.1f} ms (median)")
        print(f"report, whole year:   {n_year:>6} incidents  {year * 1000:8.1f} ms (median)")
        db.close()


if __name__ == "__main__":
    main()
