"""Fenced leases: exactly one process per database fires timers and delivers pages (the engine lease,
row ``engine``), and one per organisation pushes its change queue (row ``push:<org>``,
:mod:`storage.sync.change_queue.push`); the two differ only in the row's name and TTL.

One ``engine_lease`` row holds ``holder``, a fencing ``token`` and ``expires_at_ms``. The holder renews
it every second or so; another engine takes it once it has expired (or at once when the holder is a
process on this machine that no longer exists, e.g. after ``kill -9``), and taking it increments the
token. Every engine transaction (:func:`engine.runtime.escalator.tick`) first checks :func:`holds` inside its own
``BEGIN IMMEDIATE`` transaction, so a holder that was paused past its expiry and replaced cannot write a
single step: SQLite admits one writer at a time, and the check and the step share the transaction.

Lease times are real wall-clock milliseconds (:class:`engine.clock.WallClock`), whatever clock the engine's
escalations run on: liveness is about real processes, and every process on one machine agrees on it.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from typing import Any

from engine.clock import WallClock
from engine.timefmt import to_epoch_ms, to_iso
from storage.db import Database

LEASE_NAME = "engine"
DEFAULT_TTL_S = 5.0

_wall = WallClock()
_HOST = socket.gethostname()


def holder_name(name: str) -> str:
    """A unique holder id ``name@host:pid:random``; host and pid let a restart spot a dead holder."""
    return f"{name}@{_HOST}:{os.getpid()}:{secrets.token_hex(3)}"


def holder_is_gone(holder: str) -> bool:
    """True only when the holder is a process on this host that no longer exists (or is a zombie).

    ``holder`` is a :func:`holder_name`. This lets a process restarted after ``kill -9`` take over at
    once instead of waiting out the TTL.
    Holders on other hosts, or unparsable ones, are never presumed dead: only expiry frees their lease.
    """
    try:
        host, pid_text, _ = holder.rsplit("@", 1)[1].split(":")
        pid = int(pid_text)
    except (IndexError, ValueError):
        return False
    if host != _HOST or pid == os.getpid() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


@dataclass(frozen=True)
class Fence:
    holder: str
    token: int


def wall_ms() -> int:
    return to_epoch_ms(_wall.now())


def acquire(
    db: Database, holder: str, ttl_s: float = DEFAULT_TTL_S, *, name: str = LEASE_NAME
) -> Fence | None:
    """Take (or renew) the lease for ``holder``; None while another live holder has it."""
    now = wall_ms()
    expires = now + int(ttl_s * 1000)
    beat = to_iso(_wall.now())
    with db.write():
        row = db.one("SELECT holder, token, expires_at_ms FROM engine_lease WHERE name = ?", (name,))
        if row is None:
            db.execute(
                "INSERT INTO engine_lease (name, holder, token, expires_at_ms, heartbeat_at) VALUES (?, ?, 1, ?, ?)",
                (name, holder, expires, beat),
            )
            return Fence(holder, 1)
        if row["holder"] == holder:
            db.execute(
                "UPDATE engine_lease SET expires_at_ms = ?, heartbeat_at = ? WHERE name = ?",
                (expires, beat, name),
            )
            return Fence(holder, row["token"])
        if row["expires_at_ms"] <= now or holder_is_gone(row["holder"]):
            token = row["token"] + 1
            db.execute(
                "UPDATE engine_lease SET holder = ?, token = ?, expires_at_ms = ?, heartbeat_at = ? WHERE name = ?",
                (holder, token, expires, beat, name),
            )
            return Fence(holder, token)
        return None


def renew(db: Database, fence: Fence, ttl_s: float = DEFAULT_TTL_S, *, name: str = LEASE_NAME) -> bool:
    """Extend our lease; False if someone else has taken it (we must stop firing at once)."""
    with db.write():
        cur = db.execute(
            "UPDATE engine_lease SET expires_at_ms = ?, heartbeat_at = ? WHERE name = ? AND holder = ? AND token = ?",
            (wall_ms() + int(ttl_s * 1000), to_iso(_wall.now()), name, fence.holder, fence.token),
        )
        return cur.rowcount == 1


def holds(db: Database, fence: Fence, *, name: str = LEASE_NAME) -> bool:
    """Inside a write transaction: is ``fence`` still the current lease? (The fencing check.)"""
    return (
        db.one(
            "SELECT 1 FROM engine_lease WHERE name = ? AND holder = ? AND token = ?",
            (name, fence.holder, fence.token),
        )
        is not None
    )


def release(db: Database, fence: Fence, *, name: str = LEASE_NAME) -> None:
    """Give the lease up on a clean stop so a standby engine takes over at its next check."""
    with db.write():
        db.execute(
            "UPDATE engine_lease SET expires_at_ms = 0 WHERE name = ? AND holder = ? AND token = ?",
            (name, fence.holder, fence.token),
        )


def current(db: Database, *, name: str = LEASE_NAME) -> dict[str, Any] | None:
    """Who holds the lease, for status displays: ``{holder, token, expiresAtMs, alive}``."""
    row = db.one(
        "SELECT holder, token, expires_at_ms, heartbeat_at FROM engine_lease WHERE name = ?", (name,)
    )
    if row is None:
        return None
    return {
        "holder": row["holder"],
        "token": row["token"],
        "expiresAtMs": row["expires_at_ms"],
        "heartbeatAt": row["heartbeat_at"],
        "alive": row["expires_at_ms"] > wall_ms(),
    }
