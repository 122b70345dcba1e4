"""A modal form whose submit goes through a service call; every error is shown inline, never raised.

Fields are declared as data (:class:`Field`). Simple checks (required, whole number) run as a field is
edited, when it loses focus and again on submit; the service call then applies the domain's own rules, and a
:class:`~engine.errors.ValidationError` lands under the field it names. The form stays open until the
service call succeeds, then dismisses with its result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.segment import Segment
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.strip import Strip
from textual.widgets import Button, Input, Label, Select, SelectionList, Static
from textual.widgets._toggle_button import ToggleButton
from textual.widgets.option_list import OptionDoesNotExist

from engine.errors import DomainError, ValidationError

_INTEGER = re.compile(r"-?[0-9]{1,18}")


class CheckList(SelectionList[Any]):
    """A :class:`SelectionList` whose boxes differ by glyph, not only by shade: ``✓`` ticked, blank not
    (so the choice reads the same with ``NO_COLOR``)."""

    TICKED = "✓"
    UNTICKED = " "

    def render_line(self, y: int) -> Strip:
        line = super().render_line(y)
        segments = list(line)
        try:
            selection = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return line
        if len(segments) < 3 or segments[1].text != ToggleButton.BUTTON_INNER:
            return line
        glyph = self.TICKED if selection.value in self._selected else self.UNTICKED
        segments[1] = Segment(glyph, segments[1].style)
        return Strip(segments, line.cell_length)


@dataclass
class Field:
    """One input. ``kind``: text, int, select, multi. ``error_keys`` are service field names it owns."""

    name: str
    label: str
    kind: str = "text"
    value: Any = None
    options: Sequence[tuple[str, Any]] = ()
    required: bool = False
    placeholder: str = ""
    error_keys: tuple[str, ...] = ()
    show_when: tuple[str, Any] | None = None  # (other field, value) for a field that only sometimes applies
    help: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class FormScreen(ModalScreen[Any]):
    """``submit(values)`` performs the change and returns the result the form is dismissed with."""

    DEFAULT_CSS = """
    FormScreen { align: center middle; }
    FormScreen > #form { width: 72; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1; }
    FormScreen #form-title { text-style: bold; width: 1fr; margin-bottom: 1; }
    FormScreen #form-fields { height: auto; max-height: 70vh; }
    FormScreen .form-field { height: auto; margin-bottom: 1; }
    FormScreen .form-label { color: $text-muted; }
    FormScreen .form-error { color: $error; height: auto; }
    FormScreen .form-error.-empty { display: none; }
    FormScreen .form-help { color: $text-muted; text-style: italic; }
    FormScreen Input, FormScreen Select { width: 1fr; }
    FormScreen SelectionList { height: auto; max-height: 8; }
    FormScreen .-hidden { display: none; }
    FormScreen #form-buttons { height: auto; margin-top: 1; align-horizontal: right; }
    FormScreen #form-buttons Button { margin-left: 1; }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Save", priority=True),
    ]

    def __init__(
        self,
        title: str,
        fields: Sequence[Field],
        submit: Callable[[dict[str, Any]], Any],
        *,
        ok: str = "Save",
    ) -> None:
        super().__init__()
        self.form_title = title
        self.fields = list(fields)
        self.submit_fn = submit
        self.ok_label = ok
        self._not_whole: set[str] = set()  # fields showing "must be a whole number" as typed

    def compose(self) -> ComposeResult:
        with Vertical(id="form"):
            yield Static(Content(self.form_title), id="form-title")
            with VerticalScroll(id="form-fields"):
                for f in self.fields:
                    with Vertical(id=f"wrap-{f.name}", classes="form-field"):
                        yield Label(Content(f.label + (" *" if f.required else "")), classes="form-label")
                        yield self._widget(f)
                        if f.help:
                            yield Static(Content(f.help), classes="form-help")
                        yield Static("", id=f"err-{f.name}", classes="form-error -empty", markup=False)
            yield Static("", id="err-form", classes="form-error -empty", markup=False)
            with Horizontal(id="form-buttons"):
                yield Button("Cancel (esc)", id="form-cancel", compact=True)
                yield Button(f"{self.ok_label} (ctrl+s)", id="form-ok", variant="primary", compact=True)

    def _widget(self, f: Field) -> Input | Select[Any] | SelectionList[Any]:
        wid = f"field-{f.name}"
        if f.kind == "select":
            return Select(
                list(f.options),
                value=f.value if f.value is not None else Select.NULL,
                allow_blank=True,
                id=wid,
                prompt=f.placeholder or "Select…",
                compact=True,
            )
        if f.kind == "multi":
            chosen = set(f.value or ())
            return CheckList(*[(label, v, v in chosen) for label, v in f.options], id=wid, compact=True)
        return Input(
            value="" if f.value is None else str(f.value),
            placeholder=f.placeholder,
            id=wid,
            # Always "text": Textual's integer input drops the keys it refuses, so "2.5" became 25 and was
            # saved; a whole-number field instead keeps what was typed and says why it is refused.
            type="text",
            compact=True,
        )

    def on_mount(self) -> None:
        if not self.query("#form"):
            return  # pushed while the app was closing: nothing was composed
        self._apply_visibility()
        fields = self.query(".form-field Input, .form-field Select, .form-field SelectionList")
        if fields:
            fields.first().focus()

    # -- values and checks ---------------------------------------------------------------------------

    def value(self, name: str) -> Any:
        f = self._field(name)
        w = self.query_one(f"#field-{name}")
        if isinstance(w, Select):
            return None if w.value is Select.NULL else w.value
        if isinstance(w, SelectionList):
            return list(w.selected)
        assert isinstance(w, Input)
        text = w.value.strip()
        if f.kind == "int":
            # Only ASCII digits (str.isdigit() admits "²", which int() refuses); the service judges range.
            return int(text) if _INTEGER.fullmatch(text) else (text or None)
        return text or None

    def values(self) -> dict[str, Any]:
        return {f.name: self.value(f.name) for f in self.fields if self._visible(f)}

    def _field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def _visible(self, f: Field) -> bool:
        if f.show_when is None:
            return True
        other, wanted = f.show_when
        return bool(self.value(other) == wanted)

    def _apply_visibility(self) -> None:
        for f in self.fields:
            self.query_one(f"#wrap-{f.name}").set_class(not self._visible(f), "-hidden")

    def set_error(self, name: str, message: str | None) -> None:
        target = self.query_one(f"#err-{name}", Static)
        target.update(Content(message or ""))
        target.set_class(not message, "-empty")

    def clear_errors(self) -> None:
        for f in self.fields:
            self.set_error(f.name, None)
        self.set_error("form", None)

    def check(self, f: Field) -> str | None:
        if not self._visible(f):
            return None
        v = self.value(f.name)
        if f.required and (v is None or v == []):
            return f"{f.label} is required"
        if f.kind == "int" and v is not None and not isinstance(v, int):
            return f"{f.label} must be a whole number"
        return None

    @on(Input.Changed)
    def _edited(self, event: Input.Changed) -> None:
        """A whole-number field says at once when what was typed is not one (``2.5``, ``1e3``)."""
        name = (event.input.id or "").removeprefix("field-")
        f = next((f for f in self.fields if f.name == name), None)
        if f is None or f.kind != "int" or not self.is_mounted:
            return
        v = self.value(name)
        if v is not None and not isinstance(v, int):
            self.set_error(name, self.check(f))
            self._not_whole.add(name)
        elif name in self._not_whole:  # only our own message goes; a service's refusal stays
            self._not_whole.discard(name)
            self.set_error(name, None)

    @on(Input.Blurred)
    def _blurred(self, event: Input.Blurred) -> None:
        name = (event.input.id or "").removeprefix("field-")
        if any(f.name == name for f in self.fields):
            self.set_error(name, self.check(self._field(name)))

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        self._apply_visibility()
        name = (event.select.id or "").removeprefix("field-")
        if any(f.name == name for f in self.fields):
            self.set_error(name, None)

    @on(Input.Submitted)
    def _input_submitted(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#form-ok")
    def _ok(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#form-cancel")
    def _cancel(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        self.clear_errors()
        problems = {f.name: msg for f in self.fields if (msg := self.check(f))}
        for name, msg in problems.items():
            self.set_error(name, msg)
        if problems:
            self._focus_field(next(iter(problems)))
            return
        try:
            result = self.submit_fn(self.values())
        except ValidationError as exc:
            name = self._owner_of(exc.field)
            self.set_error(name, exc.message)
            if name != "form":
                self._focus_field(name)
            return
        except DomainError as exc:
            name = self._owner_of(_code_field(exc.code))
            self.set_error(name, exc.message)
            return
        except Exception as exc:  # a bug below must not close the console; the form stays open
            self.log.error("form submit failed", exc_info=exc)
            self.set_error("form", f"internal error: {type(exc).__name__}: {exc}")
            return
        self.dismiss(result if result is not None else True)

    def _owner_of(self, service_field: str | None) -> str:
        if not service_field:
            return "form"
        for f in self.fields:
            keys = (f.name, *f.error_keys)
            if any(service_field == k or service_field.startswith(k + ".") for k in keys):
                return f.name if self._visible(f) else "form"
        return "form"

    def _focus_field(self, name: str) -> None:
        try:
            self.query_one(f"#field-{name}").focus()
        except Exception:  # a hidden or missing field: the message is still shown
            pass


def _code_field(code: str) -> str | None:
    """Domain error codes that belong to one field."""
    return {
        "name_conflict": "name",
        "invalid_target": "target",
        "invalid_owner": "ownerId",
        "invalid_participant": "participantIds",
        "invalid_target_user": "targetUserId",
    }.get(code)
