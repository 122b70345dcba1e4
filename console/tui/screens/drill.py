"""The drill's two modals: choosing its speed (from the policies screen) and its score card at the end."""

from __future__ import annotations

from datetime import timedelta

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from console.tui.presentation import DRILL_MARK, plain
from engine.drill import format_offset
from engine.service.drills import Drill, layer_scores

SPEED_WORDS = {1.0: "real time", 10.0: "ten minutes a minute", 60.0: "a minute a second"}
ENDED_GLYPHS = {
    "acknowledged": "✓",
    "timed out": "⏱",
    "nobody on call": "∅",
    "escalated": "→",
    "still paging": "…",
}


def _span(delta: timedelta) -> str:
    return format_offset(delta)[2:]


class DrillSpeedScreen(ModalScreen[float | None]):
    """How fast the drill's clock runs; dismissed with the speed, or None (esc)."""

    DEFAULT_CSS = """
    DrillSpeedScreen { align: center middle; }
    DrillSpeedScreen > Vertical { width: 64; max-width: 100%; height: auto; max-height: 90%;
        border: thick $warning; background: $surface; padding: 0 1; }
    DrillSpeedScreen #drill-speed-title { text-style: bold; }
    DrillSpeedScreen #drill-speed-note { color: $text-muted; margin-bottom: 1; }
    DrillSpeedScreen OptionList { height: auto; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, policy_name: str, speeds: tuple[float, ...]) -> None:
        super().__init__()
        self.policy_name = policy_name
        self.speeds = speeds

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text.assemble(DRILL_MARK, " rehearse ", plain(self.policy_name, style="bold")),
                id="drill-speed-title",
            )
            yield Static(
                "A drill incident on a scratch copy of the database: live incidents are untouched and "
                "nothing is delivered. Watch it on the incidents screen; a acknowledges it.",
                id="drill-speed-note",
                markup=False,
            )
            yield OptionList(
                *(
                    Option(f"{speed:>3g}×  {SPEED_WORDS.get(speed, '')}".rstrip(), id=f"{speed:g}")
                    for speed in self.speeds
                ),
                id="drill-speeds",
                markup=False,
            )

    def on_mount(self) -> None:
        speeds = self.query_one("#drill-speeds", OptionList)
        speeds.highlighted = len(self.speeds) - 1  # the fastest: a drill is usually a quick rehearsal
        speeds.focus()

    @on(OptionList.OptionSelected, "#drill-speeds")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(float(event.option.id or 1))

    def action_cancel(self) -> None:
        self.dismiss(None)


class DrillScoreScreen(ModalScreen[None]):
    """The score card of a finished drill: outcome, time to acknowledge, each layer's stretch."""

    DEFAULT_CSS = """
    DrillScoreScreen { align: center middle; }
    DrillScoreScreen > VerticalScroll { width: 78; max-width: 100%; height: auto; max-height: 100%;
        border: thick $warning; background: $surface; padding: 0 1; }
    DrillScoreScreen #drill-score-title { text-style: bold; margin-bottom: 1; }
    DrillScoreScreen #drill-score-layers { margin-top: 1; height: auto; }
    DrillScoreScreen #drill-score-hint { color: $text-muted; margin-top: 1; }
    """

    BINDINGS = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, drill: Drill, speed: float) -> None:
        super().__init__()
        self.drill = drill
        self.speed = speed
        self.summary = drill.summary()
        self.scores = layer_scores(drill)

    def outcome_text(self) -> str:
        s = self.summary
        if s["acknowledged"]:
            layer = next((x.layer for x in self.scores if x.ended == "acknowledged"), None)
            where = f" at layer {layer}" if layer else " after exhaustion"
            return f"acknowledged by {s['acknowledgedBy']}{where}"
        if s["outcome"] == "exhausted":
            return f"exhausted: all {s['layerCount']} layers paged, nobody acknowledged"
        return f"stopped ({s['outcome']})"

    def compose(self) -> ComposeResult:
        s = self.summary
        facts = Table.grid(padding=(0, 2))
        facts.add_column(style="bold", no_wrap=True)
        facts.add_column()
        facts.add_row("Outcome", Text(self.outcome_text()))
        tta = s["timeToAcknowledge"]
        facts.add_row(
            "Time to ack",
            Text(f"{tta} of drill time ({self.speed:g}× real time)" if tta else "— (never acknowledged)"),
        )
        facts.add_row("Responded", Text(s["acknowledgedBy"] or "nobody"))
        facts.add_row(
            "Pages",
            Text(f"{s['pages']} to {len(s['peoplePaged'])} people · none delivered (drill: log only)"),
        )
        layers = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold", expand=True)
        layers.add_column("Layer", no_wrap=True)
        layers.add_column("Paged", no_wrap=True)
        layers.add_column("For", no_wrap=True)
        layers.add_column("Who was paged", ratio=1)
        layers.add_column("Ended", ratio=1)
        count = s["layerCount"]
        for x in self.scores:
            ended = f"{ENDED_GLYPHS.get(x.ended, '')} {x.ended}"
            if x.responder:
                ended += f" by {x.responder}"
            layers.add_row(
                f"{x.layer}/{count}",
                format_offset(x.started),
                _span(x.paged_for),
                Text(", ".join(x.people) or "nobody"),
                Text(ended),
            )
        with VerticalScroll():  # a policy that repeats can take more lines than 80×24 has
            yield Static(
                Text.assemble(DRILL_MARK, " score card · ", plain(self.drill.policy.name, style="bold")),
                id="drill-score-title",
            )
            yield Static(facts, id="drill-score-facts")
            yield Static(layers, id="drill-score-layers")
            yield Static(
                "esc / enter closes: the drill incident goes away; the live database was never written.",
                id="drill-score-hint",
                markup=False,
            )

    def action_close(self) -> None:
        self.dismiss(None)
