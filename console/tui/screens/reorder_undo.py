"""The one component that saves a screen's layer reorders and undoes them (used by the policies and
schedules screens)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from console.tui.widgets.layer_list import LayerList

if TYPE_CHECKING:
    from console.tui.screens.base import OncallScreen
    from engine.service import Ctx


SaveOrder = Callable[["Ctx", str, list[str]], object]
"""A service use case that stores an owner's layers in a new order: ``(ctx, owner id, layer ids)``."""


class ReorderUndo:
    """Saves a screen's :class:`LayerList` reorders through the service layer and undoes them with ``u``.

    The owner is the policy or schedule whose layers moved. Undo is a stack over the whole screen, newest
    first: each entry is ``(owner id, order before)``, and undoing stores that order again (so it is
    itself a reorder through the same use case, refused the same way if the layers changed meanwhile).
    A refused save leaves nothing on the stack and asks the screen to show the stored order again.
    """

    def __init__(
        self,
        screen: OncallScreen,
        save: SaveOrder,
        *,
        show_owner: Callable[[str], None],
        show_stored: Callable[[], None],
    ) -> None:
        """``show_owner(id)`` selects the owner before an undo is saved; ``show_stored()`` repaints the
        order as stored after a refused save."""
        self._screen = screen
        self._save = save
        self._show_owner = show_owner
        self._show_stored = show_stored
        self._stack: list[tuple[str, list[str]]] = []

    @property
    def can_undo(self) -> bool:
        return bool(self._stack)

    def save(self, owner_id: str | None, event: LayerList.Reordered, *, done: str) -> None:
        """Store ``event.order`` for ``owner_id`` (nothing when no owner is shown); ``done`` is flashed on
        success, the domain error otherwise."""
        if owner_id is None:
            return
        if self._screen.oncall.act(self._save, owner_id, event.order, done=done) is None:
            self._show_stored()
            return
        self._stack.append((owner_id, event.previous))
        self._screen.refresh_bindings()  # the footer's undo key comes alive

    def undo(self) -> None:
        """Store the order before the latest reorder still on the stack ("reorder undone"), or flash
        "nothing to undo"."""
        if not self._stack:
            self._screen.flash("nothing to undo", error=True)
            return
        owner_id, previous = self._stack.pop()
        self._screen.refresh_bindings()
        self._show_owner(owner_id)
        if self._screen.oncall.act(self._save, owner_id, previous, done="reorder undone") is not None:
            self._screen.refresh_data()

    def forget(self, owner_id: str) -> None:
        """Drop the undo entries of an owner whose layers were deleted or that was deleted itself."""
        self._stack = [(o, order) for o, order in self._stack if o != owner_id]
