"""Pick one item from a list (the hand-off target): type to narrow, enter or click to choose.

Focus starts in the filter: typing narrows the list at once, ``↑``/``↓`` move the highlight without leaving
the filter, and ``enter`` picks the highlighted match. The current value (the incident's owner) is marked;
picking it is refused inline with ``refuse_current``, and the picker stays open.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option


class PickerScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    PickerScreen { align: center middle; }
    PickerScreen > Vertical { width: 56; max-width: 100%; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 0 1; }
    PickerScreen #picker-title { text-style: bold; margin-bottom: 1; }
    PickerScreen OptionList { height: auto; max-height: 14; }
    PickerScreen #picker-message { color: $text-error; height: auto; }
    PickerScreen #picker-message.-empty { display: none; }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "move(1)", "Next", show=False),
        Binding("up", "move(-1)", "Previous", show=False),
    ]

    def __init__(
        self,
        title: str,
        items: Sequence[tuple[str, str]],
        *,
        current: str | None = None,
        refuse_current: str | None = None,
    ) -> None:
        """``items`` are (value, label) pairs; ``current`` is marked and not highlighted first; when
        ``refuse_current`` is given, picking ``current`` shows that message instead of choosing it."""
        super().__init__()
        self.picker_title = title
        self.items = list(items)
        self.current = current
        self.refuse_current = refuse_current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(self.picker_title), id="picker-title")
            yield Input(placeholder="type to filter", id="picker-filter")
            yield OptionList(id="picker-list", markup=False)
            yield Static("", id="picker-message", classes="-empty", markup=False)

    def on_mount(self) -> None:
        self._fill("")
        self.query_one("#picker-filter", Input).focus()

    def _fill(self, needle: str) -> None:
        ol = self.query_one("#picker-list", OptionList)
        opts = [
            Option(label + ("  (current)" if value == self.current else ""), id=value)
            for value, label in self.items
            if needle.lower() in label.lower()
        ]
        if not opts:
            opts = [Option(f"nobody matches {needle!r} · backspace widens the filter", disabled=True)]
        ol.set_options(opts)
        enabled = [i for i, o in enumerate(opts) if not o.disabled]
        if enabled:
            ol.highlighted = next((i for i in enabled if opts[i].id != self.current), enabled[0])
        self._say("")

    def _say(self, message: str) -> None:
        line = self.query_one("#picker-message", Static)
        line.update(Content(message))
        line.set_class(not message, "-empty")

    def _choose(self, value: str | None) -> None:
        if value is None:
            return
        if value == self.current and self.refuse_current:
            self._say(self.refuse_current)
            return
        self.dismiss(value)

    @on(Input.Changed, "#picker-filter")
    def _filter(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#picker-filter")
    def _submit_filter(self) -> None:
        ol = self.query_one("#picker-list", OptionList)
        if ol.highlighted is not None:
            option = ol.get_option_at_index(ol.highlighted)
            if not option.disabled:
                self._choose(option.id)

    @on(OptionList.OptionSelected, "#picker-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self._choose(event.option.id)

    def action_move(self, delta: int) -> None:
        """``↑``/``↓`` move the highlight, wherever the focus is (the filter keeps it)."""
        ol = self.query_one("#picker-list", OptionList)
        if delta > 0:
            ol.action_cursor_down()
        else:
            ol.action_cursor_up()

    def action_cancel(self) -> None:
        self.dismiss(None)
