"""The one undo stack of a screen (policies, schedules): it saves layer reorders and undoes them, and takes
every other change the screen makes (add, edit, delete) with the service call that reverses it.

The help and the footer call it "Undo"; what it covers is each screen's ``UNDO_COVERS`` (shown in the help
screen), so a person never has to guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.tui.widgets.layer_list import LayerList
from engine.errors import DomainError
from engine.service import Ctx

if TYPE_CHECKING:
    from console.tui.screens.base import OncallScreen


SaveOrder = Callable[["Ctx", str, list[str]], object]
"""A service use case that stores an owner's layers in a new order: ``(ctx, owner id, layer ids)``."""

Reverse = Callable[["Ctx"], object]
"""A service call that reverses one change (delete what was added, add back what was deleted, store the
values before an edit). It raises :class:`~engine.errors.DomainError` when it no longer can."""


@dataclass(frozen=True)
class UndoEntry:
    """One change on the stack: ``owner_id`` (the policy or schedule it belongs to), ``what`` in words
    ("the reorder of Platform Default's layers", "the new layer 4"), and ``reverse``."""

    owner_id: str
    what: str
    reverse: Reverse
    replaces: str | None = None  # a layer id the reverse re-creates under a new id (undo of a delete)


class ReorderUndo:
    """Saves a screen's :class:`LayerList` reorders through the service layer and undoes every recorded
    change with ``u``.

    The stack covers the whole screen, newest first. A reorder's entry stores the order before it again (so
    its undo is itself a reorder through the same use case, refused the same way if the layers changed
    meanwhile); other changes are recorded with :meth:`record`. An undo that the service refuses is dropped
    from the stack and explained in words (what could not be undone, and why), never with internal ids.
    A refused save leaves nothing on the stack and asks the screen to show the stored order again.
    """

    def __init__(
        self,
        screen: OncallScreen,
        save: SaveOrder,
        *,
        show_owner: Callable[[str], None],
        show_stored: Callable[[], None],
        owner_name: Callable[[str], str] | None = None,
    ) -> None:
        """``show_owner(id)`` selects the owner before an undo is saved; ``show_stored()`` repaints the
        order as stored after a refused save; ``owner_name(id)`` names an owner in messages."""
        self._screen = screen
        self._save = save
        self._show_owner = show_owner
        self._show_stored = show_stored
        self._owner_name = owner_name
        self._stack: list[UndoEntry] = []
        self._renamed: dict[str, str] = {}  # deleted layer id -> the id its undo re-created it under

    @property
    def can_undo(self) -> bool:
        return bool(self._stack)

    @property
    def next_undo(self) -> str | None:
        """What ``u`` would undo now, in words, or None."""
        return self._stack[-1].what if self._stack else None

    def _layers_of(self, owner_id: str) -> str:
        name = self._owner_name(owner_id) if self._owner_name is not None else None
        return f"{name}'s layers" if name else "the layers"

    def save(self, owner_id: str | None, event: LayerList.Reordered, *, done: str) -> None:
        """Store ``event.order`` for ``owner_id`` (nothing when no owner is shown); ``done`` is flashed on
        success, the domain error otherwise."""
        if owner_id is None:
            return
        if self._screen.oncall.act(self._save, owner_id, event.order, done=done) is None:
            self._show_stored()
            return
        previous = list(event.previous)
        save, renamed = self._save, self._renamed

        def reverse(ctx: Ctx) -> object:
            return save(ctx, owner_id, [renamed.get(layer_id, layer_id) for layer_id in previous])

        self.record(owner_id, f"the reorder of {self._layers_of(owner_id)}", reverse)

    def record(self, owner_id: str, what: str, reverse: Reverse, *, replaces: str | None = None) -> None:
        """Put a change the screen just made on the stack: ``what`` names it in words, ``reverse`` undoes
        it through the service layer; ``replaces`` is the id of a deleted layer that ``reverse`` adds back
        (it returns the new layer in wire form), so older reorders still find it."""
        self._stack.append(UndoEntry(owner_id, what, reverse, replaces))
        self._screen.refresh_bindings()  # the footer's undo key comes alive

    def undo(self) -> None:
        """Reverse the newest change still on the stack ("undone: …"), or flash "nothing to undo". A
        refused undo is dropped from the stack and explained."""
        if not self._stack:
            self._screen.flash("nothing to undo", error=True)
            return
        entry = self._stack.pop()
        self._screen.refresh_bindings()
        self._show_owner(entry.owner_id)
        app = self._screen.oncall
        try:
            result = app.act_or_raise(entry.reverse)
        except DomainError as exc:
            self._screen.flash(
                f"could not undo {entry.what}: {_reason(exc)} · dropped from the undo list", error=True
            )
            self._show_stored()
            return
        if entry.replaces is not None and isinstance(result, dict) and "id" in result:
            self._renamed[entry.replaces] = result["id"]
        self._screen.flash(f"undone: {entry.what}" + (" · u undoes more" if self._stack else ""))
        self._screen.refresh_data()

    def forget(self, owner_id: str) -> None:
        """Drop the undo entries of an owner that was deleted (its changes can no longer be reversed)."""
        self._stack = [e for e in self._stack if e.owner_id != owner_id]
        self._screen.refresh_bindings()


_REASONS = {
    "invalid_layer_order": "layers were added or removed since",
    "not_found": "it was changed or removed since",
    "validation_error": "it was changed or removed since",
}
_ID = re.compile(r"\b[a-z]+_[0-9a-hjkmnp-tv-z]{26}\b")


def _reason(exc: DomainError) -> str:
    """Why an undo was refused, in words: a known code's sentence, else the service's message with any
    internal id replaced."""
    return _REASONS.get(exc.code) or _ID.sub("an object that changed", exc.message)
