"""The moving average of G: the recurrence it promises, its warm-up, and the batch-norm statistics
it measures."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.ema import WARMUP, MovingAverage, average_decay


def test_the_decay_warms_up_to_the_configured_value() -> None:
    assert average_decay(0.999, 1) == pytest.approx(2 / (WARMUP + 1))
    assert average_decay(0.999, 100) == pytest.approx(101 / (WARMUP + 100))
    assert average_decay(0.999, 100_000) == 0.999


def test_updates_follow_the_exponential_average() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    average = MovingAverage(model, decay=0.5, noise=torch.randn(2, 8, 3))
    expected = [p.detach().clone() for p in model.parameters()]
    for step in range(1, 6):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        average.update(model, step)
        d = average_decay(0.5, step)
        expected = [d * e + (1 - d) * p.detach() for e, p in zip(expected, model.parameters())]

    for mine, want in zip(average.model.parameters(), expected):
        assert torch.allclose(mine, want, atol=1e-6)
    assert not any(
        torch.equal(mine, p) for mine, p in zip(average.model.parameters(), model.parameters())
    )
    assert not average.model.training
    assert not any(p.requires_grad for p in average.model.parameters())


def test_batch_norm_statistics_are_the_averaged_weights_own_over_the_fixed_noise() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    noise = torch.randn(3, 8, 3)
    average = MovingAverage(model, decay=0.9, noise=noise)
    for step in range(1, 4):
        with torch.no_grad():
            model[0].weight.add_(1.0)
        model(torch.randn(8, 3))  # the live model's running statistics move with its own weights
        average.update(model, step)

    linear, norm = average.model  # reading .model estimates the statistics of the current weights
    with torch.no_grad():
        batches = [linear(z) for z in noise]
    want_mean = torch.stack([b.mean(0) for b in batches]).mean(0)
    want_var = torch.stack([b.var(0) for b in batches]).mean(
        0
    )  # BN keeps the unbiased batch variance
    assert torch.allclose(norm.running_mean, want_mean, atol=1e-5)
    assert torch.allclose(norm.running_var, want_var, atol=1e-5)
    assert not torch.allclose(norm.running_mean, model[1].running_mean)
    assert norm.momentum == model[1].momentum and not average.model.training

    before = norm.running_mean.clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    average.update(model, 4)  # the weights move: the next read re-estimates
    assert not torch.equal(average.model[1].running_mean, before)


def test_the_fused_update_is_bit_identical_to_one_lerp_a_tensor() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    average = MovingAverage(model, decay=0.9, noise=torch.randn(2, 8, 3))
    expected = [p.detach().clone() for p in model.parameters()]
    for step in range(1, 4):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        average.update(model, step)
        for e, p in zip(expected, model.parameters()):
            e.lerp_(p.detach(), 1.0 - average_decay(0.9, step))
    assert all(torch.equal(e, a) for e, a in zip(expected, average.model.parameters()))
    with pytest.raises(ValueError, match="parameters"):
        average.update(nn.Linear(3, 4), 4)
