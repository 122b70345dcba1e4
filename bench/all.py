"""Every benchmark of issue 17 (and issue 12's ingest) in one run, then the verdicts in one table.

    python bench/all.py [--only cli,engine,...] [--quick] [--log DIR]

Runs each script of ``bench/`` in turn, in its own process, with the arguments that measure the issue's
targets (each script runs its workload beside its floor or peer, alternating, see bench/harness.py),
streams its output, keeps it in ``--log DIR`` (default: a temporary folder, printed), and ends with every
line that states a target or a goal, so the run's verdicts are read in one place. ``--quick`` runs fewer
rounds and smaller sizes (a check that everything runs, not figures to report).

Run it on an idle machine: the figures are ratios measured in one run, but a loaded machine moves the
floors too (docs/PERFORMANCE.md says which figures are sensitive to what). Exits non-zero only if a script
failed (a missed target is printed, never an exit status).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: (name, arguments for a full run, arguments for a quick run). Order: the cheap and quiet first, the
#: benches that start servers and load both cores last.
SCRIPTS: list[tuple[str, list[str], list[str]]] = [
    ("cli", ["--rounds", "11"], ["--rounds", "3"]),
    ("history", [], ["--sizes", "10000,100000", "--rounds", "3"]),
    ("engine", ["--parts", "abcd", "--rounds", "3"], ["--parts", "ab", "--rounds", "3", "--seconds", "2"]),
    (
        "simulate",
        ["--sizes", "10000,100000", "--rounds", "3", "--big", "1000000", "--big-rounds", "1"],
        ["--sizes", "10000", "--rounds", "3", "--big", "0"],
    ),
    ("api", ["--rounds", "3"], ["--rounds", "3", "--duration", "1"]),
    ("ingest", ["--no-in-process"], ["--no-in-process", "--alerts", "2000", "--keys", "100"]),
    ("tui", [], ["--incidents", "1000", "--history", "10000", "--rounds", "3"]),
]

#: A line that states a verdict: the scripts print "target …: met|MISSED" or "goal …: met|MISSED".
VERDICT = re.compile(r"\b(target|goal)\b.*\b(met|MISSED)\b")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    names = [name for name, _, _ in SCRIPTS]
    parser.add_argument("--only", default=",".join(names), help=f"comma-separated, of: {', '.join(names)}")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller sizes: does it all run")
    parser.add_argument("--log", type=Path, help="folder for each script's output")
    args = parser.parse_args()
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        parser.error(f"unknown bench {', '.join(unknown)}; known: {', '.join(names)}")
    log_dir = args.log or Path(tempfile.mkdtemp(prefix="oncall-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"bench/all.py: {', '.join(chosen)}; load average {os.getloadavg()[0]:.1f}; output kept in {log_dir}"
    )

    verdicts: list[tuple[str, str]] = []
    failed: list[str] = []
    for name, full, quick in SCRIPTS:
        if name not in chosen:
            continue
        cmd = [sys.executable, str(HERE / f"{name}.py"), *(quick if args.quick else full)]
        print(f"\n##### {name}: {' '.join(cmd[1:])}  (load average {os.getloadavg()[0]:.1f})", flush=True)
        lines: list[str] = []
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                sys.stdout.write(line)
                lines.append(line)
        (log_dir / f"{name}.txt").write_text("".join(lines))
        if proc.returncode != 0:
            failed.append(f"{name} (exit {proc.returncode})")
        section = ""
        for line in lines:
            if line.lstrip().startswith("=="):
                section = line.strip().strip("= ").split(":")[0]
            elif re.match(r"\s*\([a-z]\) ", line):  # a part that is its own heading: "(c) recovery …"
                section = ""
                if VERDICT.search(line):
                    verdicts.append((name, line.strip()))
            elif VERDICT.search(line):
                verdicts.append((name, f"[{section}] {line.strip()}" if section else line.strip()))

    print("\n##### verdicts")
    for name, line in verdicts:
        print(f"  {name:9} {line}")
    missed = sum(1 for _, line in verdicts if "MISSED" in line)
    print(f"  {len(verdicts)} verdicts, {missed} missed")
    if failed:
        print(f"  FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
