"""What the dashboard shows of a run, folded from its events; no Textual here, so it is unit-tested."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import events as ev
from tui_gan.view.history import MetricHistory

LOG_LIMIT = 500
# Parts of the dashboard an event can change; the screen redraws only those.
HEADER, PROGRESS, SAMPLES, LOG, PLOTS, HPARAMS = (
    "header",
    "progress",
    "samples",
    "log",
    "plots",
    "hparams",
)
METRICS = "metrics"


@dataclass
class LogLine:
    """One line of the alerts pane."""

    level: str  # info, warning, error
    text: str
    step: int
    notify: bool = False  # also worth a toast


@dataclass
class RunView:
    """The latest known state of one run."""

    run_dir: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    device: str = ""
    device_uuid: str | None = None  # NVML's name of the training GPU
    world_size: int = 1  # processes training together: img_per_s counts them all
    state: str = ev.STARTING
    reason: str = "loading data and building models"
    planned_steps: int = 0
    steps_per_epoch: int = 0
    start_step: int = 0
    resumed_from: str | None = None
    step: int = 0
    epoch: int = 0
    batch: int = 0
    img_per_s: float = 0.0
    lr_g: float | None = None
    lr_d: float | None = None
    loss_d: float | None = None
    loss_g: float | None = None
    started_at: float | None = None
    last_event_at: float | None = None
    sample_path: str | None = None
    sample_step: int = 0
    sample_epochs: dict[int, int] = field(default_factory=dict)  # step -> epoch of each grid saved
    last_checkpoint: str | None = None
    error: str | None = None
    finished_seconds: float | None = None
    history: MetricHistory = field(default_factory=MetricHistory)
    # Sample-quality metrics, one row per evaluation (every eval_every steps), and the latest ones.
    metrics: MetricHistory = field(default_factory=lambda: MetricHistory(64, columns=("step",)))
    metrics_values: dict[str, float] = field(default_factory=dict)
    metrics_reference: dict[str, float] = field(default_factory=dict)
    metrics_step: int = 0
    metrics_note: str = ""
    log: list[LogLine] = field(default_factory=list)
    log_total: int = 0  # lines ever logged; `log` keeps only the last LOG_LIMIT

    # -- folding events ------------------------------------------------------------------------

    def apply(self, events: list[ev.Event]) -> set[str]:
        """Fold `events` in (oldest first); returns the parts of the screen that changed.

        Runs of step events are folded as one numpy append, so a poll that drained thousands of
        steps costs about as much as one that drained ten.
        """
        changed: set[str] = set()
        run: list[ev.StepMetrics] = []
        for event in events:
            if isinstance(event, ev.StepMetrics):
                run.append(event)
                continue
            if run:
                changed |= self._apply_steps(run)
                run = []
            changed |= self._apply_one(event)
        if run:
            changed |= self._apply_steps(run)
        return changed

    def _apply_steps(self, steps: list[ev.StepMetrics]) -> set[str]:
        self.history.extend_events(steps)
        last = steps[-1]
        self.step, self.epoch, self.batch = last.step, last.epoch, last.batch
        self.img_per_s, self.lr_g, self.lr_d = last.img_per_s, last.lr_g, last.lr_d
        self.loss_d, self.loss_g = last.loss_d, last.loss_g
        self._saw_time(last.time)
        return {PROGRESS, PLOTS}

    def _apply_one(self, e: ev.Event) -> set[str]:
        self._saw_time(getattr(e, "time", None))
        if isinstance(e, ev.RunStarted):
            self.run_dir, self.config, self.device = e.run_dir, dict(e.config), e.device
            self.device_uuid, self.world_size = e.device_uuid, max(e.world_size, 1)
            self.planned_steps, self.steps_per_epoch = e.planned_steps, e.steps_per_epoch
            self.start_step = self.step = e.start_step
            # A resume marks where it began: steps logged past it before a crash are superseded.
            self.history.drop_after(e.start_step)
            self.metrics.drop_after(e.start_step)
            self.resumed_from, self.started_at = e.resumed_from, e.time
            self.lr_g, self.lr_d = self.config.get("lr_g"), self.config.get("lr_d")
            resumed = f" (resumed from {Path(e.resumed_from).name})" if e.resumed_from else ""
            plan = f"; {e.plan_note}" if e.plan_note else ""
            self._log(
                "info",
                f"run started on {e.device}: {e.planned_steps} steps{resumed}{plan}",
                e.start_step,
            )
            return {HEADER, PROGRESS, LOG, HPARAMS}
        if isinstance(e, ev.ImagesDecoded):  # start-up progress: shown, not logged
            if self.state == ev.STARTING:
                self.reason = f"decoding {e.done:,} / {e.total:,} images"
            return {PROGRESS}
        if isinstance(e, ev.StateChanged):
            self.state, self.reason = e.state, e.reason
            if e.state not in (ev.STARTING, ev.RUNNING) or e.reason not in ("started", ""):
                self._log("info", f"{e.state}" + (f": {e.reason}" if e.reason else ""), e.step)
            return {HEADER, PROGRESS, LOG}
        if isinstance(e, ev.EpochEnded):
            self._log(
                "info",
                f"epoch {e.epoch} done in {format_duration(e.seconds)}: "
                f"loss_d {e.loss_d:.4f} loss_g {e.loss_g:.4f}",
                e.step,
            )
            return {LOG}
        if isinstance(e, ev.MetricsComputed):
            changed = {METRICS}
            if e.values:
                self.metrics.append({"step": float(e.step), **e.values})
                self.metrics_values, self.metrics_step = dict(e.values), e.step
                self.metrics_reference = dict(e.reference) or self.metrics_reference
            # a note repeats at every evaluation: log it once
            if e.note and e.note != self.metrics_note:
                self._log("info", e.note, e.step)
                changed.add(LOG)
            self.metrics_note = e.note
            return changed
        if isinstance(e, ev.SamplesSaved):
            self.sample_path, self.sample_step = e.path, e.step
            self.sample_epochs[e.step] = e.epoch
            return {SAMPLES}
        if isinstance(e, ev.CheckpointSaved):
            self.last_checkpoint = e.path
            self._log(
                "info",
                f"checkpoint ({e.reason}) saved: {Path(e.path).name}",
                e.step,
                notify=e.reason != "periodic",
            )
            return {LOG, PROGRESS}
        if isinstance(e, ev.HparamsChanged):
            self.config.update(e.changes)
            for key in ("lr_g", "lr_d"):
                if key in e.changes:
                    setattr(self, key, e.changes[key])
            changes = ", ".join(f"{k}={format_number(v)}" for k, v in e.changes.items())
            self._log("info", f"applied: {changes}", e.step, notify=True)
            return {LOG, PROGRESS, HPARAMS}
        if isinstance(e, ev.Alert):
            self._log(e.level, e.message, e.step, notify=e.level != "info")
            return {LOG}
        if isinstance(e, ev.RunFinished):
            self.finished_seconds = e.seconds
            self._log(
                "info",
                f"finished: {e.step} steps in {format_duration(e.seconds)}",
                e.step,
                notify=True,
            )
            return {LOG, HEADER, PROGRESS}
        if isinstance(e, ev.RunFailed):
            self.error = e.message
            self._log("error", f"run failed: {e.message}", e.step, notify=True)
            return {LOG, HEADER, PROGRESS}
        return set()

    def _saw_time(self, when: float | None) -> None:
        if when is not None and (self.last_event_at is None or when > self.last_event_at):
            self.last_event_at = when

    def _log(self, level: str, text: str, step: int, notify: bool = False) -> None:
        self.log.append(LogLine(level, text, step, notify))
        self.log_total += 1
        if len(self.log) > LOG_LIMIT:
            del self.log[: len(self.log) - LOG_LIMIT]

    def log_since(self, seen: int) -> list[LogLine]:
        """The lines logged after the first `seen` (as many as are still kept)."""
        new = min(self.log_total - seen, len(self.log))
        return self.log[-new:] if new > 0 else []

    # -- derived values --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return Path(self.run_dir).name if self.run_dir else "starting…"

    @property
    def grid_tile(self) -> int | None:
        """Pixels of one image in the run's sample grids (None for the 2-D toys' scatter plots)."""
        if self.config.get("image_size") and self.config.get("dataset") not in ("ring8", "grid25"):
            return int(self.config["image_size"])
        return None

    @property
    def eval_every(self) -> int:
        return int(self.config.get("eval_every", 0) or 0)

    @property
    def final(self) -> bool:
        return self.state in ev.FINAL_STATES

    @property
    def epochs(self) -> int:
        return int(self.config.get("epochs", 0) or 0)

    @property
    def elapsed(self) -> float:
        """Seconds from the run's start to its latest event (event clocks only: deterministic)."""
        if self.finished_seconds is not None:
            return self.finished_seconds
        if self.started_at is None or self.last_event_at is None:
            return 0.0
        return max(self.last_event_at - self.started_at, 0.0)

    @property
    def eta(self) -> float | None:
        """Seconds left at the current speed, or None when unknown."""
        # batch_size is per process and img_per_s counts every process: a step is the batch of all.
        batch = (self.config.get("batch_size") or 0) * self.world_size
        if self.final or not self.planned_steps or self.img_per_s <= 0 or not batch:
            return None
        return max(self.planned_steps - self.step, 0) * batch / self.img_per_s

    def next_step_hint(self) -> str:
        """What a user can do once the run ended."""
        if self.state == ev.FAILED:
            return "Run failed. c: resume from a checkpoint · e: export · q: quit"
        if self.state == ev.FINISHED:
            return "Training finished. e: export a GIF or grid · c: checkpoints · q: quit"
        if self.state == ev.STOPPED:
            return "Run stopped. c: resume from a checkpoint · e: export · q: quit"
        return ""


def format_duration(seconds: float | None) -> str:
    """`1h02m`, `3m05s`, `12s`; `--` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "--"
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m"
    if m:
        return f"{m}m{s:02d}s"
    return f"{s}s"


def format_number(value: Any) -> str:
    """Values the way a person types them: 0.0002 → 2e-04, 0.5 → 0.5, 200 → 200, True → true."""
    if value is None:
        return "--"
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e5):
        return f"{value:.0e}" if float(f"{value:.0e}") == value else f"{value:.3g}"
    return f"{value:g}"


def format_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"
