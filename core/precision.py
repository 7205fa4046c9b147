"""Mixed precision of a step: which one a run uses, its autocast region and gradient scaler, and the
device settings that make a GPU fast (cuDNN autotuning, TF32).

Only the forward passes of G and D run in the low precision. Weights, optimizer moments, the moving
average of G, the spectral norm's power iteration and the losses (with the R1 gradient norm) stay in
fp32: autocast keeps parameters fp32 and casts them per operation, and the few places that would
otherwise follow the activations' dtype are taken out of it here and in `core.step`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.utils.parametrizations import _SpectralNorm

from core.errors import ConfigError

LOW: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}
# What `auto` means on a CUDA device that supports bf16; everywhere else `auto` is fp32. Issue 17
# makes it "bf16" once bf16's quality is shown within 15 % of fp32's: not measured yet (README, "Speed").
AUTO_ON_CUDA = "fp32"


def bf16_supported(device: torch.device) -> bool:
    """Whether `device` runs bfloat16 autocast natively (the CPU always emulates or has it)."""
    return device.type == "cpu" or (device.type == "cuda" and torch.cuda.is_bf16_supported())


def resolve_precision(name: str, device: torch.device) -> str:
    """The precision `name` means on `device`: fp32, bf16 or fp16; ConfigError when it cannot run there."""
    if name == "auto":
        return AUTO_ON_CUDA if device.type == "cuda" and bf16_supported(device) else "fp32"
    if name == "fp16" and device.type != "cuda":
        raise ConfigError(
            f"precision: fp16 needs a CUDA device (this run is on {device.type}); use bf16 or fp32"
        )
    if name == "bf16" and not bf16_supported(device):
        raise ConfigError(f"precision: bf16 is not supported by {device}; use fp16 or fp32")
    return name


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """The region the forward passes run in: autocast to `precision`, or nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=LOW[precision])


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16 (whose small gradients would underflow), None otherwise."""
    return torch.amp.GradScaler(device.type) if precision == "fp16" else None


def spectral_norm_in_fp32(model: nn.Module) -> None:
    """Run every spectral-norm parametrization of `model` outside autocast.

    Its power iteration updates the u/v vectors in place from one step to the next: in fp16 or
    bf16 the estimate of σ would drift with rounding. Replaces the instance's `forward` only, so the
    state dict (and old checkpoints) keep their keys.
    """
    for module in model.modules():
        if isinstance(module, _SpectralNorm):
            module.forward = _fp32(module.forward)  # type: ignore[method-assign,assignment]


def _fp32(
    forward: Callable[[torch.Tensor], torch.Tensor],
) -> Callable[[torch.Tensor], torch.Tensor]:
    @functools.wraps(forward)
    def run(weight: torch.Tensor) -> torch.Tensor:
        with torch.autocast(weight.device.type, enabled=False):
            return forward(weight.float())

    return run


def tune_device(device: torch.device, tf32: bool) -> None:
    """On CUDA: let cuDNN pick the fastest convolution algorithms (fixed shapes every step) and
    allow TF32 matmuls and convolutions when `tf32`. Nothing on the CPU, where exact resume holds."""
    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
