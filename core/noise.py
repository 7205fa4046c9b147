"""Noise for the generator beyond plain N(0, I): the truncation trick and spherical interpolation."""

from __future__ import annotations

import torch

# Vectors closer than this angle (radians) to parallel or opposite interpolate linearly: slerp's
# sin(ω) in the denominator would blow rounding errors up.
_ALMOST_PARALLEL = 1e-4


def truncated_noise(
    n: int, dim: int, truncation: float | None, generator: torch.Generator
) -> torch.Tensor:
    """`n × dim` standard normal noise; with `truncation` ψ every component outside [-ψ, ψ] is
    drawn again until it falls inside (the truncation trick of BigGAN: a truncated normal).

    Drawn from `generator` on the CPU, so a seed gives the same noise on any device.
    """
    z = torch.randn(n, dim, generator=generator)
    if truncation is None:
        return z
    if not truncation > 0:  # also refuses NaN: nothing would ever fall inside
        raise ValueError(f"truncation must be positive, not {truncation}")
    outside = z.abs() > truncation
    while outside.any():
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = z.abs() > truncation
    return z


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from `a` (t=0) to `b` (t=1) of two D-vectors at each t of `t` (T):
    a T × D tensor.

    The direction turns along the great circle between the two directions and the norm goes
    linearly from |a| to |b|, so every point keeps a norm like the end points' (high-dimensional
    Gaussian noise lives on such a shell; a straight line cuts inside it, where G saw no noise).
    At t=0 and t=1 the result is `a` and `b` exactly.
    """
    a, b = a.double(), b.double()
    t = t.double().reshape(-1, 1)
    norm_a, norm_b = a.norm(), b.norm()
    if norm_a == 0 or norm_b == 0:
        return ((1 - t) * a + t * b).float()
    cos = torch.clamp(a @ b / (norm_a * norm_b), -1.0, 1.0)
    omega = torch.arccos(cos)
    if omega < _ALMOST_PARALLEL or omega > torch.pi - _ALMOST_PARALLEL:
        return ((1 - t) * a + t * b).float()
    sin = torch.sin(omega)
    norm = (1 - t) * norm_a + t * norm_b
    # each weight is (slerp weight of the unit vector) × (wanted norm / own norm); at t=0 the
    # first is sin(ω)/sin(ω) · |a|/|a| = 1 and the second 0, so the end points come out exact
    weight_a: torch.Tensor = torch.sin((1 - t) * omega) / sin * norm / norm_a
    weight_b: torch.Tensor = torch.sin(t * omega) / sin * norm / norm_b
    return (weight_a * a + weight_b * b).float()


def interpolation_noise(
    rows: int, steps: int, dim: int, truncation: float | None, generator: torch.Generator
) -> torch.Tensor:
    """`rows × steps` noise vectors (row-major): each row a slerp in `steps` even steps from one
    random vector to another, both ends included. With `truncation` the ends are truncated; the
    points between follow the sphere and may step slightly outside [-ψ, ψ]."""
    if rows < 1 or steps < 2:
        raise ValueError(f"need at least 1 row and 2 steps, not {rows} and {steps}")
    ends = truncated_noise(2 * rows, dim, truncation, generator)
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)
    return torch.cat([slerp(ends[2 * r], ends[2 * r + 1], t) for r in range(rows)])
