"""``?``: every key that works where you are, read from the live bindings (so it cannot drift)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

KEY_NAMES = {
    "shift+up": "shift+↑",
    "shift+down": "shift+↓",
    "escape": "esc",
    "question_mark": "?",
    "slash": "/",
    "enter": "enter",
    "ctrl+p": "ctrl+p",
    "colon": ":",
}

GLOBAL_NOTES = [
    ("mouse", "click rows and tabs; drag a layer to reorder; wheel scrolls"),
    ("esc", "back / close / cancel"),
]


def key_label(keys: str) -> str:
    return " ".join(KEY_NAMES.get(k, k) for k in keys.split(","))


def binding_rows(screen: Screen[object]) -> list[tuple[str, str, str]]:
    """(keys, description, where) for every visible binding active on ``screen``, deduplicated."""
    rows: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    by_action: dict[tuple[int, str], list[str]] = {}
    info: dict[tuple[int, str], tuple[str, str]] = {}
    for key, active in screen.active_bindings.items():
        b = active.binding
        if not b.description or b.system:
            continue
        node = active.node
        if node is screen.app:
            where = "everywhere"
        elif isinstance(node, Screen):
            where = screen.title or type(node).__name__.removesuffix("Screen")
        else:
            where = type(node).__name__
        ident = (id(node), b.action)
        by_action.setdefault(ident, []).append(key)
        info[ident] = (b.description, where)
    nodes: dict[int, int] = {}
    for active in screen.active_bindings.values():
        node = active.node
        nodes[id(node)] = 0 if isinstance(node, Screen) else (1 if node is screen.app else 2)
    from textual.app import App
    from textual.scroll_view import ScrollView
    from textual.widget import Widget

    generic = {
        (b.action if isinstance(b, Binding) else b[1])
        for cls in (Screen, App, ScrollView, Widget)
        for b in cls.BINDINGS
    }
    for ident, keys in sorted(
        by_action.items(), key=lambda item: (item[0][1] in generic, nodes.get(item[0][0], 3))
    ):
        desc, where = info[ident]
        if (desc, where) in seen:
            continue
        seen.add((desc, where))
        rows.append((key_label(",".join(dict.fromkeys(keys))), desc, where))
    return rows


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 76; max-width: 100%; height: 90%; border: thick $accent;
        background: $surface; padding: 0 1; }
    HelpScreen #help-title { text-style: bold; }
    HelpScreen #help-undo { margin-top: 1; }
    """

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, screen: Screen[object]) -> None:
        super().__init__()
        self.for_screen = screen
        self.rows: list[tuple[str, str, str]] = []

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        table.add_column(style="dim", no_wrap=True)
        self.rows = binding_rows(self.for_screen)
        for keys, desc, where in self.rows:
            table.add_row(Text(keys), Text(desc), Text(where))
        for keys, desc in GLOBAL_NOTES:
            table.add_row(Text(keys), Text(desc), Text("everywhere"))
        with Vertical():
            yield Static(f"Keys — {self.for_screen.title or type(self.for_screen).__name__}", id="help-title")
            with VerticalScroll():
                yield Static(table)
                covers = getattr(self.for_screen, "UNDO_COVERS", None)
                if covers:  # what u reverses here, exactly (console/tui/screens/reorder_undo.py)
                    yield Static(Text(covers, style="italic"), id="help-undo")

    def action_close(self) -> None:
        self.dismiss(None)
