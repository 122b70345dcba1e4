"""Rule 8 of docs/TIME_RULES.md: people who leave the organisation, through ``resolve``, ``shifts`` and
``resolve_target`` (the one answer the escalation engine pages with and every view shows)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.model import Membership, Target
from engine.rotation import resolve, resolve_target, shifts
from tests.engine import LON, NY, layer, override, schedule, z

EVERYONE = frozenset({"a", "b", "c", "d", "x", "y", "z"})


def gone(*users: str, at: str = "2026-01-01T00:00Z") -> Membership:
    """Everyone, except ``users``, who were removed at ``at``."""
    return Membership(EVERYONE - set(users), {u: z(at) for u in users})


# Weekly NY rotation a, b, c from Mon 2 Mar 09:00 EST: b holds 9-16 Mar (a DST change inside), c from 16 Mar.
ROTA = schedule(NY, layer(start="2026-03-02T14:00Z", people=("a", "b", "c")))


def test_removed_users_turn_is_a_gap_and_the_rotation_does_not_shift() -> None:
    members = gone("b", at="2026-03-10T00:00Z")
    during = resolve(ROTA, z("2026-03-12T00:00Z"), members)
    assert (during.owner_id, during.paging_targets, during.removed) == (None, (), ("b",))
    assert (during.layers[0].active, during.layers[0].participant_id, during.layers[0].vacated_by) == (
        True,
        None,
        "b",
    )
    assert during.next_handoff == z("2026-03-16T13:00Z")  # c's turn starts on time (09:00 EDT)
    assert resolve(ROTA, z("2026-03-16T13:00Z"), members).owner_id == "c"
    assert resolve(ROTA, z("2026-03-23T13:00Z"), members).owner_id == "a"
    assert resolve(ROTA, z("2026-03-30T13:00Z"), members).owner_id is None  # b's next turn: a gap again


def test_before_the_instant_of_removal_they_are_still_on_call() -> None:
    members = gone("b", at="2026-03-10T00:00Z")
    before = resolve(ROTA, z("2026-03-09T23:59:59Z"), members)
    assert (before.owner_id, before.removed) == ("b", ())
    assert before.layers[0].shift_end == z("2026-03-10T00:00Z")  # their stint ends at the removal
    assert before.next_handoff == z("2026-03-10T00:00Z")
    assert resolve(ROTA, z("2026-03-10T00:00Z"), members).owner_id is None  # boundary: removed (rule 7)


def test_an_id_nobody_knows_is_never_on_call() -> None:
    res = resolve(ROTA, z("2026-03-12T00:00Z"), Membership(frozenset({"a", "c"})))
    assert (res.owner_id, res.paging_targets, res.removed) == (None, (), ("b",))


@pytest.mark.parametrize(
    ("removed", "owner", "targets"),
    [
        pytest.param((), "z", ("z", "b", "d"), id="nobody-removed"),
        pytest.param(("z",), "a", ("a", "b", "d"), id="override-user-removed"),
        pytest.param(("a",), "z", ("z", "d"), id="owner-layer-vacant-override-takes-next-layer"),
        pytest.param(("a", "z"), "b", ("b", "d"), id="owner-from-next-layer"),
        pytest.param(("a", "b", "d"), "z", ("z",), id="only-the-override"),
        pytest.param(("a", "b", "d", "z"), None, (), id="nobody-left"),
    ],
)
def test_owner_and_targets_skip_removed_users(removed: tuple[str, ...], owner: str | None, targets) -> None:
    sched = schedule(
        LON,
        layer("L0", people=("a",)),
        layer("L1", position=1, people=("b",)),
        layer("L2", position=2, people=("d",)),
        overrides=(override("o1", "z", "2026-03-01T00:00Z", "2026-03-08T00:00Z"),),
    )
    res = resolve(sched, z("2026-03-03T12:00Z"), gone(*removed))
    assert (res.owner_id, res.paging_targets) == (owner, targets)
    assert not set(removed) & ({res.owner_id} | set(res.paging_targets))


def test_removed_users_override_lets_the_cover_underneath_apply() -> None:
    sched = schedule(
        NY,
        layer(people=("a",)),
        overrides=(
            override("o1", "x", "2026-03-01T00:00Z", "2026-03-10T00:00Z"),
            override("o2", "y", "2026-03-03T00:00Z", "2026-03-04T00:00Z"),
        ),
    )
    assert resolve(sched, z("2026-03-03T12:00Z"), gone()).owner_id == "y"
    res = resolve(sched, z("2026-03-03T12:00Z"), gone("y"))
    assert (res.owner_id, res.override and res.override.id, res.removed) == ("x", "o1", ("y",))
    assert resolve(sched, z("2026-03-03T12:00Z"), gone("x", "y")).owner_id == "a"


def test_shifts_agree_with_resolve_at_every_edge_and_in_between() -> None:
    sched = schedule(
        NY,
        layer("L0", days=1, start="2026-03-02T14:00Z", people=("a", "b", "c")),
        layer("L1", position=1, days=7, start="2026-03-02T14:00Z", people=("d", "b")),
        overrides=(
            override("o1", "x", "2026-03-04T00:00Z", "2026-03-06T00:00Z"),
            override("o2", "y", "2026-03-05T00:00Z", "2026-03-05T06:00Z"),
        ),
    )
    members = Membership(
        frozenset({"a", "c", "d", "x"}), {"b": z("2026-03-05T03:00Z"), "y": z("2026-03-05T02:00Z")}
    )
    start, end = z("2026-03-02T14:00Z"), z("2026-03-16T00:00Z")
    cover = shifts(sched, start, end, members)
    t = start
    while t < end:
        res = resolve(sched, t, members)
        owning = [s.user_id for s in cover.owners if s.start <= t < s.end]
        assert owning == ([] if res.owner_id is None else [res.owner_id]), t
        assert any(g.start <= t < g.end for g in cover.gaps) is (res.owner_id is None), t
        t += timedelta(minutes=30)
    assert "b" not in {s.user_id for s in cover.owners if s.start >= z("2026-03-05T03:00Z")}


def test_resolve_target_is_the_schedule_answer_or_the_listed_members() -> None:
    members = gone("b", at="2026-03-10T00:00Z")
    at = z("2026-03-12T00:00Z")
    assert resolve_target(Target("schedule", "sched_t"), ROTA, at, members).user_ids == (
        resolve(ROTA, at, members).paging_targets
    )
    assert resolve_target(Target("schedule", "sched_t"), None, at, members).user_ids == ()
    users = resolve_target(Target("users", user_ids=("b", "a", "a", "c")), None, at, members)
    assert (users.user_ids, users.removed) == (("a", "c"), ("b",))
    earlier = resolve_target(Target("users", user_ids=("b", "a")), None, z("2026-03-09T00:00Z"), members)
    assert earlier.user_ids == ("b", "a")
