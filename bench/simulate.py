"""Benchmark of the simulator against its floor and its peer: ``python bench/simulate.py [--sizes 10000,100000]
[--rounds 3] [--big 1000000] [--big-rounds 1] [--seed S]``.

The scenario: incidents over a simulated week through 3-layer policies (two schedules and a fixed user list
per policy, three policies), 24 people, one of them asleep at night and less likely to answer.

Three variants, each run in its own child process (``--child``), alternating within every round:

* **workload**: our simulation, :func:`engine.simulation.run_part` (the event loop, deciding every step with
  the real :mod:`engine.escalation` rules) and :func:`engine.simulation.finish`, with the cyclic collector
  off as :func:`engine.runtime.simulator.simulate` runs it;
* **floor**: the same model with the engine's calls inlined (:func:`floor_loop`, written here): the same
  arrivals, resolver, responder draws, heap and per-page code, with ``begin``/``fire``/``acknowledge``
  replaced by the few lines that make the same decisions for this scenario (no repeat loops, no re-pages);
* **peer**: SimPy (:func:`simpy_model`) with the same per-page code and the same engine calls, one process
  per incident waiting for "the timeout or the first acknowledgement": the ratio compares event loops.

Each child reports its CPU seconds (``time.process_time`` around the event loop, after the shared
preparation: arrivals, resolver, responders), its whole CPU seconds (preparation included) and its peak
resident memory (``VmHWM`` from ``/proc/self/status``: the whole process, interpreter and imports included;
a ``prep`` child that stops after the preparation shows what the loop adds). All three must report the
same figures (exit 1 otherwise); a missed target is printed, never an exit status.

Targets: workload ≤ 1.3× the floor's CPU at every size; 1M incidents in ≤ 300 MB peak RSS.
SimPy is a benchmark-only dependency: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import subprocess
import sys
import time
from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Compare  # noqa: E402
from engine import escalation as esc  # noqa: E402
from engine import simulation as sim  # noqa: E402
from engine.model import EscalationLayer, Policy, RotationLayer, Schedule, Target  # noqa: E402
from engine.runtime import simulator  # noqa: E402

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a week that contains the US spring-forward change
VARIANTS = ("workload", "floor", "peer")


def build_scenario(incidents_per_week: int) -> sim.Scenario:
    zones = ("America/New_York", "Europe/London", "Asia/Kolkata")
    people = [f"user_{i:02d}" for i in range(24)]
    schedules: dict[str, Schedule] = {}
    for n, zone in enumerate(zones):
        for tier in range(2):
            sid = f"sched_{n}_{tier}"
            crew = tuple(people[(n * 8 + tier * 4 + k) % 24] for k in range(4))
            layers = (
                RotationLayer(f"{sid}_a", "Primary", 0, "daily", 1, dtime(9, 0), T0 - timedelta(days=30),
                              None, crew),
                RotationLayer(f"{sid}_b", "Shadow", 1, "weekly", 7, dtime(2, 30), T0 - timedelta(days=30),
                              None, crew[::-1]),
            )  # fmt: skip
            schedules[sid] = Schedule(sid, f"Schedule {n}.{tier}", zone, layers)
    policies = []
    for n in range(3):
        layers = (
            EscalationLayer(f"pol_{n}_1", 1, 5, Target("schedule", schedule_id=f"sched_{n}_0")),
            EscalationLayer(f"pol_{n}_2", 2, 10, Target("schedule", schedule_id=f"sched_{n}_1")),
            EscalationLayer(f"pol_{n}_3", 3, 15, Target("users", user_ids=(people[n], people[n + 12]))),
        )
        policies.append(Policy(f"pol_{n}", f"Policy {n}", layers))
    sleepy = sim.Person(
        people[1],
        "Sleepy",
        behaviour=sim.BehaviourPatch(ack_probability=0.5),
        unavailable=(sim.Window(frozenset(range(7)), dtime(23, 0), dtime(7, 0)),),
    )
    return sim.Scenario(
        start=T0,
        end=T0 + timedelta(days=7),
        timezone="America/New_York",
        per_week=incidents_per_week,
        severity_mix=(("critical", 1), ("high", 2), ("medium", 3)),
        policy_by_severity={"critical": policies[0], "high": policies[1], "medium": policies[2]},
        schedules=schedules,
        active_user_ids=frozenset(people),
        names={p: p for p in people},
        default=sim.Behaviour(ack_probability=0.9, ack_median_minutes=6, ack_p90_minutes=20),
        people={sleepy.user_id: sleepy},
    )


# ------------------------------------------------------------------------------------- per-page code
#
# The floor and the peer share this with each other; the workload has the same lines inlined in
# engine.simulation.run_events (they must stay in step: the three must report the same figures).

_M64 = (1 << 64) - 1
_MASK21 = (1 << 21) - 1
_INV21 = 1.0 / (1 << 21)
_TAU = 2.0 * math.pi
_MINUTE, _MICRO = timedelta(minutes=1), timedelta(microseconds=1)


def _crew(people: Any, crews: dict[Any, Any], policy_id: str, position: int, users: tuple[str, ...]) -> Any:
    crew = crews.get((policy_id, position, users))
    if crew is None:
        crew = crews[(policy_id, position, users)] = tuple(
            (uid, *people.profile(policy_id, position, uid)) for uid in users
        )
    return crew


def _answers(
    crew: Any, root: int, draw: int, now: datetime, ts: float, pages: dict[str, int], night: dict[str, int]
) -> list[tuple[datetime, str]]:
    """Count the pages to ``crew`` at ``now`` (``ts`` in epoch seconds) and return who acknowledges when."""
    out = []
    for uid, prob, median, sigma, person, night_edges, away_edges in crew:
        pages[uid] = pages.get(uid, 0) + 1
        if bisect_right(night_edges, ts) & 1:
            night[uid] = night.get(uid, 0) + 1
        if away_edges and bisect_right(away_edges, ts) & 1:
            continue
        x = (root ^ (draw | person)) + 0x9E3779B97F4A7C15 & _M64
        x = (x ^ x >> 30) * 0xBF58476D1CE4E5B9 & _M64
        x = (x ^ x >> 27) * 0x94D049BB133111EB & _M64
        key = x ^ x >> 31
        if ((key >> 43) + 0.5) * _INV21 >= prob:
            continue
        u1 = (((key >> 22) & _MASK21) + 0.5) * _INV21
        z = math.sqrt(-2.0 * math.log(u1)) * math.cos(_TAU * ((key & _MASK21) + 0.5) * _INV21)
        us = 60_000_000.0 * median * math.exp(sigma * z)
        if us < 1e12 and -0.499 < us - (whole := round(us)) < 0.499:
            out.append((now + _MICRO * whole, uid))
        else:
            out.append((now + _MINUTE * (us / 60_000_000.0), uid))
    return out


# ----------------------------------------------------------------------------------------- the floor

_DUE, _ACK = 1, 2


def floor_loop(run: sim.Run, report: sim.SimulationReport) -> None:
    """The workload's model with the engine's decisions written inline for this scenario: a layer that
    resolves to nobody is skipped; a timeout pages the next layer, its timer armed from the scheduled due
    time; after the last layer the escalation is exhausted and a late acknowledgement still counts. The
    rest (arrivals, resolver, live incidents, heap, per-page code) is the workload's, line for line."""
    scenario, resolve, people, arrivals = run.scenario, run.resolve, run.people, run.incidents
    plan_of: list[Any] = []
    for sev in arrivals.severities:
        plan = scenario.policy_by_severity.get(sev)
        if plan is not None:
            assert plan.repeat == 0 and not plan.repage_after_minutes, "the floor models neither"
            layers = tuple((ly.target, timedelta(minutes=ly.ack_timeout_minutes)) for ly in plan.layers)
            plan_of.append((plan.id, layers))
        else:
            plan_of.append(None)
    origin, offsets, codes = arrivals.origin, arrivals.offsets, arrivals.codes
    live: dict[int, list[Any]] = {}  # incident -> [plan, step, paging?, root, earliest ack, start]
    heap: list[tuple[datetime, int, int, int, Any]] = []
    crews: dict[Any, Any] = {}
    pages, night_pages, tta = report.pages, report.night_pages, report.tta_seconds
    bisect, sqrt, log, cos, exp = bisect_right, math.sqrt, math.log, math.cos, math.exp
    minute, micro = _MINUTE, _MICRO
    seed_root = sim._mix(run.seed & _M64)
    seq = cursor = 0
    steps = acked = acked_late = exhausted = not_paged = 0  # local counters, as in the workload
    acked_at = report.acked_at_layer
    total = len(arrivals)
    sim._count_severities(arrivals, range(total), report.by_severity)  # the workload's own count
    report.incidents += total
    push, pop = heapq.heappush, heapq.heappop
    arriving = origin + micro * offsets[0] if total else None
    while True:
        if arriving is not None and (not heap or arriving <= heap[0][0]):
            n = cursor
            now = arriving
            cursor += 1
            arriving = origin + micro * offsets[cursor] if cursor < total else None
            p = plan_of[codes[n]]
            if p is None:
                not_paged += 1
                continue
            x = (seed_root ^ n) + 0x9E3779B97F4A7C15 & _M64
            x = (x ^ x >> 30) * 0xBF58476D1CE4E5B9 & _M64
            x = (x ^ x >> 27) * 0x94D049BB133111EB & _M64
            inc = live[n] = [p, 0, True, x ^ x >> 31, None, now]
            step, base = 0, now
            steps += 1
        elif heap:
            now, kind, _, n, _detail = pop(heap)
            inc = live.get(n)  # type: ignore[assignment]
            if inc is None:
                continue
            if kind == _DUE:
                if not inc[2]:
                    continue
                step, base = inc[1] + 1, now
                steps += 1
            else:
                steps += 1
                acked += 1
                if not inc[2]:
                    acked_late += 1
                layer = inc[1] + 1
                acked_at[layer] = acked_at.get(layer, 0) + 1
                tta.append((now - inc[5]).total_seconds())
                del live[n]
                continue
        else:
            break
        policy_id, layers = inc[0]
        while step < len(layers):  # enter layer `step`, skipping layers with nobody on call
            target, timeout = layers[step]
            users = resolve(target, now)
            if users:
                break
            where = (policy_id, step + 1)
            report.nobody_incidents[where] = report.nobody_incidents.get(where, 0) + 1
            step += 1
        if step >= len(layers):
            inc[1], inc[2] = len(layers) - 1, False
            exhausted += 1
            report.exhausted_by_policy[policy_id] = report.exhausted_by_policy.get(policy_id, 0) + 1
            if len(report.exhausted_examples) < 10:
                report.exhausted_examples.append((inc[5], policy_id))
            if inc[4] is None:
                del live[n]  # nobody will acknowledge
            continue
        inc[1] = step
        position = step + 1
        crew = crews.get((policy_id, position, users))
        if crew is None:
            crew = crews[(policy_id, position, users)] = tuple(
                (uid, *people.profile(policy_id, position, uid)) for uid in users
            )
        ts = now.timestamp()
        root = inc[3]
        draw = position << 24  # round 0: no repeat loops
        for uid, prob, median, sigma, person, night_edges, away_edges in crew:
            pages[uid] = pages.get(uid, 0) + 1
            if bisect(night_edges, ts) & 1:
                night_pages[uid] = night_pages.get(uid, 0) + 1
            if away_edges and bisect(away_edges, ts) & 1:
                continue
            x = (root ^ (draw | person)) + 0x9E3779B97F4A7C15 & _M64
            x = (x ^ x >> 30) * 0xBF58476D1CE4E5B9 & _M64
            x = (x ^ x >> 27) * 0x94D049BB133111EB & _M64
            key = x ^ x >> 31
            if ((key >> 43) + 0.5) * _INV21 >= prob:
                continue
            u1 = (((key >> 22) & _MASK21) + 0.5) * _INV21
            z = sqrt(-2.0 * log(u1)) * cos(_TAU * ((key & _MASK21) + 0.5) * _INV21)
            delay = median * exp(sigma * z)
            us = 60_000_000.0 * delay
            if us < 1e12 and -0.499 < us - (whole := round(us)) < 0.499:
                when = now + micro * whole
            else:
                when = now + minute * delay
            earliest = inc[4]
            if earliest is None or when < earliest:
                inc[4] = when
                push(heap, (when, _ACK, seq, n, uid))
                seq += 1
        due = base + timeout
        earliest = inc[4]
        if earliest is None or due <= earliest:
            push(heap, (due, _DUE, seq, n, None))
            seq += 1
    report.engine_steps += steps
    report.acknowledged += acked
    report.acked_after_exhaustion += acked_late
    report.exhausted += exhausted
    report.not_paged += not_paged


# ------------------------------------------------------------------------------------------ the peer


def simpy_model(run: sim.Run, report: sim.SimulationReport) -> None:
    """The same model written the SimPy way: one process per incident that waits for "the timeout or the
    first acknowledgement", one process per responder; the same engine calls and per-page code."""
    import simpy

    scenario, resolve, people, seed = run.scenario, run.resolve, run.people, run.seed
    env = simpy.Environment()
    t0 = scenario.start
    crews: dict[Any, Any] = {}
    pages, night = report.pages, report.night_pages

    def responder(delay: float, uid: str, acked: simpy.Event) -> Any:
        yield env.timeout(delay)
        if not acked.triggered:
            acked.succeed(uid)

    def incident(n: int, start: datetime, plan: Policy | None) -> Any:
        yield env.timeout((start - t0).total_seconds() / 60)
        if plan is None:
            report.not_paged += 1
            return
        acked = env.event()
        earliest = math.inf
        root = sim.incident_key(seed, n)
        now = start
        outcome = esc.begin(plan, now, resolve)
        while True:
            report.engine_steps += 1
            state = outcome.state
            for ev in outcome.events:
                page = ev.page
                if page is not None:
                    position = page.position or 0
                    crew = _crew(people, crews, plan.id, position, page.user_ids)
                    draw = page.round << 40 | position << 24
                    for when, uid in _answers(crew, root, draw, now, now.timestamp(), pages, night):
                        delay = (when - t0).total_seconds() / 60
                        if delay < earliest:  # same shortcut as ours: a later ack never counts
                            earliest = delay
                            env.process(responder(delay - env.now, uid, acked))
                elif ev.kind == "nobody_on_call":
                    where = (plan.id, ev.data["position"])
                    report.nobody_incidents[where] = report.nobody_incidents.get(where, 0) + 1
                elif ev.kind == "escalation_exhausted":
                    report.exhausted += 1
                    report.exhausted_by_policy[plan.id] = report.exhausted_by_policy.get(plan.id, 0) + 1
            if state.state == "paging" and state.due_at is not None:
                wait = max(0.0, (state.due_at - t0).total_seconds() / 60 - env.now)
                result = yield env.timeout(wait) | acked
                if acked in result:
                    uid = result[acked]
                    now = t0 + timedelta(minutes=env.now)
                    _acked(report, state, start, now)
                    esc.acknowledge(state, plan, now, uid)
                    return
                now = state.due_at
                outcome = esc.fire(state, plan, now, resolve)
                continue
            if state.state == "exhausted" and earliest < math.inf:
                uid = yield acked  # a late acknowledgement still counts
                now = t0 + timedelta(minutes=env.now)
                report.acked_after_exhaustion += 1
                _acked(report, state, start, now)
                esc.acknowledge(state, plan, now, uid)
            return

    for n, (start, sev) in enumerate(run.incidents):
        report.incidents += 1
        report.by_severity[sev] = report.by_severity.get(sev, 0) + 1
        env.process(incident(n, start, scenario.policy_by_severity.get(sev)))
    env.run()


def _acked(report: sim.SimulationReport, state: esc.EscalationState, start: datetime, now: datetime) -> None:
    report.engine_steps += 1
    report.acknowledged += 1
    layer = state.step + 1
    report.acked_at_layer[layer] = report.acked_at_layer.get(layer, 0) + 1
    report.tta_seconds.append((now - start).total_seconds())


# ------------------------------------------------------------------------------------------ children


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB; NaN where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def child(variant: str, incidents: int, seed: int) -> dict[str, Any]:
    """Run one variant once in this (fresh) process: CPU seconds, peak RSS and the report's figures."""
    c0 = time.process_time()
    scenario = build_scenario(incidents)
    run = sim.prepare(scenario, seed)
    report = run.new_report()
    c1 = time.process_time()
    with simulator.no_gc():
        if variant == "workload":
            report = sim.run_part(run, range(len(run.incidents)))
        elif variant == "floor":
            floor_loop(run, report)
        elif variant == "peer":
            simpy_model(run, report)
        elif variant != "prep":
            raise SystemExit(f"unknown variant {variant}")
    c2 = time.process_time()
    report.tta_seconds.sort()
    figures = report.summary()
    for key in ("ttaP50", "ttaP95", "ttaMax"):  # SimPy keeps float minutes; we keep microseconds
        figures[key] = None if figures[key] is None else round(figures[key])
    figures["engineSteps"] = report.engine_steps
    figures["notPaged"] = report.not_paged
    figures["nightPages"] = sum(report.night_pages.values())
    figures["ackedLate"] = report.acked_after_exhaustion
    figures["nobody"] = sum(report.nobody_incidents.values())
    if variant == "prep":
        figures = {}
    return {"loop_cpu": c2 - c1, "cpu": c2 - c0, "rss_mb": _peak_rss_mb(), "figures": figures}


def _spawn(variant: str, incidents: int, seed: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", variant, "--incidents", str(incidents), "--seed", str(seed)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def compare(incidents: int, rounds: int, seed: int) -> bool:
    """Alternate the three variants ``rounds`` times at ``incidents``; print CPU and memory. False if the
    variants disagree."""
    cpu = Compare(f"simulation, {incidents:,} incidents: event loop CPU", unit="ms", higher_is_better=False)
    whole = Compare(
        f"simulation, {incidents:,} incidents: whole process CPU", unit="ms", higher_is_better=False
    )
    rss = Compare(f"simulation, {incidents:,} incidents: peak RSS (VmHWM)", unit="MB", higher_is_better=False)
    seen: dict[str, Any] = {}
    for _ in range(rounds):
        for variant in (*VARIANTS, "prep") if not seen else VARIANTS:
            r = _spawn(variant, incidents, seed)
            if variant == "prep":
                rss.add(variant, r["rss_mb"])
                continue
            cpu.add(variant, r["loop_cpu"] * 1000)
            whole.add(variant, r["cpu"] * 1000)
            rss.add(variant, r["rss_mb"])
            seen[variant] = r["figures"]
    cpu.report(workload="workload", baseline="floor", target=1 / 1.3)
    times = 1 / cpu.ratio("workload", "floor")
    print(
        f"  the workload takes {times:.2f}x the floor's CPU   target <= 1.30x: {'met' if times <= 1.3 else 'MISSED'}"
    )
    print(f"  the SimPy peer takes {cpu.ratio('workload', 'peer'):.2f}x the workload's CPU")
    whole.report(workload="workload", baseline="floor", target=1 / 1.3)
    rss.report(workload="workload", baseline="floor")
    if incidents >= 1_000_000:
        peak = min(rss.figures["workload"])
        print(f"  workload peak RSS {peak:,.0f} MB   target <= 300 MB: {'met' if peak <= 300 else 'MISSED'}")
    agree = seen["workload"] == seen["floor"] == seen["peer"]
    print(f"  figures ({'all three agree' if agree else 'DISAGREE'}): {seen['workload']}")
    if not agree:
        print(f"  floor {seen['floor']}\n  peer  {seen['peer']}")
    return agree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="incident counts run --rounds times each")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big", type=int, default=1_000_000, help="a large size run --big-rounds times")
    parser.add_argument("--big-rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", choices=(*VARIANTS, "prep"), help=argparse.SUPPRESS)
    parser.add_argument("--incidents", type=int, default=100_000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.incidents, args.seed)))
        return 0
    try:
        import simpy  # noqa: F401
    except ImportError:
        print("simpy is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    ok = True
    for size in [int(s) for s in args.sizes.split(",") if s]:
        ok &= compare(size, max(3, args.rounds), args.seed)
    if args.big and args.big_rounds > 0:
        # Compare insists on 3 rounds for a ratio; a single round of the big size is printed all the same.
        ok &= compare(args.big, args.big_rounds, args.seed)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
