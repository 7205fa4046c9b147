"""Epoch and step bars, speed, elapsed time, ETA and the hyperparameters in force."""

from __future__ import annotations

import math

from rich.console import Console, ConsoleOptions, ConsoleRenderable, Group, RenderResult
from rich.text import Text
from textual.widgets import Static

from core import events as ev
from tui_gan.view.runview import RunView, format_duration, format_number

BAR_DONE, BAR_FINISHED, BAR_BACK = "rgb(249,38,114)", "rgb(114,156,31)", "grey30"
STARTING_TEXT = "loading data and building models"


class BarRow:
    """`label ━━━━━━━──── right` filling the width it is given (a one-line, cheap stand-in for a table)."""

    def __init__(self, label: str, done: float, total: float, right: str) -> None:
        self.label, self.right = label, right
        self.fraction = min(max(done / total, 0.0), 1.0) if total > 0 else 0.0

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(options.max_width - 6 - len(self.right) - 1, 1)
        filled = round(width * self.fraction)
        yield Text.assemble(
            (f"{self.label:<5} ", "bold"),
            ("━" * filled, BAR_FINISHED if self.fraction >= 1 else BAR_DONE),
            ("━" * (width - filled), BAR_BACK),
            " " + self.right,
            no_wrap=True,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BarRow) and (self.label, self.right, self.fraction) == (
            other.label,
            other.right,
            other.fraction,
        )


def _value(value: float | None, digits: str = ".4f") -> str:
    if value is None:
        return "--"
    return format(value, digits) if math.isfinite(value) else str(value)


class ProgressPanel(Static):
    """Progress of the run; `update_from(view)` redraws it, and only when what it shows changed."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.device_line = ""
        self._shown: list[ConsoleRenderable] = []

    def lines(self, view: RunView) -> list[ConsoleRenderable]:
        """What the panel shows, one renderable a line."""
        spe = view.steps_per_epoch or 1
        if view.planned_steps:
            epoch_now = min(view.epoch or 1, max(view.epochs, 1))
            batch = view.batch if view.step else 0
            epochs, steps = f"{epoch_now}/{view.epochs}", f"{view.step:,}/{view.planned_steps:,}"
            right = max(len(epochs), len(steps))  # both bars end in the same column
            bars: list[ConsoleRenderable] = [
                BarRow("epoch", batch, spe, epochs.rjust(right)),
                BarRow("step", view.step, view.planned_steps, steps.rjust(right)),
            ]
        else:
            # while starting, what it is doing ("decoding 1,200 / 5,000 images")
            doing = view.reason if view.state == ev.STARTING and view.reason else STARTING_TEXT
            bars = [Text(f"{doing}…", style="italic")]
        c = view.config
        rate = f"{view.img_per_s:,.0f} img/s" if view.img_per_s else "-- img/s"
        rows = [
            Text.assemble(
                (rate, "bold"),
                f"  {format_duration(view.elapsed)} · ETA {format_duration(view.eta)}",
            ),
            Text.assemble(("loss  ", "bold"), f"D {_value(view.loss_d)}  G {_value(view.loss_g)}"),
            Text.assemble(
                ("lr    ", "bold"), f"G {format_number(view.lr_g)}  D {format_number(view.lr_d)}"
            ),
            Text.assemble(
                ("betas ", "bold"),
                f"{format_number(c.get('beta1', '--'))} / {format_number(c.get('beta2', '--'))}",
            ),
            Text.assemble(
                ("every ", "bold"),
                f"sample {c.get('sample_every', '--')} · "
                f"ckpt {c.get('checkpoint_every', '--')}"
                + (f" · eval {c['eval_every']}" if c.get("eval_every") else ""),
            ),
        ]
        if self.device_line:
            rows.append(Text(self.device_line, style="dim"))
        for row in rows:  # one row each, so the height changes only with the line count
            row.no_wrap, row.overflow = True, "ellipsis"
        lines: list[ConsoleRenderable] = [*bars, *rows]
        hint = view.next_step_hint()
        if hint:
            lines.append(Text(hint, style="bold"))
        return lines

    def update_from(self, view: RunView) -> None:
        lines = self.lines(view)
        if lines == self._shown:
            return
        # A layout pass only when the panel grows or shrinks: at ten updates a second it is most of the cost.
        relayout = len(lines) != len(self._shown) or lines[-1] != self._shown[-1]
        self._shown = lines
        self.update(Group(*lines), layout=relayout)
