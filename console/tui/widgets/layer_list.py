"""A list whose items can be reordered by keys (shift+up/down, K/J) and by dragging with the mouse.

Keys and drag both end in :class:`LayerList.Reordered`; :class:`console.tui.screens.reorder_undo.ReorderUndo`
persists the order through the service layer, so both paths are the same ``PUT …/layers/order``. A drag moves items on screen while
the button is held and reports once, on release.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option


class LayerList(OptionList):
    DEFAULT_CSS = """
    LayerList { height: auto; max-height: 1fr; }
    LayerList.-dragging { border: tall $accent; }
    """

    # Moving is bound by the screens (shift+up/down, K/J) so their help and footer show it wherever
    # focus is; they call :meth:`action_move`.
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    class Reordered(Message):
        """The items were reordered by keys or by a drag; ``previous`` is the order before."""

        def __init__(self, layer_list: LayerList, order: list[str], previous: list[str], how: str) -> None:
            super().__init__()
            self.layer_list = layer_list
            self.order = order
            self.previous = previous
            self.how = how

        @property
        def control(self) -> LayerList:
            return self.layer_list

    def __init__(self, *, id: str | None = None, empty: str = "") -> None:
        """``empty`` is what the list says while it has no items (what to do about it)."""
        super().__init__(id=id, markup=False)
        self.empty = empty
        self._items: list[tuple[str, Text]] = []
        self._drag_from: int | None = None
        self._drag_start_order: list[str] | None = None
        self._dragged = False
        self._pending: list[tuple[str, Text]] | None = None

    # -- content -------------------------------------------------------------------------------------

    @property
    def order(self) -> list[str]:
        return [key for key, _ in self._items]

    def select_key(self, key: str) -> None:
        """Highlight the item ``key`` if it is listed."""
        keys = self.order
        if key in keys:
            self.highlighted = keys.index(key)

    @property
    def selected_key(self) -> str | None:
        if self.highlighted is None or not self._items:
            return None
        return self._items[self.highlighted][0]

    def set_items(self, items: Sequence[tuple[str, Text]]) -> None:
        """Replace the items, keeping the highlight on the same key.

        During a drag the new items wait until the button is released: a live refresh must not undo
        the move under the pointer.
        """
        if self._drag_from is not None:
            self._pending = list(items)
            return
        if list(items) == self._items and (items or self.option_count):
            return
        keep = self.selected_key
        index = self.highlighted or 0
        self._items = list(items)
        self._render_items()
        keys = self.order
        if keep in keys:
            self.highlighted = keys.index(keep)
        elif keys:
            self.highlighted = min(index, len(keys) - 1)

    def _render_items(self) -> None:
        if not self._items and self.empty:
            self.set_options([Option(Text(self.empty, style="dim italic"), id="-none-", disabled=True)])
            return
        self.set_options([Option(text, id=key) for key, text in self._items])

    def _move(self, src: int, dst: int) -> bool:
        """Move item ``src`` to index ``dst`` (any distance); True if anything moved."""
        dst = max(0, min(dst, len(self._items) - 1))
        if src == dst or not (0 <= src < len(self._items)):
            return False
        item = self._items.pop(src)
        self._items.insert(dst, item)
        self._render_items()
        self.highlighted = dst
        return True

    # -- keyboard ------------------------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        if self.highlighted is None:
            return
        before = self.order
        if self._move(self.highlighted, self.highlighted + delta):
            self.post_message(self.Reordered(self, self.order, before, "keys"))

    # -- mouse ---------------------------------------------------------------------------------------

    def _row_at(self, event: events.MouseEvent) -> int | None:
        offset = event.get_content_offset_capture(self)
        row = offset.y + int(self.scroll_offset.y)
        return row if 0 <= row < len(self._items) else None

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self._dragged = False
        if event.button != 1:
            return
        row = self._row_at(event)
        if row is None:
            return
        self.focus()
        self.highlighted = row
        self._drag_from = row
        self._drag_start_order = self.order
        self.capture_mouse()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._drag_from is None:
            return
        offset = event.get_content_offset_capture(self)
        row = max(0, min(offset.y + int(self.scroll_offset.y), len(self._items) - 1))
        if row != self._drag_from and self._move(self._drag_from, row):
            self._drag_from = row
            self._dragged = True
            self.add_class("-dragging")

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._drag_from is None:
            return
        self._finish_drag()

    def _finish_drag(self) -> None:
        start = self._drag_start_order
        self._drag_from = None
        self._drag_start_order = None
        self.remove_class("-dragging")
        self.release_mouse()
        moved = start is not None and start != self.order
        if moved:
            assert start is not None
            self.post_message(self.Reordered(self, self.order, start, "drag"))
        elif self._pending is not None:
            self.set_items(self._pending)
        self._pending = None

    async def _on_click(self, event: events.Click) -> None:
        """A click highlights, a double click opens; the click that ends a drag does nothing more."""
        event.prevent_default()
        if self._dragged:
            self._dragged = False
            return
        row = self._row_at(event)
        if row is None:
            return
        self.highlighted = row
        if event.chain >= 2:
            self.action_select()

    def on_blur(self, event: events.Blur) -> None:
        if self._drag_from is not None:
            self._finish_drag()

    def on_hide(self, event: events.Hide) -> None:
        if self._drag_from is not None:
            self._finish_drag()
