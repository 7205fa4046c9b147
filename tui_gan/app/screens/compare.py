"""The compare screen: several runs' smoothed curves on shared axes and a table of how they stand."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from core import events as ev
from core.control import ControlError
from core.errors import UserError
from core.rundir import CRASHED
from core.runs import UNREADABLE, list_runs, summarize
from tui_gan.app.logsession import LogSession
from tui_gan.app.remote import RemoteSession
from tui_gan.app.session import Session
from tui_gan.app.widgets.metric_plot import MetricPlot
from tui_gan.app.widgets.runs_plot import PlotRun, RunsMetricPlot, RunsPlot
from tui_gan.view.compare import CompareRow, CompareTable, colour_of, compare_table
from tui_gan.view.plotdata import SMOOTHING_STEPS
from tui_gan.view.runview import RunView

POLL_INTERVAL_S = 0.25
# How often the folders given as roots are listed for new runs.
ROOT_SCAN_S = 5.0
# Step events a live run's socket may deliver between two polls: its history is replayed at up to
# 32 MB/s (about 25,000 steps a poll), and compare, unlike the dashboard, must not skip any of it.
MAX_PENDING_STEPS = 1_000_000
# Plots and table are redrawn at most this often, and less often when the plots take long to draw.
REDRAW_INTERVAL_S = 1.0
PLOT_BUDGET = 0.02
WINDOWS = (None, 1_000, 10_000, 100_000)
STATE_STYLES = {
    "running": "green",
    "paused": "yellow",
    "crashed": "bold red",
    "failed": "red",
    "finished": "cyan",
}


def open_session(run_dir: Path) -> Session:
    """A live run through its control socket; any other (or one that refuses) from its event log."""
    if summarize(run_dir).attachable:
        try:
            return RemoteSession(run_dir, max_steps=MAX_PENDING_STEPS)
        except (ControlError, OSError):
            pass  # it ended between the look and the connect, or is full: its log still tells all
    return LogSession(run_dir)


class ComparedRun:
    """One run on the compare screen: its session, what its events say, and its colour."""

    def __init__(self, path: Path, index: int) -> None:
        self.path = path
        self.name = path.name
        self.plot_color, self.text_color = colour_of(index)
        self.view = RunView()
        self.session: Session | None = None  # opened in a worker: a socket's hello can take seconds

    @property
    def state(self) -> str:
        """The session's state; `crashed` when it is gone before a final state."""
        if self.session is None:
            return "opening"
        state = self.session.state or self.view.state
        if state not in ev.FINAL_STATES and not self.session.alive:
            if isinstance(self.session, LogSession) and not self.session.caught_up:
                return "reading"
            return CRASHED
        return state


class CompareScreen(Screen[None]):
    """Runs side by side: Loss_D, Loss_G and a sample-quality metric of each, and the table."""

    DEFAULT_CSS = """
    CompareScreen #compare-title { height: 1; background: $panel; padding: 0 1; text-style: bold; }
    CompareScreen #compare-plots { height: 1fr; min-height: 8; }
    CompareScreen #compare-losses { width: 1fr; }
    CompareScreen #compare-losses MetricPlot { height: 1fr; }
    CompareScreen #compare-metric { width: 1fr; display: none; }
    CompareScreen.metrics #compare-metric { display: block; }
    CompareScreen #compare-legend { height: 1; padding: 0 1; }
    CompareScreen #compare-status { height: 1; color: $text-muted; padding: 0 1; }
    CompareScreen #compare-table { height: auto; max-height: 12; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "log_scale", "Log"),
        Binding("w", "window", "Window"),
        Binding("m", "cycle_metric", "Metric"),
        Binding("plus,equals_sign", "smoothing(1)", "Smooth+", show=False),
        Binding("minus", "smoothing(-1)", "Smooth-", show=False),
        Binding("q,escape", "close", "Back"),
    ]

    def __init__(
        self, run_dirs: list[Path], *, title: str = "", roots: list[Path] | None = None
    ) -> None:
        super().__init__()
        self.runs = [ComparedRun(Path(p), i) for i, p in enumerate(run_dirs)]
        self.roots = list(roots or [])  # folders whose new runs join the comparison
        self.heading = title or f"compare {len(self.runs)} runs"
        self._dirty = True
        self._next_draw_at = 0.0
        self.ready = False

    def compose(self) -> ComposeResult:
        yield Static(self.heading, id="compare-title")
        with Horizontal(id="compare-plots"):
            with Vertical(id="compare-losses"):
                yield RunsPlot("Loss_D", "loss_d", id="compare-loss-d")
                yield RunsPlot("Loss_G", "loss_g", id="compare-loss-g")
            yield RunsMetricPlot(id="compare-metric")
        yield Static(id="compare-legend")
        yield Static(id="compare-status")
        yield DataTable(id="compare-table", cursor_type="none", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        for run in self.runs:
            self.run_worker(
                lambda run=run: self._open(run),
                thread=True,
                group="compare-open",
                exit_on_error=False,
            )
        self.set_interval(POLL_INTERVAL_S, self.poll)
        if self.roots:
            self.set_interval(ROOT_SCAN_S, self.scan_roots)
        self.ready = True
        self.redraw()

    def scan_roots(self) -> None:
        """Look for runs started under the roots since the screen opened (in a thread: a big root
        takes a while to list)."""
        self.run_worker(self._scan, thread=True, group="compare-scan", exclusive=True)

    def _scan(self) -> None:
        found = []
        for root in self.roots:
            try:
                found += [r.path for r in list_runs(root) if r.state != UNREADABLE]
            except UserError:
                continue  # the root went away: the runs already shown stay
        self.app.call_from_thread(self.add_runs, found)

    def add_runs(self, paths: list[Path]) -> None:
        """Compare these runs too (those already shown are left as they are)."""
        known = {r.path.resolve() for r in self.runs}
        for path in paths:
            if path.resolve() in known:
                continue
            run = ComparedRun(path, len(self.runs))
            self.runs.append(run)
            known.add(path.resolve())
            self.run_worker(
                lambda run=run: self._open(run),
                thread=True,
                group="compare-open",
                exit_on_error=False,
            )
        self.heading = re.sub(r"^compare \d+ runs", f"compare {len(self.runs)} runs", self.heading)
        self.query_one("#compare-title", Static).update(self.heading)

    def _open(self, run: ComparedRun) -> None:
        session = open_session(run.path)
        self.app.call_from_thread(self._opened, run, session)

    def _opened(self, run: ComparedRun, session: Session) -> None:
        if not self.is_attached:  # the screen closed while the socket was answering
            session.close(timeout=0)
            return
        run.session = session
        self.poll()

    def on_unmount(self) -> None:
        """Leave every run as it was: a remote session only detaches."""
        for run in self.runs:
            if run.session is not None:
                run.session.close(timeout=0)

    # -- feeding -------------------------------------------------------------------------------------

    def poll(self) -> None:
        """Fold each run's new events in; redraw at most once a second, at once when a state changes."""
        state_changed = False
        for run in self.runs:
            if run.session is None:
                continue
            before = run.state
            events = run.session.events()
            if events:
                run.view.apply(events)
                self._dirty = True
            state_changed |= run.state != before
        if state_changed or (self._dirty and time.monotonic() >= self._next_draw_at):
            self.redraw()

    def redraw(self) -> None:
        if not self.ready:
            return
        self._dirty = False
        self.replot()
        self.show_table()
        self.show_legend()
        cost = sum(plot.cost for plot in self.query(MetricPlot))
        self._next_draw_at = time.monotonic() + max(REDRAW_INTERVAL_S, cost / PLOT_BUDGET)

    def replot(self) -> None:
        metric = self.query_one(RunsMetricPlot)
        for plot in self.query(RunsPlot):
            plot.runs = [
                PlotRun(
                    r.name,
                    r.plot_color,
                    r.view.metrics if plot is metric else r.view.history,
                )
                for r in self.runs
            ]
            if plot is not metric:
                opened = all(r.session is not None for r in self.runs)
                plot.waiting = "no steps yet" if opened else "reading the runs…"
            plot.replot()
        on = bool(metric.keys())
        if on != self.has_class("metrics"):
            self.set_class(on, "metrics")
        loss = self.query_one("#compare-loss-d", RunsPlot)
        keys = "l log · w window · +/- smoothing" + (" · m metric" if on else "")
        self.query_one("#compare-status", Static).update(
            f"{loss.describe()}  [dim]{keys}[/]", layout=False
        )

    def show_legend(self) -> None:
        legend = Text()
        for run in self.runs:
            legend.append("■ ", style=run.text_color)
            legend.append(f"{run.name}  ")
        self.query_one("#compare-legend", Static).update(legend, layout=False)

    def table(self) -> CompareTable:
        """What the table shows now, as text (the tests read it)."""
        return compare_table([CompareRow(r.name, r.state, r.view) for r in self.runs])

    def show_table(self) -> None:
        shown = self.table()
        widget = self.query_one(DataTable)
        if [str(c.label) for c in widget.columns.values()] != shown.columns:
            widget.clear(columns=True)
            widget.add_columns(*shown.columns)
        else:
            widget.clear()
        for i, (run, row) in enumerate(zip(self.runs, shown.rows, strict=True)):
            cells: list[Text] = []
            for j, value in enumerate(row):
                style = ""
                if j == 0:
                    style = f"bold {run.text_color}"
                elif j == 1:
                    style = STATE_STYLES.get(value, "")
                elif (i, j) in shown.marked:
                    style = "bold green"
                cells.append(Text(value, style=style))
            widget.add_row(*cells, key=str(run.path))

    # -- plot actions ------------------------------------------------------------------------------

    def _plots(self) -> list[RunsPlot]:
        return list(self.query(RunsPlot))

    def action_log_scale(self) -> None:
        for plot in self._plots():
            plot.log_scale = not plot.log_scale
        self.replot()

    def action_window(self) -> None:
        loss = self.query_one("#compare-loss-d", RunsPlot)
        index = WINDOWS.index(loss.window) if loss.window in WINDOWS else 0
        for plot in self._plots():
            plot.window = WINDOWS[(index + 1) % len(WINDOWS)]
        self.replot()

    def action_cycle_metric(self) -> None:
        if self.query_one(RunsMetricPlot).cycle() is None:
            self.notify("no run computed metrics: they need eval_every > 0", timeout=4)
            return
        self.replot()

    def action_smoothing(self, direction: int) -> None:
        loss = self.query_one("#compare-loss-d", RunsPlot)
        current = min(
            range(len(SMOOTHING_STEPS)), key=lambda i: abs(SMOOTHING_STEPS[i] - loss.smoothing)
        )
        new = SMOOTHING_STEPS[max(0, min(len(SMOOTHING_STEPS) - 1, current + direction))]
        for plot in self._plots():
            plot.smoothing = new
        self.replot()

    def action_close(self) -> None:
        """Back to the dashboard; quit when the compare screen is all the app shows."""
        if len(self.app.screen_stack) > 1:
            self.dismiss()
        else:
            self.app.exit(0)
