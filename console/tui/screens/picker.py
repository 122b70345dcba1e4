"""Pick one item from a list (the hand-off target): type to narrow, enter or click to choose."""

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
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "focus_list", "List", show=False),
    ]

    def __init__(self, title: str, items: Sequence[tuple[str, str]], *, current: str | None = None) -> None:
        """``items`` are (value, label) pairs; ``current`` is marked and skipped by default."""
        super().__init__()
        self.picker_title = title
        self.items = list(items)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(self.picker_title), id="picker-title")
            yield Input(placeholder="type to filter", id="picker-filter")
            yield OptionList(id="picker-list", markup=False)

    def on_mount(self) -> None:
        self._fill("")
        self.query_one("#picker-list", OptionList).focus()

    def _fill(self, needle: str) -> None:
        ol = self.query_one("#picker-list", OptionList)
        opts = [
            Option(label + ("  (current)" if value == self.current else ""), id=value)
            for value, label in self.items
            if needle.lower() in label.lower()
        ]
        ol.set_options(opts)
        if opts:
            first = next((i for i, o in enumerate(opts) if o.id != self.current), 0)
            ol.highlighted = first

    @on(Input.Changed, "#picker-filter")
    def _filter(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#picker-filter")
    def _submit_filter(self) -> None:
        ol = self.query_one("#picker-list", OptionList)
        if ol.highlighted is not None:
            self.dismiss(ol.get_option_at_index(ol.highlighted).id)

    @on(OptionList.OptionSelected, "#picker-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_focus_list(self) -> None:
        self.query_one("#picker-list", OptionList).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
