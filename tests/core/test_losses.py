"""The GAN losses, label smoothing and noise, and the R1 penalty against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from core.losses import d_loss, fake_targets, g_loss, r1_penalty, real_targets


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


def test_bce_losses_at_hand_worked_logits():
    real, fake = torch.full((4,), math.log(3)), torch.full((4,), -math.log(3))  # D = 3/4 and 1/4
    # -log(3/4) for the real, -log(1 - 1/4) for the fake
    assert d_loss("bce", real, fake).item() == pytest.approx(-2 * math.log(0.75))
    # smoothing 0.1: the real target is 0.9, so -(0.9 log 3/4 + 0.1 log 1/4)
    smoothed = -(0.9 * math.log(0.75) + 0.1 * math.log(0.25)) - math.log(0.75)
    assert d_loss("bce", real, fake, smoothing=0.1).item() == pytest.approx(smoothed)
    assert g_loss("bce", fake).item() == pytest.approx(
        -math.log(0.25)
    )  # non-saturating -log D(G(z))


def test_hinge_losses_at_hand_worked_logits():
    real, fake = torch.tensor([0.5, 2.0]), torch.tensor([-2.0, 0.5])
    # mean(relu(1 - [0.5, 2])) = 0.25, mean(relu(1 + [-2, 0.5])) = 0.75
    assert d_loss("hinge", real, fake).item() == pytest.approx(1.0)
    assert g_loss("hinge", fake).item() == pytest.approx(0.75)


def test_label_noise_flips_the_targets_its_draws_pick():
    torch.manual_seed(0)
    draws = torch.rand(1000)
    torch.manual_seed(0)
    targets = real_targets(1000, 0.2, 0.3, torch.device("cpu"))
    assert torch.equal(targets, torch.where(draws < 0.3, 0.0, 0.8))
    assert 0.25 < float((targets == 0).float().mean()) < 0.35
    torch.manual_seed(1)
    draws = torch.rand(1000)
    torch.manual_seed(1)
    assert torch.equal(fake_targets(1000, 0.3, torch.device("cpu")), (draws < 0.3).float())
    assert (
        real_targets(8, 0.0, 0.0, torch.device("cpu")) is None
        and fake_targets(8, 0.0, torch.device("cpu")) is None
    )
