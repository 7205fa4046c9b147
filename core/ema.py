"""A moving average of the generator's weights (Yazıcı et al. 2019): it draws steadier, better samples
than the generator of the last step, at the cost of one weight copy."""

from __future__ import annotations

import copy

import torch
from torch import nn

WARMUP = 10  # the average's reach grows with the step, so early samples are not the initial weights


def average_decay(decay: float, step: int) -> float:
    """The decay used after `step` updates: min(decay, (1 + step) / (WARMUP + step))."""
    return min(decay, (1 + step) / (WARMUP + step))


class MovingAverage:
    """An exponential moving average of `model`'s parameters; its buffers (batch-norm statistics) are
    the model's own, copied at each update.

    Not `torch.optim.swa_utils.AveragedModel`: its averaging function sees the update count only as a
    tensor, and a warm-up from it would cost a host sync per step on a GPU.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Move the average towards `model` after its `step`-th update."""
        weight = 1.0 - average_decay(self.decay, step)
        for mine, theirs in zip(self.model.parameters(), model.parameters(), strict=True):
            mine.lerp_(theirs, weight)
        for mine, theirs in zip(self.model.buffers(), model.buffers(), strict=True):
            mine.copy_(theirs)
