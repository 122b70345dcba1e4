"""Running a simulation fast: the pure model (:mod:`engine.simulation`) split between forked processes,
with the cyclic garbage collector off while the event loops run.

Processes and the collector are this process's business, not the model's: the report is the same as
:func:`engine.simulation.simulate` gives, for every ``workers``.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from engine import simulation as sim


@contextmanager
def no_gc() -> Iterator[None]:
    """The loop allocates millions of short-lived tuples and no cycles: the cyclic collector only costs
    time here (about a fifth of the run). Restored on exit."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def simulate(
    scenario: sim.Scenario,
    seed: int = 0,
    *,
    progress: Callable[[float], None] | None = None,
    workers: int = 1,
) -> sim.SimulationReport:
    """Run the scenario; deterministic for ``seed`` whatever ``workers`` is.

    ``workers > 1`` splits the incidents between forked processes (where ``fork`` exists), each running
    the same event loop on its share; the merged report equals the single-process one. ``progress`` gets
    the fraction of the period done (a few hundred calls at most; only from this process).
    """
    run = sim.prepare(scenario, seed)
    parts = sim.split(len(run.incidents), workers if "fork" in mp.get_all_start_methods() else 1)
    with no_gc():
        if len(parts) <= 1:
            report = sim.run_part(run, parts[0], progress)
        else:
            report = _run_parallel(run, parts, progress)
    return sim.finish(run, report)


_FORKED: dict[str, Any] = {}  # what a forked worker inherits instead of having it pickled


def _part(k: int) -> sim.SimulationReport:
    with no_gc():
        return sim.run_part(_FORKED["run"], _FORKED["parts"][k])


def _run_parallel(
    run: sim.Run, parts: list[range], progress: Callable[[float], None] | None
) -> sim.SimulationReport:
    _FORKED.update(run=run, parts=parts)
    try:
        ctx = mp.get_context("fork")
        with ctx.Pool(len(parts) - 1) as pool:
            pending = pool.map_async(_part, range(1, len(parts)))
            report = sim.run_part(run, parts[0], progress)
            others = pending.get()
    finally:
        _FORKED.clear()
    for other in others:
        report.merge(other)
    return report
