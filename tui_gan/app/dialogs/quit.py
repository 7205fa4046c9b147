"""Leaving a run: quit (save a checkpoint first?) in the app, detach or stop in `tui-gan watch`."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

SAVE_AND_QUIT, QUIT, CANCEL = "save", "quit", None
DETACH, STOP = "detach", "stop"


class ChoiceDialog(ModalScreen[str | None]):
    """A choice about a run: each button's id is its answer, Cancel (or escape) answers None, and
    once the run has ended every key gives `ENDED`, the one choice left."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]
    ENDED: ClassVar[str]

    def __init__(self, running: bool) -> None:
        super().__init__()
        self.running = running

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "cancel" else event.button.id)

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice if self.running else self.ENDED)


class QuitDialog(ChoiceDialog):
    """Asks whether to save a checkpoint before stopping; dismisses with "save", "quit" or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s,y", "choose('save')", "Save & quit"),
        Binding("n,q", "choose('quit')", "Quit, no save"),
    ]
    ENDED = QUIT

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            if self.running:
                yield Label("Quit tui-gan?", classes="dialog-title")
                yield Static(
                    "The training will be stopped. Save a checkpoint first so it can be resumed?"
                )
            else:
                yield Label("Quit tui-gan?", classes="dialog-title")
                yield Static("The run has ended; nothing more to save.")
            with Horizontal(classes="dialog-buttons"):
                if self.running:
                    yield Button("Save & quit (s)", id="save", variant="primary")
                yield Button("Quit (q)" if self.running else "Quit", id="quit", variant="error")
                yield Button("Cancel (esc)", id="cancel")


class DetachDialog(ChoiceDialog):
    """Asks whether to leave the run training (the default) or stop it; dismisses with the choice."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d,q", "dismiss('detach')", "Detach"),
        Binding("s", "choose('stop')", "Stop the run"),
    ]
    ENDED = DETACH

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Leave this run?", classes="dialog-title")
            if self.running:
                yield Label(
                    "Detach: the training goes on; `tui-gan watch` attaches again.\n"
                    "Stop: save a checkpoint and end the training."
                )
            else:
                yield Label("The run has ended.")
            with Horizontal(classes="dialog-buttons"):
                yield Button(
                    "Detach [d]" if self.running else "Quit [q]", id=DETACH, variant="primary"
                )
                if self.running:
                    yield Button("Stop & save [s]", id=STOP, variant="error")
                yield Button("Cancel [esc]", id="cancel")

    def on_mount(self) -> None:
        self.query_one(f"#{DETACH}", Button).focus()  # Enter detaches: the safe choice
