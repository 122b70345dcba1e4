"""The table of engine timer kinds, and the one way the surfaces build an engine process that fires them.

A kind is a name (the ``kind`` column of the ``timers`` table) and an
:data:`engine.runtime.timers.TimerHandler`. The table lives in the service layer because firing a timer may
act through the use cases (a missed heartbeat opens an incident); the runtime's
:class:`~engine.runtime.runner.EngineRunner` is handed it. Add a kind here, one line, beside its module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.clock import Clock
from engine.runtime import rule_steps, shift_reminders
from engine.runtime.runner import EngineRunner
from engine.runtime.timers import TimerHandler
from engine.service import alerts, heartbeats, maintenance

HANDLERS: dict[str, TimerHandler] = {
    rule_steps.KIND: rule_steps.fire,
    shift_reminders.KIND: shift_reminders.fire,
    maintenance.TIMER_KIND: maintenance.fire_window_end,
    alerts.RESOLVE_TIMER_KIND: alerts.fire_resolve,
    heartbeats.TIMER_KIND: heartbeats.fire_missed,
}
"""Every timer kind the engine fires besides escalation steps: ``kind`` → handler."""


def new_runner(db_path: str | Path, clock: Clock, name: str = "engine", **options: Any) -> EngineRunner:
    """An :class:`EngineRunner` for ``db_path`` on ``clock`` that fires every kind in :data:`HANDLERS`;
    ``options`` are the runner's own keyword arguments (``config``, ``on_mode``, ``lease_ttl``, ...)."""
    return EngineRunner(db_path, clock, name, timer_handlers=HANDLERS, **options)
