"""Epoch and step bars, speed, elapsed time, ETA and the hyperparameters in force."""

from __future__ import annotations

import math

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui_gan.runview import RunView, format_duration, format_number


def _bar(done: float, total: float) -> ProgressBar:
    return ProgressBar(total=max(total, 1), completed=min(done, max(total, 1)), width=None)


def _value(value: float | None, digits: str = ".4f") -> str:
    if value is None:
        return "--"
    return format(value, digits) if math.isfinite(value) else str(value)


class ProgressPanel(Static):
    """Progress of the run; `update_from(view)` redraws it."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.device_line = ""

    def update_from(self, view: RunView) -> None:
        grid = Table.grid(expand=True, padding=(0, 1))
        grid.add_column(width=5, style="bold")
        grid.add_column(ratio=1)
        grid.add_column(justify="right", no_wrap=True)
        spe = view.steps_per_epoch or 1
        if view.planned_steps:
            epoch_now = min(view.epoch or 1, max(view.epochs, 1))
            batch = view.batch if view.step else 0
            grid.add_row("epoch", _bar(batch, spe), f"{epoch_now}/{view.epochs}")
            grid.add_row("step", _bar(view.step, view.planned_steps), f"{view.step:,}/{view.planned_steps:,}")
        else:
            grid.add_row("", Text("loading data and building models…", style="italic"), "")
        c = view.config
        rate = f"{view.img_per_s:,.0f} img/s" if view.img_per_s else "-- img/s"
        lines = [
            grid,
            Text.assemble((rate, "bold"), f"  {format_duration(view.elapsed)} · ETA {format_duration(view.eta)}"),
            Text.assemble(("loss  ", "bold"), f"D {_value(view.loss_d)}  G {_value(view.loss_g)}"),
            Text.assemble(("lr    ", "bold"), f"G {format_number(view.lr_g)}  D {format_number(view.lr_d)}"),
            Text.assemble(("betas ", "bold"), f"{format_number(c.get('beta1', '--'))} / "
                                              f"{format_number(c.get('beta2', '--'))}"),
            Text.assemble(("every ", "bold"), f"sample {c.get('sample_every', '--')} · "
                                              f"ckpt {c.get('checkpoint_every', '--')}"),
        ]
        if self.device_line:
            lines.append(Text(self.device_line, style="dim"))
        hint = view.next_step_hint()
        if hint:
            lines.append(Text(hint, style="bold"))
        self.update(Group(*lines))
