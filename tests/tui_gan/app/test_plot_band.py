"""The dashboard's plots draw each column's spread: a one-step loss spike in a million steps shows."""

from __future__ import annotations

import numpy as np

from tui_gan.app.app import GanApp
from tui_gan.app.widgets.metric_plot import BAND_COLOR, MetricPlot

N, SPIKE_AT, SPIKE = 1_000_000, 654_321, 50.0


def band_cells(plot: MetricPlot) -> list[tuple[int, int]]:
    """(row, column) of every cell drawn in the band's colour."""
    text = plot.render()
    cells = []
    for row, line in enumerate(text.split("\n")):
        for span in line.spans:
            style = span.style
            color = getattr(style, "color", None)
            if color is not None and color.number == BAND_COLOR:
                cells += [
                    (row, col) for col in range(span.start, span.end) if line.plain[col].strip()
                ]
    return cells


def y_labels(plot: MetricPlot) -> list[float]:
    """The numbers on the y axis (the left columns of each row)."""
    values = []
    for line in plot.render().plain.splitlines():
        head, tick, _ = line.partition("┤")
        try:
            values.append(float(head))
        except ValueError:
            pass
    return values


async def test_the_loss_plot_shows_a_spike_a_column_mean_would_hide(session):
    app = GanApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        app.poll()
        await pilot.pause()
        plot = app.query_one("#loss-plot", MetricPlot)
        rows = np.ones((N, 5))
        rows[:, 0] = np.arange(1, N + 1)
        rows[SPIKE_AT, 1] = SPIKE  # loss_d spikes once
        app.view.history.clear()
        app.view.history.extend(rows)
        plot.replot()
        cells = band_cells(plot)
        assert cells, "no band drawn"
        # the y axis reaches the spike, and the band rises to the top rows of the plot there
        assert max(y_labels(plot)) >= SPIKE  # a mean-only plot would end near 1.0
        top = min(r for r, _ in cells)
        assert top <= 3
        spike_cols = {c for r, c in cells if r == top}
        width = plot.size.width
        # the spike sits about 65 % of the way along the x axis
        assert all(0.5 * width < c < 0.8 * width for c in spike_cols), (spike_cols, width)

        # no spread where every column is one step: few points draw no band
        app.view.history.clear()
        app.view.history.extend(rows[:50])
        plot.replot()
        assert band_cells(plot) == []
