"""Benchmark of the command line's start-up: ``python bench/cli.py [--rounds 7] [--src DIR]``.

Each command is a fresh process, timed from spawn to exit, beside its floor: ``python -c pass`` from the
same interpreter (what any Python command costs before it imports anything of ours). The variants alternate
within each round (floor, ``oncall --help``, ``oncall incidents --json``, ``oncall oncall``, ``oncall ack N``)
so the machine's load falls on all of them alike. Every command runs as ``python -c "...main()"`` with the
checkout under test first on ``sys.path`` (``--src``: another checkout, e.g. ``git archive main | tar -x``,
for a before figure from the same run's machine); the installed ``oncall`` script does the same import.

Prints min and median per variant (milliseconds) and, per command, ``command / python -c pass`` against the
issue's target (at most 4x). The harness orients ratios so that >1 is better: its line shows floor/command,
target >= 0.25; the line under it says the same as a multiple of the floor. A missed target is printed, not
an exit status. The ``ack`` runs act on incidents opened for the purpose (``oncall page``) before timing.

``--instructions`` also counts each variant's instructions once under ``valgrind --tool=callgrind``
(spawn to exit, the interpreter's start-up included): unlike wall time, the count does not move with the
machine's load, so a change can be judged on a busy machine; printed as command / floor (and / peer).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import Compare  # noqa: E402

TARGET = 4.0
"""A read command (and ``ack``) takes at most this many times ``python -c pass``."""

LAUNCH = "import sys; sys.argv[0] = 'oncall'; from console.cli.main import main; main()"


def run(argv: list[str], env: dict[str, str]) -> float:
    """Spawn ``argv``, wait for it, return the wall time in milliseconds (it must exit 0). It runs in the
    temporary directory: ``python -c`` puts the working directory first on ``sys.path``."""
    start = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, cwd=env["BENCH_CWD"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    elapsed = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"{argv!r} failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed


def instructions(argv: list[str], env: dict[str, str]) -> int:
    """The instructions ``argv`` executes, spawn to exit, counted by callgrind (it must exit 0)."""
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        env=env,
        cwd=env["BENCH_CWD"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"callgrind {argv!r} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds (at least 5)")
    parser.add_argument("--src", type=Path, default=ROOT, help="the checkout whose commands are timed")
    parser.add_argument(
        "--peer",
        type=Path,
        default=None,
        help="another checkout (same database schema) timed beside it in every round, e.g. main's export",
    )
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions with callgrind (load-proof)"
    )
    args = parser.parse_args()
    rounds = max(5, args.rounds)
    src = args.src.resolve()
    env = {**os.environ, "PYTHONPATH": str(src), "ONCALL_DEBUG": "1"}
    env.pop("ONCALL_AS", None)
    # as installed (pip compiles every module): bytecode cached, not compiled again by each process
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    python = sys.executable
    peer_env: dict[str, str] | None = None
    if args.peer is not None:
        peer_env = {**env, "PYTHONPATH": str(args.peer.resolve())}
    trees = [src] if args.peer is None else [src, args.peer.resolve()]
    for tree in trees:
        for package in ("console", "engine", "storage"):
            subprocess.run([python, "-m", "compileall", "-q", str(tree / package)], env=env, check=True)

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.db"
        env["BENCH_CWD"] = tmp
        if peer_env is not None:
            peer_env["BENCH_CWD"] = tmp
        oncall = [python, "-c", LAUNCH, "--db", str(db)]
        subprocess.run(
            [*oncall, "demo", "--no-console"], env=env, cwd=tmp, check=True, stdout=subprocess.DEVNULL
        )
        policies = subprocess.run(
            [*oncall, "policies", "--json"], env=env, cwd=tmp, check=True, capture_output=True, text=True
        ).stdout
        policy = json.loads(policies)[0]["name"]  # the ack stops a real escalation
        incidents: list[int] = []
        for i in range(rounds * (2 if peer_env else 1) + 2):  # each ack acts on an incident of its own
            out = subprocess.run(
                [*oncall, "page", "--title", f"bench incident {i}", "--policy", policy, "--json"],
                env=env,
                cwd=tmp,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            incidents.append(json.loads(out)["sequentialId"])

        commands: dict[str, list[str]] = {
            "oncall --help": ["--help"],
            "oncall incidents --json": ["incidents", "--json"],
            "oncall oncall": ["oncall"],
        }
        floor = "python -c pass"
        names = [*commands, "oncall ack N"]
        # one comparison per command, each with the floor measured in the same round
        compares = {
            name: Compare(f"{name}: spawn to exit", unit="ms", higher_is_better=False) for name in names
        }
        peer = f"peer {args.peer}"
        for r in range(rounds):
            # each command beside a floor of its own, measured just before it: the load moves quickly
            acks = [("oncall ack N", ["ack", str(incidents[r])], ["ack", str(incidents[-1 - r])])]
            for name, argv, peer_argv in [*((n, a, a) for n, a in commands.items()), *acks]:
                compares[name].measure(floor, lambda: run([python, "-c", "pass"], env))
                compares[name].measure(name, lambda argv=argv: run([*oncall, *argv], env))
                if peer_env is not None:
                    compares[name].measure(peer, lambda argv=peer_argv, e=peer_env: run([*oncall, *argv], e))

        counts: dict[str, tuple[int, int | None]] = {}
        if args.instructions and shutil.which("valgrind") is None:
            print("--instructions: valgrind is not installed; no counts")
        elif args.instructions:
            floor_count = instructions([python, "-c", "pass"], env)
            spare = [("oncall ack N", ["ack", str(incidents[rounds])], ["ack", str(incidents[rounds + 1])])]
            for name, argv, peer_argv in [*((n, a, a) for n, a in commands.items()), *spare]:  # acks: unused
                mine = instructions([*oncall, *argv], env)
                theirs = None if peer_env is None else instructions([*oncall, *peer_argv], peer_env)
                counts[name] = (mine, theirs)

    print(f"checkout: {src}   python: {python}   rounds: {rounds}")
    if counts:
        print(f"instructions (callgrind), floor python -c pass = {floor_count / 1e6:.1f}M:")
        for name, (mine, theirs) in counts.items():
            line = f"  {name}: {mine / 1e6:.1f}M = {mine / floor_count:.2f}x floor"
            if theirs is not None:
                line += (
                    f"; peer {theirs / 1e6:.1f}M = {theirs / floor_count:.2f}x ({theirs / mine:.2f}x ours)"
                )
            print(line)
    for name, cmp in compares.items():
        cmp.report(workload=name, baseline=floor, target=1 / TARGET)
        times = statistics.median(cmp.figures[name]) / statistics.median(cmp.figures[floor])
        verdict = "met" if times <= TARGET else "MISSED"
        print(f"  {name} = {times:.2f}x python -c pass (median)   target <= {TARGET:g}x: {verdict}")
        if peer_env is not None:
            before = statistics.median(cmp.figures[peer]) / statistics.median(cmp.figures[floor])
            print(
                f"  peer: {before:.2f}x python -c pass (median); {cmp.ratio(name, peer):.2f}x faster than the peer"
            )


if __name__ == "__main__":
    main()
