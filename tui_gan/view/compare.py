"""What the compare screen shows of several runs: which runs, their colours, and the table of their
states, metrics (latest and best, the best of all marked) and the config fields that differ."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import UsageError
from core.rundir import is_run_dir
from core.runs import UNREADABLE, list_runs
from tui_gan.view.metricnames import SHORT, direction, format_metric, shown_keys
from tui_gan.view.runview import RunView, format_number

# (plotext colour, Rich colour) of the runs in order; the same pair names one run in plots and table.
PALETTE = (
    ("cyan", "cyan"),
    ("orange", "orange1"),
    ("green", "green"),
    ("magenta", "magenta"),
    ("yellow", "yellow"),
    ("red", "red"),
    ("blue", "blue"),
    ("white", "white"),
)
# Config fields that differ between any two runs by construction, so say nothing about them.
ALWAYS_DIFFERENT = frozenset({"run_dir"})
ARROWS = {1: "↑", -1: "↓", 0: ""}


@dataclass(frozen=True)
class Resolved:
    """The run directories a compare was asked for, and the runs left out with why."""

    runs: list[Path]
    skipped: list[str] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)  # the paths that were folders of runs


def resolve_runs(paths: Sequence[str | Path]) -> Resolved:
    """Each path is a run directory or a folder of runs (every run under it); duplicates once.

    A path that is neither is a UsageError; runs that cannot be read are left out and named.
    """
    if not paths:
        raise UsageError("name at least one run directory or a folder of runs")
    runs: list[Path] = []
    skipped: list[str] = []
    roots: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            what = "not a folder" if path.exists() else "no such run directory or folder"
            raise UsageError(f"{raw}: {what}")
        found = list_runs(path)
        if not found:
            raise UsageError(f"{raw}: not a run directory, and no runs under it")
        if not is_run_dir(path):
            roots.append(path)
        for run in found:
            key = run.path.resolve()
            if key in seen:
                continue
            seen.add(key)
            if run.state == UNREADABLE:
                skipped.append(f"{run.path}: unreadable: {run.problem}")
            else:
                runs.append(run.path)
    return Resolved(runs, skipped, roots)


def colour_of(index: int) -> tuple[str, str]:
    """The (plotext, Rich) colour of the run at `index`."""
    return PALETTE[index % len(PALETTE)]


def differing_config(configs: Sequence[dict[str, Any]]) -> list[str]:
    """The config fields whose values are not the same in every run (runs not started yet ignored)."""
    known = [c for c in configs if c]
    keys: list[str] = []
    for config in known:
        keys += [k for k in config if k not in keys and k not in ALWAYS_DIFFERENT]
    missing = object()
    return [key for key in keys if len({_canonical(c.get(key, missing)) for c in known}) > 1]


def _canonical(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def metric_keys(views: Sequence[RunView]) -> list[str]:
    """The sample-quality metrics any of the runs computed, main first."""
    keys: list[str] = []
    for view in views:
        keys += [k for k in view.metrics.columns[1:] if k not in keys]
    return shown_keys(keys)


@dataclass(frozen=True)
class MetricCell:
    """One run's values of one metric."""

    latest: float | None  # at the run's latest evaluation
    best: float | None  # the best of all its evaluations, by the metric's direction
    best_step: int | None
    marked: bool = False  # the best of all the runs


def metric_cells(views: Sequence[RunView], key: str) -> list[MetricCell]:
    """Latest and best value of metric `key` in each run; the best of the runs' bests marked."""
    sign = direction(key)
    cells = []
    for view in views:
        if key not in view.metrics.columns or not len(view.metrics):
            cells.append(MetricCell(None, None, None))
            continue
        values = view.metrics.column(key)
        steps = view.metrics.column("step")
        finite = np.flatnonzero(np.isfinite(values))
        # NaN: the latest evaluation did not give this metric
        latest = None if math.isnan(values[-1]) else float(values[-1])
        if not len(finite) or sign == 0:
            cells.append(MetricCell(latest, None, None))
            continue
        # argmax of sign·value: the first evaluation that reached the best value
        at = finite[int(np.argmax(values[finite] * sign))]
        cells.append(MetricCell(latest, float(values[at]), int(steps[at])))
    bests = [c.best for c in cells if c.best is not None]
    if not bests:
        return cells
    top = max(bests) if sign > 0 else min(bests)
    return [MetricCell(c.latest, c.best, c.best_step, marked=c.best == top) for c in cells]


@dataclass(frozen=True)
class CompareRow:
    """What the table shows of one run besides its view: the state its session reports."""

    name: str
    state: str
    view: RunView


@dataclass
class CompareTable:
    """The compare table as text: a heading per column, a row per run, and the marked best cells."""

    columns: list[str]
    rows: list[list[str]]
    marked: set[tuple[int, int]] = field(default_factory=set)  # (row, column) of best values

    def column(self, heading: str) -> list[str]:
        """The cells of the column with this heading, one per run."""
        index = self.columns.index(heading)
        return [row[index] for row in self.rows]

    def text(self) -> str:
        """The table as aligned plain text (for tests and logs); marked cells carry a `*`."""
        cells = [self.columns] + [
            [f"*{c}" if (r, i) in self.marked else c for i, c in enumerate(row)]
            for r, row in enumerate(self.rows)
        ]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        return "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in cells
        )


MARK = "★"


def compare_table(rows: Sequence[CompareRow]) -> CompareTable:
    """State, steps, images/s, each metric's latest and best (best of all marked ★), and the config
    fields that differ between the runs."""
    views = [r.view for r in rows]
    columns = ["run", "state", "step", "img/s"]
    cells: list[list[str]] = [
        [
            r.name,
            r.state,
            f"{r.view.step:,}",
            f"{r.view.img_per_s:,.0f}" if r.view.img_per_s else "--",
        ]
        for r in rows
    ]
    marked: set[tuple[int, int]] = set()
    for key in metric_keys(views):
        short = SHORT.get(key, key)
        columns += [f"{short}{ARROWS[direction(key)]}", f"{short} best"]
        for i, (view, cell) in enumerate(zip(views, metric_cells(views, key), strict=True)):
            context = view.metrics_values
            best = format_metric(key, cell.best, context) if cell.best is not None else "--"
            if cell.marked:
                best = f"{MARK}{best}"
                marked.add((i, len(columns) - 1))
            cells[i] += [format_metric(key, cell.latest, context), best]
    for key in differing_config([v.config for v in views]):
        columns.append(key)
        for i, view in enumerate(views):
            cells[i].append(format_number(view.config[key]) if key in view.config else "--")
    return CompareTable(columns, cells, marked)
