"""The GAN step: both models, their optimizers, the moving average of G and one training step.

It knows no thread, file or event: the trainer drives it, benchmarks time it, tests call it.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from core.augment import augmenters
from core.config import TrainConfig
from core.distributed import Cluster
from core.ema import STAT_BATCHES, MovingAverage
from core.errors import ConfigError
from core.losses import d_loss, g_loss, r1_penalty
from core.models import build_models
from core.plan import lr_factor
from core.precision import (
    autocast,
    grad_scaler,
    resolve_precision,
    spectral_norm_in_fp32,
    tune_device,
)


@functools.cache  # torch may warn only at its first check: the reason is kept from that one
def cuda_unusable() -> str:
    """Why this torch, built with CUDA, cannot use it ("" when it can, or has no GPU to use).

    torch.cuda.is_available() is then False, and its only account of why (a driver too old for
    this build, a broken install) is a warning at the first check: that warning is the reason.
    """
    if torch.version.cuda is None:
        return ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        available = torch.cuda.is_available()
    if available:
        return ""
    reasons = [str(w.message).strip() for w in caught if "cuda" in str(w.message).lower()]
    return reasons[0].splitlines()[0][:300] if reasons else ""


def resolve_device(name: str) -> torch.device:
    """`auto` → the first CUDA device if there is one, else the CPU; a missing GPU is a user error."""
    if name == "auto":
        cuda_unusable()  # the first CUDA check of the process, whose warning says why it failed
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device: {name!r} requested but no CUDA device is available; use device=cpu"
            )
        if (device.index or 0) >= torch.cuda.device_count():
            raise ConfigError(
                f"device: {name!r} does not exist; this machine has {torch.cuda.device_count()} GPU(s)"
            )
    return device


def device_uuid(device: torch.device) -> str | None:
    """NVML's name of a CUDA device ("GPU-…"): NVML counts all GPUs, CUDA only those in
    CUDA_VISIBLE_DEVICES, so their indices differ but the UUID is the same."""
    if device.type != "cuda":
        return None
    uuid = str(torch.cuda.get_device_properties(device).uuid)
    return uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"


def device_memory(device: torch.device) -> tuple[int | None, int | None]:
    """Bytes torch has allocated on a CUDA `device` now and at peak; (None, None) elsewhere.
    Neither waits for the device."""
    if device.type != "cuda":
        return None, None
    return torch.cuda.memory_allocated(device), torch.cuda.max_memory_allocated(device)


def _cpu(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v.detach().cpu().clone() if torch.is_tensor(v) else v for k, v in state.items()}


class GanStep:
    """G and D with their Adam optimizers, G's moving average and the fixed noise; `train_step`
    trains one batch.

    `state` (a checkpoint's payload) is loaded before the models are wrapped for `cluster`, so
    every rank starts from the same weights. Loading raises RuntimeError, KeyError or ValueError
    when the state does not fit this configuration.
    """

    # The G step computes no gradients of D's weights; bench/throughput.py turns it off to time the gain.
    skip_d_weight_grads = True

    def __init__(
        self,
        config: TrainConfig,
        device: torch.device,
        channels_last: bool = False,
        cluster: Cluster | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.device = device
        self.precision = resolve_precision(config.precision, device)
        tune_device(device, config.tf32)
        self.g, self.d = build_models(config)
        spectral_norm_in_fp32(self.d)
        if cluster is not None:
            torch.manual_seed(
                config.seed + cluster.rank
            )  # the same initial weights, then noise of its own
        memory_format = torch.channels_last if channels_last else torch.preserve_format
        # torch's stub of Module.to lacks the memory_format keyword it takes
        self.g.to(device, memory_format=memory_format)  # type: ignore[call-overload]
        self.d.to(device, memory_format=memory_format)  # type: ignore[call-overload]
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=config.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=config.lr_d, betas=betas)
        # fp16 only: one scaler an optimizer, as G's and D's gradients differ by orders of magnitude.
        self.scaler_g = grad_scaler(self.precision, device)
        self.scaler_d = grad_scaler(self.precision, device)
        noise_gen = torch.Generator().manual_seed(
            config.seed + 1
        )  # keeps the training RNG untouched
        self.fixed_noise = torch.randn(config.n_samples, config.latent_dim, generator=noise_gen).to(
            device
        )
        # What D's inputs go through (augment); D sees reals and fakes only through them.
        self.augment_real, self.augment_fake = augmenters(config.augment)
        self.ema: MovingAverage | None = None
        if config.g_ema:
            stat_noise = torch.randn(
                STAT_BATCHES, config.batch_size, config.latent_dim, generator=noise_gen
            )
            self.ema = MovingAverage(self.g, config.g_ema, stat_noise.to(device))
        if state is not None:
            self.load_state_dict(state)
        # What the step calls: the models themselves, or their DDP wrappers.
        self.train_g: nn.Module = self.g
        self.train_d: nn.Module = self.d
        self.d_no_sync: Callable[[], contextlib.AbstractContextManager[Any]] = (
            contextlib.nullcontext
        )
        if cluster is not None:
            self.train_g = cluster.wrap(self.g, device)
            self.train_d = cluster.wrap(self.d, device)
            self.d_no_sync = self.train_d.no_sync  # type: ignore[assignment]
        if config.compile:
            # Compiled after DDP wraps them (as DDP asks); self.g/self.d stay the plain modules, so
            # state dicts have no `_orig_mod.` prefix and sampling never triggers a compilation.
            self.train_g = torch.compile(self.train_g)  # type: ignore[assignment]
            self.train_d = torch.compile(self.train_d)  # type: ignore[assignment]

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
        """`device_step` with its numbers brought to the host: [loss_d, loss_g, D(x), D(G(z))]."""
        return [float(v) for v in self.device_step(real, step).tolist()]

    def device_step(self, real: torch.Tensor, step: int) -> torch.Tensor:
        """Train D (d_steps times) and G on one real batch; `step` counts this update (1-based) for
        the moving average. Returns [loss_d, loss_g, D(x), D(G(z))] as one fp32 tensor left on the
        device: reading it waits for the device, so the caller decides when."""
        config, n = self.config, real.shape[0]
        low = autocast(self.precision, self.device)
        for i in range(config.d_steps):
            z = torch.randn(n, config.latent_dim, device=self.device)
            with low:
                if i == config.d_steps - 1:
                    fake = self.train_g(z)
                else:
                    with torch.no_grad():
                        fake = self.train_g(z)
            self.opt_d.zero_grad(set_to_none=True)
            penalize = config.r1_gamma > 0
            # R1 takes D's gradient at the augmented reals D sees, as DiffAugment's own code does.
            real_in = self.augment_real(real)
            real_in = real_in.detach().requires_grad_(True) if penalize else real_in
            fake_in = self.augment_fake(fake.detach())
            with low:
                real_logits = self.train_d(real_in)
                fake_logits = self.train_d(fake_in)
            # Losses in fp32: a mean over a batch of low-precision logits loses digits.
            real_logits, fake_logits = real_logits.float(), fake_logits.float()
            loss_d = d_loss(
                config.loss, real_logits, fake_logits, config.label_smoothing, config.label_noise
            )
            # The reported loss_d stays the adversarial part alone.
            penalty = config.r1_gamma / 2 * self._r1(real_logits, real_in) if penalize else 0.0
            self._update(loss_d + penalty, self.opt_d, self.scaler_d)
        self.opt_g.zero_grad(set_to_none=True)
        # G's loss needs gradients through D, not of D's weights: skipping them saves a third of
        # D's backward. Restored before anything else can train D.
        trained = (
            [p for p in self.d.parameters() if p.requires_grad] if self.skip_d_weight_grads else []
        )
        for p in trained:
            p.requires_grad_(False)
        try:
            fake_in = self.augment_fake(fake)  # differentiable: G learns through it
            with self.d_no_sync(), low:  # no_sync: nothing of D's to all-reduce here
                gen_logits = self.train_d(fake_in)
            gen_logits = gen_logits.float()
            loss_g = g_loss(config.loss, gen_logits)
            self._update(loss_g, self.opt_g, self.scaler_g)
        finally:
            for p in trained:
                p.requires_grad_(True)
        if self.ema is not None:
            self.ema.update(self.g, step)
        with torch.no_grad():
            return torch.stack(
                [
                    loss_d.detach(),
                    loss_g.detach(),
                    torch.sigmoid(real_logits.detach()).mean(),
                    torch.sigmoid(gen_logits.detach()).mean(),
                ]
            )

    @staticmethod
    def _update(
        loss: torch.Tensor, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None
    ) -> None:
        if scaler is None:
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves backward unannotated
            opt.step()
            return
        scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
        scaler.step(opt)  # skipped when a gradient overflowed; the scale then backs off
        scaler.update()

    def _r1(self, real_logits: torch.Tensor, real_in: torch.Tensor) -> torch.Tensor:
        """R1 on fp32 gradients; in fp16 taken of the scaled logits (unscaled after) so that small
        gradients do not underflow, as PyTorch's AMP recipe for gradient penalties does."""
        if self.scaler_d is None:
            return r1_penalty(real_logits, real_in)
        scale = self.scaler_d.scale(torch.ones((), device=real_logits.device))
        return r1_penalty(real_logits * scale, real_in) / scale.pow(2)

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
            **(
                {"generator_ema": _cpu(self.ema.model.state_dict())} if self.ema is not None else {}
            ),
            # copies: an optimizer's state_dict holds its live moment tensors, which the next step changes
            "opt_g": copy.deepcopy(self.opt_g.state_dict()),
            "opt_d": copy.deepcopy(self.opt_d.state_dict()),
            "fixed_noise": self.fixed_noise.detach().cpu().clone(),
            **(
                {"scaler_g": self.scaler_g.state_dict(), "scaler_d": self.scaler_d.state_dict()}
                if self.scaler_g is not None and self.scaler_d is not None
                else {}
            ),
        }

    def checkpoint_bytes(self) -> int:
        """About the bytes a checkpoint of this step takes: the tensors of `state_dict`, uncopied."""
        tensors = [*self.g.state_dict().values(), *self.d.state_dict().values(), self.fixed_noise]
        if self.ema is not None:
            tensors += self.ema.model.state_dict().values()
        for opt in (self.opt_g, self.opt_d):
            tensors += [
                v for state in opt.state.values() for v in state.values() if torch.is_tensor(v)
            ]
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
        for name, scaler in (("scaler_g", self.scaler_g), ("scaler_d", self.scaler_d)):
            # a checkpoint from fp32/bf16 starts a fresh scale
            if scaler is not None and name in state:
                scaler.load_state_dict(state[name])
