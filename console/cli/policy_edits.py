"""``oncall policies create | edit | delete | reorder`` and ``oncall policies layers add | edit | delete``.

The subcommands of the ``policies`` group (console/cli/views.py lists them). Each calls the use case the
HTTP API calls (:mod:`engine.service.policies`) and prints one line saying what changed, or with
``--json`` the object as the API answers it (a delete, which the API answers 204, prints
``{"id": …, "deleted": true}``). A POLICY is its name or id; a LAYER its position (1, 2, …) or id.
"""

from __future__ import annotations

from typing import Any

import click

from console.cli.main import AsciiIntRange, State, handle_errors, json_option, pass_state, report
from console.cli.views import policies_command
from engine.errors import NotFound
from engine.service import Ctx, orgs, policies, schedules


def find_layer(ctx: Ctx, policy_id: str, ident: str) -> dict[str, Any]:
    """A layer of the policy by position (``2``) or id; 404 ``not_found`` otherwise."""
    for layer in policies.list_layers(ctx, policy_id):
        if ident in (layer["id"], str(layer["position"])):
            return layer
    raise NotFound("escalation layer", ident)


def _target(ctx: Ctx, schedule: str | None, users: str | None) -> dict[str, Any] | None:
    """``--schedule NAME`` or ``--users a@x,b@x`` as the API's ``target`` (None when neither is given)."""
    if schedule is not None and users is not None:
        raise click.UsageError("give --schedule or --users, not both", click.get_current_context())
    if schedule is not None:
        return {"type": "schedule", "scheduleId": schedules.find_schedule(ctx, schedule)["id"]}
    if users is not None:
        ids = [orgs.find_user(ctx, u.strip())["id"] for u in users.split(",") if u.strip()]
        return {"type": "users", "userIds": ids}
    return None


def _policy_body(
    name: str | None, description: str | None, repeat: int | None, repage_after: int | None
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if description is not None:
        body["description"] = description or None  # '' clears it
    if repeat is not None:
        body["repeat"] = repeat
    if repage_after is not None:
        body["repageAfterMinutes"] = repage_after or None  # 0 turns re-paging off
    return body


def _policy_options(fn: Any) -> Any:
    fn = click.option(
        "--repage-after",
        type=AsciiIntRange(),
        default=None,
        help="Page the acknowledger again after N minutes unresolved (0: never).",
    )(fn)
    fn = click.option(
        "--repeat", type=AsciiIntRange(), default=None, help="Run the layers N more times when exhausted."
    )(fn)
    return click.option("--description", default=None, help="What the policy is for ('' clears it).")(fn)


@policies_command.command("create")
@click.argument("name")
@_policy_options
@json_option
@pass_state
@handle_errors
def policy_create(
    state: State,
    name: str,
    description: str | None,
    repeat: int | None,
    repage_after: int | None,
    as_json: bool,
) -> None:
    """Create an escalation policy NAME (add its layers with 'policies layers add')."""
    pol = policies.create_policy(state.ctx(), _policy_body(name, description, repeat, repage_after))
    report(as_json, pol, f"Created policy {pol['name']} ({pol['id']})")


@policies_command.command("edit")
@click.argument("policy")
@click.option("--name", default=None, help="A new name.")
@_policy_options
@json_option
@pass_state
@handle_errors
def policy_edit(
    state: State,
    policy: str,
    name: str | None,
    description: str | None,
    repeat: int | None,
    repage_after: int | None,
    as_json: bool,
) -> None:
    """Change POLICY's name, description, repeat or re-paging."""
    ctx = state.ctx()
    body = _policy_body(name, description, repeat, repage_after)
    if not body:
        raise click.UsageError(
            "nothing to change: give --name, --description, --repeat or --repage-after",
            click.get_current_context(),
        )
    pol = policies.update_policy(ctx, policies.find_policy(ctx, policy)["id"], body)
    report(as_json, pol, f"Changed policy {pol['name']} ({pol['id']}): {', '.join(body)}")


@policies_command.command("delete")
@click.argument("policy")
@json_option
@pass_state
@handle_errors
def policy_delete(state: State, policy: str, as_json: bool) -> None:
    """Delete POLICY (refused while an open incident escalates on it)."""
    ctx = state.ctx()
    pol = policies.find_policy(ctx, policy)
    policies.delete_policy(ctx, pol["id"])
    report(as_json, {"id": pol["id"], "deleted": True}, f"Deleted policy {pol['name']} ({pol['id']})")


@policies_command.command("reorder")
@click.argument("policy")
@click.argument("layers", nargs=-1, required=True)
@json_option
@pass_state
@handle_errors
def policy_reorder(state: State, policy: str, layers: tuple[str, ...], as_json: bool) -> None:
    """Put POLICY's layers in the order given: every layer once, by current position or id
    ('oncall policies reorder Platform 2 1 3' swaps the first two)."""
    ctx = state.ctx()
    pid = policies.find_policy(ctx, policy)["id"]
    current = policies.list_layers(ctx, pid)
    by_ident = {layer["id"]: layer["id"] for layer in current}
    by_ident.update({str(layer["position"]): layer["id"] for layer in current})
    ids = [by_ident.get(ident, ident) for ident in layers]  # an unknown one is refused by the use case
    out = policies.reorder_layers(ctx, pid, ids)
    old = {layer["id"]: layer["position"] for layer in current}
    order = " ".join(str(old.get(layer["id"], "?")) for layer in out)
    report(as_json, out, f"Reordered the layers of {policy}: now {order} (old positions)")


@policies_command.group("layers")
def policy_layers() -> None:
    """Add, edit and delete a policy's escalation layers (reorder: 'oncall policies reorder')."""


def _layer_options(fn: Any) -> Any:
    fn = click.option("--position", type=AsciiIntRange(), default=None, help="Put the layer at position N.")(
        fn
    )
    fn = click.option("--users", default=None, help="Page these people (emails or ids, comma-separated).")(fn)
    return click.option("--schedule", default=None, help="Page whoever is on call in this schedule.")(fn)


@policy_layers.command("add")
@click.argument("policy")
@click.option(
    "--timeout", type=AsciiIntRange(), required=True, help="Minutes to acknowledge before the next layer."
)
@_layer_options
@json_option
@pass_state
@handle_errors
def layer_add(
    state: State,
    policy: str,
    timeout: int,
    schedule: str | None,
    users: str | None,
    position: int | None,
    as_json: bool,
) -> None:
    """Add a layer to POLICY paging --schedule or --users, at the end unless --position."""
    ctx = state.ctx()
    pid = policies.find_policy(ctx, policy)["id"]
    target = _target(ctx, schedule, users)
    if target is None:
        raise click.UsageError(
            "a layer pages someone: give --schedule or --users", click.get_current_context()
        )
    end = len(policies.list_layers(ctx, pid)) + 1
    body = {"position": end if position is None else position, "ackTimeoutMinutes": timeout, "target": target}
    layer = policies.add_layer(ctx, pid, body)
    report(as_json, layer, f"Added layer {layer['position']} to {policy} ({layer['id']})")


@policy_layers.command("edit")
@click.argument("policy")
@click.argument("layer")
@click.option("--timeout", type=AsciiIntRange(), default=None, help="Minutes to acknowledge.")
@_layer_options
@json_option
@pass_state
@handle_errors
def layer_edit(
    state: State,
    policy: str,
    layer: str,
    timeout: int | None,
    schedule: str | None,
    users: str | None,
    position: int | None,
    as_json: bool,
) -> None:
    """Change LAYER of POLICY: its timeout, target or position."""
    ctx = state.ctx()
    pid = policies.find_policy(ctx, policy)["id"]
    lid = find_layer(ctx, pid, layer)["id"]
    body: dict[str, Any] = {}
    if timeout is not None:
        body["ackTimeoutMinutes"] = timeout
    target = _target(ctx, schedule, users)
    if target is not None:
        body["target"] = target
    if position is not None:
        body["position"] = position
    if not body:
        raise click.UsageError(
            "nothing to change: give --timeout, --schedule, --users or --position",
            click.get_current_context(),
        )
    out = policies.update_layer(ctx, pid, lid, body)
    report(as_json, out, f"Changed layer {out['position']} of {policy} ({out['id']}): {', '.join(body)}")


@policy_layers.command("delete")
@click.argument("policy")
@click.argument("layer")
@json_option
@pass_state
@handle_errors
def layer_delete(state: State, policy: str, layer: str, as_json: bool) -> None:
    """Delete LAYER of POLICY; the layers after it move up."""
    ctx = state.ctx()
    pid = policies.find_policy(ctx, policy)["id"]
    found = find_layer(ctx, pid, layer)
    policies.delete_layer(ctx, pid, found["id"])
    report(
        as_json,
        {"id": found["id"], "deleted": True},
        f"Deleted layer {found['position']} of {policy} ({found['id']})",
    )
