"""The run's outputs: sample grids, quality metrics and checkpoints, each announced by an event."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch

from core import events as ev
from core import startup
from core.checkpoints import capture_rng
from core.config import TrainConfig
from core.data import DataSource
from core.distributed import Cluster
from core.errors import UserError
from core.grids import samples_picture
from core.startup import Place
from core.step import GanStep
from core.writer import RunWriter


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

    def due(self, attempt: Callable[[Callable[[], object]], bool]) -> None:
        """Save the samples, metrics and checkpoint this step is due for; `attempt` makes each write
        (and pauses the run when one cannot be written)."""
        run, config, step = self.run, self.run.config, self.run.step
        if config.sample_every and step % config.sample_every == 0:
            attempt(self.save_samples)
        if config.eval_every and step % config.eval_every == 0:
            if run.writer.enabled:
                self.evaluate()  # metrics are for the record: computed where it is kept
            # metrics that went off on rank 0 go off on every rank
            off = "" if run.config.eval_every else "off"
            if run.cluster is not None and run.cluster.wait_for_rank0(off):
                run.config = run.config.replace(eval_every=0)
        if config.checkpoint_every and step % config.checkpoint_every == 0:
            attempt(lambda: self.save_checkpoint("periodic"))

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
            run._alert("warning", f"metrics off: {exc}")
            run.config = run.config.replace(eval_every=0)
            return
        self.last_metrics = dict(result.values)
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
            return None
        run._emit(ev.CheckpointSaved(run.step, run.shown_epoch, str(path), reason))
        if reason == "periodic":
            for gone in run.writer.prune(run.config.keep_checkpoints):
                run._alert("info", f"removed old checkpoint {gone.name}")
        return path
