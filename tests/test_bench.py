"""Every benchmark script runs: each in a real process on the smallest workload, to its end.

The figures are not checked (speed is what bench/ prints, never a test's verdict); what is checked is that
the script finishes with exit status 0 and prints its verdict lines, so a schema or API change that breaks a
benchmark fails here, in the suite, instead of on the day somebody measures. Two benches had broken that
way unnoticed (a dropped column, a renamed migrations table).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"

#: (script and its smallest arguments, a text its output must hold)
SMALLEST: list[tuple[list[str], str]] = [
    (["cli.py", "--rounds", "3"], "oncall ack N = "),
    (
        ["engine.py", "--parts", "ab", "--burst", "20", "--rates", "167", "--seconds", "1", "--rounds", "3"],
        "burst",
    ),
    (["history.py", "--sizes", "1000,2000", "--rounds", "3", "--calls", "3"], "target >= 0.50x"),
    (["simulate.py", "--sizes", "200", "--rounds", "3", "--big", "0"], "figures (all three agree)"),
    (
        ["api.py", "--incidents", "200", "--rounds", "3", "--duration", "0.3", "--connections", "4"],
        "ratio oncall/floor",
    ),
    (
        ["ingest.py", "--no-in-process", "--alerts", "200", "--keys", "20", "--clients", "4"],
        "alertmanager batch",
    ),
    (["tui.py", "--part", "start", "--incidents", "100", "--history", "100", "--rounds", "3"], "first frame"),
    (["failover.py", "--repeat", "1"], "engine exit after the file goes"),
    (["reports.py", "--history", "200", "--recent", "20"], "report, whole year"),
    (["config.py", "--people", "10", "--schedules", "2", "--policies", "2"], "calendar feed"),
    (["all.py", "--help"], "--quick"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("argv", "expected"), SMALLEST, ids=[argv[0] for argv, _ in SMALLEST])
def test_bench_script_runs_to_its_end(argv: list[str], expected: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, (
        f"{argv[0]} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    assert expected in done.stdout, done.stdout[-3000:]
