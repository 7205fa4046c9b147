"""The R1 penalty against gradients worked out by hand."""

from __future__ import annotations

import torch

from core.losses import r1_penalty


def test_r1_penalty_of_a_linear_critic_is_its_squared_weight_norm_and_trains_the_weight():
    w = torch.tensor([3.0, -4.0], requires_grad=True)
    real = torch.randn(16, 2).requires_grad_(True)
    penalty = r1_penalty(real @ w, real)  # ∇ₓ(x·w) = w for every sample
    assert torch.allclose(penalty, torch.tensor(25.0))
    penalty.backward()  # create_graph lets D's weights learn from the penalty: d‖w‖²/dw = 2w
    assert torch.allclose(w.grad, 2 * w.detach())


def test_r1_penalty_averages_per_sample_squared_norms_over_image_batches():
    real = torch.randn(4, 1, 3, 3).requires_grad_(True)
    scale = torch.arange(1.0, 5.0).view(4, 1, 1, 1)
    logits = (real * scale).sum((1, 2, 3))  # sample i's gradient is i+1 at each of its 9 pixels
    assert torch.allclose(r1_penalty(logits, real), torch.tensor(9 * (1 + 4 + 9 + 16) / 4))
