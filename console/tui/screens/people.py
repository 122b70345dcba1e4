"""Mode 4: people, their contact methods (masked) and when each is paged: notification rules per urgency
(add, remove, move a step) and shift reminders. Every change goes through the use cases; errors are inline."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from console.tui.presentation import plain
from console.tui.screens.base import OncallScreen
from console.tui.screens.confirm import ConfirmScreen
from console.tui.screens.form import Field, FormScreen
from engine.errors import DomainError
from engine.service import contacts, orgs
from engine.service import notification_rules as rules_svc

URGENCY_TITLES = {"high": "High urgency (critical, high)", "low": "Low urgency (medium, low)"}


def masked(method: dict[str, Any]) -> str:
    """A contact method's address with anything that may be secret hidden: a URL shows its scheme and host
    only, a command its program only, a log method says where it goes."""
    address = method.get("address")
    if method["channel"] == "log" or not address:
        return "timeline"
    if method["channel"] == "command":
        return address.split()[0] + " …"
    try:
        parts = urlsplit(address)
        host = parts.hostname or "?"
    except ValueError:
        return "•••"
    return f"{parts.scheme}://{host}/…"


class PeopleScreen(OncallScreen):
    MODE = "people"
    TITLE = "People"

    BINDINGS = [
        Binding("a", "add_step", "Add step", id="people.add_step"),
        Binding("x", "remove_step", "Remove step", id="people.remove_step"),
        Binding("shift+up,K", "move_step('up')", "Move ↑", id="people.move_up", key_display="⇧↑/K"),
        Binding("shift+down,J", "move_step('down')", "Move ↓", id="people.move_down", key_display="⇧↓/J"),
        Binding("r", "reminders", "Reminders", id="people.reminders"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.user_id: str | None = None
        self._methods: list[dict[str, Any]] = []
        self._rules: dict[str, list[dict[str, Any]]] = {"high": [], "low": []}
        self._shown_users: list[dict[str, Any]] | None = None
        self._shown_signature: object = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(classes="panes"):
            with Vertical(classes="pane-left"):
                yield Static("People", classes="pane-title")
                yield OptionList(id="people-list", markup=False)
            with VerticalScroll(classes="pane-right", id="person-detail"):
                yield Static("", id="person-head", markup=False)
                yield Static("Contact methods", classes="section-title")
                yield Static("", id="person-methods", markup=False)
                for urgency, title in URGENCY_TITLES.items():
                    yield Static(title, classes="section-title")
                    yield OptionList(id=f"rules-{urgency}", markup=False)
                yield Static("Shift reminders", classes="section-title")
                yield Static("", id="person-reminders", markup=False)

    @property
    def people_list(self) -> OptionList:
        return self.query_one("#people-list", OptionList)

    def on_mount(self) -> None:
        self.sync()
        self.people_list.focus()

    # -- data ----------------------------------------------------------------------------------------

    def refresh_data(self) -> None:
        ctx = self.oncall.ctx
        users = sorted(orgs.list_users(ctx), key=lambda u: (_name(u).lower(), u["email"]))
        if users == self._shown_users:
            self._show_person()  # the list is unchanged (the engine's lease renewals bump data_version)
            return
        self._shown_users = users
        options = []
        for u in users:
            name = _name(u)
            options.append(
                Option(
                    Text.assemble(plain(name, style="bold"), "\n  ", plain(u["email"], style="dim")),
                    id=u["id"],
                )
            )
        ol = self.people_list
        ol.set_options(options)
        ids = [u["id"] for u in users]
        current = self.user_id if self.user_id in ids else (ids[0] if ids else None)
        if current is not None:
            ol.highlighted = ids.index(current)
        self.user_id = current
        self._show_person()

    def _show_person(self) -> None:
        head = self.query_one("#person-head", Static)
        if self.user_id is None:
            head.update(Text("No people yet.", style="italic"))
            return
        ctx = self.oncall.ctx
        try:
            user = orgs.get_user(ctx, self.user_id)
            self._methods = contacts.list_contact_methods(ctx, self.user_id)
            self._rules = rules_svc.list_rules(ctx, self.user_id)
            reminders = rules_svc.get_reminders(ctx, self.user_id)
        except DomainError as exc:
            self.flash(exc.message, error=True)
            return
        signature = (user, self._methods, self._rules, reminders)
        if signature == self._shown_signature:
            return
        self._shown_signature = signature
        name = _name(user)
        head.update(
            Text.assemble(
                plain(name, style="bold"),
                ("  · ", "dim"),
                plain(user["email"]),
                (f"  · {user['role']}", "dim"),
            )
        )
        lines = Text()
        for n, m in enumerate(self._methods):
            if n:
                lines.append("\n")
            lines.append_text(Text.assemble((f"{m['channel']:<8}", "bold"), plain(masked(m))))
        if not self._methods:
            lines = Text("none · every page goes to the timeline (oncall users contacts add)", style="dim")
        self.query_one("#person-methods", Static).update(lines)
        for urgency in URGENCY_TITLES:
            self._show_rules(urgency)
        self.query_one("#person-reminders", Static).update(_reminders_text(reminders))
        self.refresh_bindings()

    def _show_rules(self, urgency: str) -> None:
        by_id = {m["id"]: m for m in self._methods}
        steps = self._rules[urgency]
        ol = self.query_one(f"#rules-{urgency}", OptionList)
        keep = ol.highlighted
        options = []
        for s in steps:
            method = by_id.get(s["contactMethodId"], {"channel": s["channel"], "address": None})
            t = Text.assemble(
                (f"{s['step'] + 1:>2} ", "bold"),
                (f"+{s['delayMinutes']} min  ", ""),
                (f"{s['channel']:<8}", "bold"),
                plain(masked(method)),
            )
            t.no_wrap = True
            t.overflow = "ellipsis"
            options.append(Option(t, id=s["id"]))
        if not options:
            options.append(
                Option(
                    Text("no rules · every contact method at once · a adds a step", style="dim"),
                    id="-none-",
                    disabled=True,
                )
            )
        ol.set_options(options)
        if keep is not None and steps:
            ol.highlighted = min(keep, len(steps) - 1)

    def _show_fresh(self) -> None:
        self._shown_signature = None
        self._show_person()

    @on(OptionList.OptionHighlighted, "#people-list")
    def _person_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id != self.user_id:
            self.user_id = event.option.id
            self._show_person()

    @on(OptionList.OptionSelected, "#people-list")
    def _person_selected(self) -> None:
        self.query_one("#rules-high", OptionList).focus()

    @on(OptionList.OptionHighlighted, "#rules-high, #rules-low")
    def _step_highlighted(self) -> None:
        self.refresh_bindings()

    # -- actions -------------------------------------------------------------------------------------

    def _selected_step(self) -> str | None:
        """The highlighted step of the focused rules list."""
        focused = self.focused
        if not isinstance(focused, OptionList) or focused.id not in ("rules-high", "rules-low"):
            return None
        if focused.highlighted is None or focused.option_count == 0:
            return None
        sid = focused.get_option_at_index(focused.highlighted).id
        return None if sid == "-none-" else sid

    def action_add_step(self) -> None:
        uid = self.user_id
        if uid is None:
            return
        if not self._methods:
            self.flash("this person has no contact method yet (oncall users contacts add)", error=True)
            return
        focused = self.focused
        urgency = "low" if isinstance(focused, OptionList) and focused.id == "rules-low" else "high"
        fields = [
            Field(
                "urgency",
                "Urgency",
                kind="select",
                options=[(t, u) for u, t in URGENCY_TITLES.items()],
                value=urgency,
                required=True,
            ),
            Field(
                "contactMethodId",
                "Contact method",
                kind="select",
                options=[(f"{m['channel']} {masked(m)} ({m['id']})", m["id"]) for m in self._methods],
                value=self._methods[0]["id"],
                required=True,
            ),
            Field("delayMinutes", "Minutes after the page", kind="int", value=0, required=True),
        ]

        def submit(values: dict[str, Any]) -> Any:
            return rules_svc.add_rule(self.oncall.ctx, uid, values)

        def done(result: Any) -> None:
            if result:
                self.oncall.data_changed()
                self._show_fresh()
                self.flash(
                    f"{result['urgency']}-urgency step {result['step'] + 1} added: +{result['delayMinutes']} min"
                )

        self.app.push_screen(FormScreen("Add a notification rule step", fields, submit, ok="Add"), done)

    def _step_anywhere(self) -> str | None:
        """``x`` from anywhere on the screen: the focused list's highlighted step, else the highlighted
        (or first) step of the high-urgency rules, then of the low-urgency ones."""
        sid = self._selected_step()
        if sid is not None:
            return sid
        for urgency in ("high", "low"):
            steps = self._rules[urgency]
            if steps:
                ol = self.query_one(f"#rules-{urgency}", OptionList)
                index = ol.highlighted if ol.highlighted is not None and ol.highlighted < len(steps) else 0
                return str(steps[index]["id"])
        return None

    def _step_words(self, sid: str) -> str:
        """A step in words: ``step 2 of Alice Chen's high-urgency rules (+5 min, webhook https://…)``."""
        by_id = {m["id"]: m for m in self._methods}
        for urgency, steps in self._rules.items():
            for st in steps:
                if st["id"] == sid:
                    method = by_id.get(st["contactMethodId"], {"channel": st["channel"], "address": None})
                    who = self.oncall.directory.name(self.user_id)
                    return (
                        f"step {st['step'] + 1} of {who}'s {urgency}-urgency rules"
                        f" (+{st['delayMinutes']} min, {st['channel']} {masked(method)})"
                    )
        return "this notification rule step"

    def action_remove_step(self) -> None:
        uid, sid = self.user_id, self._step_anywhere()
        if uid is None or sid is None:
            self.flash("this person has no notification rule steps to remove", error=True)
            return
        words = self._step_words(sid)

        def answer(yes: bool | None) -> None:
            if yes:
                self.oncall.act(rules_svc.remove_rule, uid, sid, done=f"removed {words}")
                self._show_fresh()

        self.app.push_screen(ConfirmScreen(f"Remove {words}?", yes="Remove"), answer)

    def action_move_step(self, direction: str) -> None:
        uid, sid = self.user_id, self._selected_step()
        if uid is None or sid is None:
            self.flash("select a step first (tab to a rules list)", error=True)
            return
        focused = self.focused
        moved = self.oncall.act(
            rules_svc.move_rule, uid, sid, {"direction": direction}, done=f"step moved {direction}"
        )
        if moved is not None:
            self._show_fresh()
            if isinstance(focused, OptionList) and focused.highlighted is not None:
                step = focused.highlighted + (-1 if direction == "up" else 1)
                focused.highlighted = max(0, min(step, focused.option_count - 1))

    def action_reminders(self) -> None:
        uid = self.user_id
        if uid is None:
            return
        try:
            now = rules_svc.get_reminders(self.oncall.ctx, uid)
        except DomainError as exc:
            self.flash(exc.message, error=True)
            return
        yes_no = [("yes", True), ("no", False)]
        fields = [
            Field(
                "beforeMinutes",
                "Minutes before a shift starts (empty: no reminder)",
                kind="int",
                value=now["beforeMinutes"],
            ),
            Field(
                "atStart",
                "When a shift starts",
                kind="select",
                options=yes_no,
                value=now["atStart"],
                required=True,
            ),
            Field(
                "atEnd", "When a shift ends", kind="select", options=yes_no, value=now["atEnd"], required=True
            ),
        ]

        def submit(values: dict[str, Any]) -> Any:
            return rules_svc.set_reminders(self.oncall.ctx, uid, values)

        def done(result: Any) -> None:
            if result:
                self.oncall.data_changed()
                self._show_fresh()
                self.flash("shift reminders saved")

        self.app.push_screen(FormScreen("Shift reminders", fields, submit), done)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        if action == "remove_step" and self._step_anywhere() is None:
            return None
        if action == "move_step" and self._selected_step() is None:
            return None
        return True


def _name(user: dict[str, Any]) -> str:
    return " ".join(p for p in (user["firstName"], user["lastName"]) if p) or user["email"]


def _reminders_text(info: dict[str, Any]) -> Text:
    parts = []
    if info["beforeMinutes"] is not None:
        parts.append(f"{info['beforeMinutes']} min before")
    if info["atStart"]:
        parts.append("at start")
    if info["atEnd"]:
        parts.append("at end")
    text = Text(", ".join(parts) or "none · r sets them", style="" if parts else "dim")
    nxt = info["nextReminder"]
    if nxt is not None:
        text.append(f"\nnext: {nxt['kind']} {nxt['at']}", style="dim")
    return text
