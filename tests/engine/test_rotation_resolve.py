"""Rules 4-7 of docs/TIME_RULES.md through ``resolve``: effective windows, overlapping layers, overrides,
and ``next_handoff``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.model import RotationLayer
from engine.rotation import resolve
from tests.engine import KOL, LON, NY, SYD, layer, override, schedule, z, zo

# --- rule 4: half-open effective window ---------------------------------------------------------------

# (tz, effective_from, effective_until, at, expected owner)
WINDOW_CASES = [
    pytest.param(NY, "2026-03-02T14:00Z", "2026-03-09T13:00Z", "2026-03-02T13:59:59Z", None, id="ny-before-from"),
    pytest.param(NY, "2026-03-02T14:00Z", "2026-03-09T13:00Z", "2026-03-02T14:00Z", "a", id="ny-at-from"),
    pytest.param(NY, "2026-03-02T14:00Z", "2026-03-09T13:00Z", "2026-03-09T12:59:59Z", "a", id="ny-just-before-until"),
    pytest.param(NY, "2026-03-02T14:00Z", "2026-03-09T13:00Z", "2026-03-09T13:00Z", None, id="ny-at-until-exclusive"),
    pytest.param(NY, "2026-03-02T14:00Z", "2026-03-02T14:00Z", "2026-03-02T14:00Z", None, id="until-equals-from"),
    pytest.param(NY, "2026-03-02T14:00Z", "2026-03-01T00:00Z", "2026-03-02T14:00Z", None, id="until-before-from"),
    pytest.param(LON, "2026-03-29T01:00Z", "2026-10-25T01:00Z", "2026-03-29T00:59Z", None, id="lon-summer-only-before"),
    pytest.param(LON, "2026-03-29T01:00Z", "2026-10-25T01:00Z", "2026-10-25T00:59Z", "b", id="lon-summer-only-last"),
    pytest.param(LON, "2026-03-29T01:00Z", "2026-10-25T01:00Z", "2026-10-25T01:00Z", None, id="lon-summer-only-after"),
    pytest.param(SYD, "2026-04-04T16:00Z", "2026-10-03T16:00Z", "2026-04-04T16:00Z", "a", id="syd-winter-only-from"),
    pytest.param(SYD, "2026-04-04T16:00Z", "2026-10-03T16:00Z", "2026-10-03T16:00Z", None, id="syd-winter-only-until"),
    pytest.param(KOL, "2026-03-02T04:30Z", None, "2030-01-01T00:00Z", "a", id="kol-open-ended"),
]  # fmt: skip


@pytest.mark.parametrize(("tz", "start", "until", "at", "owner"), WINDOW_CASES)
def test_effective_window_is_half_open(
    tz: str, start: str, until: str | None, at: str, owner: str | None
) -> None:
    sched = schedule(tz, layer(days=7, start=start, until=until, people=("a", "b")))
    res = resolve(sched, z(at))
    assert res.owner_id == owner
    assert res.layers[0].active is (owner is not None)
    assert res.paging_targets == (() if owner is None else (owner,))
    if owner is None:
        assert (res.layers[0].participant_id, res.layers[0].shift_start, res.layers[0].shift_end) == (
            None,
            None,
            None,
        )


def test_shift_end_is_clipped_to_effective_until() -> None:
    sched = schedule(NY, layer(start="2026-03-02T14:00Z", until="2026-03-05T00:00Z"))
    res = resolve(sched, z("2026-03-03T00:00Z"))
    assert res.layers[0].shift_end == z("2026-03-05T00:00Z")
    assert res.next_handoff == z("2026-03-05T00:00Z")


def test_layer_without_participants_is_never_active() -> None:
    sched = schedule(NY, layer(people=()), layer("L1", position=1, people=("x",)))
    res = resolve(sched, z("2026-03-03T00:00Z"))
    assert (res.owner_id, res.paging_targets, res.layers[0].active) == ("x", ("x",), False)


# --- rule 5: overlapping layers ----------------------------------------------------------------------

START = "2026-03-02T14:00Z"  # Mon 09:00 EST


def three_layers(
    p0: tuple[str, ...] = ("a", "b"),
    p1: tuple[str, ...] = ("b", "c"),
    p2: tuple[str, ...] = ("d",),
    s0: str = START,
    u0: str | None = None,
) -> tuple[RotationLayer, ...]:
    """L0 weekly, L1 daily (both 09:00 NY), L2 a single-person weekly layer."""
    return (
        layer("L0", position=0, days=7, start=s0, until=u0, people=p0),
        layer("L1", position=1, days=1, start=START, people=p1),
        layer("L2", position=2, days=7, start=START, people=p2),
    )


# (layers, at, owner, paging targets)
LAYER_CASES = [
    pytest.param(three_layers(), "2026-03-02T15:00Z", "a", ("a", "b", "d"), id="all-active"),
    pytest.param(three_layers(), "2026-03-03T14:00Z", "a", ("a", "c", "d"), id="daily-layer-handed-off"),
    pytest.param(three_layers(), "2026-03-09T13:00Z", "b", ("b", "c", "d"), id="weekly-and-daily-on-dst-day"),
    pytest.param(three_layers(p1=("a", "b")), "2026-03-02T15:00Z", "a", ("a", "d"), id="dedup-first-wins"),
    pytest.param(three_layers(p1=("d", "a")), "2026-03-02T15:00Z", "a", ("a", "d"), id="dedup-keeps-position-order"),
    pytest.param(tuple(reversed(three_layers())), "2026-03-02T15:00Z", "a", ("a", "b", "d"),
                 id="tuple-order-irrelevant-position-counts"),
    pytest.param(three_layers(s0="2026-04-01T00:00Z"), "2026-03-02T15:00Z", "b", ("b", "d"),
                 id="owner-falls-back-when-l0-not-started"),
    pytest.param(three_layers(u0="2026-03-04T00:00Z"), "2026-03-04T00:00Z", "c", ("c", "d"),
                 id="owner-falls-back-when-l0-ended"),
    pytest.param(three_layers(u0="2026-03-04T00:00Z"), "2026-03-03T23:59Z", "a", ("a", "c", "d"),
                 id="owner-l0-until-its-end"),
    pytest.param(three_layers(), "2026-03-02T13:00Z", None, (), id="nobody-before-any-layer"),
    pytest.param((layer("L5", position=5, start=START, people=("e",)),
                  layer("L3", position=3, start=START, people=("f",))), "2026-03-03T00:00Z", "f", ("f", "e"),
                 id="no-position-0-lowest-wins"),
]  # fmt: skip


@pytest.mark.parametrize(("layers", "at", "owner", "targets"), LAYER_CASES)
def test_overlapping_layers(
    layers: tuple[RotationLayer, ...], at: str, owner: str | None, targets: tuple[str, ...]
) -> None:
    res = resolve(schedule(NY, *layers), z(at))
    assert res.owner_id == owner
    assert res.paging_targets == targets
    assert [lr.position for lr in res.layers] == sorted(la.position for la in layers)
    assert res.override is None
    assert not any(lr.displaced_by_override for lr in res.layers)


# --- rule 6: overrides -------------------------------------------------------------------------------

OV_Z = override("ovr_1", "z", "2026-03-03T00:00Z", "2026-03-04T00:00Z")
OV_B = override("ovr_1", "b", "2026-03-03T00:00Z", "2026-03-04T00:00Z")
OV_X = override("ovr_x", "x", "2026-03-03T00:00Z", "2026-03-10T00:00Z")
OV_Y = override("ovr_y", "y", "2026-03-05T00:00Z", "2026-03-06T00:00Z")
OV_TIE_A = override("ovr_a", "x", "2026-03-05T00:00Z", "2026-03-07T00:00Z")
OV_TIE_B = override("ovr_b", "y", "2026-03-05T00:00Z", "2026-03-06T00:00Z")
OV_EMPTY = override("ovr_e", "q", "2026-03-03T00:00Z", "2026-03-03T00:00Z")
OV_BACKWARDS = override("ovr_r", "q", "2026-03-04T00:00Z", "2026-03-03T00:00Z")

# (layers, overrides, at, owner, targets, winning override id, index of displaced layer)
OVERRIDE_CASES = [
    pytest.param(three_layers(), (OV_Z,), "2026-03-03T15:00Z", "z", ("z", "c", "d"), "ovr_1", 0, id="displaces-l0"),
    pytest.param(three_layers(), (OV_Z,), "2026-03-03T00:00Z", "z", ("z", "b", "d"), "ovr_1", 0, id="starts-inclusive"),
    pytest.param(three_layers(), (OV_Z,), "2026-03-04T00:00Z", "a", ("a", "c", "d"), None, None, id="ends-exclusive"),
    pytest.param(three_layers(), (OV_Z,), "2026-03-02T23:59Z", "a", ("a", "b", "d"), None, None, id="before-start"),
    pytest.param(three_layers(), (OV_B,), "2026-03-03T15:00Z", "b", ("b", "c", "d"), "ovr_1", 0, id="user-in-l0-slot"),
    pytest.param(three_layers(p1=("b", "b")), (OV_B,), "2026-03-03T12:00Z", "b", ("b", "d"), "ovr_1", 0,
                 id="override-dedups-with-l1"),
    pytest.param(three_layers(), (OV_X, OV_Y), "2026-03-04T12:00Z", "x", ("x", "c", "d"), "ovr_x", 0,
                 id="two-overlapping-only-first-active"),
    pytest.param(three_layers(), (OV_X, OV_Y), "2026-03-05T12:00Z", "y", ("y", "b", "d"), "ovr_y", 0,
                 id="two-overlapping-latest-start-wins"),
    pytest.param(three_layers(), (OV_Y, OV_X), "2026-03-05T12:00Z", "y", ("y", "b", "d"), "ovr_y", 0,
                 id="two-overlapping-order-irrelevant"),
    pytest.param(three_layers(), (OV_X, OV_Y), "2026-03-06T00:00Z", "x", ("x", "c", "d"), "ovr_x", 0,
                 id="two-overlapping-outer-resumes"),
    pytest.param(three_layers(), (OV_TIE_B, OV_TIE_A), "2026-03-05T12:00Z", "y", ("y", "b", "d"), "ovr_b", 0,
                 id="same-start-larger-id-wins"),
    pytest.param(three_layers(s0="2026-04-01T00:00Z"), (OV_Z,), "2026-03-03T12:00Z", "z", ("z", "d"), "ovr_1", 1,
                 id="displaces-fallback-owner-layer"),
    pytest.param((layer(start="2026-04-01T00:00Z"),), (OV_Z,), "2026-03-03T12:00Z", "z", ("z",), "ovr_1", None,
                 id="no-layer-active-override-still-owner"),
    pytest.param((), (OV_Z,), "2026-03-03T12:00Z", "z", ("z",), "ovr_1", None, id="no-layers-at-all"),
    pytest.param(three_layers(), (OV_EMPTY, OV_BACKWARDS), "2026-03-03T00:00Z", "a", ("a", "b", "d"), None, None,
                 id="empty-or-backwards-override-ignored"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("layers", "overrides", "at", "owner", "targets", "winner", "displaced"), OVERRIDE_CASES
)
def test_overrides(
    layers: tuple[RotationLayer, ...],
    overrides: tuple,
    at: str,
    owner: str,
    targets: tuple[str, ...],
    winner: str | None,
    displaced: int | None,
) -> None:
    res = resolve(schedule(NY, *layers, overrides=overrides), z(at))
    assert res.owner_id == owner
    assert res.paging_targets == targets
    assert (res.override.id if res.override else None) == winner
    assert [n for n, lr in enumerate(res.layers) if lr.displaced_by_override] == (
        [] if displaced is None else [displaced]
    )


def test_displaced_layer_still_reports_rotation_participant() -> None:
    res = resolve(schedule(NY, *three_layers(), overrides=(OV_Z,)), z("2026-03-03T12:00Z"))
    l0 = res.layers[0]
    assert (l0.participant_id, l0.shift_start, l0.shift_end) == ("a", z(START), z("2026-03-09T13:00Z"))


# --- next_handoff ------------------------------------------------------------------------------------

# (tz, layers, overrides, at, expected next_handoff)
NEXT_CASES = [
    pytest.param(NY, (layer(start=START),), (), "2026-03-03T00:00Z", "2026-03-09T13:00Z", id="ny-next-weekly"),
    pytest.param(NY, (layer(start=START),), (), "2026-03-09T13:00Z", "2026-03-16T13:00Z", id="on-boundary-is-next"),
    pytest.param(NY, (layer(days=1, handoff="02:30", start="2026-03-06T07:30Z"),), (), "2026-03-07T12:00Z",
                 "2026-03-08T07:30Z", id="ny-next-in-gap"),
    pytest.param(LON, (layer(days=1, handoff="01:30", start="2026-10-23T00:30Z"),), (), "2026-10-24T12:00Z",
                 "2026-10-25T00:30Z", id="lon-next-in-overlap"),
    pytest.param(SYD, (layer(days=3, handoff="08:00", start="2026-10-02T22:00Z", people=("a", "b", "c")),), (),
                 "2026-10-03T00:00Z", "2026-10-05T21:00Z", id="syd-next-across-dst"),
    pytest.param(KOL, (layer(days=7, handoff="10:00", start="2026-03-02T04:30Z"),), (), "2026-03-02T04:30Z",
                 "2026-03-09T04:30Z", id="kol-next"),
    pytest.param(NY, (layer(start=START),), (OV_Y,), "2026-03-03T00:00Z", "2026-03-05T00:00Z",
                 id="override-start-is-earlier"),
    pytest.param(NY, (layer(start=START),), (OV_Y,), "2026-03-05T00:00Z", "2026-03-06T00:00Z",
                 id="active-override-end"),
    pytest.param(NY, (layer(start="2026-04-01T00:00Z"),), (), "2026-03-03T00:00Z", "2026-04-01T00:00Z",
                 id="layer-becomes-active"),
    pytest.param(NY, (layer(start=START, until="2026-03-05T00:00Z"),), (), "2026-03-03T00:00Z",
                 "2026-03-05T00:00Z", id="layer-becomes-inactive"),
    pytest.param(NY, (layer(start=START, until="2026-03-05T00:00Z"),), (), "2026-03-05T00:00Z", None,
                 id="all-ended-none"),
    pytest.param(NY, (layer(start=START, people=("a",)),), (), "2026-03-03T00:00Z", None, id="single-person-never"),
    pytest.param(NY, (layer(start=START, people=("a", "a", "b")),), (), "2026-03-03T00:00Z", "2026-03-16T13:00Z",
                 id="same-user-boundary-is-not-a-handoff"),
    pytest.param(NY, (layer(start=START, until="2026-03-01T00:00Z"),), (), "2026-02-01T00:00Z", None,
                 id="never-active-layer-ignored"),
    pytest.param(NY, three_layers(), (), "2026-03-03T00:00Z", "2026-03-03T14:00Z", id="earliest-of-layers"),
]  # fmt: skip


@pytest.mark.parametrize(("tz", "layers", "overrides", "at", "expected"), NEXT_CASES)
def test_next_handoff(
    tz: str, layers: tuple[RotationLayer, ...], overrides: tuple, at: str, expected: str | None
) -> None:
    res = resolve(schedule(tz, *layers, overrides=overrides), z(at))
    assert res.next_handoff == zo(expected)


def test_stint_spans_same_user_boundaries() -> None:
    sched = schedule(NY, layer(start=START, people=("a", "a", "b")))
    lr = resolve(sched, z("2026-03-10T00:00Z")).layers[0]
    assert (lr.participant_id, lr.shift_start, lr.shift_end) == ("a", z(START), z("2026-03-16T13:00Z"))
    lr = resolve(sched, z("2026-03-24T00:00Z")).layers[0]  # i=3 -> a again; stint runs to b at i=5
    assert (lr.participant_id, lr.shift_start, lr.shift_end) == (
        "a",
        z("2026-03-16T13:00Z") + timedelta(days=7),
        z("2026-04-06T13:00Z"),
    )


# --- rule 7: instants in and out ---------------------------------------------------------------------


def test_non_utc_aware_input_gives_utc_output() -> None:
    sched = schedule(NY, layer(start=START))
    at = datetime(2026, 3, 9, 9, 0, tzinfo=timezone(timedelta(hours=-4)))  # 09:00 EDT = 13:00Z
    res = resolve(sched, at)
    assert res.at == z("2026-03-09T13:00Z")
    assert res.at.utcoffset() == timedelta(0)
    assert res.owner_id == "b"
    assert res.next_handoff is not None and res.next_handoff.tzinfo is not None
    assert res.next_handoff.utcoffset() == timedelta(0)


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve(schedule(NY, layer()), datetime(2026, 3, 9, 13, 0))  # noqa: DTZ001
