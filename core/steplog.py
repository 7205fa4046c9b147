"""When a step's numbers leave the device: they are summed where they are computed and read (one
wait for the device) every `log_every` steps, or about every AUTO_INTERVAL_S of training."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from core import events as ev

AUTO_INTERVAL_S = 0.1
MAX_AUTO_STEPS = 1000  # a cluster's auto interval, in steps, never exceeds this


@dataclass(frozen=True)
class Logged:
    """The numbers of the steps since the last reading: their means, the last step's own values,
    how many steps and how many seconds of stepping (the final wait for the device included)."""

    means: list[float]
    last: list[float]
    steps: int
    seconds: float

    @property
    def finite(self) -> bool:
        """Whether every number is finite: a mean is not when any of its steps was not."""
        return all(math.isfinite(v) for v in self.means + self.last)

    def event(
        self,
        place: tuple[int, int, int],
        lrs: tuple[float, float],
        img_per_s: float,
        memory: tuple[int | None, int | None],
    ) -> ev.StepMetrics:
        """The step event of these numbers at `place` (step, shown epoch, batch)."""
        step, epoch, batch = place
        return ev.StepMetrics(
            step=step,
            epoch=epoch,
            batch=batch,
            loss_d=self.means[0],
            loss_g=self.means[1],
            d_x=self.means[2],
            d_g_z=self.means[3],
            lr_g=lrs[0],
            lr_d=lrs[1],
            img_per_s=img_per_s,
            steps=self.steps,
            last_loss_d=self.last[0],
            last_loss_g=self.last[1],
            last_d_x=self.last[2],
            last_d_g_z=self.last[3],
            memory=memory[0],
            peak_memory=memory[1],
        )


class Throughput:
    """Images per second, smoothed over readings: weighted per step, so a long window stands alone."""

    def __init__(self, images_per_step: int) -> None:
        self.images_per_step = images_per_step
        self.rate = 0.0

    def update(self, logged: Logged) -> float:
        window = self.images_per_step * logged.steps / max(logged.seconds, 1e-9)
        weight = min(1.0, 0.1 * logged.steps)
        self.rate = window if self.rate == 0.0 else (1 - weight) * self.rate + weight * window
        return self.rate


def parse_every(text: str) -> int | None:
    """config.log_every as a step count; None for auto."""
    return None if text == "auto" else int(text)


class StepLog:
    """Accumulates step summaries (equal-length fp32 tensors) on their device.

    `every=None` is auto: due after AUTO_INTERVAL_S of stepping in one process. Ranks of a cluster
    must read at the same steps, so there (`fixed_steps=True`) auto counts steps instead, a count
    the trainer re-derives at each reading from every rank's shared time per step (`retune`).
    """

    def __init__(
        self,
        every: int | None,
        fixed_steps: bool = False,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.auto = every is None
        self.every = 1 if every is None else every
        self.by_time = self.auto and not fixed_steps
        self.clock = clock
        self._sum: torch.Tensor | None = None
        self._last: torch.Tensor | None = None
        self.steps = 0
        self.seconds = 0.0

    def add(self, summary: torch.Tensor, seconds: float) -> None:
        """One step's summary, and the seconds its call took (without waiting for the device)."""
        self._sum = summary.clone() if self._sum is None else self._sum.add_(summary)
        self._last = summary
        self.steps += 1
        self.seconds += seconds

    def due(self) -> bool:
        """Whether the numbers should be read now."""
        if self.steps == 0:
            return False
        return self.seconds >= AUTO_INTERVAL_S if self.by_time else self.steps >= self.every

    def take(self) -> Logged:
        """Read and reset: the one place the loop waits for the device."""
        if self._sum is None or self._last is None:
            raise RuntimeError("no steps to read")
        started = self.clock()
        both = torch.stack([self._sum / self.steps, self._last]).tolist()
        logged = Logged(both[0], both[1], self.steps, self.seconds + self.clock() - started)
        self._sum = self._last = None
        self.steps, self.seconds = 0, 0.0
        return logged

    def retune(self, seconds_per_step: float) -> None:
        """Auto in a cluster: read about every AUTO_INTERVAL_S at the given (shared) speed."""
        if self.auto and not self.by_time:
            self.every = max(
                1, min(MAX_AUTO_STEPS, round(AUTO_INTERVAL_S / max(seconds_per_step, 1e-9)))
            )
