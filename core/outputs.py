"""The run's outputs: sample grids, quality metrics and checkpoints, each announced by an event."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch

from core import events as ev
from core import startup
from core.best import Best, read_best, write_best
from core.checkpoints import capture_rng, delete_checkpoint
from core.config import TrainConfig
from core.data import DataSource
from core.distributed import Cluster
from core.errors import UserError
from core.grids import samples_picture
from core.metricdirection import is_better
from core.startup import Place
from core.step import GanStep
from core.writer import RunWriter, WriteFailed


class Run(Protocol):
    """What the outputs read from the run they belong to (the Trainer)."""

    config: TrainConfig
    writer: RunWriter
    place: Place
    device: torch.device
    data: DataSource | None
    cluster: Cluster | None
    world_size: int

    @property
    def gan(self) -> GanStep: ...

    @property
    def sampler(self) -> torch.nn.Module: ...

    @property
    def step(self) -> int: ...

    @property
    def shown_epoch(self) -> int: ...

    def _emit(self, event: ev.Event) -> None: ...

    def _alert(self, level: str, message: str) -> None: ...


class RunOutputs:
    """Saves a run's samples, scores it and checkpoints it, through the run's writer."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.last_metrics: dict[str, float] = {}  # the latest scores, kept in each checkpoint
        self._sampled: tuple[int, Path | None] | None = None  # (step, path) of the last samples
        self._evaluator: Any = None
        # keep_best: the best evaluation so far (read from the run directory at the first one), and
        # whether this step's new best still waits for a checkpoint to hold it
        self.best: Best | None = None
        self._best_read = False
        self._best_file = ""  # the checkpoint holding the best recorded in the run directory
        self.best_unsaved = False

    def due(self, attempt: Callable[[Callable[[], object]], bool]) -> None:
        """Save the samples, metrics and checkpoint this step is due for; `attempt` makes each write
        (and pauses the run when one cannot be written)."""
        run, config, step = self.run, self.run.config, self.run.step
        if config.sample_every and step % config.sample_every == 0:
            attempt(self.save_samples)
        if config.eval_every and step % config.eval_every == 0:
            if run.writer.enabled:
                self.evaluate()  # metrics are for the record: computed where it is kept
            if run.cluster is not None:
                best = "best" if self.best_unsaved else ""
                flag = run.cluster.wait_for_rank0(best if run.config.eval_every else "off")
                if flag == "off":  # metrics went off on rank 0: on every rank too
                    run.config = run.config.replace(eval_every=0, keep_best=None)
                # every rank takes part in a checkpoint: the one of a new best too
                self.best_unsaved = flag == "best"
        if config.checkpoint_every and step % config.checkpoint_every == 0:
            attempt(lambda: self.save_checkpoint("periodic"))
        if self.best_unsaved:  # keep_best: a new best with no checkpoint at its step yet
            attempt(lambda: self.save_checkpoint("best"))

    def save_samples(self) -> Path | None:
        """Save the fixed-noise grid of this step (once a step); its path. WriteFailed when it could
        not be written."""
        run = self.run
        if self._sampled is not None and self._sampled[0] == run.step:
            return self._sampled[1]
        gan = run.gan
        path = run.writer.samples(
            run.step, lambda: samples_picture(gan.samples(), run.config.dataset)
        )
        self._sampled = (run.step, path)
        if path is not None:
            run._emit(ev.SamplesSaved(run.step, run.shown_epoch, str(path)))
        return path

    def evaluate(self) -> None:
        """Score the generator inline: training waits exactly as long as the evaluation takes."""
        from core.evaluate import Evaluator

        run = self.run
        started = time.monotonic()
        try:
            if self._evaluator is None:
                self._evaluator = Evaluator(run.config)
                if self._evaluator.kind == "digits":
                    run._alert(
                        "info",
                        "preparing metrics: the digit classifier trains once, then is cached",
                    )
            self._evaluator.config = run.config  # eval_samples may have changed live
            result = self._evaluator.evaluate(run.sampler, device=run.device)
        except UserError as exc:
            off = f"; keep_best = {run.config.keep_best!r} off too" if run.config.keep_best else ""
            run._alert("warning", f"metrics off: {exc}{off}")
            run.config = run.config.replace(eval_every=0, keep_best=None)
            return
        self.last_metrics = dict(result.values)
        self._judge_best(result.values)
        run._emit(
            ev.MetricsComputed(
                run.step,
                run.shown_epoch,
                result.values,
                result.reference,
                result.note,
                time.monotonic() - started,
            )
        )

    def _judge_best(self, values: dict[str, float]) -> None:
        """Note a new best of keep_best's metric; the checkpoint that holds it is saved at this step."""
        run = self.run
        metric = run.config.keep_best
        value = values.get(metric) if metric else None
        if metric is None or value is None or not math.isfinite(value):
            return
        if not self._best_read:  # a resumed run goes on from the best it had
            self._best_read = True
            found = read_best(run.writer.run_dir.path)
            if found is not None and found.metric == metric:
                self.best, self._best_file = found, found.checkpoint
        if self.best is not None and not is_better(metric, value, self.best.value):
            return
        before = f" (was {self.best.value:g} at step {self.best.step:,})" if self.best else ""
        run._alert("info", f"new best {metric} {value:g} at step {run.step:,}{before}")
        self.best = Best(metric, value, run.step, "")
        self.best_unsaved = True

    def _keep_as_best(self, path: Path) -> None:
        """Record checkpoint `path` (of this step) as the best; the checkpoint saved only for the
        previous best goes, a periodic one becomes prunable again."""
        best = self.best
        assert best is not None
        old, self._best_file = self._best_file, path.name
        self.best = Best(best.metric, best.value, best.step, path.name)
        self.best_unsaved = False
        write_best(self.run.writer.run_dir.path, self.best)
        if old and old != path.name and old.endswith("-best.pt"):
            delete_checkpoint(path.parent / old)

    def save_checkpoint(self, reason: str) -> Path | None:
        """Write a checkpoint; its path (None where this process writes nothing). WriteFailed when it
        could not be written."""
        run = self.run
        # every rank takes part
        rank_rng = run.cluster.gather(capture_rng()) if run.cluster else None
        path = run.writer.checkpoint(
            lambda: startup.checkpoint_payload(
                run.config,
                run.place,
                run.gan,
                self.last_metrics,
                run.world_size,
                rank_rng,
                run.data.steps_per_epoch if run.data else 0,
            ),
            reason,
        )
        if path is None:
            self.best_unsaved = False  # a rank that writes nothing has taken its part in the save
            return None
        if self.best is not None and self.best.step == run.step:
            try:
                self._keep_as_best(path)
            except OSError as exc:
                raise WriteFailed(self.run.writer.run_dir.checkpoints, exc) from None
        run._emit(ev.CheckpointSaved(run.step, run.shown_epoch, str(path), reason))
        if reason == "periodic":
            for gone in run.writer.prune(run.config.keep_checkpoints):
                run._alert("info", f"removed old checkpoint {gone.name}")
        return path
