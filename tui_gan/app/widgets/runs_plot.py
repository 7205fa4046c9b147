"""One column of several runs' histories on shared axes, a colour per run (the compare screen)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from tui_gan.app.widgets.metric_plot import MetricPlot, nice_ticks
from tui_gan.view.history import MetricHistory
from tui_gan.view.metricnames import LABELS, SHORT, direction, shown_keys
from tui_gan.view.plotdata import bucket_stats, ema


@dataclass(frozen=True)
class PlotRun:
    """One run's line: its history and the colour that names it in the legend and the table."""

    name: str
    color: str
    history: MetricHistory


class RunsPlot(MetricPlot):
    """`column` of each run, downsampled and smoothed as on the dashboard, on one x axis of steps.

    The window (last N steps) counts back from the furthest run, so runs at different steps line up.
    """

    def __init__(self, title: str, column: str, *, id: str | None = None) -> None:
        super().__init__(title, (), id=id)
        self.column = column
        self.runs: list[PlotRun] = []
        self.show_raw = False  # several runs: raw lines under each smoothed one would hide them

    def _rows(self, history: MetricHistory, last: float) -> slice:
        if self.window:
            return history.since_step(last - self.window + 1)
        return slice(0, len(history))

    def replot(self) -> None:
        """Redraw every run from its history: O(history) numpy work, O(width) points per run."""
        started = time.perf_counter()
        plt, log = self.new_figure()
        drawn = [r for r in self.runs if self.column in r.history.columns and len(r.history)]
        last = max((float(r.history.column("step")[-1]) for r in drawn), default=0.0)
        buckets = self.buckets()
        self.points, low, high = 0, float("inf"), float("-inf")
        stats = []
        for run in drawn:
            rows = self._rows(run.history, last)
            steps = run.history.column("step")[rows]
            if not len(steps):
                continue
            low, high = min(low, float(steps[0])), max(high, float(steps[-1]))
            b = bucket_stats(steps, run.history.column(self.column)[rows], buckets, log=log)
            if len(b.x):
                stats.append((run, b, max(len(steps) / buckets, 1.0)))
        # every run's spread before any line: a band never covers another run's line
        self.points += sum(self.draw_band(b) for _, b, _ in stats)
        for run, b, per_point in stats:
            y = self.line(b.mean, per_point)
            self.plt.plot(b.x.tolist(), y.tolist(), color=run.color, marker="braille")
            self.points += len(b.x)
        if self.points:
            width = len(f"{high:,.0f}") + 2
            ticks = nice_ticks(low, high, count=max(2, min(4, buckets // width)))
            plt.xticks(ticks, [f"{t:,.0f}" for t in ticks])
        else:
            plt.text(self.waiting, 0.5, 0.5, alignment="center")
        self._generation += 1
        self._prepare_s = time.perf_counter() - started
        self.refresh()

    def line(self, means: np.ndarray, per_point: float) -> np.ndarray:
        """A run's line from its column means: smoothed as the dashboard smooths its losses."""
        return ema(means, self.smoothing, per_point)


class RunsMetricPlot(RunsPlot):
    """One sample-quality metric of each run, one point per evaluation, drawn as computed (`m` cycles)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("metrics", "", id=id)
        self.key: str | None = None  # the metric shown; None: the main one of what arrived
        self.waiting = "no run computed metrics (eval_every = 0)"

    def keys(self) -> list[str]:
        found: list[str] = []
        for run in self.runs:
            found += [k for k in run.history.columns[1:] if k not in found]
        return shown_keys(found)

    def cycle(self) -> str | None:
        """Show the next metric; returns its key (None when no run has metrics)."""
        keys = self.keys()
        if keys:
            current = self.column if self.column in keys else None
            self.key = keys[(keys.index(current) + 1) % len(keys)] if current else keys[0]
        return self.key

    def replot(self) -> None:
        keys = self.keys()
        self.column = self.key if self.key in keys else (keys[0] if keys else "")
        if self.column:
            label = LABELS.get(self.column, self.column)
            arrow = {1: " ↑ better", -1: " ↓ better"}.get(direction(self.column), "")
            if self.size.width < len(label) + len(arrow) + 4:
                label = SHORT.get(self.column, self.column)
            self.title = label + arrow
        super().replot()

    def line(self, means: np.ndarray, per_point: float) -> np.ndarray:
        """Metrics are drawn as computed, one point per evaluation."""
        return means

    def describe(self) -> str:
        return ""
