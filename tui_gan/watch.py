"""`tui-gan watch RUN_DIR`: the full app attached to a run in another process; quitting detaches."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label

from tui_gan.app import GanApp
from tui_gan.remote import RemoteSession
from tui_gan.screens.dialogs import ChoiceDialog

DETACH, STOP = "detach", "stop"


class DetachDialog(ChoiceDialog):
    """Asks whether to leave the run training (the default) or stop it; dismisses with the choice."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("d,q", "dismiss('detach')", "Detach"),
        Binding("s", "choose('stop')", "Stop the run"),
    ]
    ENDED = DETACH

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Leave this run?", classes="dialog-title")
            if self.running:
                yield Label("Detach: the training goes on; `tui-gan watch` attaches again.\n"
                            "Stop: save a checkpoint and end the training.")
            else:
                yield Label("The run has ended.")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Detach [d]" if self.running else "Quit [q]", id=DETACH, variant="primary")
                if self.running:
                    yield Button("Stop & save [s]", id=STOP, variant="error")
                yield Button("Cancel [esc]", id="cancel")

    def on_mount(self) -> None:
        self.query_one(f"#{DETACH}", Button).focus()  # Enter detaches: the safe choice


class WatchApp(GanApp):
    """GanApp on a RemoteSession, whose quit asks detach-or-stop instead of save-or-quit."""

    CSS_PATH = "app.tcss"

    def action_request_quit(self) -> None:
        if self.quitting:
            super().action_request_quit()
            return
        if isinstance(self.screen, DetachDialog):
            return

        def chosen(choice: str | None) -> None:
            if choice == DETACH:
                self.detach()
            elif choice == STOP:
                self.shutdown(save=True)  # sends Stop(checkpoint=True) and waits for the run to end

        self.push_screen(DetachDialog(running=self.session.alive and not self.view.final), chosen)

    def detach(self) -> None:
        """Leave the run training and exit."""
        self.quitting = True
        self.session.close(timeout=0)
        self.exit(0)


def run_watch(run_dir: str | Path) -> int:
    """Attach the app to the run in `run_dir` (ControlError when it cannot be reached)."""
    session = RemoteSession(run_dir)
    app = WatchApp(session)
    try:
        app.run()
    finally:
        session.close(timeout=0)
    return int(app.return_value or 0)
