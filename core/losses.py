"""GAN objectives: the non-saturating BCE loss with label smoothing/noise, the hinge loss, the R1 penalty."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def real_targets(
    n: int, smoothing: float, noise: float, device: torch.device
) -> torch.Tensor | None:
    """Targets for real images: 1 - smoothing, each flipped to 0 with probability `noise`.

    Returns None when both are zero so the common case allocates nothing per step.
    """
    if smoothing == 0.0 and noise == 0.0:
        return None
    target = torch.full((n,), 1.0 - smoothing, device=device)
    if noise > 0.0:
        target = torch.where(torch.rand(n, device=device) < noise, torch.zeros_like(target), target)
    return target


def fake_targets(n: int, noise: float, device: torch.device) -> torch.Tensor | None:
    """Targets for generated images: 0, each flipped to 1 with probability `noise`."""
    if noise == 0.0:
        return None
    return (torch.rand(n, device=device) < noise).float()


def d_loss(
    kind: str,
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    smoothing: float = 0.0,
    noise: float = 0.0,
) -> torch.Tensor:
    """Discriminator loss on one real and one generated batch of logits."""
    if kind == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    n, device = real_logits.shape[0], real_logits.device
    rt = real_targets(n, smoothing, noise, device)
    ft = fake_targets(fake_logits.shape[0], noise, device)
    real = F.binary_cross_entropy_with_logits(
        real_logits, rt if rt is not None else torch.ones_like(real_logits)
    )
    fake = F.binary_cross_entropy_with_logits(
        fake_logits, ft if ft is not None else torch.zeros_like(fake_logits)
    )
    return real + fake


def g_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss: non-saturating -log D(G(z)) for bce, -D(G(z)) for hinge."""
    if kind == "hinge":
        return -fake_logits.mean()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean squared norm of D's gradient at the real inputs (Mescheder et al., 2018).

    `real` must require grad. The gradient is taken out of place with create_graph, so under
    DistributedDataParallel it stays local and only the final backward all-reduces.
    """
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()
