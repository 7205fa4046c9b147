"""The moving average of G: the recurrence it promises, its warm-up, and the buffers it copies."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.ema import WARMUP, MovingAverage, average_decay


def test_the_decay_warms_up_to_the_configured_value() -> None:
    assert average_decay(0.999, 1) == pytest.approx(2 / (WARMUP + 1))
    assert average_decay(0.999, 100) == pytest.approx(101 / (WARMUP + 100))
    assert average_decay(0.999, 100_000) == 0.999


def test_updates_follow_the_exponential_average_and_copy_the_batch_norm_statistics() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    average = MovingAverage(model, decay=0.5)
    expected = [p.detach().clone() for p in model.parameters()]
    for step in range(1, 6):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        model(torch.randn(8, 3))  # train mode: the running statistics move
        average.update(model, step)
        d = average_decay(0.5, step)
        expected = [d * e + (1 - d) * p.detach() for e, p in zip(expected, model.parameters())]

    for mine, want in zip(average.model.parameters(), expected):
        assert torch.allclose(mine, want, atol=1e-6)
    assert not any(torch.equal(mine, p) for mine, p in zip(average.model.parameters(), model.parameters()))
    for mine, theirs in zip(average.model.buffers(), model.buffers()):
        assert torch.equal(mine, theirs)
    assert not average.model.training
    assert not any(p.requires_grad for p in average.model.parameters())
