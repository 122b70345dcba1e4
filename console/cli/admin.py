"""``oncall init``, ``oncall keys …`` and ``oncall users …``: organisations, API keys and people."""

from __future__ import annotations

import click

from console.cli import people
from console.cli.main import State, echo, echo_json, handle_errors, json_option, pass_state, report
from console.cli.table import print_table
from engine.model import ROLES
from engine.service import contacts, orgs
from engine.service.database import display_location


@click.command("init")
@click.option("--org", "org_name", required=True, help="Name of the organisation to create.")
@click.option("--admin-email", required=True, help="Email of its first admin.")
@click.option("--first-name", default=None)
@click.option("--last-name", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_state
@handle_errors
def init_command(
    state: State,
    org_name: str,
    admin_email: str,
    first_name: str | None,
    last_name: str | None,
    as_json: bool,
) -> None:
    """Create an organisation and its first admin, and print an API key (shown once)."""
    state.create = True
    result = orgs.create_org(
        state.db(), org_name, admin_email, first_name=first_name, last_name=last_name, clock=state.clock
    )
    if as_json:
        echo_json({"org": result.org, "admin": result.admin, "apiKey": result.api_key})
        return
    echo(f"Created organisation {result.org['name']} ({result.org['id']}) in {display_location(state.path)}")
    echo(f"Admin: {result.admin['email']} ({result.admin['id']})")
    echo("API key (shown once, store it now):")
    echo(f"  {result.api_key}")


# -- keys ----------------------------------------------------------------------------------------


@click.group("keys")
def keys_group() -> None:
    """Create, list and revoke API keys."""


@keys_group.command("create")
@click.option("--name", default=None, help="A label for the key, e.g. the integration using it.")
@click.option(
    "--user",
    "user_ident",
    default=None,
    help="User (id or email) the key acts as; default: who you act as (--as), else the first admin.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def keys_create(state: State, name: str | None, user_ident: str | None, as_json: bool) -> None:
    """Create a key; the key itself is printed once and only its hash is stored."""
    ctx = state.ctx()
    if user_ident is not None:  # given, even empty, it must name someone
        user = orgs.find_user(ctx, user_ident)
        ctx = ctx.as_user(user["id"], is_admin=user["role"] == "org:admin")
    key, info = orgs.create_key(ctx, name)
    if as_json:
        echo_json({**info, "apiKey": key})
        return
    echo(f"Created key {info['id']}. Store it now, it will not be shown again:")
    echo(f"  {key}")


@keys_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def keys_list(state: State, as_json: bool) -> None:
    """List keys (masked)."""
    keys = orgs.list_keys(state.ctx())
    if as_json:
        echo_json(keys)
        return
    print_table(
        ["ID", "NAME", "KEY", "CREATED", "REVOKED"],
        [[k["id"], k["name"] or "", k["masked"], k["createdAt"], k["revokedAt"] or ""] for k in keys],
    )


@keys_group.command("revoke")
@click.argument("key_id")
@json_option
@pass_state
@handle_errors
def keys_revoke(state: State, key_id: str, as_json: bool) -> None:
    """Revoke a key at once."""
    info = orgs.revoke_key(state.ctx(), key_id)
    report(as_json, info, f"Revoked {info['id']} ({info['masked']})")


# -- users ---------------------------------------------------------------------------------------


@click.group("users")
def users_group() -> None:
    """Add, list and remove people."""


@users_group.command("add")
@click.option("--email", required=True)
@click.option("--first-name", default=None)
@click.option("--last-name", default=None)
@click.option("--role", type=click.Choice(ROLES), default="org:member", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def users_add(
    state: State, email: str, first_name: str | None, last_name: str | None, role: str, as_json: bool
) -> None:
    """Add a person to the organisation."""
    user = orgs.add_user(state.ctx(), email=email, first_name=first_name, last_name=last_name, role=role)
    if as_json:
        echo_json(user)
    else:
        echo(f"Added {user['email']} ({user['id']}) as {user['role']}")


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def users_list(state: State, as_json: bool) -> None:
    """List the organisation's people."""
    users = orgs.list_users(state.ctx())
    if as_json:
        echo_json(users)
        return
    print_table(
        ["ID", "NAME", "EMAIL", "ROLE"],
        [
            [u["id"], " ".join(p for p in (u["firstName"], u["lastName"]) if p), u["email"], u["role"]]
            for u in users
        ],
    )


@users_group.command("remove")
@click.argument("user")
@json_option
@pass_state
@handle_errors
def users_remove(state: State, user: str, as_json: bool) -> None:
    """Remove a person (by id or email). Their keys are revoked; history keeps their name."""
    ctx = state.ctx()
    info = orgs.find_user(ctx, user)
    orgs.remove_user(ctx, info["id"])
    report(as_json, {"id": info["id"], "deleted": True}, f"Removed {info['email']} ({info['id']})")


# -- contact methods -----------------------------------------------------------------------------


@users_group.group("contacts")
def contacts_group() -> None:
    """How a person is paged: log (timeline only, the default), webhook, apprise or command."""


@contacts_group.command("add")
@click.argument("user")
@click.option("--channel", type=click.Choice(contacts.CHANNELS), required=True)
@click.option(
    "--address",
    default=None,
    help="Webhook URL, Apprise URL (mailtos://…, ntfy://…, slack://…; stored sealed, shown masked), or the "
    "command line to run (page JSON on stdin).",
)
@click.option("--secret", default=None, help="Webhook HMAC secret (generated and shown once if omitted).")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def contacts_add(
    state: State, user: str, channel: str, address: str | None, secret: str | None, as_json: bool
) -> None:
    """Add a contact method to USER (id or email)."""
    ctx = state.ctx()
    uid = orgs.find_user(ctx, user)["id"]
    body: dict[str, str] = {"channel": channel}
    if address is not None:
        body["address"] = address
    if secret is not None:
        body["secret"] = secret
    cm = contacts.add_contact_method(ctx, uid, body)
    if as_json:
        echo_json(cm)
        return
    echo(f"Added {cm['channel']} contact {cm['id']} for {user}")
    if cm.get("secret"):
        echo(f"Webhook signing secret (shown once): {cm['secret']}")


@contacts_group.command("list")
@click.argument("user")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def contacts_list(state: State, user: str, as_json: bool) -> None:
    """List USER's contact methods."""
    ctx = state.ctx()
    items = contacts.list_contact_methods(ctx, orgs.find_user(ctx, user)["id"])
    if as_json:
        echo_json(items)
        return
    print_table(
        ["ID", "CHANNEL", "ADDRESS", "CREATED"],
        [[c["id"], c["channel"], c["address"] or "", c["createdAt"]] for c in items],
    )


@contacts_group.command("test")
@click.argument("user")
@click.argument("contact_id", required=False)
@click.option("--json", "as_json", is_flag=True)
@pass_state
@handle_errors
def contacts_test(state: State, user: str, contact_id: str | None, as_json: bool) -> None:
    """Send a test page to USER through each contact method (or only CONTACT_ID) and report each result.

    Exits 0 when every one was delivered, 1 otherwise.
    """
    ctx = state.ctx()
    results = contacts.test_contact_methods(ctx, orgs.find_user(ctx, user)["id"], contact_id)
    if as_json:
        echo_json(results)
    else:
        print_table(
            ["ID", "CHANNEL", "ADDRESS", "RESULT"],
            [
                [
                    r["contactMethodId"],
                    r["channel"],
                    r["address"] or "",
                    ("✓ " if r["ok"] else "✗ ") + r["result"],
                ]
                for r in results
            ],
        )
    if not all(r["ok"] for r in results):
        raise SystemExit(1)


@contacts_group.command("remove")
@click.argument("user")
@click.argument("contact_id")
@json_option
@pass_state
@handle_errors
def contacts_remove(state: State, user: str, contact_id: str, as_json: bool) -> None:
    """Remove one of USER's contact methods."""
    ctx = state.ctx()
    contacts.delete_contact_method(ctx, orgs.find_user(ctx, user)["id"], contact_id)
    report(as_json, {"id": contact_id, "deleted": True}, f"Removed {contact_id}")


users_group.add_command(people.rules_command)
users_group.add_command(people.reminders_command)
