"""core.noise: spherical interpolation and the truncation trick."""

from __future__ import annotations

import math

import pytest
import torch

from core.noise import interpolation_noise, slerp, truncated_noise


def rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def angle(u: torch.Tensor, v: torch.Tensor) -> float:
    u, v = u.double(), v.double()
    return math.acos(max(-1.0, min(1.0, float(u @ v / (u.norm() * v.norm())))))


def test_slerp_ends_are_the_inputs_exactly() -> None:
    a, b = torch.randn(2, 128, generator=rng())
    path = slerp(a, b, torch.linspace(0, 1, 7))
    assert path.shape == (7, 128) and path.dtype == torch.float32
    assert torch.equal(path[0], a) and torch.equal(path[-1], b)


def test_slerp_turns_at_an_even_pace_along_the_great_circle() -> None:
    a, b = torch.randn(2, 64, generator=rng(1))
    omega = angle(a, b)
    t = torch.linspace(0, 1, 11)
    path = slerp(a, b, t)
    for ti, point in zip(t.tolist(), path):
        # the angle covered so far is t·ω and what is left (1-t)·ω: the point is on the arc
        assert angle(a, point) == pytest.approx(ti * omega, abs=1e-5)
        assert angle(point, b) == pytest.approx((1 - ti) * omega, abs=1e-5)


def test_slerp_norms_go_evenly_from_one_end_to_the_other() -> None:
    a = torch.randn(32, generator=rng(2))
    b = 3 * torch.randn(32, generator=rng(3))
    t = torch.linspace(0, 1, 9)
    norms = slerp(a, b, t).double().norm(dim=1)
    expected = (1 - t.double()) * a.double().norm() + t.double() * b.double().norm()
    assert torch.allclose(norms, expected, rtol=1e-6)
    # vectors of one norm keep it all the way: a straight line would sag towards the origin
    c = b / b.norm() * a.norm()
    assert torch.allclose(slerp(a, c, t).norm(dim=1), a.norm().expand(9), rtol=1e-6)
    assert float((0.5 * (a + c)).norm()) < 0.95 * float(a.norm())


@pytest.mark.parametrize("other", ["same", "opposite", "scaled", "zero"])
def test_slerp_of_parallel_or_zero_vectors_is_finite_and_keeps_its_ends(other: str) -> None:
    a = torch.randn(16, generator=rng(4))
    b = {"same": a.clone(), "opposite": -a, "scaled": 2 * a, "zero": torch.zeros(16)}[other]
    path = slerp(a, b, torch.linspace(0, 1, 5))
    assert torch.isfinite(path).all()
    assert torch.allclose(path[0], a) and torch.allclose(path[-1], b)


@pytest.mark.parametrize("psi", [0.05, 0.5, 1.0, 2.5])
def test_truncation_leaves_no_component_beyond_psi(psi: float) -> None:
    z = truncated_noise(256, 128, psi, rng(5))
    assert z.shape == (256, 128) and z.abs().max() <= psi


def test_truncation_redraws_only_the_components_outside() -> None:
    plain = truncated_noise(64, 100, None, rng(6))
    assert torch.equal(plain, torch.randn(64, 100, generator=rng(6)))  # no ψ: plain N(0, I)
    z = truncated_noise(64, 100, 1.0, rng(6))
    inside = plain.abs() <= 1.0
    assert torch.equal(z[inside], plain[inside]) and not torch.equal(z, plain)
    assert torch.equal(truncated_noise(64, 100, 1e6, rng(6)), plain)


def test_truncated_noise_follows_the_truncated_normal() -> None:
    z = truncated_noise(400, 500, 1.0, rng(7)).double()
    # N(0, 1) cut to [-1, 1]: mean 0, variance 1 - 2φ(1)/(2Φ(1) - 1) = 0.2911
    phi = math.exp(-0.5) / math.sqrt(2 * math.pi)
    variance = 1 - 2 * phi / math.erf(1 / math.sqrt(2))
    assert abs(float(z.mean())) < 0.005
    assert float(z.var()) == pytest.approx(variance, abs=0.003)


def test_noise_is_reproducible_from_its_seed() -> None:
    for make in (
        lambda s: truncated_noise(8, 16, 0.7, rng(s)),
        lambda s: interpolation_noise(3, 5, 16, 0.7, rng(s)),
        lambda s: interpolation_noise(3, 5, 16, None, rng(s)),
    ):
        assert torch.equal(make(11), make(11)) and not torch.equal(make(11), make(12))


def test_interpolation_rows_walk_between_truncated_ends() -> None:
    rows, steps = 4, 6
    z = interpolation_noise(rows, steps, 32, 0.8, rng(8)).reshape(rows, steps, 32)
    ends = truncated_noise(2 * rows, 32, 0.8, rng(8))
    for r in range(rows):
        assert torch.equal(z[r, 0], ends[2 * r]) and torch.equal(z[r, -1], ends[2 * r + 1])
        t = torch.linspace(0, 1, steps, dtype=torch.float64)
        assert torch.equal(z[r], slerp(ends[2 * r], ends[2 * r + 1], t))
    assert not torch.equal(z[0, 0], z[1, 0])


@pytest.mark.parametrize(("rows", "steps", "psi"), [(0, 4, None), (2, 1, None), (1, 4, 0.0)])
def test_impossible_requests_are_refused(rows: int, steps: int, psi: float | None) -> None:
    with pytest.raises(ValueError):
        interpolation_noise(rows, steps, 8, psi, rng())
    with pytest.raises(ValueError):
        truncated_noise(2, 2, float("nan"), rng())
