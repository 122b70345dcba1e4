"""The command palette (ctrl+p): every action of every mode, by name.

Commands of the current screen are read from its live bindings (so the palette, the footer and the help
screen never disagree); commands of the other modes switch to that mode first, then run there. Actions come
first, navigation ("Go to …") last, and each is named once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode
from textual.screen import Screen

MODE_TITLES = {
    "incidents": "Incidents",
    "policies": "Policies",
    "schedules": "Schedules",
    "people": "People",
    "reports": "Reports",
    "mine": "My on-call",
}
MODE_KEYS = {"incidents": "1", "policies": "2", "schedules": "3", "people": "4", "reports": "5", "mine": "m"}
SKIP_ACTIONS = {"command_palette", "open_palette", "help_quit", "cursor"}

Command = tuple[str, str, Callable[[], Any]]


class OncallCommands(Provider):
    def _commands(self) -> list[Command]:
        app = self.app
        out: list[Command] = []
        seen: set[str] = set()

        def add(title: str, help_text: str, cb: Callable[[], Any]) -> None:
            if title not in seen:
                seen.add(title)
                out.append((title, help_text, cb))

        here = self.screen
        label = here.title or MODE_TITLES.get(app.current_mode, app.current_mode)
        grouped: dict[tuple[int, str], tuple[DOMNode, Binding, list[str]]] = {}
        for key, active in here.active_bindings.items():
            b = active.binding
            if not b.description or b.system or b.action in SKIP_ACTIONS or not active.enabled:
                continue
            entry = grouped.setdefault((id(active.node), b.action), (active.node, b, []))
            entry[2].append(key)
        for node, b, keys in grouped.values():
            if b.action.startswith("switch_mode"):
                continue  # navigation: listed once, last, as "Go to …"
            prefix = "App" if node is app else label
            add(f"{prefix}: {b.description}", f"key {', '.join(keys)}", partial(self._run, node, b.action))
        from console.tui.screens.incidents import IncidentsScreen
        from console.tui.screens.my_oncall import MyOncallScreen
        from console.tui.screens.people import PeopleScreen
        from console.tui.screens.policies import PoliciesScreen
        from console.tui.screens.reports import ReportsScreen
        from console.tui.screens.schedules import SchedulesScreen

        mode_screens = {
            "incidents": IncidentsScreen,
            "policies": PoliciesScreen,
            "schedules": SchedulesScreen,
            "people": PeopleScreen,
            "reports": ReportsScreen,
            "mine": MyOncallScreen,
        }
        for mode, title in MODE_TITLES.items():
            screen_cls = mode_screens[mode]
            if mode == app.current_mode:
                continue
            for b in getattr(screen_cls, "BINDINGS", []):
                if not isinstance(b, Binding) or not b.description or b.action in SKIP_ACTIONS:
                    continue
                add(
                    f"{title}: {b.description}",
                    f"switches to {title.lower()}; key {b.key}",
                    partial(self._switch_and_run, mode, b.action),
                )
        for mode, title in MODE_TITLES.items():
            add(f"Go to {title}", f"key {MODE_KEYS[mode]}", partial(app.switch_mode, mode))
        return out

    async def _run(self, node: DOMNode, action: str) -> None:
        await self.app.run_action(action, node)

    async def _switch_and_run(self, mode: str, action: str) -> None:
        await self.app.switch_mode(mode)

        def later() -> None:
            screen = self.app.screen
            if isinstance(screen, Screen):
                self.app.call_later(screen.run_action, action)

        self.app.set_timer(0.1, later)

    async def discover(self) -> Hits:
        for title, help_text, cb in self._commands():
            yield DiscoveryHit(title, cb, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, cb in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), cb, help=help_text)
