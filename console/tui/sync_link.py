"""The console's link to sync (``oncall --sync``): a :class:`storage.sync.runner.SyncRunner` in the
background, and the few words the status bar shows about it."""

from __future__ import annotations

from typing import Any

from engine.clock import Clock

SYNC_LOOK = {
    "ok": "⇅ synced",
    "pulling": "⇣ pulling",
    "pushing": "⇡ pushing",
    "offline": "⚠ sync offline",
    "error": "✗ sync error",
    "off": "⇅ sync off",
}


class SyncLink:
    def __init__(self, db_path: str | None, clock: Clock, org_id: str) -> None:
        self.db_path = db_path
        self.clock = clock
        self.org_id = org_id
        self.runner: Any = None
        self.error: str | None = None

    def start(self) -> None:
        if self.db_path is None:
            self.error = "no database file"
            return
        try:
            from engine.service.sync import SyncRunner

            self.runner = SyncRunner(self.db_path, self.clock, org=self.org_id, name="console")
            self.runner.start()
        except Exception as exc:  # the console must open even when sync cannot start
            self.runner = None
            self.error = f"{type(exc).__name__}: {exc}"

    def stop(self) -> None:
        if self.runner is not None:
            try:
                self.runner.stop(timeout=3.0)
            finally:
                self.runner = None

    def poke(self) -> None:
        if self.runner is not None:
            self.runner.poke()

    def label(self) -> str:
        """``⇅ synced``, ``⇡ pushing · 3 waiting``, ``⚠ sync offline · 2 failed`` …"""
        if self.runner is None:
            return "✗ sync unavailable" if self.error else SYNC_LOOK["off"]
        status = self.runner.status()
        parts = [SYNC_LOOK.get(status.get("state", "off"), f"⇅ {status.get('state')}")]
        if status.get("waiting"):
            parts.append(f"{status['waiting']} waiting")
        if status.get("failed"):
            parts.append(f"{len(status['failed'])} failed")
        if status.get("uncertain"):
            parts.append(f"{len(status['uncertain'])} uncertain")
        return " · ".join(parts)
