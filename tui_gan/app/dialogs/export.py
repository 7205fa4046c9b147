"""The export dialog: a GIF of the run's sample history or its latest PNG grid, with progress."""

from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, RadioButton, RadioSet, Static

from core.errors import UserError
from tui_gan.app.messages import ExportDone

GIF, GRID = "gif", "grid"


def parse_positive(text: str, kind: type[int] | type[float], name: str, high: float) -> float:
    """A number in (0, high] from form text; ValueError with the reason otherwise."""
    try:
        value = kind(text.strip())
    except ValueError:
        raise ValueError(
            f"{name}: {text!r} is not a {'whole ' if kind is int else ''}number"
        ) from None
    if not math.isfinite(value) or not 0 < value <= high:
        raise ValueError(f"{name}: {text!r} must be in (0, {high:g}]")
    return value


class ExportDialog(ModalScreen[None]):
    """Writes the export in a thread worker; the app shows a notification with the path when done."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Close")]

    class Progressed(Message):
        def __init__(self, done: int, total: int) -> None:
            super().__init__()
            self.done, self.total = done, total

    def __init__(self, run_dir: str | Path) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="export"):
            yield Label(f"Export from {self.run_dir.name}", classes="dialog-title")
            with RadioSet(id="export-kind"):
                yield RadioButton("GIF of the sample history", value=True, id="kind-gif")
                yield RadioButton("PNG grid of the latest samples", id="kind-grid")
            yield Label("Output file (empty: RUN_DIR/exports/…)")
            yield Input(placeholder=str(self.run_dir / "exports"), id="export-path")
            with Horizontal(id="export-numbers"):
                yield Label("fps")
                yield Input("4", id="export-fps")
                yield Label("every Nth grid")
                yield Input("1", id="export-every")
            yield ProgressBar(total=None, show_eta=False, id="export-progress")
            yield Static("", id="export-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export", id="export-go", variant="primary")
                yield Button("Close (esc)", id="export-close")

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False

    def kind(self) -> str:
        return GRID if self.query_one("#kind-grid", RadioButton).value else GIF

    @on(RadioSet.Changed)
    def kind_changed(self) -> None:
        is_gif = self.kind() == GIF
        self.query_one("#export-numbers").display = is_gif

    @on(Button.Pressed, "#export-close")
    def close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#export-go")
    @on(Input.Submitted)
    def start(self) -> None:
        if self.busy:
            return
        status = self.query_one("#export-status", Static)
        try:
            fps = parse_positive(self.query_one("#export-fps", Input).value, float, "fps", 50)
            every = int(
                parse_positive(
                    self.query_one("#export-every", Input).value, int, "every", 1_000_000
                )
            )
        except ValueError as exc:
            status.update(f"[red]{exc}[/]")
            return
        out = self.query_one("#export-path", Input).value.strip() or None
        self.busy = True
        self.query_one("#export-go", Button).disabled = True
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        status.update("writing…")
        self.export(self.kind(), out, fps, every)

    @work(thread=True, exclusive=True, group="export")
    def export(self, kind: str, out: str | None, fps: float, every: int) -> None:
        def progressed(done: int, total: int) -> None:
            self.post_message(self.Progressed(done, total))

        try:
            from core.export import export_gif, export_grid

            if kind == GIF:
                path = export_gif(self.run_dir, out, fps=fps, every=every, progress=progressed)
            else:
                path = export_grid(self.run_dir, out)
            self.post_message(ExportDone(str(path)))
        except (OSError, UserError) as exc:
            self.post_message(ExportDone(None, str(exc)))

    def on_export_dialog_progressed(self, message: Progressed) -> None:
        self.query_one(ProgressBar).update(total=message.total, progress=message.done)

    def on_export_done(self, message: ExportDone) -> None:
        self.busy = False
        self.query_one("#export-go", Button).disabled = False
        bar = self.query_one(ProgressBar)
        status = self.query_one("#export-status", Static)
        if message.path:
            bar.update(total=1, progress=1)
            status.update(f"written: {message.path}")
            self.notify(f"written to {message.path}", title="export done", timeout=10)
        else:
            bar.display = False
            status.update(f"[red]{message.error}[/]")
            self.notify(message.error, title="export failed", severity="error", timeout=10)
