"""The dashboard's plots draw each column's spread: a one-step loss spike in a million steps shows."""

from __future__ import annotations

from collections import Counter

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


async def test_one_series_band_never_covers_the_other_series_line(session):
    """Loss_G swings between 0.5 and 3.5 every step, so its spread spans Loss_D's flat line at
    1.0: every band is drawn before any line, and both lines show across the whole plot."""
    app = GanApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        app.poll()
        await pilot.pause()
        plot = app.query_one("#loss-plot", MetricPlot)
        n = 100_000
        rows = np.ones((n, 5))
        rows[:, 0] = np.arange(1, n + 1)
        rows[:, 2] = 2.0 + np.where(np.arange(n) % 2, 1.5, -1.5)
        app.view.history.clear()
        app.view.history.extend(rows)
        plot.replot()
        assert band_cells(plot)
        lines = Counter()  # cells of each line colour (the band's and the raw lines' excluded)
        for line in plot.render().split("\n"):
            for span in line.spans:
                color = getattr(span.style, "color", None)
                if color is not None and color.number not in (None, BAND_COLOR):
                    lines[color.number] += span.end - span.start
        assert len(lines) == 2, lines
        assert min(lines.values()) >= 0.8 * max(lines.values()), lines
