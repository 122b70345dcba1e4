"""The console's link to the escalation engine: embedded when we hold the lease, attached otherwise.

The engine itself lives in :mod:`engine.runtime.runner`; this only starts it, stops it and names its state
for the status bar. If the engine cannot be loaded the console still works as a viewer and says so.
"""

from __future__ import annotations

from typing import Any

from engine.clock import Clock, monotonic
from engine.runtime.operator_config import OperatorConfig

# The runner starts in standby and tries the lease within about a second; until then it is "starting".
SETTLE_S = 2.5


class EngineLink:
    """``mode`` is one of ``embedded`` (our runner holds the lease and escalates), ``attached`` (another
    process holds it; we only watch and take over if it dies), ``starting``, ``stopped``, ``off`` (not
    started) or ``unavailable`` (the engine failed to load)."""

    def __init__(
        self,
        db_path: str | None,
        clock: Clock,
        *,
        name: str = "console",
        config: OperatorConfig | None = None,
    ) -> None:
        self.db_path = db_path
        self.clock = clock
        self.name = name
        self.config = config
        self.runner: Any = None
        self.error: str | None = None
        self._started_at: float | None = None

    def start(self) -> None:
        if self.db_path is None or self.db_path == ":memory:":
            self.error = "no database file"
            return
        try:
            from engine.service.timer_kinds import new_runner

            self.runner = new_runner(self.db_path, self.clock, self.name, config=self.config)
            self.runner.start()
            self._started_at = monotonic()
        except Exception as exc:  # the console must open even when the engine cannot run
            self.runner = None
            self.error = f"{type(exc).__name__}: {exc}"

    def stop(self) -> None:
        if self.runner is not None:
            try:
                self.runner.stop()
            finally:
                self.runner = None

    def poke(self) -> None:
        """Wake the engine after our own write (a new incident, an escalate-now) instead of waiting."""
        if self.runner is not None and hasattr(self.runner, "poke"):
            try:
                self.runner.poke()
            except Exception:  # a wake-up hint only; the engine's own timer still runs
                pass

    @property
    def mode(self) -> str:
        if self.runner is None:
            return "unavailable" if self.error else "off"
        mode = str(getattr(self.runner, "mode", "embedded"))
        if mode == "standby":
            settling = self._started_at is not None and monotonic() - self._started_at < SETTLE_S
            return "starting" if settling else "attached"
        return mode
