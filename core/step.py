"""The GAN step: both models, their optimizers, the moving average of G and one training step.

It knows no thread, file or event: the trainer drives it, benchmarks time it, tests call it.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from core.config import TrainConfig
from core.distributed import Cluster
from core.ema import STAT_BATCHES, MovingAverage
from core.errors import ConfigError
from core.losses import d_loss, g_loss, r1_penalty
from core.models import build_models
from core.plan import lr_factor


def resolve_device(name: str) -> torch.device:
    """`auto` → the first CUDA device if there is one, else the CPU; a missing GPU is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device: {name!r} requested but no CUDA device is available; use device=cpu")
        if (device.index or 0) >= torch.cuda.device_count():
            raise ConfigError(f"device: {name!r} does not exist; this machine has {torch.cuda.device_count()} GPU(s)")
    return device


def _cpu(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach().cpu().clone() if torch.is_tensor(v) else v for k, v in state.items()}


class GanStep:
    """G and D with their Adam optimizers, G's moving average and the fixed noise; `train_step`
    trains one batch.

    `state` (a checkpoint's payload) is loaded before the models are wrapped for `cluster`, so
    every rank starts from the same weights. Loading raises RuntimeError, KeyError or ValueError
    when the state does not fit this configuration.
    """

    def __init__(self, config: TrainConfig, device: torch.device, channels_last: bool = False,
                 cluster: Cluster | None = None, state: dict[str, Any] | None = None) -> None:
        self.config = config
        self.device = device
        self.g, self.d = build_models(config)
        if cluster is not None:
            torch.manual_seed(config.seed + cluster.rank)  # the same initial weights, then noise of its own
        memory_format = torch.channels_last if channels_last else torch.preserve_format
        self.g.to(device, memory_format=memory_format)
        self.d.to(device, memory_format=memory_format)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=config.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=config.lr_d, betas=betas)
        noise_gen = torch.Generator().manual_seed(config.seed + 1)  # keeps the training RNG untouched
        self.fixed_noise = torch.randn(config.n_samples, config.latent_dim, generator=noise_gen).to(device)
        self.ema: MovingAverage | None = None
        if config.g_ema:
            stat_noise = torch.randn(STAT_BATCHES, config.batch_size, config.latent_dim, generator=noise_gen)
            self.ema = MovingAverage(self.g, config.g_ema, stat_noise.to(device))
        if state is not None:
            self.load_state_dict(state)
        # What the step calls: the models themselves, or their DDP wrappers.
        self.train_g: nn.Module = self.g
        self.train_d: nn.Module = self.d
        self.d_no_sync: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext
        if cluster is not None:
            self.train_g = cluster.wrap(self.g, device)
            self.train_d = cluster.wrap(self.d, device)
            self.d_no_sync = self.train_d.no_sync  # type: ignore[assignment]

    # -- hyperparameters -----------------------------------------------------------------------

    def configure(self, config: TrainConfig, step: int, planned_steps: int) -> None:
        """Take `config`'s live hyperparameters from the next step on."""
        self.config = config
        self.schedule(step, planned_steps)

    def schedule(self, step: int, planned_steps: int) -> None:
        """The config's lr (times the decay factor at `step`) and betas into both optimizers."""
        c = self.config
        factor = lr_factor(c.lr_decay, step, planned_steps)
        for opt, lr in ((self.opt_g, c.lr_g), (self.opt_d, c.lr_d)):
            for group in opt.param_groups:
                group["lr"], group["betas"] = lr * factor, (c.beta1, c.beta2)

    @property
    def lrs(self) -> tuple[float, float]:
        """The learning rates of G and D in force."""
        return float(self.opt_g.param_groups[0]["lr"]), float(self.opt_d.param_groups[0]["lr"])

    # -- training ------------------------------------------------------------------------------

    def train_step(self, real: torch.Tensor, step: int) -> list[float]:
        """Train D (d_steps times) and G on one real batch; `step` counts this update (1-based) for
        the moving average. Returns [loss_d, loss_g, D(x), D(G(z))]."""
        config, n = self.config, real.shape[0]
        for i in range(config.d_steps):
            z = torch.randn(n, config.latent_dim, device=self.device)
            if i == config.d_steps - 1:
                fake = self.train_g(z)
            else:
                with torch.no_grad():
                    fake = self.train_g(z)
            self.opt_d.zero_grad(set_to_none=True)
            penalize = config.r1_gamma > 0
            real_in = real.detach().requires_grad_(True) if penalize else real
            real_logits = self.train_d(real_in)
            fake_logits = self.train_d(fake.detach())
            loss_d = d_loss(config.loss, real_logits, fake_logits, config.label_smoothing, config.label_noise)
            # The reported loss_d stays the adversarial part alone.
            penalty = config.r1_gamma / 2 * r1_penalty(real_logits, real_in) if penalize else 0.0
            (loss_d + penalty).backward()
            self.opt_d.step()
        self.opt_g.zero_grad(set_to_none=True)
        with self.d_no_sync():  # D's gradients from G's loss are dropped: never all-reduce them
            gen_logits = self.train_d(fake)
        loss_g = g_loss(config.loss, gen_logits)
        loss_g.backward()
        self.opt_g.step()
        if self.ema is not None:
            self.ema.update(self.g, step)
        with torch.no_grad():
            summary = torch.stack([
                loss_d.detach(), loss_g.detach(),
                torch.sigmoid(real_logits.detach()).mean(), torch.sigmoid(gen_logits.detach()).mean(),
            ])
        return [float(v) for v in summary.tolist()]  # the one host sync of the step

    # -- sampling ------------------------------------------------------------------------------

    @property
    def sampler(self) -> nn.Module:
        """The generator that draws samples and is scored: the moving average when g_ema is on."""
        return self.ema.model if self.ema is not None else self.g

    def samples(self) -> torch.Tensor:
        """The sampler's output for the fixed noise, drawn in eval mode so training is untouched."""
        sampler = self.sampler
        was_training = sampler.training
        sampler.eval()  # eval: BN uses running stats and no buffer changes
        try:
            with torch.no_grad():
                out: torch.Tensor = sampler(self.fixed_noise)
                return out
        finally:
            sampler.train(was_training)

    # -- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Both models, the average, both optimizers and the fixed noise, as copies."""
        return {
            "generator": _cpu(self.g.state_dict()),
            "discriminator": _cpu(self.d.state_dict()),
            **({"generator_ema": _cpu(self.ema.model.state_dict())} if self.ema is not None else {}),
            # copies: an optimizer's state_dict holds its live moment tensors, which the next step changes
            "opt_g": copy.deepcopy(self.opt_g.state_dict()),
            "opt_d": copy.deepcopy(self.opt_d.state_dict()),
            "fixed_noise": self.fixed_noise.detach().cpu().clone(),
        }

    def checkpoint_bytes(self) -> int:
        """About the bytes a checkpoint of this step takes: the tensors of `state_dict`, uncopied."""
        tensors = [*self.g.state_dict().values(), *self.d.state_dict().values(), self.fixed_noise]
        if self.ema is not None:
            tensors += self.ema.model.state_dict().values()
        for opt in (self.opt_g, self.opt_d):
            tensors += [v for state in opt.state.values() for v in state.values() if torch.is_tensor(v)]
        return sum(t.numel() * t.element_size() for t in tensors)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` saved (a checkpoint from before g_ema was on starts the average at G)."""
        self.g.load_state_dict(state["generator"])
        if self.ema is not None:
            self.ema.load_state_dict(state.get("generator_ema", state["generator"]))
        self.d.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.fixed_noise = state["fixed_noise"].to(self.device)
