"""``shifts()``, gaps, DST issues for the linter, and the helpers other modules call."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from engine.model import Override, RotationLayer
from engine.rotation import handoff_dst_issues, parse_handoff_time, resolve, shifts, validate_timezone
from tests.engine import KOL, LON, NY, SYD, layer, override, schedule, z

START = "2026-03-02T14:00Z"  # Mon 09:00 EST

Row = tuple[str, str, str, str | None, str]  # (user, start, end, layer_id, source)


def rows(items: tuple) -> list[Row]:
    return [(s.user_id, s.start.isoformat(), s.end.isoformat(), s.layer_id, s.source) for s in items]


def expect(*items: tuple[str, str, str, str | None, str]) -> list[Row]:
    return [(u, z(a).isoformat(), z(b).isoformat(), lid, src) for u, a, b, lid, src in items]


def test_layer_shifts_clipped_to_window_across_gap() -> None:
    sched = schedule(NY, layer(days=1, handoff="02:30", start="2026-03-06T07:30Z"))
    out = shifts(sched, z("2026-03-07T00:00Z"), z("2026-03-10T00:00Z"))
    assert rows(out.layers[0].shifts) == expect(
        ("a", "2026-03-07T00:00Z", "2026-03-07T07:30Z", "L0", "rotation"),
        ("b", "2026-03-07T07:30Z", "2026-03-08T07:30Z", "L0", "rotation"),
        ("a", "2026-03-08T07:30Z", "2026-03-09T06:30Z", "L0", "rotation"),
        ("b", "2026-03-09T06:30Z", "2026-03-10T00:00Z", "L0", "rotation"),
    )
    assert rows(out.owners) == rows(out.layers[0].shifts)
    assert out.gaps == ()


def test_gaps_between_effective_windows() -> None:
    sched = schedule(
        LON,
        layer("L0", start="2026-03-02T09:00Z", until="2026-03-05T00:00Z", people=("a",)),
        layer("L1", position=1, start="2026-03-07T00:00Z", people=("b",)),
    )
    out = shifts(sched, z("2026-03-01T00:00Z"), z("2026-03-10T00:00Z"))
    assert [(g.start, g.end) for g in out.gaps] == [
        (z("2026-03-01T00:00Z"), z("2026-03-02T09:00Z")),
        (z("2026-03-05T00:00Z"), z("2026-03-07T00:00Z")),
    ]
    assert rows(out.owners) == expect(
        ("a", "2026-03-02T09:00Z", "2026-03-05T00:00Z", "L0", "rotation"),
        ("b", "2026-03-07T00:00Z", "2026-03-10T00:00Z", "L1", "rotation"),
    )


def test_override_fills_part_of_a_gap_without_a_layer() -> None:
    sched = schedule(
        SYD,
        layer("L0", start="2026-04-01T00:00Z", until="2026-04-03T00:00Z", people=("a",)),
        overrides=(override("ovr_1", "z", "2026-04-04T00:00Z", "2026-04-05T00:00Z"),),
    )
    out = shifts(sched, z("2026-04-01T00:00Z"), z("2026-04-06T00:00Z"))
    assert rows(out.owners) == expect(
        ("a", "2026-04-01T00:00Z", "2026-04-03T00:00Z", "L0", "rotation"),
        ("z", "2026-04-04T00:00Z", "2026-04-05T00:00Z", None, "override"),
    )
    assert [(g.start, g.end) for g in out.gaps] == [
        (z("2026-04-03T00:00Z"), z("2026-04-04T00:00Z")),
        (z("2026-04-05T00:00Z"), z("2026-04-06T00:00Z")),
    ]
    assert out.owners[1].override_id == "ovr_1"


def test_override_replaces_owner_layer_only_and_handoffs_continue_underneath() -> None:
    sched = schedule(
        NY,
        layer("L0", start=START, people=("a", "b")),
        layer("L1", position=1, days=1, start=START, people=("c", "d")),
        overrides=(override("ovr_1", "z", "2026-03-08T00:00Z", "2026-03-11T00:00Z"),),
    )
    out = shifts(sched, z("2026-03-07T00:00Z"), z("2026-03-12T00:00Z"))
    assert rows(out.layers[0].shifts) == expect(
        ("a", "2026-03-07T00:00Z", "2026-03-08T00:00Z", "L0", "rotation"),
        ("z", "2026-03-08T00:00Z", "2026-03-11T00:00Z", "L0", "override"),
        ("b", "2026-03-11T00:00Z", "2026-03-12T00:00Z", "L0", "rotation"),
    )
    assert [h.at for h in out.layers[0].handoffs] == [z("2026-03-09T13:00Z")]  # hidden but listed
    assert all(s.source == "rotation" for s in out.layers[1].shifts)
    assert rows(out.owners) == rows(out.layers[0].shifts)
    # L1 daily 09:00: 7 Mar 14:00Z (EST), then 13:00Z from 8 Mar (EDT)
    assert [h.at for h in out.layers[1].handoffs] == [
        z("2026-03-07T14:00Z"),
        z("2026-03-08T13:00Z"),
        z("2026-03-09T13:00Z"),
        z("2026-03-10T13:00Z"),
        z("2026-03-11T13:00Z"),
    ]


def test_two_overlapping_overrides_in_owner_timeline() -> None:
    sched = schedule(
        KOL,
        layer(start="2026-03-02T04:30Z", handoff="10:00", people=("a",)),
        overrides=(
            override("ovr_x", "x", "2026-03-03T00:00Z", "2026-03-10T00:00Z"),
            override("ovr_y", "y", "2026-03-05T00:00Z", "2026-03-06T00:00Z"),
        ),
    )
    out = shifts(sched, z("2026-03-02T00:00Z"), z("2026-03-11T00:00Z"))
    assert rows(out.owners) == expect(
        ("a", "2026-03-02T04:30Z", "2026-03-03T00:00Z", "L0", "rotation"),
        ("x", "2026-03-03T00:00Z", "2026-03-05T00:00Z", "L0", "override"),
        ("y", "2026-03-05T00:00Z", "2026-03-06T00:00Z", "L0", "override"),
        ("x", "2026-03-06T00:00Z", "2026-03-10T00:00Z", "L0", "override"),
        ("a", "2026-03-10T00:00Z", "2026-03-11T00:00Z", "L0", "rotation"),
    )
    assert [(g.start, g.end) for g in out.gaps] == [(z("2026-03-02T00:00Z"), z("2026-03-02T04:30Z"))]


def test_owner_falls_back_to_lower_layer_in_timeline() -> None:
    sched = schedule(
        NY,
        layer("L0", start="2026-03-04T00:00Z", people=("a",)),
        layer("L1", position=1, start=START, people=("b",)),
    )
    out = shifts(sched, z("2026-03-03T00:00Z"), z("2026-03-05T00:00Z"))
    assert rows(out.owners) == expect(
        ("b", "2026-03-03T00:00Z", "2026-03-04T00:00Z", "L1", "rotation"),
        ("a", "2026-03-04T00:00Z", "2026-03-05T00:00Z", "L0", "rotation"),
    )
    assert rows(out.layers[1].shifts) == expect(
        ("b", "2026-03-03T00:00Z", "2026-03-05T00:00Z", "L1", "rotation")
    )


def test_same_user_boundaries_are_merged_and_not_handoffs() -> None:
    sched = schedule(NY, layer(start=START, people=("a", "a", "b")))
    out = shifts(sched, z(START), z("2026-03-30T13:00Z"))
    assert rows(out.layers[0].shifts) == expect(
        ("a", START, "2026-03-16T13:00Z", "L0", "rotation"),
        ("b", "2026-03-16T13:00Z", "2026-03-23T13:00Z", "L0", "rotation"),
        ("a", "2026-03-23T13:00Z", "2026-03-30T13:00Z", "L0", "rotation"),
    )
    assert [(h.from_user, h.to_user) for h in out.handoffs] == [("a", "b"), ("b", "a")]


def test_single_person_layer_is_one_shift_with_no_handoffs() -> None:
    sched = schedule(LON, layer(days=1, handoff="01:30", start="2026-01-01T00:00Z", people=("solo",)))
    out = shifts(sched, z("2026-01-01T00:00Z"), z("2027-01-01T00:00Z"))
    assert rows(out.layers[0].shifts) == expect(
        ("solo", "2026-01-01T00:00Z", "2027-01-01T00:00Z", "L0", "rotation")
    )
    assert out.handoffs == ()
    assert out.dst_issues == ()


def test_52_weeks_weekly_count_and_end_exclusive() -> None:
    sched = schedule(NY, layer(start=START, people=("a", "b", "c")))
    out = shifts(sched, z(START), z("2027-03-01T14:00Z"))  # exactly 52 weeks later, 09:00 EST
    assert len(out.layers[0].handoffs) == 51  # handoff 52 falls on the (exclusive) end
    assert len(out.layers[0].shifts) == 52
    assert out.layers[0].shifts[-1].end == z("2027-03-01T14:00Z")


def test_ten_years_daily_walks_boundaries() -> None:
    sched = schedule(SYD, layer(days=1, handoff="02:30", start="2026-01-01T00:00Z", people=("a", "b")))
    out = shifts(sched, z("2026-01-01T00:00Z"), z("2036-01-01T00:00Z"))
    assert len(out.handoffs) == 3652  # 2 Jan 2026 .. 1 Jan 2036 local, 2 leap days
    # one overlap (April) and one gap (October) per year
    assert {h.dst for h in out.dst_issues} == {"gap", "overlap"}
    assert len(out.dst_issues) == 20


def test_shifts_rejects_empty_window() -> None:
    with pytest.raises(ValueError, match="end must be after start"):
        shifts(schedule(NY, layer()), z("2026-03-02T00:00Z"), z("2026-03-02T00:00Z"))


# --- linter: DST issues over the whole of 2026 ------------------------------------------------------

# (tz, handoff, expected issues as (UTC, dst))
DST_YEAR_CASES = [
    pytest.param(NY, "02:30", [("2026-03-08T07:30Z", "gap")], id="ny-0230"),
    pytest.param(NY, "01:30", [("2026-11-01T05:30Z", "overlap")], id="ny-0130"),
    pytest.param(NY, "09:00", [], id="ny-0900"),
    pytest.param(LON, "01:30", [("2026-03-29T01:30Z", "gap"), ("2026-10-25T00:30Z", "overlap")], id="lon-0130"),
    pytest.param(LON, "02:30", [], id="lon-0230-outside-london-changes"),
    pytest.param(SYD, "02:30", [("2026-04-04T15:30Z", "overlap"), ("2026-10-03T16:30Z", "gap")], id="syd-0230"),
    pytest.param(KOL, "02:30", [], id="kol-never"),
]  # fmt: skip


@pytest.mark.parametrize(("tz", "handoff", "expected"), DST_YEAR_CASES)
def test_handoff_dst_issues_over_2026(tz: str, handoff: str, expected: list[tuple[str, str]]) -> None:
    sched = schedule(tz, layer(days=1, handoff=handoff, start="2025-12-25T00:00Z"))
    lo, hi = z("2026-01-01T00:00Z"), z("2027-01-01T00:00Z")
    issues = handoff_dst_issues(sched, lo, hi)
    assert [(h.at, h.dst) for h in issues] == [(z(a), d) for a, d in expected]
    assert issues == shifts(sched, lo, hi).dst_issues


# --- resolve and shifts agree -------------------------------------------------------------------------


def _busy_schedule(tz: str) -> tuple[tuple[RotationLayer, ...], tuple[Override, ...]]:
    layers = (
        layer("L0", days=7, handoff="02:30", start="2026-01-05T00:00Z", until="2026-09-01T00:00Z",
              people=("a", "b", "c")),
        layer("L1", position=1, days=3, handoff="01:30", start="2026-02-01T00:00Z", people=("c", "d")),
        layer("L2", position=2, days=1, handoff="23:59", start="2026-01-01T00:00Z", until="2026-12-01T00:00Z",
              people=("e", "a", "f")),
    )  # fmt: skip
    overrides = (
        override("ovr_1", "z", "2026-03-07T10:00Z", "2026-03-10T10:00Z"),
        override("ovr_2", "y", "2026-03-08T00:00Z", "2026-03-09T00:00Z"),
        override("ovr_3", "x", "2026-12-20T00:00Z", "2026-12-24T00:00Z"),
    )
    return layers, overrides


@pytest.mark.parametrize("tz", [NY, LON, SYD, KOL])
def test_resolve_agrees_with_shifts_and_next_handoff(tz: str) -> None:
    layers, overrides = _busy_schedule(tz)
    sched = schedule(tz, *layers, overrides=overrides)
    lo, hi = z("2026-01-01T00:00Z"), z("2027-01-01T00:00Z")
    out = shifts(sched, lo, hi)
    t = lo
    while t < hi:
        res = resolve(sched, t)
        owner = [s for s in out.owners if s.start <= t < s.end]
        in_gap = any(g.start <= t < g.end for g in out.gaps)
        assert in_gap is (res.owner_id is None)
        assert [s.user_id for s in owner] == ([] if res.owner_id is None else [res.owner_id])
        for lr, ls in zip(res.layers, out.layers, strict=True):
            rot = [s for s in ls.shifts if s.start <= t < s.end]
            if lr.active:
                (piece,) = rot
                want = res.owner_id if lr.displaced_by_override else lr.participant_id
                assert piece.user_id == want
            else:
                assert rot == []
        # nothing changes strictly between t and next_handoff
        if res.next_handoff is not None:
            assert res.next_handoff > t
            before = resolve(sched, res.next_handoff - timedelta(microseconds=1))
            assert (before.owner_id, before.paging_targets) == (res.owner_id, res.paging_targets)
        t += timedelta(hours=5, minutes=17)


# --- helpers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata", "UTC"]
)
def test_validate_timezone_accepts(name: str) -> None:
    assert validate_timezone(name).key == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("EST", "abbreviation"),
        ("MST7MDT", "abbreviation"),
        ("utc", "abbreviation"),
        ("", "non-empty"),
        ("Mars/Olympus_Mons", "not in the IANA"),
        ("../../etc/passwd", "not in the IANA"),
        ("America/New_York ", "not in the IANA"),
    ],
)
def test_validate_timezone_rejects(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_timezone(name)


def test_resolve_rejects_unknown_schedule_zone() -> None:
    with pytest.raises(ValueError, match="EST"):
        resolve(schedule("EST", layer()), z("2026-03-01T00:00Z"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("00:00", time(0, 0)), ("09:00", time(9, 0)), ("02:30", time(2, 30)), ("23:59", time(23, 59))],
)
def test_parse_handoff_time_accepts(text: str, expected: time) -> None:
    assert parse_handoff_time(text) == expected


@pytest.mark.parametrize(
    "text", ["9:00", "24:00", "12:60", "09:00:00", " 09:00", "09:00\n", "0900", "٠٩:٠٠", "", "ab:cd", 900]
)
def test_parse_handoff_time_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_handoff_time(text)  # type: ignore[arg-type]


def test_rotation_length_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rotation_length_days"):
        resolve(schedule(NY, layer(days=0)), z("2026-03-03T00:00Z"))
