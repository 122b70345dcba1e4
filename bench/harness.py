"""One way to compare a workload with its floor or peer on a shared, noisy machine.

Every ``bench/`` script measures its workload beside a *floor* (the least work that produces the same result
on the same stack: same rows, same batching, no engine code) or a *peer* (another implementation of the same
model), **alternating** them in one run and **repeating** each at least three times, then prints min and
median of each and the ratio of the medians (and of the mins). Ratios measured in one run survive a noisy
machine; absolute figures do not.

    from bench.harness import Compare

    cmp = Compare("burst: escalation steps drained per second", unit="steps/s", higher_is_better=True)
    for _ in cmp.rounds(3):
        cmp.measure("floor", lambda: floor_rate())
        cmp.measure("engine", lambda: engine_rate())
    cmp.report(workload="engine", baseline="floor", target=0.8)

``measure`` takes a function returning one figure (a rate, a duration in ms, a size in MB: the unit the
comparison names). ``report`` prints one table and one ratio line, and returns the median ratio
(workload / baseline for ``higher_is_better``, baseline / workload otherwise, so that a ratio above 1 is
always "better than the baseline"). A missed target is printed as ``MISSED``; the scripts exit non-zero only
on their own failure (an exception, a wrong result), never on a missed target.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass
class Compare:
    """Figures of several named variants measured alternately in one run (see the module docstring)."""

    title: str
    unit: str
    higher_is_better: bool = True
    figures: dict[str, list[float]] = field(default_factory=dict)

    def rounds(self, count: int = 3) -> Iterator[int]:
        """``range(count)``, at least 3: each round measures every variant once, in the same order."""
        return iter(range(max(3, count)))

    def measure(self, variant: str, fn: Callable[[], float]) -> float:
        """Run ``fn`` once, record and return its figure under ``variant``."""
        value = float(fn())
        self.figures.setdefault(variant, []).append(value)
        return value

    def add(self, variant: str, value: float) -> None:
        """Record a figure measured elsewhere (e.g. in a child process) under ``variant``."""
        self.figures.setdefault(variant, []).append(float(value))

    def stats(self, variant: str) -> tuple[float, float]:
        """(min, median) of ``variant``'s figures."""
        values = self.figures[variant]
        return min(values), statistics.median(values)

    def ratio(self, workload: str, baseline: str) -> float:
        """Median ratio, oriented so that above 1 means the workload beats the baseline."""
        w = statistics.median(self.figures[workload])
        b = statistics.median(self.figures[baseline])
        if self.higher_is_better:
            return w / b if b else float("inf")
        return b / w if w else float("inf")

    def report(
        self,
        *,
        workload: str,
        baseline: str,
        target: float | None = None,
        file: object = None,
    ) -> float:
        """Print the table and the ratio line (with the target, if any); return the median ratio.

        With ``higher_is_better`` the ratio is workload/baseline (a rate); otherwise baseline/workload (a
        duration or a size), so "≥ target" reads the same way for both.
        """
        out = file or sys.stdout
        print(
            f"\n== {self.title} ({self.unit}, {'higher' if self.higher_is_better else 'lower'} is better)",
            file=out,
        )
        width = max(len(v) for v in self.figures)
        for variant, values in self.figures.items():
            lo, med = min(values), statistics.median(values)
            best = max(values) if self.higher_is_better else lo
            runs = ", ".join(f"{v:,.1f}" for v in values)
            print(
                f"  {variant:<{width}}  best {best:>12,.1f}  median {med:>12,.1f}  min {lo:>12,.1f}   [{runs}]",
                file=out,
            )
        ratio = self.ratio(workload, baseline)
        line = f"  ratio {workload}/{baseline} (median, >1 is better): {ratio:.2f}x"
        if target is not None:
            verdict = "met" if ratio >= target else "MISSED"
            line += f"   target >= {target:.2f}x: {verdict}"
        print(line, file=out)
        return ratio


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (0–100) of ``values`` by nearest rank; 0.0 for an empty list."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]
