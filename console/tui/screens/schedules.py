"""Mode 3: schedules (create, edit, delete), who is on call now, 14 days ahead, rotation layers (add, edit,
delete, reorder) and overrides."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from msgspec.structs import replace
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from console.tui.presentation import plain, until
from console.tui.screens.base import OncallScreen
from console.tui.screens.confirm import ConfirmScreen
from console.tui.screens.form import Field, FormScreen
from console.tui.screens.reorder_undo import ReorderUndo
from console.tui.widgets.layer_list import LayerList
from console.tui.widgets.schedule_timeline import DAYS, ScheduleTimeline, TimelineData
from engine import rotation
from engine.errors import DomainError, ValidationError
from engine.model import ROTATION_TYPES
from engine.service import orgs, schedules
from engine.service.schedules import load_schedule_model
from engine.timefmt import parse_iso, to_iso
from engine.timeparse import parse_local_instant

_FIELD_WORDS = {"start": "the start", "end": "the end", "effectiveFrom": "the start"}


def parse_local(text: str | None, tz: str, field: str) -> str | None:
    """``YYYY-MM-DD HH:MM`` in the schedule's zone (or a date, or a full ISO instant) to an ISO instant
    (:func:`engine.timeparse.parse_local_instant`). Raises ValidationError naming ``field``."""
    if text is None:
        return None
    try:
        return to_iso(parse_local_instant(text, tz).instant)
    except ValueError as exc:
        words = _FIELD_WORDS.get(field, field)  # a person reads "the start", never "effectiveFrom"
        raise ValidationError(f"{words} {exc}", field=field) from None


class SchedulesScreen(OncallScreen):
    MODE = "schedules"
    TITLE = "Schedules"
    UNDO_COVERS = (
        "u undoes, newest first: rotation layer moves, an added rotation layer, an added override and a"
        " removed override."
    )

    BINDINGS = [
        Binding("a", "add_rotation", "Add rotation", id="schedules.add_rotation"),
        Binding("shift+up,K", "move_rotation(-1)", "Move ↑", id="schedules.move_up", key_display="⇧↑/K"),
        Binding("shift+down,J", "move_rotation(1)", "Move ↓", id="schedules.move_down", key_display="⇧↓/J"),
        Binding("u", "undo", "Undo", id="schedules.undo"),
        Binding("o", "add_override", "Add override", id="schedules.add_override"),
        Binding("x", "delete_override", "Remove override", id="schedules.delete_override", show=False),
        Binding("e", "edit_rotation", "Edit rotation", id="schedules.edit_rotation", show=False),
        Binding("d", "delete_rotation", "Delete rotation", id="schedules.delete_rotation", show=False),
        Binding("N", "new_schedule", "New schedule", id="schedules.new", show=False),
        Binding("r", "edit_schedule", "Edit schedule", id="schedules.edit", show=False),
        Binding("D", "delete_schedule", "Delete schedule", id="schedules.delete", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.schedule_id: str | None = None
        self.reorders = ReorderUndo(
            self,
            schedules.reorder_rotation_layers,
            show_owner=self._select_schedule,
            show_stored=self._show_stored,
            owner_name=self._schedule_name,
        )
        self._tz = "UTC"
        self._overrides: dict[str, dict[str, Any]] = {}
        self._shown_signature: object = None
        self._rotations: dict[str, dict[str, Any]] = {}

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="panes"):
            with Vertical(classes="pane-left"):
                yield Static("Schedules · on call now", classes="pane-title")
                yield OptionList(id="schedule-list", markup=False)
            with VerticalScroll(classes="pane-right", id="schedule-detail"):
                yield Static("", id="schedule-head", markup=False)
                yield Static("Rotation layers (first owns the schedule)", classes="section-title")
                yield LayerList(id="rotation-list", empty="no rotation layers · a adds one")
                yield Static(f"Next {DAYS} days", classes="section-title")
                yield ScheduleTimeline(id="timeline")
                yield Static("Overrides", classes="section-title")
                yield OptionList(id="override-list", markup=False)

    @property
    def schedule_list(self) -> OptionList:
        return self.query_one("#schedule-list", OptionList)

    @property
    def rotation_list(self) -> LayerList:
        return self.query_one("#rotation-list", LayerList)

    def on_mount(self) -> None:
        self.sync()
        self.schedule_list.focus()

    # -- data ----------------------------------------------------------------------------------------

    def refresh_data(self) -> None:
        ctx, now = self.oncall.ctx, self.oncall.clock.now()
        scheds = schedules.list_schedules(ctx)
        options = []
        for s in scheds:
            try:
                res = schedules.on_call(ctx, s["id"], now)
                who = self.oncall.directory.name(res.owner_id, short=True) if res.owner_id else "nobody"
                end = schedules.on_call_until(ctx, s["id"], now) if res.owner_id else None
                when = until(end, now, s["timezone"]) if res.owner_id else ""
                when = when.replace("until ", "→ ")
            except (DomainError, ValueError) as exc:
                who, when = "?", str(exc)
            options.append(
                Option(
                    Text.assemble(plain(s["name"], style="bold"), "\n", "  ", who, (f" {when}", "dim")),
                    id=s["id"],
                )
            )
        ol = self.schedule_list
        ol.set_options(options)
        ids = [s["id"] for s in scheds]
        current = self.schedule_id if self.schedule_id in ids else (ids[0] if ids else None)
        if current is not None:
            ol.highlighted = ids.index(current)
        self.schedule_id = current
        self._show_schedule()

    def _show_schedule(self) -> None:
        head = self.query_one("#schedule-head", Static)
        timeline = self.query_one(ScheduleTimeline)
        if self.schedule_id is None:
            head.update(Text("No schedules yet: N creates one.", style="italic"))
            timeline.show(None)
            self.rotation_list.set_items([])
            self.query_one("#override-list", OptionList).set_options([])
            self.refresh_bindings()
            return
        ctx, now = self.oncall.ctx, self.oncall.clock.now()
        try:
            sched = schedules.get_schedule(ctx, self.schedule_id)
            model = load_schedule_model(ctx.db, self.schedule_id)
            active = orgs.active_user_ids(ctx)
        except DomainError as exc:
            self.flash(exc.message, error=True)
            return
        signature = (sched, frozenset(active), now.replace(second=0, microsecond=0))
        if signature == self._shown_signature:
            return  # unchanged (the engine's lease renewals bump data_version every second)
        self._shown_signature = signature
        self._tz = sched["timezone"]
        tz = ZoneInfo(sched["timezone"])
        start = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
        try:
            shifts = schedules.coverage(ctx, self.schedule_id, start, start + timedelta(days=DAYS))
            res = schedules.on_call(ctx, self.schedule_id, now)
        except (DomainError, ValueError) as exc:
            self.flash(str(exc), error=True)
            return
        # A removed user's overrides no longer apply (docs/TIME_RULES.md rule 8): the timeline draws
        # only the overrides that can still put someone on call.
        model = replace(model, overrides=tuple(o for o in model.overrides if o.user_id in active))
        who = self.oncall.directory.name(res.owner_id) if res.owner_id else "nobody"
        # Until the end of this person's own shift, not the next handoff of any layer.
        end = rotation.owner_shift_end(shifts.owners, res.owner_id, now) if res.owner_id else None
        if res.owner_id and end is None:
            end = schedules.on_call_until(ctx, self.schedule_id, now)  # beyond the 14 days drawn
        head.update(
            Text.assemble(
                plain(sched["name"], style="bold"),
                (f"  · {sched['timezone']}", "dim"),
                "\n",
                ("on call now: ", ""),
                (who, "bold"),
                (f" {until(end, now, sched['timezone'])}" if res.owner_id else "", "dim"),
            )
        )
        names = dict(self.oncall.directory.full)
        items = []
        self._rotations = {layer["id"]: layer for layer in sched["layers"]}
        for layer in sched["layers"]:
            people = ", ".join(
                self.oncall.directory.name(p, short=True) + ("" if p in active else " (removed)")
                for p in layer["participantIds"]
            )
            length = {"daily": "daily", "weekly": "weekly"}.get(
                layer["rotationType"], f"every {layer['rotationLengthDays']}d"
            )
            t = Text.assemble(
                (f"{layer['position'] + 1:>2} ", "bold"),
                plain(layer["name"], style="bold"),
                (f"  {length} at {layer['handoffTime']} · ", "dim"),
                people,
            )
            t.no_wrap = True
            t.overflow = "ellipsis"
            items.append((layer["id"], t))
        self.rotation_list.set_items(items)
        timeline.show(TimelineData(model, shifts, start, now, names, sorted(names, key=names.__getitem__)))
        ovl = self.query_one("#override-list", OptionList)
        self._overrides = {o["id"]: o for o in sched["overrides"]}
        overrides = []
        for o in sched["overrides"]:
            gone = o["userId"] not in active
            text = Text.assemble(
                (self.oncall.directory.name(o["userId"]), "strike dim" if gone else "bold"),
                (" (removed · not applied)" if gone else "", "dim"),
                f"  {_fmt(o['start'], self._tz)} → {_fmt(o['end'], self._tz)}",
                ("  " if o.get("note") else "", ""),
                plain(o.get("note") or "", style="italic dim"),
            )
            text.no_wrap = True
            text.overflow = "ellipsis"
            overrides.append(Option(text, id=o["id"]))
        if not overrides:
            overrides.append(Option(Text("none · o adds one", style="dim"), id="-none-", disabled=True))
        ovl.set_options(overrides)
        self.refresh_bindings()

    @on(OptionList.OptionHighlighted, "#schedule-list")
    def _schedule_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id != self.schedule_id:
            self.schedule_id = event.option.id
            self._show_schedule()

    @on(OptionList.OptionSelected, "#schedule-list")
    def _schedule_selected(self) -> None:
        self.rotation_list.focus()

    @on(OptionList.OptionSelected, "#rotation-list")
    def _rotation_selected(self) -> None:
        self.action_edit_rotation()

    @on(OptionList.OptionHighlighted, "#override-list")
    def _override_highlighted(self) -> None:
        self.refresh_bindings()

    # -- rotation layers -----------------------------------------------------------------------------

    def action_move_rotation(self, delta: int) -> None:
        self.rotation_list.action_move(delta)

    @on(LayerList.Reordered, "#rotation-list")
    def _reordered(self, event: LayerList.Reordered) -> None:
        self.reorders.save(self.schedule_id, event, done="rotation layers reordered · u undoes")

    def _select_schedule(self, sid: str) -> None:
        self.schedule_id = sid

    def _schedule_name(self, sid: str) -> str:
        try:
            return str(schedules.get_schedule(self.oncall.ctx, sid)["name"])
        except DomainError:
            return ""

    def _show_stored(self) -> None:
        self._shown_signature = None
        self._show_schedule()

    def action_undo(self) -> None:
        self.reorders.undo()

    def _rotation_fields(self, layer: dict[str, Any] | None) -> list[Field]:
        """The rotation-layer form: every field, filled from ``layer`` when editing one. Times are local
        to the schedule's zone; participants are offered in the layer's rotation order first."""
        tz = self._tz
        now = self.oncall.clock.now().astimezone(ZoneInfo(tz))
        people = self.oncall.directory.people()
        current = list((layer or {}).get("participantIds", []))
        ranked = {uid: i for i, uid in enumerate(current)}
        people = sorted(people, key=lambda p: (ranked.get(p[1], len(ranked)),))
        until = (layer or {}).get("effectiveUntil")
        return [
            Field("name", "Name", value=(layer or {}).get("name"), required=True),
            Field(
                "rotationType",
                "Rotation",
                kind="select",
                options=[(t, t) for t in ROTATION_TYPES],
                value=(layer or {}).get("rotationType", "weekly"),
                required=True,
            ),
            Field(
                "rotationLengthDays",
                "Length in days (custom only)",
                kind="int",
                value=(layer or {}).get("rotationLengthDays") if layer else None,
                show_when=("rotationType", "custom"),
            ),
            Field(
                "handoffTime",
                f"Handoff time HH:MM ({tz})",
                value=(layer or {}).get("handoffTime", "09:00"),
                required=True,
            ),
            Field(
                "effectiveFrom",
                f"Starts YYYY-MM-DD HH:MM ({tz})",
                value=_local(layer["effectiveFrom"], tz) if layer else now.strftime("%Y-%m-%d 00:00"),
                required=True,
            ),
            Field(
                "effectiveUntil",
                f"Ends YYYY-MM-DD HH:MM ({tz})",
                value=_local(until, tz) if until else None,
                placeholder="empty: no end",
            ),
            Field(
                "participantIds",
                "Participants (they rotate in the order you tick them)",
                kind="multi",
                options=people,
                value=current,
                required=True,
            ),
        ]

    def _rotation_body(self, values: dict[str, Any]) -> dict[str, Any]:
        """The form's values as a rotation-layer body (times to ISO instants, unset length left out)."""
        tz = self._tz
        body = dict(values)
        body["effectiveFrom"] = parse_local(values.get("effectiveFrom"), tz, "effectiveFrom")
        body["effectiveUntil"] = parse_local(values.get("effectiveUntil"), tz, "effectiveUntil")
        if body.get("rotationLengthDays") is None:
            body.pop("rotationLengthDays", None)
        return body

    def action_add_rotation(self) -> None:
        sid = self.schedule_id
        if sid is None:
            self.flash("no schedule yet: N creates one", error=True)
            return
        ctx = self.oncall.ctx

        def submit(values: dict[str, Any]) -> Any:
            body = self._rotation_body(values)
            if body["effectiveUntil"] is None:
                body.pop("effectiveUntil")
            added = schedules.add_rotation_layer(ctx, sid, body)
            lid = added["id"]
            self.reorders.record(
                sid,
                f"adding the rotation layer {added['name']}",
                lambda c: schedules.delete_rotation_layer(c, sid, lid),
            )
            return added

        def done(result: Any) -> None:
            if result:
                self.oncall.data_changed()
                self.refresh_data()
                self.flash(f"rotation layer {result['name']} added · u undoes")

        form = FormScreen("Add a rotation layer", self._rotation_fields(None), submit, ok="Add")
        self.app.push_screen(form, done)

    def _selected_rotation(self) -> dict[str, Any] | None:
        """The highlighted rotation layer of the shown schedule (wire form), or None."""
        key = self.rotation_list.selected_key
        return None if key is None else self._rotations.get(key)

    def action_edit_rotation(self) -> None:
        sid, layer = self.schedule_id, self._selected_rotation()
        if sid is None or layer is None:
            self.flash("no rotation layer selected: a adds one", error=True)
            return
        ctx, lid = self.oncall.ctx, layer["id"]

        def submit(values: dict[str, Any]) -> Any:
            return schedules.update_rotation_layer(ctx, sid, lid, self._rotation_body(values))

        def done(result: Any) -> None:
            if result:
                self.oncall.data_changed()
                self.refresh_data()
                self.flash(f"rotation layer {result['name']} saved")

        title = f"Edit rotation layer {layer['name']}"
        self.app.push_screen(FormScreen(title, self._rotation_fields(layer), submit), done)

    def action_delete_rotation(self) -> None:
        sid, layer = self.schedule_id, self._selected_rotation()
        if sid is None or layer is None:
            self.flash("no rotation layer selected", error=True)
            return
        name = layer["name"]

        def answer(yes: bool | None) -> None:
            if yes:
                self.oncall.act(
                    schedules.delete_rotation_layer, sid, layer["id"], done=f"rotation layer {name} deleted"
                )

        people = len(layer["participantIds"])
        question = (
            f"Delete the rotation layer {name} ({people} participant{'s' if people != 1 else ''})? "
            "The schedule's next layer takes over its times."
        )
        self.app.push_screen(ConfirmScreen(question), answer)

    # -- schedules -----------------------------------------------------------------------------------

    def _schedule_fields(self, sched: dict[str, Any] | None) -> list[Field]:
        return [
            Field("name", "Name", value=(sched or {}).get("name"), required=True),
            Field(
                "timezone",
                "Time zone (IANA, e.g. Europe/Berlin)",
                value=(sched or {}).get("timezone", self._tz),
                required=True,
                help="rotation handoffs and local times are read in this zone",
            ),
            Field("description", "Description", value=(sched or {}).get("description")),
        ]

    def action_new_schedule(self) -> None:
        ctx = self.oncall.ctx

        def submit(values: dict[str, Any]) -> Any:
            return schedules.create_schedule(ctx, {k: v for k, v in values.items() if v is not None})

        def done(result: Any) -> None:
            if result:
                self.schedule_id = result["id"]
                self.oncall.data_changed()
                self.refresh_data()
                self.flash(f"schedule {result['name']} created · a adds a rotation layer")

        self.app.push_screen(
            FormScreen("New schedule", self._schedule_fields(None), submit, ok="Create"), done
        )

    def action_edit_schedule(self) -> None:
        sid = self.schedule_id
        if sid is None:
            self.flash("no schedule yet: N creates one", error=True)
            return
        ctx = self.oncall.ctx
        try:
            sched = schedules.get_schedule(ctx, sid)
        except DomainError as exc:
            self.flash(exc.message, error=True)
            return

        def submit(values: dict[str, Any]) -> Any:
            return schedules.update_schedule(ctx, sid, values)

        def done(result: Any) -> None:
            if result:
                self.oncall.data_changed()
                self.refresh_data()
                self.flash(f"schedule {result['name']} saved")

        title = f"Edit schedule {sched['name']}"
        self.app.push_screen(FormScreen(title, self._schedule_fields(sched), submit), done)

    def action_delete_schedule(self) -> None:
        sid = self.schedule_id
        if sid is None:
            self.flash("no schedule yet", error=True)
            return
        try:
            sched = schedules.get_schedule(self.oncall.ctx, sid)
        except DomainError as exc:
            self.flash(exc.message, error=True)
            return
        name = sched["name"]

        def answer(yes: bool | None) -> None:
            if yes:
                self.oncall.act(schedules.delete_schedule, sid, done=f"schedule {name} deleted")

        layers, overrides = len(sched["layers"]), len(sched["overrides"])
        question = (
            f"Delete the schedule {name}? Its {layers} rotation layer{'s' if layers != 1 else ''} and "
            f"{overrides} override{'s' if overrides != 1 else ''} go with it."
        )
        self.app.push_screen(ConfirmScreen(question), answer)

    # -- overrides -----------------------------------------------------------------------------------

    def action_add_override(self) -> None:
        sid = self.schedule_id
        if sid is None:
            return
        ctx, tz = self.oncall.ctx, self._tz
        people = self.oncall.directory.people()
        now = self.oncall.clock.now().astimezone(ZoneInfo(tz))
        start = (now + timedelta(hours=1)).strftime("%Y-%m-%d %H:00")
        end = (now + timedelta(hours=25)).strftime("%Y-%m-%d %H:00")
        fields = [
            Field("userId", "Who covers", kind="select", options=people, required=True),
            Field("start", f"From YYYY-MM-DD HH:MM ({tz})", value=start, required=True),
            Field("end", f"Until YYYY-MM-DD HH:MM ({tz})", value=end, required=True),
            Field("note", "Note"),
        ]

        def submit(values: dict[str, Any]) -> Any:
            body = dict(values)
            body["start"] = parse_local(values.get("start"), tz, "start")
            body["end"] = parse_local(values.get("end"), tz, "end")
            added = schedules.add_override(ctx, sid, body)
            oid = added["id"]
            self.reorders.record(
                sid,
                f"adding the override {self._override_words(added)}",
                lambda c: schedules.delete_override(c, sid, oid),
            )
            return added

        def done(result: Any) -> None:
            if result:
                self.oncall.data_changed()
                self.refresh_data()
                self.flash("override added · u undoes")

        self.app.push_screen(FormScreen("Add an override", fields, submit, ok="Add"), done)

    def _override_words(self, o: dict[str, Any]) -> str:
        """An override in words: ``Dan Brown, Tue 03 Mar 15:00 → Wed 04 Mar 10:00``."""
        who = self.oncall.directory.name(o["userId"])
        return f"{who}, {_fmt(o['start'], self._tz)} → {_fmt(o['end'], self._tz)}"

    def _selected_override(self) -> str | None:
        """The highlighted override, or (``x`` from anywhere on the screen) the first one listed."""
        ol = self.query_one("#override-list", OptionList)
        if ol.option_count == 0:
            return None
        oid = ol.get_option_at_index(ol.highlighted or 0).id
        return None if oid in (None, "-none-") else oid

    def action_delete_override(self) -> None:
        sid, oid = self.schedule_id, self._selected_override()
        if sid is None or oid is None or oid not in self._overrides:
            self.flash("this schedule has no overrides to remove", error=True)
            return
        o = self._overrides[oid]
        words = self._override_words(o)
        body = {"userId": o["userId"], "start": o["start"], "end": o["end"]}
        if o.get("note"):
            body["note"] = o["note"]

        def answer(yes: bool | None) -> None:
            if yes and self.oncall.attempt(
                schedules.delete_override, sid, oid, done=f"override removed: {words} · u undoes"
            ):
                self.reorders.record(
                    sid, f"removing the override {words}", lambda c: schedules.add_override(c, sid, body)
                )

        self.app.push_screen(ConfirmScreen(f"Remove the override {words}?", yes="Remove"), answer)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        if action == "undo" and not self.reorders.can_undo:
            return None
        if action == "delete_override" and self._selected_override() is None:
            return None
        if action in ("edit_rotation", "delete_rotation") and self._selected_rotation() is None:
            return None
        if action in ("edit_schedule", "delete_schedule", "add_rotation", "add_override"):
            return True if self.schedule_id is not None else None
        return True


def _local(iso: str, tz: str) -> str:
    """An ISO instant as the forms' ``YYYY-MM-DD HH:MM`` in ``tz`` (what :func:`parse_local` reads back)."""
    return parse_iso(iso).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def _fmt(iso: str, tz: str) -> str:
    return parse_iso(iso).astimezone(ZoneInfo(tz)).strftime("%a %d %b %H:%M")
