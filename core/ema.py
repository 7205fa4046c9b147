"""A moving average of the generator's weights (Yazıcı et al. 2019): it draws steadier, better samples
than the generator of the last step, at the cost of one weight copy."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.optim.swa_utils import update_bn

WARMUP = 10  # the average's reach grows with the step, so early samples are not the initial weights
STAT_BATCHES = 16  # batches of fixed noise that estimate the average's batch-norm statistics


def average_decay(decay: float, step: int) -> float:
    """The decay used after `step` updates: min(decay, (1 + step) / (WARMUP + step))."""
    return min(decay, (1 + step) / (WARMUP + step))


class MovingAverage:
    """An exponential moving average of `model`'s parameters.

    Its batch-norm statistics are its own: estimated from STAT_BATCHES batches of fixed noise run
    through the averaged weights when it is next used (BigGAN's "standing statistics"). The live
    model's statistics belong to its own weights and, copied, make the average's samples worse.

    Not `torch.optim.swa_utils.AveragedModel`: its averaging function sees the update count only as a
    tensor, and a warm-up from it would cost a host sync per step on a GPU.
    """

    def __init__(self, model: nn.Module, decay: float, noise: torch.Tensor) -> None:
        self.decay = decay
        self.noise = noise  # STAT_BATCHES × batch × latent
        self._model = copy.deepcopy(model).eval().requires_grad_(False)
        self._norms = any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self._model.modules()
        )
        self._mine: list[torch.Tensor] = list(self._model.parameters())
        self._stale = True

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Move the average towards `model` after its `step`-th update."""
        weight = 1.0 - average_decay(self.decay, step)
        theirs: list[torch.Tensor] = list(model.parameters())
        if len(theirs) != len(self._mine):
            raise ValueError(
                f"the model has {len(theirs)} parameters, its average {len(self._mine)}"
            )
        # One fused kernel launch for all weights instead of one per tensor (what matters on a GPU).
        torch._foreach_lerp_(self._mine, theirs, weight)
        self._stale = True

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self._model.load_state_dict(state)
        self._stale = True

    @property
    def model(self) -> nn.Module:
        """The averaged model in eval mode, its batch-norm statistics those of its current weights."""
        if self._stale and self._norms:
            self._standing_statistics()
        return self._model

    def _standing_statistics(self) -> None:
        # update_bn resets the statistics, averages them over the batches (momentum None) in train
        # mode, then restores momenta and eval mode. A G with dropout draws from the RNG in train
        # mode: forked, so the training RNG (an exact resume depends on it) goes on untouched.
        device = self.noise.device
        cuda: list[int] = []
        if device.type == "cuda":
            cuda = [device.index if device.index is not None else torch.cuda.current_device()]
        with torch.random.fork_rng(devices=cuda):
            update_bn(self.noise, self._model)
        self._stale = False
