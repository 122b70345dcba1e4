"""The database's clock: wall time or a scaled clock, never both, and never running backwards.

A database records the clock it runs on in its one ``clock`` row, written by the first process that binds
a clock to it (:func:`bind_clock`: the console, ``oncall engine``, ``oncall serve``, ``oncall demo``, any
command that acts on an organisation):

* ``wall``: real time. Every real database. ``--speed`` is refused on it.
* ``scaled``: ``--speed N`` (demo copies, and any new file first opened with ``--speed``). Every later
  process must open it with the same ``--speed N``; opening it without ``--speed`` is refused. The row
  keeps the anchor (clock instant ``anchor_clock_ms`` = real instant ``anchor_wall_ms``) shared by every
  process running on it, and the latest clock instant handed out (``last_clock_ms``) with the real time it
  was handed out at (``last_wall_ms``), refreshed by every write and by every engine once a second.

A scaled clock only runs while a process runs it. A process that binds a scaled database whose clock
was last seen running more than :data:`LIVE_MS` ago resumes it from where it stopped (the latest clock
instant handed out, or the latest timeline timestamp if that is later) rather than jumping ahead by the
real time that passed times N or back to wall time. The switch from scaled back to wall is only by a
new file: ``oncall demo --reset``.

Instants for writes are taken after ``BEGIN IMMEDIATE`` holds the write lock (:func:`write_at`), so commit
order is timestamp order across processes. On a scaled database the instant is also never earlier than the
latest one already handed out (another process's clock may lag by the anchor it has not seen yet).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from engine.clock import Clock, ScaledClock, WallClock, check_speed
from engine.errors import DomainError
from engine.timefmt import from_epoch_ms, parse_iso, to_epoch_ms, to_iso
from storage.db import Database

LIVE_MS = 10_000
"""A scaled clock seen (by a write or an engine's heartbeat) this recently is still running somewhere."""

_wall = WallClock()


class ClockModeError(DomainError):
    """The database runs on another clock than the one asked for (``--speed``): 400 ``clock_mode``."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__("clock_mode", message)


def recorded_mode(db: Database) -> tuple[str, float] | None:
    """The recorded ``(mode, speed)``: ``("wall", 1.0)``, ``("scaled", N)``, or None if none yet."""
    row = db.one("SELECT mode, speed FROM clock WHERE id = 1")
    return None if row is None else (str(row["mode"]), float(row["speed"]))


def bind_clock(db: Database, speed: float | None, *, real: Clock | None = None) -> Clock:
    """The clock a process opening ``db`` with ``--speed speed`` (None or 1: wall time) runs on.

    Records the mode on first use. A scaled clock joins the anchor of the processes already running it,
    or resumes from where it stopped (see the module docstring). ``real`` is the real time (the machine's
    by default; tests pass a clock they move). Raises :class:`ClockModeError` when the database runs on
    another clock (wall vs scaled, or another speed), :class:`ValueError` for a speed that
    :func:`engine.clock.check_speed` refuses (not finite, not in 0 < N <= 10,000), before anything is
    recorded: the ``clock`` row never holds a speed no clock can run at.
    """
    real = real or _wall
    if speed is not None:
        speed = check_speed(speed)
    scaled = speed is not None and speed != 1
    with db.write():
        row = db.one("SELECT * FROM clock WHERE id = 1")
        wall_ms = to_epoch_ms(real.now())
        if row is not None:
            _refuse_other(row["mode"], float(row["speed"]), speed if scaled else None)
        if not scaled:
            if row is None:
                db.execute(
                    "INSERT INTO clock (id, mode, speed, recorded_at) VALUES (1, 'wall', 1, ?)",
                    (to_iso(from_epoch_ms(wall_ms)),),
                )
            return real
        assert speed is not None
        if row is None:
            start_ms = max(wall_ms, _latest_timeline_ms(db) or 0)
            db.execute(
                "INSERT INTO clock (id, mode, speed, anchor_clock_ms, anchor_wall_ms, last_clock_ms, "
                "last_wall_ms, recorded_at) VALUES (1, 'scaled', ?, ?, ?, ?, ?, ?)",
                (float(speed), start_ms, wall_ms, start_ms, wall_ms, to_iso(from_epoch_ms(wall_ms))),
            )
            return ScaledClock(speed, origin=from_epoch_ms(start_ms), epoch=wall_ms / 1000, real=real)
        last_wall = row["last_wall_ms"]
        if last_wall is not None and 0 <= wall_ms - int(last_wall) <= LIVE_MS:
            clock = ScaledClock(
                speed,
                origin=from_epoch_ms(int(row["anchor_clock_ms"])),
                epoch=int(row["anchor_wall_ms"]) / 1000,
                real=real,
            )
            _note(db, clock)
            return clock
        resume_ms = max(int(row["last_clock_ms"] or 0), _latest_timeline_ms(db) or 0)
        db.execute(
            "UPDATE clock SET anchor_clock_ms = ?, anchor_wall_ms = ?, last_clock_ms = ?, last_wall_ms = ? "
            "WHERE id = 1",
            (resume_ms, wall_ms, resume_ms, wall_ms),
        )
        return ScaledClock(speed, origin=from_epoch_ms(resume_ms), epoch=wall_ms / 1000, real=real)


def _refuse_other(mode: str, recorded_speed: float, wanted: float | None) -> None:
    if mode == "scaled":
        try:
            check_speed(recorded_speed)
        except ValueError:  # written before speeds were checked: no clock can run it
            raise ClockModeError(
                f"this database records a clock speed no clock can run at ({recorded_speed!r}); "
                f"oncall demo --reset starts a demo over"
            ) from None
    if mode == "wall" and wanted is not None:
        raise ClockModeError(
            f"this database runs on wall time; --speed is only for demo and drill copies: "
            f"use oncall demo --speed {wanted:g} (with --reset if the demo database exists) "
            f"or oncall drill --speed {wanted:g}"
        )
    if mode == "scaled" and wanted != recorded_speed:
        asked = "without --speed" if wanted is None else f"with --speed {wanted:g}"
        raise ClockModeError(
            f"this database runs on a scaled clock ({recorded_speed:g}×), it cannot be opened {asked}; "
            f"open it with --speed {recorded_speed:g} (oncall demo --reset starts a demo over on wall time)"
        )


def _latest_timeline_ms(db: Database) -> int | None:
    latest = db.scalar("SELECT max(at) FROM timeline")
    return None if latest is None else to_epoch_ms(parse_iso(str(latest)))


def _note(db: Database, clock: ScaledClock) -> datetime:
    """Inside a write transaction on a scaled database: follow the stored anchor, take the instant (never
    before the latest handed out), and store it as the latest with the real time now."""
    row = db.one("SELECT anchor_clock_ms, anchor_wall_ms, last_clock_ms FROM clock WHERE id = 1")
    assert row is not None
    anchor_clock, anchor_wall = int(row["anchor_clock_ms"]), int(row["anchor_wall_ms"])
    if (to_epoch_ms(clock.origin), round(clock.epoch * 1000)) != (anchor_clock, anchor_wall):
        clock.re_anchor(from_epoch_ms(anchor_clock), anchor_wall / 1000)
    now = clock.now()
    last = row["last_clock_ms"]
    if last is not None and to_epoch_ms(now) < int(last):
        now = from_epoch_ms(int(last))
    db.execute(
        "UPDATE clock SET last_clock_ms = ?, last_wall_ms = ? WHERE id = 1",
        (to_epoch_ms(now), round(clock.real_seconds() * 1000)),
    )
    return now


def instant(db: Database, clock: Clock) -> datetime:
    """The instant for the write transaction ``db`` is in (call it after ``BEGIN IMMEDIATE``).

    A wall or virtual clock's ``now()``; on a scaled database (a :class:`ScaledClock` at its recorded
    speed) the shared scaled instant, never earlier than the latest one handed out, which it records.
    """
    if isinstance(clock, ScaledClock):
        mode = recorded_mode(db)
        if mode is not None and mode == ("scaled", clock.speed):
            return _note(db, clock)
    return clock.now()


@contextmanager
def write_at(db: Database, clock: Clock) -> Iterator[datetime]:
    """``with write_at(db, clock) as now:`` a write transaction (``BEGIN IMMEDIATE``, or a savepoint
    inside one) and its instant, taken once the write lock is held: commit order is timestamp order."""
    with db.write():
        yield instant(db, clock)


def heartbeat(db: Database, clock: Clock) -> None:
    """Record that ``clock`` is still running on ``db`` (engines call it every second): a scaled clock's
    latest instant and the real time now, so a process opening the file later joins or resumes it."""
    if isinstance(clock, ScaledClock):
        with db.write():
            instant(db, clock)
