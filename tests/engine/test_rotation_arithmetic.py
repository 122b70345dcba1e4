"""Rules 1-3 and 7 of docs/TIME_RULES.md: which shift an instant falls in, with exact UTC instants.

Expected values were worked out by hand from the 2026 offsets in the doc's table, not by running the code.
"""

from __future__ import annotations

import pytest

from engine.rotation import resolve, shifts
from tests.engine import KOL, LON, NY, SYD, layer, schedule, z

# (tz, days, handoff, effective_from, people, at, expected user, expected shift_start, expected shift_end)
SHIFT_CASES = [
    # --- rule 1: calendar days at wall-clock time, across both DST changes -----------------------------
    # NY weekly 09:00 from Mon 2 Mar 09:00 EST; first handoff is 9 Mar 09:00 EDT = 13:00Z (7d - 1h)
    pytest.param(NY, 7, "09:00", "2026-03-02T14:00Z", ("a", "b", "c"), "2026-03-09T12:59:59Z",
                 "a", "2026-03-02T14:00Z", "2026-03-09T13:00Z", id="ny-weekly-spring-before"),
    pytest.param(NY, 7, "09:00", "2026-03-02T14:00Z", ("a", "b", "c"), "2026-03-09T13:00Z",
                 "b", "2026-03-09T13:00Z", "2026-03-16T13:00Z", id="ny-weekly-spring-on-boundary"),
    pytest.param(NY, 7, "09:00", "2026-03-02T14:00Z", ("a", "b", "c"), "2026-03-23T13:00Z",
                 "a", "2026-03-23T13:00Z", "2026-03-30T13:00Z", id="ny-weekly-wraps-mod-n"),
    # NY weekly from Mon 26 Oct 09:00 EDT; 2 Nov 09:00 is EST = 14:00Z (7d + 1h)
    pytest.param(NY, 7, "09:00", "2026-10-26T13:00Z", ("a", "b"), "2026-11-02T13:59Z",
                 "a", "2026-10-26T13:00Z", "2026-11-02T14:00Z", id="ny-weekly-fall-before"),
    pytest.param(NY, 7, "09:00", "2026-10-26T13:00Z", ("a", "b"), "2026-11-02T14:00Z",
                 "b", "2026-11-02T14:00Z", "2026-11-09T14:00Z", id="ny-weekly-fall-after"),
    # London daily 09:00: 28 Mar 09:00 GMT, 29 Mar 09:00 BST (a 23 h shift)
    pytest.param(LON, 1, "09:00", "2026-03-27T09:00Z", ("a", "b"), "2026-03-28T09:00Z",
                 "b", "2026-03-28T09:00Z", "2026-03-29T08:00Z", id="lon-daily-spring-23h"),
    pytest.param(LON, 1, "09:00", "2026-03-27T09:00Z", ("a", "b"), "2026-03-29T08:00Z",
                 "a", "2026-03-29T08:00Z", "2026-03-30T08:00Z", id="lon-daily-after-spring"),
    # London daily 09:00 from 24 Oct 09:00 BST; 25 Oct 09:00 GMT (a 25 h shift)
    pytest.param(LON, 1, "09:00", "2026-10-24T08:00Z", ("a", "b"), "2026-10-25T08:30Z",
                 "a", "2026-10-24T08:00Z", "2026-10-25T09:00Z", id="lon-daily-fall-25h"),
    pytest.param(LON, 1, "09:00", "2026-10-24T08:00Z", ("a", "b"), "2026-10-25T09:00Z",
                 "b", "2026-10-25T09:00Z", "2026-10-26T09:00Z", id="lon-daily-fall-next"),
    # Sydney 3-day 08:00 from 4 Apr 08:00 AEDT; 7 Apr 08:00 AEST = 6 Apr 22:00Z
    pytest.param(SYD, 3, "08:00", "2026-04-03T21:00Z", ("a", "b", "c"), "2026-04-06T21:59Z",
                 "a", "2026-04-03T21:00Z", "2026-04-06T22:00Z", id="syd-3day-april-before"),
    pytest.param(SYD, 3, "08:00", "2026-04-03T21:00Z", ("a", "b", "c"), "2026-04-06T22:00Z",
                 "b", "2026-04-06T22:00Z", "2026-04-09T22:00Z", id="syd-3day-april-after"),
    # Sydney 3-day 08:00 from 3 Oct 08:00 AEST; 6 Oct 08:00 AEDT = 5 Oct 21:00Z
    pytest.param(SYD, 3, "08:00", "2026-10-02T22:00Z", ("a", "b", "c"), "2026-10-05T20:59Z",
                 "a", "2026-10-02T22:00Z", "2026-10-05T21:00Z", id="syd-3day-october-before"),
    pytest.param(SYD, 3, "08:00", "2026-10-02T22:00Z", ("a", "b", "c"), "2026-10-05T21:00Z",
                 "b", "2026-10-05T21:00Z", "2026-10-08T21:00Z", id="syd-3day-october-after"),
    pytest.param(SYD, 3, "08:00", "2026-10-02T22:00Z", ("a", "b", "c"), "2026-10-11T21:00Z",
                 "a", "2026-10-11T21:00Z", "2026-10-14T21:00Z", id="syd-3day-wraps"),
    # Kolkata weekly 10:00 IST: always 04:30Z, whatever other zones do
    pytest.param(KOL, 7, "10:00", "2026-03-02T04:30Z", ("a", "b"), "2026-03-09T04:29Z",
                 "a", "2026-03-02T04:30Z", "2026-03-09T04:30Z", id="kol-weekly-first"),
    pytest.param(KOL, 7, "10:00", "2026-03-02T04:30Z", ("a", "b"), "2026-11-02T04:30Z",
                 "b", "2026-11-02T04:30Z", "2026-11-09T04:30Z", id="kol-weekly-35-weeks-on"),
    pytest.param(KOL, 1, "10:00", "2026-03-02T04:30Z", ("a", "b", "c"), "2026-03-08T04:30Z",
                 "a", "2026-03-08T04:30Z", "2026-03-09T04:30Z", id="kol-daily-6-days-on"),
    # --- rule 1: first shift longer / shorter / anchored on the local date -----------------------------
    pytest.param(NY, 7, "09:00", "2026-03-02T12:00Z", ("a", "b"), "2026-03-02T12:00Z",
                 "a", "2026-03-02T12:00Z", "2026-03-09T13:00Z", id="ny-first-shift-longer"),
    pytest.param(NY, 7, "09:00", "2026-03-02T20:00Z", ("a", "b"), "2026-03-05T00:00Z",
                 "a", "2026-03-02T20:00Z", "2026-03-09T13:00Z", id="ny-first-shift-shorter"),
    pytest.param(NY, 1, "09:00", "2026-03-03T03:00Z", ("a", "b"), "2026-03-03T13:59Z",
                 "a", "2026-03-03T03:00Z", "2026-03-03T14:00Z", id="ny-local-date-not-utc-date"),
    pytest.param(KOL, 1, "10:00", "2026-03-01T20:00Z", ("a", "b"), "2026-03-02T10:00Z",
                 "a", "2026-03-01T20:00Z", "2026-03-03T04:30Z", id="kol-first-shift-longer-local-date"),
    pytest.param(SYD, 7, "08:00", "2026-10-01T00:00Z", ("a", "b"), "2026-10-07T20:59Z",
                 "a", "2026-10-01T00:00Z", "2026-10-07T21:00Z", id="syd-first-shift-shorter"),
    pytest.param(LON, 7, "09:00", "2026-03-23T07:00Z", ("a", "b"), "2026-03-30T07:59Z",
                 "a", "2026-03-23T07:00Z", "2026-03-30T08:00Z", id="lon-first-shift-longer-over-dst"),
    # --- rule 2: handoff in the spring-forward gap -> pre-gap offset (fold=0) ---------------------------
    pytest.param(NY, 1, "02:30", "2026-03-06T07:30Z", ("a", "b"), "2026-03-08T07:29Z",
                 "b", "2026-03-07T07:30Z", "2026-03-08T07:30Z", id="ny-gap-before"),
    pytest.param(NY, 1, "02:30", "2026-03-06T07:30Z", ("a", "b"), "2026-03-08T07:30Z",
                 "a", "2026-03-08T07:30Z", "2026-03-09T06:30Z", id="ny-gap-0230-is-0330-edt"),
    pytest.param(NY, 7, "02:30", "2026-03-01T07:30Z", ("a", "b"), "2026-03-08T07:30Z",
                 "b", "2026-03-08T07:30Z", "2026-03-15T06:30Z", id="ny-gap-weekly"),
    pytest.param(LON, 1, "01:30", "2026-03-27T01:30Z", ("a", "b"), "2026-03-29T01:30Z",
                 "a", "2026-03-29T01:30Z", "2026-03-30T00:30Z", id="lon-gap-0130-is-0230-bst"),
    pytest.param(LON, 1, "01:30", "2026-03-27T01:30Z", ("a", "b"), "2026-03-29T01:29Z",
                 "b", "2026-03-28T01:30Z", "2026-03-29T01:30Z", id="lon-gap-before"),
    pytest.param(SYD, 1, "02:30", "2026-10-01T16:30Z", ("a", "b", "c"), "2026-10-03T16:30Z",
                 "c", "2026-10-03T16:30Z", "2026-10-04T15:30Z", id="syd-gap-0230-is-0330-aedt"),
    pytest.param(KOL, 1, "02:30", "2026-03-06T21:00Z", ("a", "b"), "2026-03-07T21:00Z",
                 "b", "2026-03-07T21:00Z", "2026-03-08T21:00Z", id="kol-0230-no-gap"),
    # --- rule 3: handoff in the fall-back overlap -> first occurrence -----------------------------------
    pytest.param(NY, 1, "01:30", "2026-10-30T05:30Z", ("a", "b"), "2026-11-01T05:30Z",
                 "a", "2026-11-01T05:30Z", "2026-11-02T06:30Z", id="ny-overlap-first-0130-edt"),
    pytest.param(NY, 1, "01:30", "2026-10-30T05:30Z", ("a", "b"), "2026-11-01T06:30Z",
                 "a", "2026-11-01T05:30Z", "2026-11-02T06:30Z", id="ny-overlap-second-0130-no-handoff"),
    pytest.param(NY, 1, "01:30", "2026-10-30T05:30Z", ("a", "b"), "2026-11-01T05:29Z",
                 "b", "2026-10-31T05:30Z", "2026-11-01T05:30Z", id="ny-overlap-before"),
    pytest.param(LON, 1, "01:30", "2026-10-23T00:30Z", ("a", "b"), "2026-10-25T00:30Z",
                 "a", "2026-10-25T00:30Z", "2026-10-26T01:30Z", id="lon-overlap-first-0130-bst"),
    pytest.param(LON, 1, "01:30", "2026-10-23T00:30Z", ("a", "b"), "2026-10-25T01:30Z",
                 "a", "2026-10-25T00:30Z", "2026-10-26T01:30Z", id="lon-overlap-second-0130-gmt"),
    pytest.param(SYD, 1, "02:30", "2026-04-02T15:30Z", ("a", "b"), "2026-04-04T15:30Z",
                 "a", "2026-04-04T15:30Z", "2026-04-05T16:30Z", id="syd-overlap-first-0230-aedt"),
    pytest.param(SYD, 1, "02:30", "2026-04-02T15:30Z", ("a", "b"), "2026-04-04T16:30Z",
                 "a", "2026-04-04T15:30Z", "2026-04-05T16:30Z", id="syd-overlap-second-0230-aest"),
    pytest.param(KOL, 1, "01:30", "2026-10-30T20:00Z", ("a", "b"), "2026-10-31T20:00Z",
                 "b", "2026-10-31T20:00Z", "2026-11-01T20:00Z", id="kol-0130-no-overlap"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tz", "days", "handoff", "start", "people", "at", "user", "shift_start", "shift_end"), SHIFT_CASES
)
def test_shift_containing_instant(
    tz: str,
    days: int,
    handoff: str,
    start: str,
    people: tuple[str, ...],
    at: str,
    user: str,
    shift_start: str,
    shift_end: str,
) -> None:
    sched = schedule(tz, layer(days=days, handoff=handoff, start=start, people=people))
    res = resolve(sched, z(at))
    (lr,) = res.layers
    assert lr.active
    assert (lr.participant_id, lr.shift_start, lr.shift_end) == (user, z(shift_start), z(shift_end))
    assert res.owner_id == user
    assert res.paging_targets == (user,)
    assert res.next_handoff == z(shift_end)


# (tz, handoff, effective_from, window start, window end, expected handoffs as (UTC, dst, intended_local))
HANDOFF_CASES = [
    pytest.param(NY, "02:30", "2026-03-06T07:30Z", "2026-03-07T00:00Z", "2026-03-10T00:00Z",
                 [("2026-03-07T07:30Z", None, "2026-03-07T02:30"),
                  ("2026-03-08T07:30Z", "gap", "2026-03-08T02:30"),
                  ("2026-03-09T06:30Z", None, "2026-03-09T02:30")], id="ny-gap"),
    pytest.param(NY, "01:30", "2026-10-30T05:30Z", "2026-10-31T00:00Z", "2026-11-03T00:00Z",
                 [("2026-10-31T05:30Z", None, "2026-10-31T01:30"),
                  ("2026-11-01T05:30Z", "overlap", "2026-11-01T01:30"),
                  ("2026-11-02T06:30Z", None, "2026-11-02T01:30")], id="ny-overlap"),
    pytest.param(LON, "01:30", "2026-03-27T01:30Z", "2026-03-28T00:00Z", "2026-03-31T00:00Z",
                 [("2026-03-28T01:30Z", None, "2026-03-28T01:30"),
                  ("2026-03-29T01:30Z", "gap", "2026-03-29T01:30"),
                  ("2026-03-30T00:30Z", None, "2026-03-30T01:30")], id="lon-gap"),
    pytest.param(LON, "01:30", "2026-10-23T00:30Z", "2026-10-24T00:00Z", "2026-10-27T00:00Z",
                 [("2026-10-24T00:30Z", None, "2026-10-24T01:30"),
                  ("2026-10-25T00:30Z", "overlap", "2026-10-25T01:30"),
                  ("2026-10-26T01:30Z", None, "2026-10-26T01:30")], id="lon-overlap"),
    pytest.param(SYD, "02:30", "2026-04-02T15:30Z", "2026-04-03T00:00Z", "2026-04-06T00:00Z",
                 [("2026-04-03T15:30Z", None, "2026-04-04T02:30"),
                  ("2026-04-04T15:30Z", "overlap", "2026-04-05T02:30"),
                  ("2026-04-05T16:30Z", None, "2026-04-06T02:30")], id="syd-overlap-april"),
    pytest.param(SYD, "02:30", "2026-10-01T16:30Z", "2026-10-02T00:00Z", "2026-10-05T00:00Z",
                 [("2026-10-02T16:30Z", None, "2026-10-03T02:30"),
                  ("2026-10-03T16:30Z", "gap", "2026-10-04T02:30"),
                  ("2026-10-04T15:30Z", None, "2026-10-05T02:30")], id="syd-gap-october"),
    pytest.param(KOL, "02:30", "2026-03-06T21:00Z", "2026-03-07T00:00Z", "2026-03-10T00:00Z",
                 [("2026-03-07T21:00Z", None, "2026-03-08T02:30"),
                  ("2026-03-08T21:00Z", None, "2026-03-09T02:30"),
                  ("2026-03-09T21:00Z", None, "2026-03-10T02:30")], id="kol-never-dst"),
    pytest.param(LON, "09:00", "2026-10-23T08:00Z", "2026-10-24T00:00Z", "2026-10-26T00:00Z",
                 [("2026-10-24T08:00Z", None, "2026-10-24T09:00"),
                  ("2026-10-25T09:00Z", None, "2026-10-25T09:00")], id="lon-0900-unaffected"),
]  # fmt: skip


@pytest.mark.parametrize(("tz", "handoff", "start", "lo", "hi", "expected"), HANDOFF_CASES)
def test_daily_handoffs_and_dst_marks(
    tz: str, handoff: str, start: str, lo: str, hi: str, expected: list[tuple[str, str | None, str]]
) -> None:
    sched = schedule(tz, layer(days=1, handoff=handoff, start=start, people=("a", "b")))
    hands = shifts(sched, z(lo), z(hi)).handoffs
    assert [(h.at, h.dst, h.intended_local) for h in hands] == [(z(a), d, i) for a, d, i in expected]
    assert all(h.layer_id == "L0" and h.from_user != h.to_user for h in hands)


def test_boundary_instant_belongs_to_new_shift() -> None:
    # rule 7: exactly on the handoff instant, the incoming participant is on call; a microsecond before, not
    sched = schedule(NY, layer(days=7, start="2026-03-02T14:00Z", people=("a", "b")))
    assert resolve(sched, z("2026-03-09T13:00Z")).owner_id == "b"
    assert resolve(sched, z("2026-03-09T12:59:59.999999Z")).owner_id == "a"


def test_rotation_is_not_24h_multiples_over_a_year() -> None:
    # a 24h-multiple implementation would drift to 14:00Z in summer; calendar days keep 09:00 local
    sched = schedule(NY, layer(days=1, start="2026-01-01T14:00Z", people=("a", "b")))
    hands = shifts(sched, z("2026-01-01T00:00Z"), z("2027-01-01T00:00Z")).handoffs
    assert len(hands) == 364  # 2 Jan .. 31 Dec
    dst = (z("2026-03-08T07:00Z"), z("2026-11-01T06:00Z"))  # NY clocks on EDT in between
    summer = {h.at.hour for h in hands if dst[0] <= h.at < dst[1]}
    winter = {h.at.hour for h in hands if not dst[0] <= h.at < dst[1]}
    assert summer == {13}
    assert winter == {14}
