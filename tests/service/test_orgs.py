from __future__ import annotations

import pytest

from engine.errors import DomainError, NameConflict, NotFound, Unauthorized, ValidationError
from engine.service import Ctx, orgs
from storage.db import Database


def test_create_org_makes_admin_and_key_shown_once(db: Database, clock) -> None:
    res = orgs.create_org(db, "Acme", "Ada@Example.com", clock=clock)
    assert res.org["id"].startswith("org_")
    assert res.admin["role"] == "org:admin"
    assert res.admin["email"] == "ada@example.com"
    assert res.api_key.startswith("scl_live_") and len(res.api_key) == len("scl_live_") + 32
    stored = db.all("SELECT key_hash, last4 FROM api_keys")
    assert len(stored) == 1
    assert res.api_key not in stored[0]["key_hash"]
    assert stored[0]["last4"] == res.api_key[-4:]


def test_org_names_are_unique(db: Database, clock) -> None:
    orgs.create_org(db, "Acme", "a@example.com", clock=clock)
    with pytest.raises(NameConflict):
        orgs.create_org(db, "Acme", "b@example.com", clock=clock)


def test_orgs_see_only_their_own_users(db: Database, clock) -> None:
    a = orgs.create_org(db, "A", "a@example.com", clock=clock)
    b = orgs.create_org(db, "B", "b@example.com", clock=clock)
    ctx_a = Ctx(db=db, org_id=a.org["id"], clock=clock)
    assert [u["email"] for u in orgs.list_users(ctx_a)] == ["a@example.com"]
    with pytest.raises(NotFound):
        orgs.get_user(ctx_a, b.admin["id"])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"email": 42}, "email"),
        ({"email": "x@example.com", "role": "owner"}, "role"),
        ({"email": "x@example.com", "first_name": "x" * 256}, "firstName"),
    ],
)
def test_add_user_validation(ctx: Ctx, kwargs, field) -> None:
    with pytest.raises(ValidationError) as err:
        orgs.add_user(ctx, **kwargs)
    assert err.value.field == field
    assert err.value.status_code == 422


def test_duplicate_email_conflicts(ctx: Ctx) -> None:
    orgs.add_user(ctx, email="bob@example.com")
    with pytest.raises(NameConflict) as err:
        orgs.add_user(ctx, email="BOB@example.com")
    assert err.value.code == "name_conflict"


def test_remove_user_keeps_history_and_revokes_keys(ctx: Ctx) -> None:
    bob = orgs.add_user(ctx, email="bob@example.com")
    key, _ = orgs.create_key(ctx.as_user(bob["id"]), "bob's")
    orgs.authenticate(ctx.db, key)
    orgs.remove_user(ctx, bob["id"])
    assert [u["email"] for u in orgs.list_users(ctx)] == ["admin@example.com"]
    with pytest.raises(Unauthorized):
        orgs.authenticate(ctx.db, key)
    assert ctx.db.one("SELECT removed_at FROM users WHERE id = ?", (bob["id"],))["removed_at"]
    # the email can be reused by a new member
    orgs.add_user(ctx, email="bob@example.com")


def test_cannot_remove_self_or_last_admin(ctx: Ctx) -> None:
    with pytest.raises(DomainError) as err:
        orgs.remove_user(ctx, ctx.actor_user_id)
    assert err.value.code == "cannot_remove_self"
    other = orgs.add_user(ctx, email="m@example.com")
    with pytest.raises(DomainError) as err:
        orgs.remove_user(ctx.as_user(other["id"], is_admin=True), ctx.actor_user_id)
    assert err.value.code == "last_admin"


def test_cannot_change_own_role(ctx: Ctx) -> None:
    with pytest.raises(DomainError) as err:
        orgs.change_role(ctx, ctx.actor_user_id, "org:member")
    assert err.value.code == "cannot_change_own_role"


def test_keys_authenticate_and_revoke(ctx: Ctx) -> None:
    key, info = orgs.create_key(ctx, "ci")
    authed = orgs.authenticate(ctx.db, key)
    assert authed.org_id == ctx.org_id and authed.is_admin
    assert info["masked"] == "scl_live_…" + key[-4:]
    assert key not in str(orgs.list_keys(ctx))
    orgs.revoke_key(ctx, info["id"])
    with pytest.raises(Unauthorized) as err:
        orgs.authenticate(ctx.db, key)
    assert err.value.code == "invalid_api_key"
    with pytest.raises(Unauthorized):
        orgs.authenticate(ctx.db, "scl_live_" + "x" * 32)


def test_member_key_is_not_admin(ctx: Ctx) -> None:
    m = orgs.add_user(ctx, email="m@example.com")
    key, _ = orgs.create_key(ctx.as_user(m["id"], is_admin=False))
    assert orgs.authenticate(ctx.db, key).is_admin is False


def test_invitations(ctx: Ctx) -> None:
    inv = orgs.invite(ctx, {"emailAddress": "new@example.com", "role": "org:member"})
    assert inv["status"] == "pending" and inv["id"].startswith("orginv_")
    assert [i["id"] for i in orgs.list_invitations(ctx)] == [inv["id"]]
    with pytest.raises(ValidationError):
        orgs.invite(ctx, {"emailAddress": "nope"})
    with pytest.raises(ValidationError):
        orgs.invite(ctx, {"role": "org:member"})
    orgs.revoke_invitation(ctx, inv["id"])
    assert orgs.list_invitations(ctx) == []
    with pytest.raises(NotFound):
        orgs.revoke_invitation(ctx, inv["id"])


def test_a_removed_users_contact_methods_are_not_found(ctx: Ctx) -> None:
    from engine.service import contacts

    bob = orgs.add_user(ctx, email="bob@example.com")
    cm = contacts.add_contact_method(ctx, bob["id"], {"channel": "log"})
    assert contacts.get_contact_method(ctx, bob["id"], cm["id"])["id"] == cm["id"]
    orgs.remove_user(ctx, bob["id"])
    for call in (
        lambda: contacts.get_contact_method(ctx, bob["id"], cm["id"]),
        lambda: contacts.delete_contact_method(ctx, bob["id"], cm["id"]),
        lambda: contacts.list_contact_methods(ctx, bob["id"]),
    ):
        with pytest.raises(NotFound):
            call()


@pytest.mark.parametrize(
    ("keywords", "field", "message"),
    [
        ({"email": None}, "email", "email is required"),
        ({"email": "x" * 321}, "email", "email must be at most 320 characters"),
        ({"email": "not-an-address"}, "email", "email must be a valid email address"),
        ({"email": "p@example.com", "first_name": "\u200b"}, "firstName", "firstName must not be blank"),
        ({"email": "p@example.com", "role": None}, "role", "role must be one of: org:admin, org:member"),
        ({"email": "p@example.com", "image_url": "u" * 2049}, "imageUrl", "imageUrl must be at most 2048 characters"),
    ],
)  # fmt: skip
def test_a_person_is_checked_by_one_model_whichever_way_they_come_in(
    ctx: Ctx, keywords: dict[str, object], field: str, message: str
) -> None:
    """add_user (the CLI, the demo, a sync pull) and create_user (the API's body) answer the same 422."""
    wire = {"first_name": "firstName", "image_url": "imageUrl"}
    body = {wire.get(k, k): v for k, v in keywords.items()}
    with pytest.raises(ValidationError) as by_keywords:
        orgs.add_user(ctx, **keywords)  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as by_body:
        orgs.create_user(ctx, body)
    assert (by_keywords.value.field, str(by_keywords.value)) == (field, message)
    assert (by_body.value.field, str(by_body.value)) == (field, message)
    assert [u["email"] for u in orgs.list_users(ctx) if u["email"] == "p@example.com"] == []
