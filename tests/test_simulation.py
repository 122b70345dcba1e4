"""Simulation: the shipped example scenario through ``oncall simulate`` on a demo database, the model's
rules on small hand-made scenarios, determinism, and the scenario file's validation."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from engine import simulation as sim
from engine.model import EscalationLayer, Policy, RotationLayer, Schedule, Target
from engine.runtime import simulator
from tests.helpers import run_oncall, seed_demo_file

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "scenario.toml"
START = datetime(2026, 4, 6, 4, 0, tzinfo=UTC)  # Monday 00:00 in New York


def run(db: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    return run_oncall(db, *args, ok=ok, timeout=120)


@pytest.fixture
def demo_path(tmp_path: Path) -> Path:
    path = tmp_path / "demo.db"
    seed_demo_file(path)
    return path


def test_example_scenario_runs_on_the_demo(demo_path: Path) -> None:
    out = run(demo_path, "simulate", str(EXAMPLE), "--seed", "1").stdout
    assert out.startswith("SIMULATION")
    for needle in (
        "time to acknowledge  p50",
        "exhausted",
        "pages per person",
        "Bob Okafor",
        "nobody to page",
    ):
        assert needle in out
    assert "#" in out  # the bar chart


def test_simulate_json_is_deterministic_for_a_seed(demo_path: Path) -> None:
    a = json.loads(run(demo_path, "simulate", str(EXAMPLE), "--seed", "3", "--json").stdout)
    b = json.loads(run(demo_path, "simulate", str(EXAMPLE), "--seed", "3", "--json").stdout)
    c = json.loads(run(demo_path, "simulate", str(EXAMPLE), "--seed", "4", "--json").stdout)
    assert a == b
    assert a != c
    assert a["incidents"] == sum(a["bySeverity"].values()) > 0
    assert {p["name"] for p in a["people"]} >= {"Alice Chen", "Bob Okafor", "Grace Ito"}
    # The broken policy (1-minute final layer, Bob twice) exhausts. The scenario starts "today", so on some
    # days a critical incident also runs out of SRE Critical's layers by chance: that policy may appear too.
    assert a["exhausted"] > 0
    assert "Legacy Nights (broken)" in {e["policy"] for e in a["exhaustedExamples"]}
    assert set(a["timeToAcknowledgeSeconds"]) == {"p50", "p95", "max"}
    assert {row["policy"] for row in a["layers"]} == {
        "SRE Critical",
        "Platform Default",
        "Legacy Nights (broken)",
    }


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[period]\nstart = 2026-04-06\n[arrivals]\nper_week = 1\n[policy]\nhigh = 'Nope'\n", "policy.high"),
        ("[period]\nstart = 2026-04-06\n[arrivals]\nper_week = 1\nbogus = 2\n[policy]\n", "unknown key 'bogus'"),
        ("[period]\nstart = 2026-04-06\n[arrivals]\nper_week = 1\n[policy]\n[responders]\nack_probability = 2\n",
         "between 0 and 1"),
        ("[period]\nstart = 2026-04-06\n[arrivals]\nper_week = 1\n[policy]\n[[responders.person]]\nuser = 'x@y.z'\n",
         "no active user"),
        ("[period\n", "not valid TOML"),
    ],
)  # fmt: skip
def test_scenario_mistakes_are_one_line(demo_path: Path, tmp_path: Path, text: str, needle: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    proc = run(demo_path, "simulate", str(bad), ok=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and needle in proc.stderr and proc.stderr.count("\n") == 1


# -- the model on hand-made scenarios -------------------------------------------------------------------


def _users_policy(*timeouts: int, people: tuple[str, ...] = ("a", "b", "c")) -> Policy:
    layers = tuple(
        EscalationLayer(f"l{i}", i, t, Target("users", user_ids=(people[i - 1],)))
        for i, t in enumerate(timeouts, start=1)
    )
    return Policy("p", "P", layers)


def _scenario(**kw: object) -> sim.Scenario:
    base: dict[str, object] = {
        "start": START,
        "end": START + timedelta(days=7),
        "timezone": "America/New_York",
        "per_week": 200,
        "policy_by_severity": {"high": _users_policy(5, 10)},
        "active_user_ids": frozenset({"a", "b", "c"}),
        "names": {"a": "A", "b": "B", "c": "C"},
    }
    base.update(kw)
    return sim.Scenario(**base)  # type: ignore[arg-type]


def test_nobody_acknowledges_means_every_incident_exhausts() -> None:
    r = sim.simulate(_scenario(default=sim.Behaviour(ack_probability=0.0)), seed=1)
    assert r.incidents > 100 and r.exhausted == r.incidents and r.acknowledged == 0
    assert r.pages == {"a": r.incidents, "b": r.incidents}
    assert r.tta(50) is None


def test_fixed_delay_gives_exact_time_to_acknowledge() -> None:
    r = sim.simulate(_scenario(default=sim.Behaviour(1.0, 2.0, 2.0)), seed=1)
    assert r.acknowledged == r.incidents and r.exhausted == 0
    assert r.tta(50) == r.tta(100) == 120.0
    assert r.acked_at_layer == {1: r.incidents}
    assert "b" not in r.pages


def test_a_late_first_responder_lets_the_second_layer_answer() -> None:
    """A paged person keeps their pager: layer 1 answering at 7m beats layer 2 answering at 9m."""
    people = {
        "a": sim.Person("a", "A", behaviour=sim.BehaviourPatch(1.0, 7.0, 7.0)),
        "b": sim.Person("b", "B", behaviour=sim.BehaviourPatch(1.0, 4.0, 4.0)),
    }
    r = sim.simulate(_scenario(people=people), seed=2)
    assert r.tta(0.01) == r.tta(100) == 7 * 60.0
    assert r.acked_at_layer == {2: r.incidents}  # acknowledged while layer 2 was paging


def test_unavailable_people_do_not_answer_and_night_pages_are_counted() -> None:
    asleep = sim.Window(frozenset(range(7)), time(0, 0), time(23, 59))
    people = {"a": sim.Person("a", "A", unavailable=(asleep,))}
    r = sim.simulate(_scenario(default=sim.Behaviour(1.0, 1.0, 1.0), people=people), seed=3)
    # a sleeps 23h59m a day: nearly every incident is answered by b, one minute after layer 2's page.
    assert r.acked_at_layer.get(2, 0) > 0.95 * r.incidents
    assert 0 < r.night_pages["a"] < r.pages["a"]
    wire_people = {k: v for k, v in r.night_pages.items()}
    assert set(wire_people) <= {"a", "b"}


def test_layer_rules_override_the_default_and_people_override_layers() -> None:
    layer_rule = (None, 1, sim.BehaviourPatch(ack_probability=0.0))
    r = sim.simulate(_scenario(layer_behaviour=(layer_rule,)), seed=4)
    assert r.acked_at_layer.get(1, 0) == 0
    people = {"a": sim.Person("a", "A", behaviour=sim.BehaviourPatch(ack_probability=1.0))}
    r2 = sim.simulate(_scenario(layer_behaviour=(layer_rule,), people=people), seed=4)
    assert r2.acked_at_layer.get(1, 0) > 0


def test_minutes_with_nobody_on_call_come_from_the_schedule() -> None:
    # A daily rotation that only runs for the first 2 of the 7 days: 5 days with nobody on call.
    rot = RotationLayer("r", "R", 0, "daily", 1, time(9, 0), START, START + timedelta(days=2), ("a", "b"))
    sched = Schedule("s", "S", "America/New_York", (rot,))
    plan = Policy("p", "P", (EscalationLayer("l1", 1, 5, Target("schedule", schedule_id="s")),))
    everyone_answers = sim.Behaviour(1.0, 1.0, 1.0)
    r = sim.simulate(
        _scenario(policy_by_severity={"high": plan}, schedules={"s": sched}, default=everyone_answers), seed=5
    )
    assert r.nobody_minutes[("p", 1)] == 5 * 24 * 60
    assert r.nobody_incidents[("p", 1)] > 0
    assert r.nobody_incidents[("p", 1)] == r.exhausted == r.incidents - r.acknowledged


def test_workers_do_not_change_the_report() -> None:
    scenario = _scenario(per_week=6000, default=sim.Behaviour(0.8, 4.0, 12.0))
    one = simulator.simulate(scenario, seed=9, workers=1)
    two = simulator.simulate(scenario, seed=9, workers=2)
    assert one.summary() == two.summary()
    assert one.pages == two.pages and one.acked_at_layer == two.acked_at_layer
    assert one.tta_seconds == two.tta_seconds


def test_arrivals_follow_the_hour_weights() -> None:
    only_nine = tuple(1.0 if h == 9 else 0.0 for h in range(24))
    r = sim.arrivals(_scenario(per_week=500, by_hour=only_nine), __import__("random").Random(1))
    tz = __import__("zoneinfo").ZoneInfo("America/New_York")
    assert r and {at.astimezone(tz).hour for at, _ in r} == {9}
    assert 400 < len(r) < 600


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert sim.percentile(values, 50) == 50.0 and sim.percentile(values, 95) == 95.0
    assert sim.percentile(values, 100) == 100.0 and sim.percentile([], 50) is None


def test_progress_bar_draws_on_stderr_only_when_enabled(capsys: pytest.CaptureFixture[str]) -> None:
    from console.cli.drills import _Progress

    bar = _Progress(True)
    for f in (0.0, 0.5, 0.5, 1.0):
        bar(f)
    err = capsys.readouterr().err
    assert "[###############...............]  50%" in err and err.count("50%") == 1
    quiet = _Progress(False)
    quiet(0.5)
    assert capsys.readouterr() == ("", "")


def test_an_ack_at_the_timeout_instant_is_too_late() -> None:
    """Same rule as a drill: at the same instant the timeout fires first, so layer 2 is paged too."""
    r = sim.simulate(_scenario(default=sim.Behaviour(1.0, 5.0, 5.0)), seed=6)
    assert r.acked_at_layer == {2: r.incidents}
    assert r.pages["b"] == r.incidents
    assert r.tta(100) == 300.0


# -- the fast paths keep the figures ----------------------------------------------------------------------


def _golden_scenario() -> sim.Scenario:
    crew = ("a", "b", "c", "d")
    rot = RotationLayer("r", "R", 0, "daily", 1, time(9, 0), START - timedelta(days=9), None, crew)
    shadow = RotationLayer("s", "S", 1, "weekly", 7, time(2, 30), START - timedelta(days=9), None, crew[::-1])
    sched = Schedule("sch", "Sch", "Europe/London", (rot, shadow))
    layers = (
        EscalationLayer("l1", 1, 5, Target("schedule", schedule_id="sch")),
        EscalationLayer("l2", 2, 10, Target("users", user_ids=("c", "e"))),
    )
    sleepy = sim.Person(
        "b",
        "B",
        "Asia/Kolkata",
        sim.BehaviourPatch(ack_probability=0.4),
        (sim.Window(frozenset(range(7)), time(23, 0), time(7, 0)),),
    )
    return _scenario(
        per_week=4000,
        severity_mix=(("high", 2.0), ("low", 1.0)),
        policy_by_severity={"high": Policy("p", "P", layers, repeat=1), "low": None},
        schedules={"sch": sched},
        active_user_ids=frozenset("abcde"),
        default=sim.Behaviour(0.7, 4.0, 15.0),
        people={"b": sleepy},
        layer_behaviour=((None, 2, sim.BehaviourPatch(ack_median_minutes=2.0)),),
    )


def test_figures_are_pinned_for_a_seed() -> None:
    """Recorded before the event loop and the engine were optimised (the figures of the straightforward
    version): any change here is a change of behaviour, not of speed."""
    r = sim.simulate(_golden_scenario(), seed=21)
    assert r.summary() == {
        "incidents": 4008,
        "acknowledged": 2671,
        "exhausted": 8,
        "pages": 7786,
        "ttaP50": 289.021089,
        "ttaP95": 770.027196,
        "ttaMax": 5429.699753,
    }
    assert (r.engine_steps, r.not_paged, r.acked_after_exhaustion) == (6830, 1333, 4)
    assert r.acked_at_layer == {1: 1411, 2: 1260}
    assert list(r.pages.items()) == [("a", 501), ("c", 3733), ("e", 1370), ("b", 1493), ("d", 689)]
    assert r.night_pages == {"a": 230, "c": 1338, "e": 497, "b": 588, "d": 218}
    assert r.exhausted_by_policy == {"p": 8}
    assert r.exhausted_examples[0] == (datetime(2026, 4, 7, 4, 9, 23, 197639, tzinfo=UTC), "p")
    assert round(sum(r.tta_seconds), 6) == 793116.314315


def test_cached_resolver_answers_like_rotation_resolve_in_any_order() -> None:
    """The last shift found is reused until its end; lookups out of time order must still be right."""
    import random

    from engine import rotation

    scenario = _golden_scenario()
    sched = scenario.schedules["sch"]
    lo, hi = START - timedelta(days=1), START + timedelta(days=9)
    resolver = sim.CachedResolver(scenario.schedules, scenario.active_user_ids, lo, hi)
    target = Target("schedule", schedule_id="sch")
    rng = random.Random(5)
    instants = [lo + timedelta(seconds=rng.uniform(-86_400, 11 * 86_400)) for _ in range(400)]
    instants += [lo + timedelta(seconds=s) for s in range(0, 11 * 86_400, 1800)]  # in order, on edges
    instants += resolver.change_points("sch") + [
        p - timedelta(microseconds=1) for p in resolver.change_points("sch")
    ]
    for at in instants:
        expected = tuple(dict.fromkeys(rotation.resolve(sched, at).paging_targets))
        assert resolver(target, at) == expected, at
    assert resolver(Target("schedule", schedule_id="missing"), START) == ()


def test_engine_values_are_immutable_structs_and_events_build_their_data_once() -> None:
    """EscalationState, Page, Event and Outcome are frozen msgspec Structs (built in C, for speed): equal
    and hashed field by field, immutable, copied with changes by ``msgspec.structs.replace``, picklable,
    with the dataclass repr they had. Event data deferred by the engine equals the data it used to carry."""
    import pickle

    import msgspec

    from engine import escalation as esc

    s = esc.EscalationState(1, 0, 3, "paging", START, esc.DUE_TIMEOUT)
    assert s == esc.EscalationState(
        step=1, loop=0, generation=3, state="paging", due_at=START, due_kind="timeout"
    )
    assert (s.round, s.acked_by) == (0, None)  # the defaults
    assert s != esc.EscalationState(1, 0, 4, "paging", START, esc.DUE_TIMEOUT)
    later = msgspec.structs.replace(s, generation=4)
    assert later.generation == 4 and later.due_at == START and s.generation == 3
    assert hash(s) == hash(msgspec.structs.replace(s)) and len({s, later, msgspec.structs.replace(s)}) == 2
    assert pickle.loads(pickle.dumps(s)) == s
    assert repr(s) == (
        "EscalationState(step=1, loop=0, generation=3, state='paging', due_at="
        f"{START!r}, due_kind='timeout', round=0, acked_by=None)"
    )
    with pytest.raises(AttributeError):
        s.step = 2  # type: ignore[misc]
    page = esc.Page(1, 0, ("a",), "escalation")
    assert repr(page) == "Page(position=1, round=0, user_ids=('a',), reason='escalation', discriminator=None)"
    assert hash(page) == hash(esc.Page(1, 0, ("a",), "escalation", None))
    with pytest.raises(AttributeError):
        page.round = 1  # type: ignore[misc]

    plan = _users_policy(5, 10)
    out = esc.begin(plan, START, lambda target, at: target.user_ids)
    paged = out.events[1]
    assert paged.kind == "layer_paged" and paged.page == esc.Page(1, 0, ("a",), "escalation")
    expected = {
        "position": 1,
        "layerCount": 2,
        "loop": 0,
        "userIds": ["a"],
        "reason": "escalation",
        "timeoutAt": "2026-04-06T04:05:00.000Z",
    }
    assert paged.data == expected and paged.data is paged.data
    assert paged == esc.Event("layer_paged", dict(expected), paged.page)
    with pytest.raises(AttributeError):
        paged.kind = "x"  # type: ignore[misc]
    assert repr(paged) == f"Event(kind='layer_paged', data={expected!r}, page={paged.page!r})"
    with pytest.raises(TypeError):
        hash(paged)
    assert out.pages == (paged.page,) and out == esc.Outcome(out.state, out.events)
    late = START + timedelta(minutes=5, milliseconds=1500)
    fired = esc.fire(out.state, plan, late, lambda target, at: target.user_ids)
    assert fired.events[0].data == {
        "position": 1,
        "loop": 0,
        "dueAt": "2026-04-06T04:05:00.000Z",
        "lateMs": 1500,
    }
    acked = esc.acknowledge(fired.state, plan, late, "b")
    assert acked.events[0].data == {
        "position": 2,
        "loop": 0,
        "by": "b",
        "cancelledDueAt": "2026-04-06T04:15:00.000Z",
        "cancelledKind": "timeout",
        "repageAt": None,
    }


def test_decisions_resolve_each_layer_once_and_skip_empty_layers() -> None:
    """begin and fire write the common case out (the next layer pages someone) and hand the rest to the
    general loop (layers with nobody on call, the end of the policy): each target is asked once per
    decision, and the results are the rules' (skip, page the next, or exhaust)."""
    from engine import escalation as esc

    plan = _users_policy(5, 10, 15)
    asked: list[tuple[str, ...]] = []
    empty: set[str] = {"a"}

    def resolve(target: Target, at: datetime) -> tuple[str, ...]:
        asked.append(target.user_ids)
        return () if set(target.user_ids) & empty else target.user_ids

    out = esc.begin(plan, START, resolve)
    assert asked == [("a",), ("b",)]
    assert [e.kind for e in out.events] == ["escalation_started", "nobody_on_call", "layer_paged"]
    assert out.events[1].data["position"] == 1 and out.pages == (esc.Page(2, 0, ("b",), "escalation"),)
    assert out.state == esc.EscalationState(1, 0, 1, "paging", START + timedelta(minutes=10), "timeout")

    asked.clear()
    empty = {"c"}
    due = START + timedelta(minutes=10)
    fired = esc.fire(out.state, plan, due + timedelta(seconds=3), resolve)
    assert asked == [("c",)]
    assert [e.kind for e in fired.events] == ["escalation_timeout", "nobody_on_call", "escalation_exhausted"]
    assert fired.events[0].data["lateMs"] == 3000 and fired.pages == ()
    assert fired.state == esc.EscalationState(2, 0, 2, "exhausted")

    asked.clear()
    empty = set()
    fired = esc.fire(out.state, plan, due, resolve)
    assert asked == [("c",)] and fired.pages == (esc.Page(3, 0, ("c",), "escalation"),)
    assert fired.state == esc.EscalationState(2, 0, 2, "paging", due + timedelta(minutes=15), "timeout")
    assert fired.events[1].data["timeoutAt"] == "2026-04-06T04:25:00.000Z"


def test_finished_incidents_leave_only_their_counts_behind() -> None:
    """Memory grows with what is still escalating, not with what is finished: ten times the incidents
    cost little more than their times to acknowledge (one float each). Holding each finished escalation's
    state, as the loop once did, costs about seven objects an incident. Sampled during the run (the progress
    callback), in allocated blocks."""
    import sys

    def growth(per_week: int) -> tuple[int, int]:
        run = sim.prepare(_scenario(per_week=per_week, default=sim.Behaviour(0.9, 3.0, 10.0)), seed=2)
        base = sys.getallocatedblocks()
        peak = [0]

        def sample(_: float) -> None:
            peak[0] = max(peak[0], sys.getallocatedblocks() - base)

        report = sim.run_part(run, range(len(run.incidents)), sample)
        assert report.incidents == len(run.incidents) > 0.9 * per_week
        return peak[0], report.incidents

    small, n_small = growth(2_000)
    large, n_large = growth(20_000)
    assert (large - small) / (n_large - n_small) < 3  # blocks per incident: about 2 now, 7 before


def test_arrivals_are_stored_compactly_and_read_back_exactly() -> None:
    import random

    scenario = _scenario(per_week=300, severity_mix=(("high", 1.0), ("low", 2.0)))
    compact = sim.draw_arrivals(scenario, random.Random(3))
    listed = sim.arrivals(scenario, random.Random(3))
    assert len(compact) == len(listed) > 200
    assert [compact[i] for i in range(len(compact))] == listed == sorted(listed)
    assert {sev for _, sev in listed} == {"high", "low"}
    assert all(scenario.start <= at < scenario.end and at.tzinfo is UTC for at, _ in listed)
    assert listed[0][0].microsecond != 0  # instants keep their microseconds


def test_the_benchmark_floor_and_simpy_peer_model_the_same_run() -> None:
    """bench/simulate.py compares the simulation with a floor (engine decisions inlined) and a SimPy
    peer: they are only fair if all three report the same figures."""
    pytest.importorskip("simpy")
    from bench import simulate as bench

    figures = [bench.child(variant, 3_000, 5)["figures"] for variant in ("workload", "floor", "peer")]
    assert figures[0]["acknowledged"] > 2_000 and figures[0]["exhausted"] > 0
    assert figures[0] == figures[1] == figures[2]
