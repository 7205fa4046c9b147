"""Which runs to compare: the current run and its siblings under the same root, in a selection list."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, SelectionList, Static
from textual.widgets.selection_list import Selection

from core.runs import RunSummary

# Ticked at first: the current run and the newest siblings, as many as the plots tell apart.
PRESELECTED = 6


class PickRunsDialog(ModalScreen[list[Path] | None]):
    """Tick runs (space), then Compare (enter on the button, or c); escape cancels."""

    DEFAULT_CSS = "PickRunsDialog #pick-runs { height: auto; max-height: 14; }"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("c", "compare", "Compare"),
    ]

    def __init__(self, runs: list[RunSummary], current: Path) -> None:
        super().__init__()
        self.runs = runs
        self.current = current.resolve()
        newest = [r for r in reversed(runs) if r.path.resolve() != self.current]
        self.ticked = {self.current} | {r.path.resolve() for r in newest[: PRESELECTED - 1]}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Compare runs under {self.current.parent}", classes="dialog-title")
            yield SelectionList[str](
                *(
                    Selection(
                        f"{r.name}  [dim]{r.state}"
                        + (f", step {r.step:,}" if r.step is not None else "")
                        + (" · this run" if r.path.resolve() == self.current else "")
                        + "[/]",
                        str(r.path),
                        r.path.resolve() in self.ticked,
                    )
                    for r in self.runs
                ),
                id="pick-runs",
            )
            yield Static("[dim]space ticks a run · c compares[/]")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Compare (c)", id="compare", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "compare":
            self.action_compare()
        else:
            self.dismiss(None)

    def action_compare(self) -> None:
        chosen = self.query_one(SelectionList).selected
        if not chosen:
            self.notify("tick at least one run (space)", severity="warning")
            return
        # in the order of the list (oldest first), whatever order they were ticked in
        order = [str(r.path) for r in self.runs]
        self.dismiss([Path(p) for p in sorted(chosen, key=order.index)])
