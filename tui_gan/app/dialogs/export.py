"""The export dialog: a GIF of the run's sample history, its latest PNG grid, or new samples
from its newest checkpoint (truncated, or walks through the noise), with progress."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    ProgressBar,
    RadioButton,
    RadioSet,
    Static,
)

from core.errors import UserError
from tui_gan.app.messages import ExportDone

GIF, GRID, NEW = "gif", "grid", "new"


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


def parse_noise(rows_text: str, psi_text: str, gif: bool) -> tuple[int | None, float | None]:
    """(interpolation rows, truncation ψ) from form text, each None when left empty; ValueError
    with core's one-line reason otherwise."""
    from core.errors import UsageError
    from core.export import MAX_ROWS, check_interpolation, check_truncation

    rows = None
    if rows_text.strip():
        rows = int(parse_positive(rows_text, int, "interpolate rows", MAX_ROWS))
    elif gif:
        raise ValueError("a GIF along the path needs a number of interpolate rows")
    psi = None
    if psi_text.strip():
        try:
            psi = float(psi_text.strip())
        except ValueError:
            raise ValueError(f"truncation: {psi_text!r} is not a number") from None
    try:
        check_truncation(psi)
        if rows is not None:
            check_interpolation(rows, gif=gif)
    except UsageError as exc:
        raise ValueError(str(exc)) from None
    return rows, psi


@dataclass(frozen=True)
class Noise:
    """What the dialog asked of new samples: walks (`rows`, as a GIF or not) and truncation."""

    rows: int | None
    truncation: float | None
    gif: bool

    def draw(self, run_dir: Path, out: str | None, named: Mapping[str, str]) -> Path:
        """Draw them from the run's newest checkpoint on the CPU (a GPU may be training); a plug-in
        model only when the user `named` it."""
        from core.checkpoints import resolve_checkpoint
        from core.export import interpolate_from_checkpoint, sample_from_checkpoint

        checkpoint = resolve_checkpoint(run_dir)
        if self.rows is None:
            return sample_from_checkpoint(
                checkpoint, out=out, truncation=self.truncation, named=named
            )
        return interpolate_from_checkpoint(
            checkpoint, self.rows, truncation=self.truncation, gif=self.gif, out=out, named=named
        )


class ExportDialog(ModalScreen[None]):
    """Writes the export in a thread worker; the app shows a notification with the path when done."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Close")]

    class Progressed(Message):
        def __init__(self, done: int, total: int) -> None:
            super().__init__()
            self.done, self.total = done, total

    def __init__(self, run_dir: str | Path, named: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.named = dict(named or {})  # plug-ins the user named: new samples may load those
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="export"):
            yield Label(f"Export from {self.run_dir.name}", classes="dialog-title")
            with RadioSet(id="export-kind"):
                yield RadioButton("GIF of the sample history", value=True, id="kind-gif")
                yield RadioButton("PNG grid of the latest samples", id="kind-grid")
                yield RadioButton("New samples from the newest checkpoint", id="kind-new")
            yield Label("Output file (empty: RUN_DIR/exports/…)")
            yield Input(placeholder=str(self.run_dir / "exports"), id="export-path")
            with Horizontal(id="export-numbers"):
                yield Label("fps")
                yield Input("4", id="export-fps")
                yield Label("every Nth grid")
                yield Input("1", id="export-every")
            with Horizontal(id="export-noise"):
                yield Label("interpolate rows")
                yield Input(placeholder="none", id="export-interpolate")
                yield Label("truncation ψ")
                yield Input(placeholder="none", id="export-truncation")
                yield Checkbox("GIF", id="export-walk-gif")
            yield ProgressBar(total=None, show_eta=False, id="export-progress")
            yield Static("", id="export-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Export", id="export-go", variant="primary")
                yield Button("Close (esc)", id="export-close")

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False
        self.query_one("#export-noise").display = False

    def kind(self) -> str:
        if self.query_one("#kind-new", RadioButton).value:
            return NEW
        return GRID if self.query_one("#kind-grid", RadioButton).value else GIF

    @on(RadioSet.Changed)
    def kind_changed(self) -> None:
        kind = self.kind()
        self.query_one("#export-numbers").display = kind == GIF
        self.query_one("#export-noise").display = kind == NEW

    @on(Button.Pressed, "#export-close")
    def close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#export-go")
    @on(Input.Submitted)
    def start(self) -> None:
        if self.busy:
            return
        status = self.query_one("#export-status", Static)
        kind = self.kind()
        fps, every, rows, psi = 4.0, 1, None, None
        walk_gif = self.query_one("#export-walk-gif", Checkbox).value
        try:
            if kind == GIF:  # the other kinds hide these fields: their text is not theirs to judge
                fps = parse_positive(self.query_one("#export-fps", Input).value, float, "fps", 50)
                every = int(
                    parse_positive(
                        self.query_one("#export-every", Input).value, int, "every", 1_000_000
                    )
                )
            elif kind == NEW:
                rows, psi = parse_noise(
                    self.query_one("#export-interpolate", Input).value,
                    self.query_one("#export-truncation", Input).value,
                    walk_gif,
                )
        except ValueError as exc:
            status.update(Text(str(exc), style="red"))  # Text: a bracket in the input is no markup
            return
        out = self.query_one("#export-path", Input).value.strip() or None
        self.busy = True
        self.query_one("#export-go", Button).disabled = True
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        status.update("writing…")
        self.export(kind, out, fps, every, Noise(rows, psi, walk_gif))

    @work(thread=True, exclusive=True, group="export")
    def export(self, kind: str, out: str | None, fps: float, every: int, noise: Noise) -> None:
        def progressed(done: int, total: int) -> None:
            self.post_message(self.Progressed(done, total))

        try:
            from core.export import export_gif, export_grid

            if kind == GIF:
                path = export_gif(self.run_dir, out, fps=fps, every=every, progress=progressed)
            elif kind == NEW:
                path = noise.draw(self.run_dir, out, self.named)
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
