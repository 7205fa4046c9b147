"""The dashboard: header, loss and D plots, samples, progress and alerts of the current run."""

from __future__ import annotations

import time
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static

from core import events as ev
from tui_gan.app.widgets.alerts_log import AlertsLog
from tui_gan.app.widgets.metric_plot import MetricPlot, QualityPlot, Series
from tui_gan.app.widgets.metrics_table import MetricsTable
from tui_gan.app.widgets.progress_panel import ProgressPanel
from tui_gan.app.widgets.run_header import RunHeader
from tui_gan.app.widgets.sample_image import SampleImage
from tui_gan.view.gpu import device_summary
from tui_gan.view.plotdata import SMOOTHING_STEPS
from tui_gan.view.runview import HEADER, HPARAMS, LOG, METRICS, PLOTS, PROGRESS, SAMPLES, RunView

LOSS_SERIES = (
    Series("loss_d", "Loss_D", "orange", "gray"),
    Series("loss_g", "Loss_G", "cyan", "gray"),
)
D_SERIES = (
    Series("d_x", "D(x)", "green", "gray"),
    Series("d_g_z", "D(G(z))", "magenta", "gray"),
)
WINDOWS = (None, 1_000, 10_000, 100_000)
GPU_INTERVAL_S = 2.0
HISTORY_HINT = "· g history"
SIDE_TEXT = 30  # columns of text in the side pane (32 wide, its border and centring)
# Plots are the costly part of a frame (plotext builds every cell in Python): redraw them at most once
# a second, and less often when drawing them takes long, so they use at most PLOT_BUDGET of one core.
PLOT_INTERVAL_S = 1.0
PLOT_BUDGET = 0.02
# Step counters, speed and losses: four updates a second read as live; state changes show at once.
PROGRESS_INTERVAL_S = 0.25
# Alert levels with a toast of their own severity; any other level toasts as information.
TOAST_SEVERITY: dict[str, SeverityLevel] = {"warning": "warning", "error": "error"}


class DashboardScreen(Screen[None]):
    """Everything about the run on one screen, readable at 80×24."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "app.toggle_pause", "Pause"),
        Binding("h", "app.hyperparams", "Hparams"),
        Binding("c", "app.checkpoints", "Ckpts"),
        Binding("e", "app.export", "Export"),
        Binding("r", "app.compare", "Compare", show=False),
        Binding("s", "app.save_checkpoint", "Save"),
        Binding("n", "app.sample_now", "Sample"),
        Binding("g", "app.sample_history", "Grids", show=False),
        Binding("l", "log_scale", "Log"),
        Binding("w", "window", "Window", show=False),
        Binding("m", "cycle_metric", "Metric", show=False),
        Binding("plus,equals_sign", "smoothing(1)", "Smooth+", show=False),
        Binding("minus", "smoothing(-1)", "Smooth-", show=False),
        Binding("q", "app.request_quit", "Quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view = RunView()
        self._log_seen = 0
        self._plots_dirty = False
        self._next_plot_at = 0.0
        self._progress_dirty = False
        self._next_progress_at = 0.0
        self._gpu_timer: Timer | None = None
        self.ready = False
        self._pending: set[str] = set()

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with Horizontal(id="body"):
            with Vertical(id="plots"):
                yield MetricPlot("Loss_D / Loss_G", LOSS_SERIES, id="loss-plot")
                with Horizontal(id="lower-plots"):
                    yield MetricPlot("D(x) / D(G(z))", D_SERIES, id="d-plot")
                    yield QualityPlot(id="quality-plot")  # shown once the run computes metrics
                yield Static(id="plot-status")
            with Vertical(id="side"):
                yield SampleImage(id="samples")
                yield Static(id="samples-caption")
                yield ProgressPanel(id="progress")
                yield MetricsTable(id="metrics-table")
        yield AlertsLog(id="log")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        # The default screen may get its Mount before its children are attached; draw once they are.
        self.call_after_refresh(self._ready)

    def _ready(self) -> None:
        if not self.query("#d-plot"):
            self.call_after_refresh(self._ready)
            return
        self.query_one(
            "#d-plot", MetricPlot
        ).allow_log = False  # probabilities: a log axis hides what matters
        self.ready = True
        self.redraw({HEADER, PROGRESS, SAMPLES, LOG, PLOTS, METRICS} | self._pending)
        self.replot()

    # -- feeding -------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the previous run (after resuming from a checkpoint)."""
        self.view = RunView()
        self._log_seen = 0
        self.query_one(AlertsLog).clear()
        self.redraw({HEADER, PROGRESS, SAMPLES, PLOTS, METRICS})
        self.replot()

    def ingest(self, events: list[ev.Event]) -> None:
        """Fold new events in and redraw only the parts they changed."""
        if not events:
            if self._plots_dirty or self._progress_dirty:
                self.redraw(set())
            return
        self.redraw(self.view.apply(events))

    def redraw(self, parts: set[str]) -> None:
        if not self.ready:
            self._pending |= parts
            return
        view = self.view
        if HEADER in parts:
            self.query_one(RunHeader).update_from(view)
            self.sub_title = view.state
            # the timer keeps the line fresh
            if view.device.startswith("cuda") and self._gpu_timer is None:
                self._gpu_timer = self.set_interval(GPU_INTERVAL_S, self.refresh_gpu)
                self.refresh_gpu()
            elif view.device and self._gpu_timer is None:  # no NVML off CUDA: cheap, done here
                summary = device_summary(view.device)  # plain "CPU" is in the header already
                self.query_one(ProgressPanel).device_line = "" if summary == "CPU" else summary
                parts = parts | {PROGRESS}
        if PROGRESS in parts:
            self._progress_dirty = True
        now = time.monotonic()
        if self._progress_dirty and (
            now >= self._next_progress_at or not parts <= {PROGRESS, PLOTS}
        ):
            self._progress_dirty = False
            self._next_progress_at = now + PROGRESS_INTERVAL_S
            self.query_one(ProgressPanel).update_from(view)
        if SAMPLES in parts:
            self.query_one(SampleImage).show(
                view.sample_path, tile=view.grid_tile, message="waiting for the first samples"
            )
            caption = f"samples at step {view.sample_step:,}" if view.sample_path else ""
            if caption and len(caption) + len(HISTORY_HINT) <= SIDE_TEXT:
                caption += f" [dim]{HISTORY_HINT}[/]"  # the footer has no room left for the key
            self.query_one("#samples-caption", Static).update(
                caption, layout=False
            )  # one fixed row
        if LOG in parts:
            lines = view.log_since(self._log_seen)
            self._log_seen = view.log_total
            self.query_one(AlertsLog).add_lines(lines)
            for line in lines:
                if line.notify:
                    self.notify(
                        line.text, severity=TOAST_SEVERITY.get(line.level, "information"), timeout=6
                    )
        if METRICS in parts or HPARAMS in parts:
            self.show_metrics()
        if PLOTS in parts or METRICS in parts:
            self._plots_dirty = True
        # Hidden behind another screen the plots wait; on_screen_resume draws them when they show again.
        if (
            self._plots_dirty
            and self.is_current
            and (time.monotonic() >= self._next_plot_at or view.final)
        ):
            self.replot()

    def on_screen_resume(self) -> None:
        if self.ready and self._plots_dirty:
            self.replot()

    def refresh_gpu(self) -> None:
        """Query NVML in a thread worker (it can block for long on a busy GPU), then show the line."""
        device, uuid = self.view.device, self.view.device_uuid
        self.run_worker(
            lambda: self._gpu_line(device_summary(device, uuid)),
            thread=True,
            group="gpu",
            exclusive=True,
            exit_on_error=False,
        )

    def _gpu_line(self, line: str) -> None:
        self.app.call_from_thread(self._show_gpu_line, line)

    def _show_gpu_line(self, line: str) -> None:
        self.query_one(ProgressPanel).device_line = line
        self.query_one(ProgressPanel).update_from(self.view)

    def replot(self) -> None:
        if not self.ready:
            return
        self._plots_dirty = False
        plots = list(self.query(MetricPlot))
        if len(
            self.view.history
        ):  # the first points show at once, later ones paced by what plots cost
            cost = sum(plot.cost for plot in plots)
            self._next_plot_at = time.monotonic() + max(PLOT_INTERVAL_S, cost / PLOT_BUDGET)
        quality = self.query_one(QualityPlot)
        quality.history, quality.reference = self.view.metrics, self.view.metrics_reference
        for plot in plots:
            if plot is not quality:
                plot.history = self.view.history
            plot.replot()
        loss = self.query_one("#loss-plot", MetricPlot)
        keys = "l log · w window · +/- smoothing" + (
            " · m metric" if self.has_class("metrics") else ""
        )
        self.query_one("#plot-status", Static).update(
            f"{loss.describe()}  [dim]{keys}[/]", layout=False
        )  # one row

    def show_metrics(self) -> None:
        """The metrics plot and table appear while the run computes metrics (or has computed some)."""
        view = self.view
        on = bool(view.eval_every or len(view.metrics) or view.metrics_note)
        if on != self.has_class("metrics"):
            self.set_class(on, "metrics")
        quality = self.query_one(QualityPlot)
        if view.metrics_note and not len(view.metrics):
            quality.waiting = "no metrics: see the log"
        elif view.eval_every:
            quality.waiting = f"metrics every {view.eval_every:,} steps…"
        else:
            quality.waiting = "metrics are off (eval_every = 0)"
        self.query_one(MetricsTable).update_from(
            view.metrics_values, view.metrics_reference, view.metrics_step
        )

    # -- plot actions ------------------------------------------------------------------------------

    def action_log_scale(self) -> None:
        for plot in self.query(MetricPlot):
            plot.log_scale = not plot.log_scale
        self.replot()

    def action_window(self) -> None:
        loss = self.query_one("#loss-plot", MetricPlot)
        index = WINDOWS.index(loss.window) if loss.window in WINDOWS else 0
        for plot in self.query(MetricPlot):
            plot.window = WINDOWS[(index + 1) % len(WINDOWS)]
        self.replot()

    def action_cycle_metric(self) -> None:
        """Plot the next sample-quality metric."""
        quality = self.query_one(QualityPlot)
        if quality.cycle() is None:
            self.notify(
                "no metrics yet: set eval_every (h) to compute them during training", timeout=4
            )
            return
        self.replot()

    def action_smoothing(self, direction: int) -> None:
        loss = self.query_one("#loss-plot", MetricPlot)
        current = min(
            range(len(SMOOTHING_STEPS)), key=lambda i: abs(SMOOTHING_STEPS[i] - loss.smoothing)
        )
        new = SMOOTHING_STEPS[max(0, min(len(SMOOTHING_STEPS) - 1, current + direction))]
        for plot in self.query(MetricPlot):
            plot.smoothing = new
        self.replot()
