"""The scalars of a run, one row per step event and per evaluation, and their export as CSV.

Read from events.jsonl in two passes, so a run of millions of steps never sits in memory: the
first finds the columns and where the run was resumed, the second streams the rows.

A resume appends a `run_started` at the checkpoint's step; steps logged past it before the
crash were trained again, so (as in the dashboard's plots) only the retrained ones are rows.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core import events as ev
from core.errors import ExportError, UsageError
from core.rundir import EVENTS_FILE, RunDir, atomic_stream, read_events

STEP, EVAL = "step", "eval"
# The step event's scalars, in the order of the columns; the optional ones only when some step
# has them (means over log_every steps came with issue 17, memory only on CUDA).
STEP_FIELDS = ("loss_d", "loss_g", "d_x", "d_g_z", "lr_g", "lr_d", "img_per_s", "steps")
OPTIONAL_FIELDS = (
    "last_loss_d",
    "last_loss_g",
    "last_d_x",
    "last_d_g_z",
    "memory",
    "peak_memory",
)
KEY_COLUMNS = ("event", "step", "epoch", "batch", "time")
REAL_PREFIX = "real_"  # a metric on real data: the reference an evaluation is measured against


@dataclass(frozen=True)
class Row:
    """One step event or evaluation: its step, epoch, wall time and scalars by column name."""

    event: str  # STEP or EVAL
    step: int
    epoch: int
    time: float
    values: dict[str, float]
    batch: int | None = None


@dataclass(frozen=True)
class RunScalars:
    """The columns of a run's scalars (besides KEY_COLUMNS), the evaluation metrics among them,
    and the steps whose sample grids were saved only by parts of the run that were superseded
    (a resume that has not reached them again: those grids show the abandoned training)."""

    path: Path
    columns: tuple[str, ...]
    metrics: tuple[str, ...]
    stale_samples: frozenset[int]
    _resumes: tuple[tuple[int, int], ...]  # (event index, lowest start step from it on)

    def rows(self) -> Iterator[Row]:
        """Every row in the order of the log, superseded steps left out."""
        resumes, next_resume = self._resumes, 0
        for index, event in enumerate(read_events(self.path / EVENTS_FILE)):
            while next_resume < len(resumes) and resumes[next_resume][0] <= index:
                next_resume += 1
            limit = resumes[next_resume][1] if next_resume < len(resumes) else math.inf
            if isinstance(event, ev.StepMetrics) and event.step <= limit:
                values = {
                    name: float(value)
                    for name in STEP_FIELDS + OPTIONAL_FIELDS
                    if (value := getattr(event, name)) is not None
                }
                yield Row(STEP, event.step, event.epoch, event.time, values, event.batch)
            elif isinstance(event, ev.MetricsComputed) and event.values and event.step <= limit:
                values = dict(event.values)
                values.update({REAL_PREFIX + k: v for k, v in event.reference.items()})
                yield Row(EVAL, event.step, event.epoch, event.time, values)


def run_scalars(run_dir: str | Path) -> RunScalars:
    """The scalars of a run directory (first pass over its events.jsonl)."""
    run = RunDir(run_dir)
    if not run.path.is_dir():
        raise ExportError(f"{run.path}: no such run directory")
    if not run.events.is_file():
        raise ExportError(f"{run.path}: not a tui-gan run directory (no {EVENTS_FILE})")
    optional: set[str] = set()
    metrics: dict[str, None] = {}  # first seen first
    reals: dict[str, None] = {}
    starts: list[tuple[int, int]] = []  # (index, start step) of each run_started
    samples: list[tuple[int, int]] = []  # (index, step) of each samples_saved
    try:
        for index, event in enumerate(read_events(run.events)):
            if isinstance(event, ev.StepMetrics):
                optional.update(n for n in OPTIONAL_FIELDS if getattr(event, n) is not None)
            elif isinstance(event, ev.MetricsComputed) and event.values:
                metrics.update(dict.fromkeys(event.values))
                reals.update(dict.fromkeys(REAL_PREFIX + k for k in event.reference))
            elif isinstance(event, ev.RunStarted):
                starts.append((index, event.start_step))
            elif isinstance(event, ev.SamplesSaved):
                samples.append((index, event.step))
    except OSError as exc:
        raise ExportError(f"{run.events}: cannot read: {exc.strerror or exc}") from None
    # An event at index i is superseded when a later run_started began before its step: keep,
    # for each run_started, the lowest start step of it and all later ones.
    resumes: list[tuple[int, int]] = []
    lowest = math.inf
    for index, start in reversed(starts):
        lowest = min(lowest, start)
        resumes.append((index, int(lowest)))
    resumes.reverse()

    def kept(index: int, step: int) -> bool:
        return all(step <= start for at, start in resumes if at > index)

    columns = (
        STEP_FIELDS
        + tuple(n for n in OPTIONAL_FIELDS if n in optional)
        + tuple(metrics)
        + tuple(reals)
    )
    return RunScalars(
        run.path,
        columns,
        tuple(metrics),
        frozenset(step for _, step in samples) - {s for i, s in samples if kept(i, s)},
        tuple(resumes),
    )


def write_csv(run_dir: str | Path, out: str | Path) -> tuple[Path, int]:
    """The run's scalars as a CSV file (header row, then one row per step event and evaluation,
    empty cells where a row has no value); written atomically. Returns (path, rows written)."""
    path = Path(out)
    if path.is_dir():
        path = path / f"{RunDir(run_dir).name}-metrics.csv"
    elif path.suffix.lower() != ".csv":
        raise UsageError(f"{path}: the output name must end in .csv")
    scalars = run_scalars(run_dir)
    header = KEY_COLUMNS + scalars.columns
    n = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_stream(path) as raw:
            text = io.TextIOWrapper(raw, "utf-8", newline="")
            writer = csv.writer(text)
            writer.writerow(header)
            for row in scalars.rows():
                cells = [row.event, row.step, row.epoch, "" if row.batch is None else row.batch]
                cells.append(repr(row.time))
                cells += [_cell(row.values.get(name)) for name in scalars.columns]
                writer.writerow(cells)
                n += 1
            text.flush()
            text.detach()  # atomic_stream closes the file when it has renamed it into place
    except OSError as exc:
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path, n


def _cell(value: float | None) -> str:
    """A value as CSV text: empty when missing, whole numbers without `.0`, floats round-trip."""
    if value is None:
        return ""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)  # nan, inf and -inf as pandas and numpy read them
