"""The latest sample-quality metrics beside the same metrics on real data, in a few rows."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tui_gan.view.metricnames import SHORT, beside_reference, format_metric, shown_keys


class MetricsTable(Static):
    """A heading row of metric names, then `now` (generated) and `real` rows; redrawn only when they change."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.shown: tuple[object, ...] = ()

    def update_from(self, values: dict[str, float], reference: dict[str, float], step: int) -> None:
        key = (tuple(values.items()), tuple(reference.items()), step)
        if key == self.shown:
            return
        self.shown = key
        if not values:
            self.update(Text("metrics: none yet", style="dim"))
            return
        keys = shown_keys(values)
        grid = Table.grid(expand=True, padding=(0, 1))
        grid.add_column(no_wrap=True, style="bold")
        for _ in keys:
            grid.add_column(justify="right", no_wrap=True, overflow="ellipsis")
        grid.add_row(
            Text(f"@{step:,}", style="dim"), *(Text(SHORT.get(k, k), style="bold") for k in keys)
        )
        grid.add_row("now", *(format_metric(k, values[k], values) for k in keys))
        grid.add_row("real", *(format_metric(k, reference.get(k), reference) for k in keys))
        self.tooltip = "\n".join(beside_reference(k, values, reference) for k in keys)
        self.update(grid)
