"""A plotext plot of history columns, downsampled to its width and cleaned of undrawable values."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from tui_gan.view.history import MetricHistory
from tui_gan.view.metricnames import LABELS, SHORT, shown_keys
from tui_gan.view.plotdata import Buckets, band_path, bucket_stats, ema

AXIS_COLUMNS = 10  # room plotext takes for the y tick labels
# Where a column stands for many steps, their spread (min to max) is drawn in this dark gray (an
# xterm-256 colour) behind the lines, so a one-step spike stays visible at any zoom.
BAND_COLOR = 240


@dataclass(frozen=True)
class Series:
    """One history column drawn as a line."""

    column: str
    label: str
    color: str
    raw_color: str


class MetricPlot(PlotextPlot):
    """Lines of a MetricHistory; `replot()` rebuilds from the history, bounded by the widget width."""

    def __init__(self, title: str, series: tuple[Series, ...], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.series = series
        self.history = MetricHistory()
        self.log_scale = False
        self.window: int | None = None  # last N steps, or the whole run
        self.smoothing = 0.9
        self.show_raw = True
        self.allow_log = True
        self.points = 0  # points drawn at the last replot (for tests and the bench)
        self.waiting = "waiting for the first steps…"  # shown while there is nothing to draw
        # seconds the last replot and its render took (the dashboard paces plots by it)
        self.cost = 0.0
        self._prepare_s = 0.0
        # bumped by replot(): a render with the same data and size reuses the last one
        self._generation = 0
        self._rendered: tuple[tuple[int, int, int, str], RenderResult] | None = None

    def on_resize(self) -> None:
        self.replot()

    def render(self) -> RenderResult:
        key = (self._generation, self.size.width, self.size.height, self.app.theme)
        if self._rendered is None or self._rendered[0] != key:
            started = time.perf_counter()
            self._rendered = key, super().render()
            self.cost = self._prepare_s + time.perf_counter() - started
        return self._rendered[1]

    def buckets(self) -> int:
        return max(self.size.width - AXIS_COLUMNS, 10)

    def new_figure(self) -> tuple[Any, bool]:
        """plotext, cleared for a new drawing with this plot's title and scale; whether it is log."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        log = self.log_scale and self.allow_log
        plt.yscale("log" if log else "linear")
        return plt, log

    def replot(self) -> None:
        """Redraw from the history: O(history) numpy work plus O(width) points for plotext."""
        started = time.perf_counter()
        plt, log = self.new_figure()
        rows = slice(0, len(self.history))
        if self.window and len(self.history):
            last = self.history.column("step")[-1]
            rows = self.history.since_step(last - self.window + 1)
        steps = self.history.column("step")[rows]
        buckets = self.buckets()
        self.points = self.draw(steps, rows, buckets, log)
        if len(steps):
            # No more labels than fit: plotext drops colliding ones in an order that varies run to run.
            width = len(f"{float(steps[-1]):,.0f}") + 2
            ticks = nice_ticks(
                float(steps[0]), float(steps[-1]), count=max(2, min(4, buckets // width))
            )
            plt.xticks(ticks, [f"{t:,.0f}" for t in ticks])
        if self.points == 0:
            plt.text(self.waiting, 0.5, 0.5, alignment="center")
        self._generation += 1
        self._prepare_s = time.perf_counter() - started
        self.refresh()

    def draw(self, steps: np.ndarray, rows: slice, buckets: int, log: bool) -> int:
        """Plot the series (spread, raw and smoothed) of `rows`; returns the number of points drawn."""
        plt = self.plt
        per_point = max(len(steps) / buckets, 1.0)
        stats = [
            (s, bucket_stats(steps, self.history.column(s.column)[rows], buckets, log=log))
            for s in self.series
        ]
        stats = [(s, b) for s, b in stats if len(b.x)]
        # every spread before any line: one series' band must not cover another's line
        points = sum(self.draw_band(b) for _, b in stats)
        for s, b in stats:
            x, y = b.x, b.mean
            if self.show_raw and self.smoothing > 0:
                plt.plot(x.tolist(), y.tolist(), color=s.raw_color, marker="braille")
            smooth = ema(y, self.smoothing, per_point)
            label = s.label if self.smoothing <= 0 else f"{s.label} (ema)"
            plt.plot(x.tolist(), smooth.tolist(), color=s.color, label=label, marker="braille")
            points += len(x) * (2 if self.show_raw and self.smoothing > 0 else 1)
        return points

    def draw_band(self, b: Buckets) -> int:
        """Each column's min-to-max spread when columns merge points; the points drawn (0: none)."""
        if not b.merged:
            return 0
        xs, ys = band_path(b.x, b.low, b.high)
        self.plt.plot(xs, ys, color=BAND_COLOR, marker="braille")
        return len(xs)

    def describe(self) -> str:
        window = f"last {self.window:,} steps" if self.window else "whole run"
        scale = "log" if self.log_scale and self.allow_log else "linear"
        smooth = f"ema {self.smoothing:g}" if self.smoothing else "raw"
        return f"{window} · {scale} · {smooth}"


class QualityPlot(MetricPlot):
    """One sample-quality metric over steps (unsmoothed: one point per evaluation) and its real-data value."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("metrics", (), id=id)
        self.history = MetricHistory(columns=("step",))
        self.key: str | None = None  # the metric shown; None: the main one of what arrived
        self.reference: dict[str, float] = {}
        self.waiting = "metrics are off (eval_every = 0)"

    def shown_key(self) -> str | None:
        keys = shown_keys(list(self.history.columns[1:]))
        return self.key if self.key in keys else (keys[0] if keys else None)

    def cycle(self) -> str | None:
        """Show the next metric; returns its key."""
        keys = shown_keys(list(self.history.columns[1:]))
        if keys:
            current = self.shown_key()
            self.key = keys[(keys.index(current) + 1) % len(keys)] if current in keys else keys[0]
        return self.key

    def draw(self, steps: np.ndarray, rows: slice, buckets: int, log: bool) -> int:
        key = self.shown_key()
        if key is None:
            return 0
        label = LABELS.get(key, key)
        if self.size.width < 2 * len(label):
            label = SHORT.get(key, key)
        if self.size.width >= 2 * len(label) + 22:
            label += " · gray: real data"
        self.plt.title(label)
        b = bucket_stats(steps, self.history.column(key)[rows], buckets, log=log)
        if not len(b.x):
            return 0
        x, y = b.x, b.mean
        ref = self.reference.get(key)
        if ref is not None and math.isfinite(ref) and (ref > 0 or not log):
            # Two points of a flat line: it draws the real-data value across the plot and into its y range.
            self.plt.plot([float(x[0]), float(x[-1])], [ref, ref], color="gray", marker="braille")
        band = self.draw_band(b)
        self.plt.plot(x.tolist(), y.tolist(), color="yellow", marker="braille")
        return len(x) + band

    def describe(self) -> str:
        return ""


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round step numbers between `low` and `high` for the x axis."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(count + 1) if first + i * step <= high]
