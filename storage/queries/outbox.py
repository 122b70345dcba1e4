"""The page queue (table ``outbox``): reads the engine's runner needs beside its own delivery pass."""

from __future__ import annotations

from storage.db import Database


def has_due(db: Database, now_ms: int) -> bool:
    """Whether a page is waiting to be sent at ``now_ms`` (epoch ms): one indexed lookup."""
    return (
        db.one("SELECT 1 FROM outbox WHERE status = 'pending' AND next_attempt_ms <= ? LIMIT 1", (now_ms,))
        is not None
    )
