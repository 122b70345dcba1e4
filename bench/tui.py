"""Benchmark of the console: ``python bench/tui.py [--incidents 10000] [--history 100000] [--cache DIR]``.

Prints:

* process start to first frame: ``oncall --db …`` spawned on a pseudo-terminal (120×40), timed until the
  incident table has been drawn; for the demo database and for the 10,000-incident one;
* keypress-to-repaint with 10,000 open incidents: from a cursor key (``down``) entering the app to the
  next frame written to the terminal driver, p50/p95;
* a live update with 10,000 open incidents: another connection commits a change (an acknowledgement); the
  time from the console's poll noticing it (``data_version``), through the database read of what changed, to
  the repainted frame, p50/p95; and, for information, commit-to-frame including the poll interval;
* the console process's resident memory with the 10,000 incidents loaded;
* all of it twice: with the 10,000 open incidents alone, and with 100,000 resolved incidents in the history
  besides (history must not slow the live screens). Seeding 100,000 through the use cases takes minutes:
  ``--cache DIR`` keeps the seeded files for the next run (each run works on a copy).

Targets: start ≤ 1.0 s, repaint p95 ≤ 50 ms, memory ≤ 300 MB. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.clock import VirtualClock  # noqa: E402

# -- seeding -----------------------------------------------------------------------------------------


def seed(db_path: Path, count: int, history: int = 0) -> None:
    """The demo organisation plus ``count`` open incidents (through the service, in one transaction), after
    ``history`` resolved ones (each opened, moved through every status and resolved, as people do).

    Seeded a few minutes before the real time, so the console's embedded engine finds nothing overdue and
    the start-up figure is the console's, not a catch-up of thousands of escalations.
    """
    from engine.service import Ctx
    from engine.service.demo import seed_demo
    from engine.service.incidents import advance_status, create_incident
    from storage.db import open_db

    # History first, days back; the open incidents follow, a few minutes before now.
    clock = VirtualClock(datetime.fromtimestamp(time.time() - 120 - history * 4, UTC))
    db = open_db(db_path)
    demo = seed_demo(db, clock)
    ctx = Ctx(
        db=db,
        org_id=demo.org_id,
        actor_id=demo.users["alice"],
        actor_user_id=demo.users["alice"],
        clock=clock,
    )
    severities = ("critical", "high", "medium", "low")
    pols = list(demo.policies.values())
    for start in range(0, history, 5000):
        with db.write():
            for i in range(start, min(history, start + 5000)):
                made = create_incident(
                    ctx,
                    {
                        "title": f"Past incident {i:06d} on host-{i % 89}",
                        "severity": severities[i % 4],
                        "ownerId": demo.users["erin"],
                    },
                )
                for status in ("identified", "monitoring"):
                    advance_status(ctx, made["id"], {"status": status})
                advance_status(ctx, made["id"], {"status": "resolved", "resolutionNote": "bench history"})
                clock.advance(timedelta(milliseconds=3990))
    clock.advance_to(max(clock.now(), datetime.fromtimestamp(time.time() - 120, UTC)))
    with db.write():
        for i in range(count - len(demo.incidents)):
            body = {
                "title": f"Synthetic incident {i:05d} on host-{i % 97}",
                "severity": severities[i % 4],
                "description": "bench",
            }
            if i % 3:
                body["escalationPolicyId"] = pols[i % 2]
            else:
                body["ownerId"] = demo.users["erin"]
            clock.advance(timedelta(milliseconds=5))
            create_incident(ctx, body)
    db.close()


# -- start-up on a pseudo-terminal ---------------------------------------------------------------------


def time_to_first_frame(db_path: Path, *, timeout: float = 30.0) -> float:
    """Seconds from spawning ``oncall`` to the incident table's header being written to the terminal."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "ONCALL_DB": str(db_path)}
    for var in ("TEXTUAL_THEME", "TEXTUAL_ANIMATIONS", "TEXTUAL_COLOR_SYSTEM", "NO_COLOR"):
        env.pop(var, None)
    oncall = Path(sys.executable).parent / "oncall"
    cmd = [str(oncall)] if oncall.exists() else [sys.executable, "-m", "console"]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    seen = b""
    elapsed = float("nan")
    try:
        while time.monotonic() - start < timeout:
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            seen += chunk
            # The table header and its first severity glyph: the first frame with data in it.
            if b"Escalates" in seen and "▲".encode() in seen:
                elapsed = time.monotonic() - start
                break
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
        os.close(master)
    return elapsed


# -- in-process measurements (run in a child so its memory is the console's own) ------------------------


async def _inner(db_path: Path, presses: int, updates: int) -> dict[str, float]:
    from console.tui import OncallApp
    from console.tui.screens.incidents import IncidentsScreen
    from console.tui.widgets.incident_table import IncidentTable
    from engine.service import Ctx
    from engine.service.orgs import find_org
    from storage.db import open_db

    # When each re-read of the incident screen begins (the poll saw a change): the live figure runs from
    # there, through the database read, to the frame, so a slow read shows in it.
    reads: list[float] = []
    original_refresh = IncidentsScreen.refresh_data

    def timed_refresh(self: IncidentsScreen) -> None:
        reads.append(time.monotonic())
        original_refresh(self)

    IncidentsScreen.refresh_data = timed_refresh  # type: ignore[method-assign]

    clock = VirtualClock(datetime.fromtimestamp(time.time(), UTC))
    db = open_db(db_path)
    org_id = find_org(db, None)
    ctx = Ctx(db=db, org_id=org_id, clock=clock)
    app = OncallApp(ctx, db_path=str(db_path), run_engine=False, poll_seconds=0.05)
    frames: list[float] = []
    out: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        # Every frame goes through App._display; headless, it skips turning the update into terminal
        # output, so do that here too: the figure is the whole repaint.
        from textual._compositor import CompositorUpdate

        original = app._display

        def display(screen, renderable) -> None:  # type: ignore[no-untyped-def]
            original(screen, renderable)
            if isinstance(renderable, CompositorUpdate):
                renderable.render_segments(app.console)
                frames.append(time.monotonic())

        app._display = display  # type: ignore[method-assign]
        t0 = time.monotonic()
        await pilot.pause()
        table = app.screen.query_one(IncidentTable)
        while table.row_count < 10 and time.monotonic() - t0 < 60:
            await pilot.pause(0.05)
        out["rows"] = table.row_count
        out["load_s"] = time.monotonic() - t0

        async def next_frame(after: float, limit: float = 2.0) -> float:
            end = time.monotonic() + limit
            while time.monotonic() < end:
                later = [f for f in frames if f > after]
                if later:
                    return later[0]
                await asyncio.sleep(0.0005)
            return float("nan")

        cursor: list[float] = []
        for i in range(presses):
            await pilot.pause(0.02)
            key = "down" if (i // 20) % 2 == 0 else "up"
            t = time.monotonic()
            await pilot.press(key)
            f = await next_frame(t)
            cursor.append(f - t)
        out["cursor_p50_ms"] = statistics.median(cursor) * 1000
        out["cursor_p95_ms"] = _p95(cursor) * 1000

        # Another connection acknowledges incidents shown at the top of the table, one at a time.
        from engine.service.incidents import acknowledge

        other = open_db(db_path)
        other_ctx = Ctx(db=other, org_id=org_id, clock=clock)
        targets = [r.id for r in table.rows_in_order() if r.acknowledged_by is None][:updates]
        live: list[float] = []
        commit_to_frame: list[float] = []
        for incident_id in targets:
            await pilot.pause(0.1)
            generation = app.generation
            committed = time.monotonic()
            acknowledge(other_ctx, incident_id)
            end = time.monotonic() + 3
            while app.generation == generation and time.monotonic() < end:
                await asyncio.sleep(0.0005)
            if app.generation == generation or not reads or reads[-1] < committed:
                continue
            seen = reads[-1]  # the re-read that picked the change up began here
            f = await next_frame(seen)
            live.append(f - seen)
            commit_to_frame.append(f - committed)
        other.close()
        out["live_p50_ms"] = statistics.median(live) * 1000 if live else float("nan")
        out["live_p95_ms"] = _p95(live) * 1000 if live else float("nan")
        out["commit_to_frame_p95_ms"] = _p95(commit_to_frame) * 1000 if commit_to_frame else float("nan")
        out["rss_mb"] = _rss_mb()
    return out


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(db_path: Path, args: argparse.Namespace) -> tuple[list[float], dict[str, float]]:
    """Start-to-first-frame runs on a pseudo-terminal, then the in-process figures (on a copy: the live
    updates acknowledge incidents)."""
    starts = [time_to_first_frame(db_path) for _ in range(args.starts)]
    inner = subprocess.run(
        [
            sys.executable,
            __file__,
            "--inner",
            str(db_path),
            "--presses",
            str(args.presses),
            "--updates",
            str(args.updates),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if inner.returncode != 0:
        print(inner.stderr[-3000:])
        raise SystemExit("the in-process measurement failed")
    return starts, json.loads(inner.stdout.strip().splitlines()[-1])


def _seeded(cache: Path, name: str, count: int, history: int, work: Path) -> Path:
    """A working copy of the seeded database ``name`` (seeded into ``cache`` once, reused after)."""
    kept = cache / f"{name}-{count}-{history}.db"
    if not kept.exists():
        t = time.monotonic()
        partial = kept.with_suffix(".partial")
        for suffix in ("", "-wal", "-shm"):
            Path(str(partial) + suffix).unlink(missing_ok=True)
        seed(partial, count, history)
        partial.rename(kept)
        print(f"seeded {count} open incidents after {history} resolved ones in {time.monotonic() - t:.0f} s")
    copy = work / kept.name
    shutil.copyfile(kept, copy)
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--history", type=int, default=100_000, help="resolved incidents in the history case")
    parser.add_argument("--presses", type=int, default=60)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--starts", type=int, default=3, help="start-up runs per database (best is shown)")
    parser.add_argument(
        "--cache", type=Path, default=None, help="folder keeping the seeded databases between runs"
    )
    parser.add_argument("--inner", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(asyncio.run(_inner(args.inner, args.presses, args.updates))))
        return

    def verdict(ok: bool) -> str:
        return "ok" if ok else "OVER TARGET"

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cache = args.cache or work
        cache.mkdir(parents=True, exist_ok=True)
        demo_db = _seeded(cache, "demo", 0, 0, work)
        demo_starts = [time_to_first_frame(demo_db) for _ in range(args.starts)]
        print(
            f"start to first frame (demo db): {min(demo_starts) * 1000:7.0f} ms  (runs: "
            f"{', '.join(f'{s * 1000:.0f}' for s in demo_starts)})  target ≤ 1000 ms  "
            f"{verdict(min(demo_starts) <= 1.0)}"
        )
        cases = [
            (f"{args.incidents} open", "open", args.incidents, 0),
            (f"{args.incidents} open + {args.history} resolved", "history", args.incidents, args.history),
        ]
        for label, name, count, history in cases:
            db = _seeded(cache, name, count, history, work)
            starts, r = _measure(db, args)
            print(f"-- {label}")
            print(
                f"   start to first frame:          {min(starts) * 1000:7.0f} ms  (runs: "
                f"{', '.join(f'{s * 1000:.0f}' for s in starts)})  target ≤ 1000 ms  "
                f"{verdict(min(starts) <= 1.0)}"
            )
            print(f"   table loaded with {int(r['rows'])} rows in {r['load_s'] * 1000:.0f} ms (in-process)")
            print(
                f"   cursor move keypress→repaint:  p50 {r['cursor_p50_ms']:6.1f} ms  p95 "
                f"{r['cursor_p95_ms']:6.1f} ms  target p95 ≤ 50 ms  {verdict(r['cursor_p95_ms'] <= 50)}"
            )
            print(
                f"   live update poll→read→repaint: p50 {r['live_p50_ms']:6.1f} ms  p95 "
                f"{r['live_p95_ms']:6.1f} ms  target p95 ≤ 50 ms  {verdict(r['live_p95_ms'] <= 50)}"
            )
            print(
                f"   live update commit→repaint (incl. the 50 ms poll): p95 {r['commit_to_frame_p95_ms']:6.1f} ms"
            )
            print(
                f"   memory (RSS) with {int(r['rows'])} incidents loaded: {r['rss_mb']:.0f} MB  target ≤ 300 MB  "
                f"{verdict(r['rss_mb'] <= 300)}"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
