"""The one id encoder: every id we mint, by a service or by the escalator's batched catch-up, has one form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from engine.clock import VirtualClock
from engine.ids import ALPHABET, id_head, new_id, random_tail
from engine.runtime import escalator
from engine.service import Ctx
from engine.service import incidents as inc_svc
from engine.service import policies as pol_svc
from engine.service.orgs import add_user
from engine.timefmt import parse_iso
from storage.db import Database

ID = re.compile(r"^([a-z]+)_([0-9a-hjkmnp-tv-z]{26})$")


def _instant_ms(id_: str) -> int:
    """The epoch milliseconds in an id's first 10 characters (big-endian Crockford base32)."""
    match = ID.match(id_)
    assert match, id_
    ms = 0
    for c in match.group(2)[:10]:
        ms = ms * 32 + ALPHABET.index(c)
    return ms


def test_new_id_is_prefix_time_and_80_random_bits() -> None:
    at = datetime(2026, 4, 7, 10, 0, 0, 123000, tzinfo=UTC)
    made = {new_id("pol", at) for _ in range(200)}
    assert len(made) == 200
    for id_ in made:
        assert ID.match(id_) and id_.startswith("pol_")
        assert _instant_ms(id_) == int(at.timestamp() * 1000)
    assert new_id("x", at) < new_id("x", at + timedelta(milliseconds=1))
    assert id_head("evt", at) == new_id("evt", at)[:14]
    # every character of the alphabet appears in the random part, none outside it
    tails = "".join(random_tail() for _ in range(400))
    assert set(tails) == set(ALPHABET)


def test_service_and_batched_escalator_ids_have_one_form(ctx: Ctx, db: Database, clock: VirtualClock) -> None:
    uid = add_user(ctx, email="alice@example.com", first_name="Alice")["id"]
    pid = pol_svc.create_policy(ctx, {"name": "Platform", "repeat": 2})["id"]
    pol_svc.add_layer(
        ctx, pid, {"position": 1, "ackTimeoutMinutes": 1, "target": {"type": "users", "userIds": [uid]}}
    )
    iid = inc_svc.create_incident(
        ctx, {"title": "Disk full", "severity": "critical", "escalationPolicyId": pid, "ownerId": uid}
    )["id"]
    assert _instant_ms(iid) == int(clock.now().timestamp() * 1000)
    created = {r["id"] for r in db.all("SELECT id FROM timeline WHERE incident_id = ?", (iid,))}
    escalator.drive(db, clock, clock.now() + timedelta(minutes=10))  # the batched tick writes the rest
    rows = db.all("SELECT id, at FROM timeline WHERE incident_id = ? ORDER BY seq", (iid,))
    assert len(rows) > len(created)
    for row in rows:
        assert ID.match(row["id"]) and row["id"].startswith("evt_"), row["id"]
        assert _instant_ms(row["id"]) == int(parse_iso(row["at"]).timestamp() * 1000)


def test_random_tails_in_one_go_have_the_form_of_random_tail() -> None:
    """The batched tails (one CSPRNG read, one encoding) are each 16 Crockford characters, all distinct."""
    from engine.ids import random_tails

    tails = random_tails(1000)
    assert len(tails) == 1000 and len(set(tails)) == 1000
    assert all(len(t) == 16 and set(t) <= set(ALPHABET) for t in tails)
    assert random_tails(0) == []
    assert ID.match("evt_" + "0" * 10 + tails[0]) and ID.match("evt_" + "0" * 10 + random_tail())


def test_random_tails_from_os_urandom_take_every_character_at_every_position() -> None:
    """The engine's batched tails (os.urandom, one byte a character): 16 Crockford characters, all
    distinct, every position taking all 32 characters over 2,000 tails (a miss by chance: < 1e-25)."""
    import os

    from engine.ids import random_tails

    tails = random_tails(2000, os.urandom)
    assert len(set(tails)) == 2000 and random_tails(0, os.urandom) == []
    assert all(ID.match("evt_" + "0" * 10 + t) for t in tails)
    for position in range(16):
        assert {t[position] for t in tails} == set(ALPHABET), position


def test_every_position_of_the_random_part_takes_every_character() -> None:
    """The 80 bits are all random: no position is pinned (uuid4's version and variant bits are left out),
    so each of the 16 characters takes all 32 values over 2,000 tails (a miss by chance: < 1e-25)."""
    tails = [random_tail() for _ in range(2000)]
    for position in range(16):
        seen = {tail[position] for tail in tails}
        assert seen == set(ALPHABET), f"position {position} takes only {sorted(seen)}"
