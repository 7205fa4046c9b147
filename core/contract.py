"""A plug-in model factory's (G, D), checked against the contract by one forward pass of each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from core.plugins import PluginError, call, resolve

if TYPE_CHECKING:  # core.config imports core.models, which imports this module
    from core.config import TrainConfig

CHECK_BATCH = 2  # BatchNorm in training mode needs more than one item; two is enough to see N


def plugin_models(config: TrainConfig, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    """(G, D) from the factory `config.arch` names, `function(config, **model_args)`, checked:
    G maps N×latent_dim noise to N×`shape` samples, D maps those to N logits."""
    factory = resolve(config.arch, "arch")
    made = call(config.arch, "arch", factory, config, **config.model_args)
    if not (
        isinstance(made, (tuple, list))
        and len(made) == 2
        and all(isinstance(m, nn.Module) for m in made)
    ):
        raise PluginError(
            f"arch: {config.arch} returned {_what(made)}; expected (G, D), two torch.nn.Modules"
        )
    g, d = made
    d.register_forward_hook(_flat_logits)  # N×1 logits as N: what the losses take
    check_contract(g, d, config, shape)
    return g, d


def _flat_logits(module: nn.Module, args: Any, out: Any) -> Any:
    if isinstance(out, torch.Tensor) and out.ndim == 2 and out.shape[1] == 1:
        return out.view(-1)
    return out


def check_contract(g: nn.Module, d: nn.Module, config: TrainConfig, shape: tuple[int, ...]) -> None:
    """One forward pass of each on a batch of 2, in eval mode, without gradients, leaving the
    global RNG as it found it (an exact resume depends on it). PluginError names the break."""
    name, n = config.arch, CHECK_BATCH
    device = next((p.device for p in g.parameters()), torch.device("cpu"))
    meta = device.type == "meta"  # weights to come from a checkpoint: shapes only, no values
    modes = g.training, d.training
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        g.eval()
        d.eval()
        try:
            if meta:
                z = torch.empty(n, config.latent_dim, device=device)
            else:
                z = torch.randn(n, config.latent_dim, generator=torch.Generator().manual_seed(0))
                z = z.to(device)
            out = call(name, "arch", g, z)
            points = shape == (2,)
            want = f"{n}×{_dims(shape)} floats" + ("" if points else " in [-1, 1]")
            _check_tensor(
                out, (n, *shape), f"{name}: G(z) for z of shape {n}×{config.latent_dim}", want
            )
            if not meta and out.numel():
                finite = bool(torch.isfinite(out).all())
                low, high = float(out.min()), float(out.max())
                if not finite or (not points and (low < -1.001 or high > 1.001)):
                    raise PluginError(
                        f"arch: {name}: G(z) must be {want} (end G with tanh); got values in "
                        f"[{low:.3g}, {high:.3g}]"
                    )
            logits = call(name, "arch", d, out)
            _check_tensor(logits, (n,), f"{name}: D(G(z))", f"{n} (or {n}×1) float logits")
        finally:
            g.train(modes[0])
            d.train(modes[1])


def _check_tensor(value: Any, shape: tuple[int, ...], what: str, want: str) -> None:
    if not isinstance(value, torch.Tensor):
        raise PluginError(f"arch: {what} must be {want}; got {_what(value)}")
    if tuple(value.shape) != shape or not value.is_floating_point():
        raise PluginError(
            f"arch: {what} must be {want}; got {_dims(tuple(value.shape)) or 'a scalar'} "
            f"{str(value.dtype).removeprefix('torch.')}"
        )


def _dims(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


def _what(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {_dims(tuple(value.shape))}"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(type(v).__name__ for v in value[:4])
        return f"a {type(value).__name__} of {len(value)} ({inner})"
    return f"a {type(value).__name__}"
