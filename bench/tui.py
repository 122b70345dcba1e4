"""Benchmark of the console: ``python bench/tui.py [--incidents 10000] [--history 100000] [--cache DIR]``.

Every figure is measured beside a floor in the same run, alternating, at least three rounds
(``bench/harness.py``); the ratios are what to read on a shared machine. With 10,000 open incidents and
100,000 resolved ones in the history:

* **start to first frame**: ``oncall`` spawned on a 120×40 pseudo-terminal (the process start, imports,
  opening the file and the first rows included), timed until the table header and a severity glyph have
  been written; beside it the *floor*, a bare Textual app in the same interpreter that draws the same
  header and glyphs. Also, for information, start to the whole table loaded (the summary line's count).
* **live update**: another *process* acknowledges an incident on screen; the time from its commit to the
  console's next frame after the re-read that picked it up (the ``data_version`` poll, the database read
  and the repaint included, headless with the frame rendered to terminal output); beside it the *floor*,
  a thread polling ``data_version`` at the same interval on its own connection and reading the changed
  row by the same cursor query, with no console.
* **idle**: the running console (its engine embedded, nothing due) left alone for 10 s on the
  pseudo-terminal: bytes written to the terminal per second and CPU seconds (user+system, every thread);
  beside it the *floor*, a bare Textual app with a seconds clock (the least a console with a clock writes).
* **change feed** at 1,000 / 10,000 / 100,000 timeline rows: one ``changed_incidents`` read when nothing
  changed and when one incident did, beside the *floor* (``max(seq)`` of the timeline, the least read that
  answers "anything new?") and the old ``SELECT DISTINCT`` read as the *before* peer; flat means the ratio
  does not move with the history.

``--cache DIR`` keeps the seeded files (100,000 resolved incidents take minutes); each run works on a copy.
``--part`` runs one part. Targets are printed (first frame ≤ 1.0 s), never an exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import re
import select
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# ``--src DIR``: measure the console of another checkout (e.g. ``git archive main | tar -x -C DIR``), for
# before/after figures in one run; the harness and the floors stay this checkout's.
SRC = Path(os.environ.get("ONCALL_BENCH_SRC") or ROOT)
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(SRC))

from bench.harness import Compare, percentile  # noqa: E402
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


def push_due_times(db_path: Path, seconds: float = 3600.0) -> None:
    """Move every escalation's next due time ``seconds`` past now in a working copy, so the console's
    embedded engine finds nothing due while it is measured (a cached file seeded hours ago would otherwise
    start with thousands of overdue steps to catch up). Bench-only SQL on a bench-only copy."""
    due = int((time.time() + seconds) * 1000)
    con = sqlite3.connect(db_path)
    with con:
        con.execute("UPDATE escalations SET due_at_ms = ? WHERE due_at_ms IS NOT NULL", (due,))
    con.close()


# -- the floor app: a bare Textual app drawing what the first frame must show --------------------------

FLOOR_APP = """
import sys, time
from textual.app import App
from textual.widgets import Static

class Floor(App):
    def compose(self):
        yield Static(time.strftime("%H:%M:%S"), id="clock")
        yield Static("Sev  #  Status  Title  Escalates\\n" + "\\n".join(f"\\u25b2 crit  #{i}  row" for i in range(36)))
        yield Static("10000 open")

    def on_mount(self):
        self.set_interval(1.0, lambda: self.query_one("#clock", Static).update(time.strftime("%H:%M:%S")))

Floor().run()
"""


class Terminal:
    """A process on a 120×40 pseudo-terminal; everything it writes is read (and counted) as it comes."""

    def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
        import fcntl
        import struct
        import termios

        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.start = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True, cwd=SRC
        )
        os.close(slave)
        self.seen = bytearray()
        self.total = 0

    def pump(self, seconds: float) -> None:
        """Read whatever the process writes for ``seconds``."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], min(left, 0.05))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return
                self.total += len(chunk)
                self.seen += chunk

    def wait_for(self, *markers: bytes, timeout: float = 60.0) -> float:
        """Seconds from the spawn until every marker has been written.

        Raises RuntimeError after ``timeout`` seconds without them, with the end of what the program
        wrote (a screen the bench did not expect is a failure of the bench, not a figure)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(m in self.seen for m in markers):
                return time.monotonic() - self.start
            self.pump(0.01)
        text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b" ", bytes(self.seen[-4000:])).decode(errors="replace")
        raise RuntimeError(
            f"no {markers!r} after {timeout:.0f} s; the end of the output: {' '.join(text.split())}"
        )

    def cpu_seconds(self) -> float:
        """User+system CPU of the process so far (every thread)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def _env(db_path: Path) -> dict[str, str]:
    # The size is the pseudo-terminal's (Terminal), stated here too: a COLUMNS/LINES inherited from the
    # parent (a test runner sets them) would win over the terminal's own size in the child.
    env = {**os.environ, "TERM": "xterm-256color", "ONCALL_DB": str(db_path), "COLUMNS": "120", "LINES": "40"}
    # PYTHONDONTWRITEBYTECODE would make every start compile every module from source (~1 s more on
    # this machine): an installed oncall starts from cached bytecode, so the bench does too (see the
    # warm-up run in main).
    for var in (
        "TEXTUAL_THEME",
        "TEXTUAL_ANIMATIONS",
        "TEXTUAL_COLOR_SYSTEM",
        "NO_COLOR",
        "PYTHONDONTWRITEBYTECODE",
    ):
        env.pop(var, None)
    return env


def _oncall_cmd() -> list[str]:
    """``oncall`` as the entry point runs it, from ``SRC`` (the working directory comes first on the path)."""
    return [sys.executable, "-m", "console"]


FIRST_ROWS = (b"Escalates", "▲".encode())
#: What the status bar shows once the whole table is loaded (``--incidents`` open); set by ``main``.
LOADED = b"10000 open"


def first_frame(db_path: Path, floor_script: Path, *, floor: bool) -> tuple[float, float, float]:
    """(first frame with rows, CPU seconds spent by then, whole table loaded) in seconds from the spawn,
    for ``oncall`` or the floor. The CPU figure moves less with the machine's load than the wall one."""
    cmd = [sys.executable, str(floor_script)] if floor else _oncall_cmd()
    term = Terminal(cmd, _env(db_path))
    try:
        first = term.wait_for(*FIRST_ROWS)
        cpu = term.cpu_seconds()
        full = term.wait_for(LOADED, timeout=60)
    finally:
        term.close()
    return first, cpu, full


def idle(db_path: Path, floor_script: Path, *, floor: bool, seconds: float = 10.0) -> tuple[float, float]:
    """(bytes written to the terminal per second, CPU seconds) over ``seconds`` of leaving it alone, once
    the table is loaded and the embedded engine has settled (3 s)."""
    cmd = [sys.executable, str(floor_script)] if floor else _oncall_cmd()
    term = Terminal(cmd, _env(db_path))
    try:
        term.wait_for(*FIRST_ROWS)
        term.wait_for(LOADED, timeout=60)
        term.pump(3.0)
        before_bytes, before_cpu = term.total, term.cpu_seconds()
        term.pump(seconds)
        return (term.total - before_bytes) / seconds, term.cpu_seconds() - before_cpu
    finally:
        term.close()


# -- live update: another process writes, the console shows it ----------------------------------------


def _writer(db_path: Path) -> None:
    """The other process: acknowledge each incident id read from stdin; answer the commit instant
    (``time.monotonic()``, system-wide on Linux) on stdout."""
    from engine.clock import WallClock
    from engine.service import Ctx
    from engine.service.incidents import acknowledge
    from engine.service.orgs import active_user_ids, find_org
    from storage.db import open_db

    db = open_db(db_path)
    ctx = Ctx(db=db, org_id=find_org(db, None), clock=WallClock())
    user = sorted(active_user_ids(ctx))[0]  # acknowledged by someone, so the table's "Acked by" moves
    ctx = Ctx(db=db, org_id=ctx.org_id, actor_id=user, actor_user_id=user, clock=WallClock())
    for line in sys.stdin:
        acknowledge(ctx, line.strip())
        print(time.monotonic(), flush=True)


class Writer:
    def __init__(self, db_path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--writer", str(db_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ack(self, incident_id: str) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(incident_id + "\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def _floor_watch(db_path: Path, poll: float, want: str, stop: threading.Event) -> float:
    """The live floor: poll ``data_version`` every ``poll`` s on its own connection; on a change read the
    new timeline rows by the cursor and the incident's row by primary key; the instant ``want`` is seen."""
    con = sqlite3.connect(db_path)
    (position,) = con.execute("SELECT coalesce(max(seq), 0) FROM timeline").fetchone()
    (version,) = con.execute("PRAGMA data_version").fetchone()
    while not stop.is_set():
        time.sleep(poll)
        (now_version,) = con.execute("PRAGMA data_version").fetchone()
        if now_version == version:
            continue
        version = now_version
        rows = con.execute("SELECT seq, incident_id FROM timeline WHERE seq > ? ORDER BY seq", (position,))
        ids = set()
        for seq, incident_id in rows.fetchall():
            position = seq
            ids.add(incident_id)
        if want in ids:
            con.execute("SELECT acknowledged_by FROM incidents WHERE id = ?", (want,)).fetchone()
            con.close()
            return time.monotonic()
    con.close()
    return float("nan")


def _floor_watch_into(
    seen: list[float], db_path: Path, poll: float, want: str, stop: threading.Event
) -> None:
    seen.append(_floor_watch(db_path, poll, want, stop))


async def _live(db_path: Path, rounds: int, per_round: int, poll: float) -> dict[str, list[float]]:
    """Commit (another process) → frame for the console and → seen for the floor, alternating rounds."""
    from console.tui import OncallApp
    from console.tui.widgets.incident_table import IncidentTable
    from engine.service import Ctx
    from engine.service.orgs import find_org
    from storage.db import open_db

    clock = VirtualClock(datetime.fromtimestamp(time.time(), UTC))
    db = open_db(db_path)
    ctx = Ctx(db=db, org_id=find_org(db, None), clock=clock)
    app = OncallApp(ctx, db_path=str(db_path), run_engine=False, poll_seconds=poll)
    frames: list[float] = []
    out: dict[str, list[float]] = {"floor": [], "console": [], "cursor": []}
    writer = Writer(db_path)
    async with app.run_test(size=(120, 40)) as pilot:
        from textual._compositor import CompositorUpdate

        original = app._display

        def display(screen, renderable) -> None:  # type: ignore[no-untyped-def]
            original(screen, renderable)
            if isinstance(renderable, CompositorUpdate):
                renderable.render_segments(app.console)  # headless skips this; the figure includes it
                frames.append(time.monotonic())

        app._display = display  # type: ignore[method-assign]
        table = app.screen.query_one(IncidentTable)
        end = time.monotonic() + 60
        while table.row_count < 10_000 and time.monotonic() < end:
            await pilot.pause(0.05)
        targets = [r.id for r in table.rows_in_order() if r.acknowledged_by is None][: rounds * per_round * 2]

        async def shown_acked(incident_id: str, committed: float) -> float:
            end = time.monotonic() + 5
            while time.monotonic() < end:
                row = table.row(incident_id)
                if row is not None and row.acknowledged_by is not None:
                    later = [f for f in frames if f > committed]
                    while not later and time.monotonic() < end:
                        await asyncio.sleep(0.0005)
                        later = [f for f in frames if f > committed]
                    return later[-1] if later else float("nan")
                await asyncio.sleep(0.0005)
            return float("nan")

        for _ in range(rounds):
            for _ in range(per_round):
                incident_id = targets.pop(0)
                stop = threading.Event()
                seen: list[float] = []
                watcher = threading.Thread(
                    target=_floor_watch_into, args=(seen, db_path, poll, incident_id, stop)
                )
                watcher.start()
                await asyncio.sleep(poll * 2)
                committed = writer.ack(incident_id)
                watcher.join(10)
                stop.set()
                out["floor"].append((seen[0] - committed) * 1000 if seen else float("nan"))
            for _ in range(per_round):
                incident_id = targets.pop(0)
                await pilot.pause(poll * 2)
                committed = writer.ack(incident_id)
                shown = await shown_acked(incident_id, committed)
                out["console"].append((shown - committed) * 1000)
            for i in range(per_round):
                await pilot.pause(0.02)
                t = time.monotonic()
                await pilot.press("down" if i % 2 == 0 else "up")
                end = time.monotonic() + 2
                while not [f for f in frames if f > t] and time.monotonic() < end:
                    await asyncio.sleep(0.0005)
                later = [f for f in frames if f > t]
                out["cursor"].append((later[0] - t) * 1000 if later else float("nan"))
    writer.close()
    return out


# -- the change feed at 1k / 10k / 100k timeline rows ------------------------------------------------------


def _feed_db(path: Path) -> tuple[str, list[str]]:
    """A small organisation with 200 open incidents (through the use cases); returns (org id, ids)."""
    from engine.service import Ctx
    from engine.service.demo import seed_demo
    from engine.service.incidents import create_incident
    from storage.db import open_db

    clock = VirtualClock(datetime.fromtimestamp(time.time(), UTC))
    db = open_db(path)
    demo = seed_demo(db, clock)
    ctx = Ctx(
        db=db,
        org_id=demo.org_id,
        actor_id=demo.users["alice"],
        actor_user_id=demo.users["alice"],
        clock=clock,
    )
    ids = []
    with db.write():
        for i in range(200):
            ids.append(
                create_incident(
                    ctx, {"title": f"feed {i}", "severity": "low", "ownerId": demo.users["erin"]}
                )["id"]
            )
    db.close()
    return demo.org_id, ids


def _grow_timeline(path: Path, rows: int, ids: list[str]) -> None:
    """Append note events until the timeline holds ``rows`` rows (bench-only SQL: history filler)."""
    con = sqlite3.connect(path)
    (have,) = con.execute("SELECT count(*) FROM timeline").fetchone()
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with con:
        con.executemany(
            "INSERT INTO timeline (id, incident_id, at, kind, actor, data) VALUES (?, ?, ?, 'note', NULL, '{}')",
            ((f"evt_bench{n:09d}", ids[n % len(ids)], at) for n in range(have, rows)),
        )
    con.close()


def feed(work: Path, sizes: list[int], rounds: int, calls: int) -> None:
    """The change feed's read at each timeline size (see the module docstring)."""
    path = work / "feed.db"
    org_id, ids = _feed_db(path)
    for size in sizes:
        _grow_timeline(path, size, ids)
        _feed_at(path, org_id, ids, size, rounds, calls)


def _feed_at(path: Path, org_id: str, ids: list[str], size: int, rounds: int, calls: int) -> None:
    from console.tui.readmodel import changed_incidents
    from engine.service import Ctx
    from engine.service.incidents import acknowledge
    from storage.db import open_db

    db = open_db(path)
    raw = sqlite3.connect(path)
    ctx = Ctx(db=db, org_id=org_id, clock=VirtualClock(datetime.now(UTC)))
    position = int(raw.execute("SELECT max(seq) FROM timeline").fetchone()[0])
    cmp_idle = Compare(
        f"change feed, nothing new, {size:,} timeline rows", unit="µs/read", higher_is_better=False
    )
    cmp_one = Compare(
        f"change feed, one incident acknowledged, {size:,} timeline rows",
        unit="µs/read",
        higher_is_better=False,
    )

    def per_call(fn) -> float:  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - t) / calls * 1e6

    def floor() -> object:
        return raw.execute("SELECT coalesce(max(seq), 0) FROM timeline").fetchone()

    def before() -> object:
        return raw.execute("SELECT DISTINCT incident_id FROM timeline WHERE seq > ?", (position,)).fetchall()

    for _ in cmp_idle.rounds(rounds):
        cmp_idle.measure("floor max(seq)", lambda: per_call(floor))
        cmp_idle.measure("before: DISTINCT", lambda: per_call(before))
        cmp_idle.measure(
            "changed_incidents", lambda: per_call(lambda: changed_incidents(db, org_id, position))
        )
    cmp_idle.report(workload="changed_incidents", baseline="floor max(seq)")
    acknowledge(ctx, ids[size % len(ids)])
    for _ in cmp_one.rounds(rounds):
        cmp_one.measure("floor max(seq)", lambda: per_call(floor))
        cmp_one.measure("before: DISTINCT", lambda: per_call(before))
        cmp_one.measure(
            "changed_incidents", lambda: per_call(lambda: changed_incidents(db, org_id, position))
        )
    cmp_one.report(workload="changed_incidents", baseline="floor max(seq)")
    raw.close()
    db.close()


# -- driver ------------------------------------------------------------------------------------------


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
    push_due_times(copy)
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument(
        "--history", type=int, default=100_000, help="resolved incidents besides the open ones"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--part", choices=("all", "start", "live", "idle", "feed"), default="all")
    parser.add_argument("--poll", type=float, default=0.05, help="the live part's poll interval (s)")
    parser.add_argument("--cache", type=Path, default=None, help="folder keeping the seeded databases")
    parser.add_argument("--src", type=Path, default=None, help="measure the console of this checkout")
    parser.add_argument("--writer", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--live-inner", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.src is not None and os.environ.get("ONCALL_BENCH_SRC") != str(args.src.resolve()):
        os.environ["ONCALL_BENCH_SRC"] = str(args.src.resolve())
        os.execv(sys.executable, [sys.executable, *sys.argv])  # SRC is read at import
    if args.writer:
        _writer(args.writer)
        return
    if args.live_inner:
        print(json.dumps(asyncio.run(_live(args.live_inner, args.rounds, 5, args.poll))))
        return

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cache = args.cache or work / "seeded"
        cache.mkdir(parents=True, exist_ok=True)
        floor_script = work / "floor_app.py"
        global LOADED
        LOADED = f"{args.incidents} open".encode()
        floor_script.write_text(FLOOR_APP.replace("10000 open", f"{args.incidents} open"))
        label = f"{args.incidents:,} open + {args.history:,} resolved"
        if args.part in ("all", "start", "idle", "live"):
            db = _seeded(cache, "history", args.incidents, args.history, work)
        if args.part in ("all", "start", "idle"):
            first_frame(db, floor_script, floor=True)  # warm-up: bytecode cached, files in the page cache
            first_frame(db, floor_script, floor=False)
        if args.part in ("all", "start"):
            cmp = Compare(f"start to first frame with rows, {label}", unit="ms", higher_is_better=False)
            cpu = Compare(
                f"CPU spent by the first frame with rows, {label}", unit="CPU ms", higher_is_better=False
            )
            full: list[float] = []
            for _ in cmp.rounds(args.rounds):
                first, used, _ = first_frame(db, floor_script, floor=True)
                cmp.add("floor: bare Textual app", first * 1000)
                cpu.add("floor: bare Textual app", used * 1000)
                first, used, whole = first_frame(db, floor_script, floor=False)
                cmp.add("oncall", first * 1000)
                cpu.add("oncall", used * 1000)
                full.append(whole * 1000)
            cmp.report(workload="oncall", baseline="floor: bare Textual app")
            cpu.report(workload="oncall", baseline="floor: bare Textual app")
            best = min(cmp.figures["oncall"])
            print(
                f"  oncall first frame: best {best:.0f} ms, target <= 1000 ms: {'met' if best <= 1000 else 'MISSED'}"
            )
            print(
                f"  oncall start to the whole table loaded: median {statistics.median(full):.0f} ms  [{', '.join(f'{f:.0f}' for f in full)}]"
            )
            sys.stdout.flush()
        if args.part in ("all", "idle"):
            out = Compare(f"idle terminal output over 10 s, {label}", unit="bytes/s", higher_is_better=False)
            idle_cpu = Compare(f"idle CPU over 10 s, {label}", unit="CPU ms", higher_is_better=False)
            for _ in out.rounds(args.rounds):
                b, c = idle(db, floor_script, floor=True)
                out.add("floor: bare Textual app + clock", b)
                idle_cpu.add("floor: bare Textual app + clock", c * 1000)
                b, c = idle(db, floor_script, floor=False)
                out.add("oncall", b)
                idle_cpu.add("oncall", c * 1000)
            out.report(workload="oncall", baseline="floor: bare Textual app + clock")
            idle_cpu.report(workload="oncall", baseline="floor: bare Textual app + clock")
            sys.stdout.flush()
        if args.part in ("all", "live"):
            inner = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--live-inner",
                    str(db),
                    "--rounds",
                    str(args.rounds),
                    "--poll",
                    str(args.poll),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if inner.returncode != 0:
                print(inner.stderr[-3000:])
                raise SystemExit("the live measurement failed")
            r = json.loads(inner.stdout.strip().splitlines()[-1])
            live = Compare(
                f"live update, another process's commit → on screen (poll {args.poll * 1000:.0f} ms), {label}",
                unit="ms",
                higher_is_better=False,
            )
            live.figures = {
                "floor: poll + cursor read": r["floor"],
                "console: poll + read + repaint": r["console"],
            }
            live.report(workload="console: poll + read + repaint", baseline="floor: poll + cursor read")
            for name, values in (
                ("floor", r["floor"]),
                ("console", r["console"]),
                ("cursor keypress→frame", r["cursor"]),
            ):
                print(f"  {name}: p50 {percentile(values, 50):.1f} ms  p95 {percentile(values, 95):.1f} ms")
            sys.stdout.flush()
        if args.part in ("all", "feed"):
            feed(work, [1_000, 10_000, 100_000], args.rounds, 2000)


if __name__ == "__main__":
    main()
