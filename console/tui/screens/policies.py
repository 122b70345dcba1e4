"""Mode 2: escalation policies and their layers; reorder layers by keys or by mouse, with undo."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from console.tui.presentation import minutes_label, plain
from console.tui.screens.base import OncallScreen
from console.tui.screens.confirm import ConfirmScreen
from console.tui.screens.form import Field, FormScreen
from console.tui.screens.reorder_undo import ReorderUndo
from console.tui.widgets.layer_list import LayerList
from engine.errors import DomainError
from engine.rotation import TargetResolution
from engine.service import policies, schedules


def _layer_fields_of(layer: dict[str, Any]) -> dict[str, Any]:
    """The body that adds ``layer`` (wire form) back, or stores its values again."""
    target = layer["target"]
    if target["type"] == "users":
        body_target: dict[str, Any] = {"type": "users", "userIds": list(target.get("userIds") or [])}
    else:
        body_target = {"type": "schedule", "scheduleId": target.get("scheduleId")}
    return {
        "position": layer["position"],
        "ackTimeoutMinutes": layer["ackTimeoutMinutes"],
        "target": body_target,
    }


class PoliciesScreen(OncallScreen):
    MODE = "policies"
    TITLE = "Policies"
    UNDO_COVERS = (
        "u undoes, newest first: layer moves, layer adds, edits and deletes, a new policy and a rename."
        " Deleting a whole policy cannot be undone (it asks first)."
    )

    BINDINGS = [
        Binding("shift+up,K", "move_layer(-1)", "Move ↑", id="policies.move_up", key_display="⇧↑/K"),
        Binding("shift+down,J", "move_layer(1)", "Move ↓", id="policies.move_down", key_display="⇧↓/J"),
        Binding("u", "undo", "Undo", id="policies.undo"),
        Binding("a", "add_layer", "Add layer", id="policies.add_layer"),
        Binding("R", "drill", "Drill", id="policies.drill", tooltip="Rehearse a page of this policy"),
        Binding("e", "edit_layer", "Edit layer", id="policies.edit_layer", show=False),
        Binding("d", "delete_layer", "Delete layer", id="policies.delete_layer", show=False),
        Binding("N", "new_policy", "New policy", id="policies.new", show=False),
        Binding("r", "rename_policy", "Rename policy", id="policies.rename", show=False),
        Binding("D", "delete_policy", "Delete policy", id="policies.delete", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.policy_id: str | None = None
        self.reorders = ReorderUndo(
            self,
            policies.reorder_layers,
            show_owner=self._select_policy,
            show_stored=self._show_stored,
            owner_name=self._policy_name,
        )
        self._layers: dict[str, dict[str, Any]] = {}
        self._shown_signature: object = None
        self._schedule_names: dict[str, str] = {}

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="panes"):
            with Vertical(classes="pane-left"):
                yield Static("Policies", classes="pane-title")
                yield OptionList(id="policy-list", markup=False)
            with Vertical(classes="pane-right"):
                yield Static("", id="policy-head", markup=False)
                yield Static(
                    Text("   #  after  timeout  target", style="bold"), id="layer-header", markup=False
                )
                yield LayerList(
                    id="layer-list", empty="no layers yet · a adds one (a policy pages nobody without)"
                )
                yield Static(
                    "shift+↑/↓ or K/J move · drag with the mouse · u undo", id="layer-hint", markup=False
                )

    @property
    def policy_list(self) -> OptionList:
        return self.query_one("#policy-list", OptionList)

    @property
    def layer_list(self) -> LayerList:
        return self.query_one("#layer-list", LayerList)

    def on_mount(self) -> None:
        self.sync()
        self.policy_list.focus()

    # -- data ----------------------------------------------------------------------------------------

    def refresh_data(self) -> None:
        ctx = self.oncall.ctx
        pols = policies.list_policies(ctx)
        ol = self.policy_list
        current = self.policy_id
        ol.set_options([Option(plain(p["name"]), id=p["id"]) for p in pols])
        ids = [p["id"] for p in pols]
        if current not in ids:
            current = ids[0] if ids else None
        if current is not None:
            ol.highlighted = ids.index(current)
        self.policy_id = current
        self._show_policy()

    def _target_text(self, target: dict[str, Any], paged: TargetResolution | None) -> Text:
        """The layer's target and everyone it would page now (the engine's own answer, ``paged``; None
        when it could not be worked out), with removed people named only as removed."""
        directory = self.oncall.directory
        gone = (
            Text(" · removed " + ", ".join(directory.name(u, short=True) for u in paged.removed), "dim")
            if paged is not None and paged.removed
            else Text("")
        )
        if target["type"] == "schedule":
            name = self._schedule_names.get(target["scheduleId"], "?")
            if paged is None:
                who = "?"
            else:
                who = ", ".join(directory.name(u, short=True) for u in paged.user_ids) or "nobody"
            return Text.assemble(("▣ ", "bold"), plain(name), (f" · now {who}", "dim"), gone)
        users = target.get("userIds", []) if paged is None else paged.user_ids
        names = ", ".join(directory.name(u) for u in users) or "nobody"
        return Text.assemble(("☺ ", "bold"), plain(names), gone)

    def _show_policy(self) -> None:
        head = self.query_one("#policy-head", Static)
        if self.policy_id is None:
            head.update(Text("No escalation policies yet: N creates one.", style="italic"))
            self.layer_list.set_items([])
            return
        try:
            pol = policies.get_policy(self.oncall.ctx, self.policy_id)
        except DomainError as exc:
            self.flash(exc.message, error=True)
            return
        desc = pol.get("description") or ""
        head.update(
            Text.assemble(
                plain(pol["name"], style="bold"),
                (f"  · {len(pol['layers'])} layers", "dim"),
                (f" · repeats {pol['repeat']}×" if pol.get("repeat") else "", "dim"),
                "\n",
                plain(desc, style="italic"),
            )
        )
        try:
            paged: dict[str, TargetResolution] = policies.paged_now(self.oncall.ctx, self.policy_id)
        except (DomainError, ValueError):
            paged = {}
        signature = (pol, paged, self.oncall.clock.now().replace(second=0, microsecond=0))
        if signature == self._shown_signature:
            return  # nothing this screen shows changed (the engine's lease renewals also bump data_version)
        self._shown_signature = signature
        self._schedule_names = {s["id"]: s["name"] for s in schedules.list_schedules(self.oncall.ctx)}
        items: list[tuple[str, Text]] = []
        reached = 0
        self._layers = {}
        for layer in pol["layers"]:
            self._layers[layer["id"]] = layer
            text = Text.assemble(
                (f"{layer['position']:>2}  ", "bold"),
                (f"{minutes_label(reached):>5}", ""),
                (f"  ⏱{minutes_label(layer['ackTimeoutMinutes']):<6} ", ""),
                self._target_text(layer["target"], paged.get(layer["id"])),
            )
            text.no_wrap = True
            text.overflow = "ellipsis"
            items.append((layer["id"], text))
            reached += layer["ackTimeoutMinutes"]
        self.layer_list.set_items(items)

    @on(OptionList.OptionHighlighted, "#policy-list")
    def _policy_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id != self.policy_id:
            self.policy_id = event.option.id
            self._show_policy()

    @on(OptionList.OptionSelected, "#policy-list")
    def _policy_selected(self) -> None:
        self.layer_list.focus()

    @on(OptionList.OptionSelected, "#layer-list")
    def _layer_selected(self) -> None:
        self.action_edit_layer()

    # -- reorder -------------------------------------------------------------------------------------

    def action_move_layer(self, delta: int) -> None:
        self.layer_list.action_move(delta)

    @on(LayerList.Reordered, "#layer-list")
    def _reordered(self, event: LayerList.Reordered) -> None:
        self.reorders.save(self.policy_id, event, done=self._moved_text(event))

    def _select_policy(self, pid: str) -> None:
        self.policy_id = pid

    def _policy_name(self, pid: str) -> str:
        try:
            return str(policies.get_policy(self.oncall.ctx, pid)["name"])
        except DomainError:
            return ""

    def _show_stored(self) -> None:
        self._shown_signature = None
        self._show_policy()

    def _moved_text(self, event: LayerList.Reordered) -> str:
        key = self.layer_list.selected_key
        pos = event.order.index(key) + 1 if key in event.order else "?"
        how = "dragged" if event.how == "drag" else "moved"
        return f"layer {how} to position {pos} · u undoes"

    def action_undo(self) -> None:
        self.reorders.undo()

    # -- layer forms ---------------------------------------------------------------------------------

    def _layer_fields(self, layer: dict[str, Any] | None, count: int) -> list[Field]:
        ctx = self.oncall.ctx
        scheds = [(s["name"], s["id"]) for s in schedules.list_schedules(ctx)]
        people = self.oncall.directory.people()
        target = (layer or {}).get("target") or {"type": "schedule"}
        return [
            Field(
                "position",
                "Position",
                kind="int",
                value=(layer or {}).get("position", count + 1),
                required=True,
                help=f"1 pages first; 1..{count + (0 if layer else 1)}",
            ),
            Field(
                "ackTimeoutMinutes",
                "Acknowledge timeout (minutes)",
                kind="int",
                value=(layer or {}).get("ackTimeoutMinutes", 5),
                required=True,
            ),
            Field(
                "targetType",
                "Target",
                kind="select",
                options=[("a schedule (whoever is on call)", "schedule"), ("specific users", "users")],
                value=target["type"],
                required=True,
                error_keys=("target.type",),
            ),
            Field(
                "scheduleId",
                "Schedule",
                kind="select",
                options=scheds,
                value=target.get("scheduleId"),
                required=True,
                show_when=("targetType", "schedule"),
                error_keys=("target.scheduleId", "target"),
            ),
            Field(
                "userIds",
                "Users",
                kind="multi",
                options=people,
                value=target.get("userIds", []),
                required=True,
                show_when=("targetType", "users"),
                error_keys=("target.userIds", "target"),
            ),
        ]

    @staticmethod
    def _layer_body(values: dict[str, Any]) -> dict[str, Any]:
        if values.get("targetType") == "users":
            target = {"type": "users", "userIds": values.get("userIds") or []}
        else:
            target = {"type": "schedule", "scheduleId": values.get("scheduleId")}
        return {
            "position": values.get("position"),
            "ackTimeoutMinutes": values.get("ackTimeoutMinutes"),
            "target": target,
        }

    def _after_form(self, message: str) -> Any:
        def done(result: Any) -> None:
            if result:
                self.oncall.data_changed()
                self.refresh_data()
                if isinstance(result, dict) and result.get("id") in self._layers:
                    self.layer_list.select_key(result["id"])
                self.flash(message)

        return done

    def action_add_layer(self) -> None:
        pid = self.policy_id
        if pid is None:
            self.flash("create a policy first (N)", error=True)
            return
        ctx = self.oncall.ctx

        def submit(values: dict[str, Any]) -> Any:
            added = policies.add_layer(ctx, pid, self._layer_body(values))
            lid = added["id"]
            self.reorders.record(
                pid,
                f"adding layer {added['position']} to {self._policy_name(pid)}",
                lambda c: policies.delete_layer(c, pid, lid),
            )
            return added

        fields = self._layer_fields(None, len(self._layers))
        self.app.push_screen(
            FormScreen("Add an escalation layer", fields, submit, ok="Add"),
            self._after_form("layer added · u undoes"),
        )

    def action_edit_layer(self) -> None:
        pid, lid = self.policy_id, self.layer_list.selected_key
        if pid is None or lid is None:
            return
        ctx = self.oncall.ctx
        layer = self._layers[lid]

        before = _layer_fields_of(layer)

        def submit(values: dict[str, Any]) -> Any:
            saved = policies.update_layer(ctx, pid, lid, self._layer_body(values))
            self.reorders.record(
                pid,
                f"the edit of layer {saved['position']} of {self._policy_name(pid)}",
                lambda c: policies.update_layer(c, pid, lid, before),
            )
            return saved

        fields = self._layer_fields(layer, len(self._layers))
        self.app.push_screen(
            FormScreen(f"Edit layer {layer['position']}", fields, submit),
            self._after_form("layer saved · u undoes"),
        )

    def action_delete_layer(self) -> None:
        pid, lid = self.policy_id, self.layer_list.selected_key
        if pid is None or lid is None:
            return
        layer = self._layers[lid]
        pos, name = layer["position"], self._policy_name(pid)
        body = _layer_fields_of(layer)
        target = self._target_text(layer["target"], None).plain.lstrip("▣☺ ")

        def answer(yes: bool | None) -> None:
            if yes and self.oncall.attempt(
                policies.delete_layer, pid, lid, done=f"layer {pos} deleted · u undoes"
            ):
                self.reorders.record(
                    pid,
                    f"deleting layer {pos} of {name}",
                    lambda c: policies.add_layer(c, pid, body),
                    replaces=lid,
                )

        self.app.push_screen(
            ConfirmScreen(
                f"Delete layer {pos} of {name} (after {layer['ackTimeoutMinutes']} min: {target})?",
                yes="Delete",
            ),
            answer,
        )

    # -- policy forms --------------------------------------------------------------------------------

    def action_new_policy(self) -> None:
        ctx = self.oncall.ctx

        def submit(values: dict[str, Any]) -> Any:
            created = policies.create_policy(ctx, values)
            pid = created["id"]
            self.reorders.record(
                pid, f"creating the policy {created['name']}", lambda c: policies.delete_policy(c, pid)
            )
            return created

        def done(result: Any) -> None:
            if isinstance(result, dict):
                self.policy_id = result["id"]
                self.oncall.data_changed()
                self.refresh_data()
                self.flash(f"policy {result['name']} created; a adds its first layer")

        fields = [
            Field("name", "Name", required=True),
            Field("description", "Description"),
        ]
        self.app.push_screen(FormScreen("New escalation policy", fields, submit, ok="Create"), done)

    def action_rename_policy(self) -> None:
        pid = self.policy_id
        if pid is None:
            return
        ctx = self.oncall.ctx
        pol = policies.get_policy(ctx, pid)

        before = {"name": pol["name"], "description": pol.get("description")}

        def submit(values: dict[str, Any]) -> Any:
            saved = policies.update_policy(ctx, pid, values)
            self.reorders.record(
                pid, f"the rename of {before['name']}", lambda c: policies.update_policy(c, pid, before)
            )
            return saved

        fields = [
            Field("name", "Name", value=pol["name"], required=True),
            Field("description", "Description", value=pol.get("description")),
        ]
        self.app.push_screen(
            FormScreen("Rename policy", fields, submit), self._after_form("policy saved · u undoes")
        )

    def action_delete_policy(self) -> None:
        pid = self.policy_id
        if pid is None:
            return
        name = policies.get_policy(self.oncall.ctx, pid)["name"]

        def answer(yes: bool | None) -> None:
            if yes and self.oncall.attempt(policies.delete_policy, pid, done=f"policy {name} deleted"):
                self.policy_id = None
                self.reorders.forget(pid)
                self.refresh_data()

        count = len(self._layers)
        self.app.push_screen(
            ConfirmScreen(
                f"Delete the policy {name} and its {count} layer{'s' if count != 1 else ''}? This cannot be undone.",
                yes="Delete",
            ),
            answer,
        )

    # -- drill -------------------------------------------------------------------------------------------

    def action_drill(self) -> None:
        """Rehearse the highlighted policy: choose a speed, then watch and acknowledge on the incidents
        screen (see :class:`console.tui.drill_link.DrillLink`)."""
        pid = self.policy_id
        if pid is None:
            return
        if self.oncall.drills.drill is not None:
            self.flash("a drill is already running: acknowledge it on the incidents screen (1)", error=True)
            return
        if not self._layers:
            self.flash("this policy has no layers: a drill would page nobody", error=True)
            return
        from console.tui.screens.drill import DrillSpeedScreen

        name = policies.get_policy(self.oncall.ctx, pid)["name"]

        async def chosen(speed: float | None) -> None:
            if speed:
                await self.oncall.start_drill(pid, speed)

        self.app.push_screen(DrillSpeedScreen(name, self.oncall.drill_speeds), chosen)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "drill" and self.policy_id is None:
            return None
        if action in ("move_layer", "edit_layer", "delete_layer") and self.layer_list.selected_key is None:
            return None
        if action == "undo" and not self.reorders.can_undo:
            return None
        if action in ("rename_policy", "delete_policy", "add_layer") and self.policy_id is None:
            return None
        return True
