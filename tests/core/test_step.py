"""GanStep alone, no Trainer: its numbers against values worked out by hand, live hyperparameters,
and its state dict."""

from __future__ import annotations

import math

import pytest
import torch

from core.config import TrainConfig
from core.plan import COSINE_FLOOR
from core.step import GanStep
from tests.conftest import TINY

CPU = torch.device("cpu")


def make(**overrides) -> GanStep:
    values = {**TINY, "spectral_norm": False, "lr_decay": "none", **overrides}
    return GanStep(TrainConfig.from_preset("ring8-mlp", **values), CPU)


def constant_critic(step: GanStep, logit: float) -> None:
    """D outputs `logit` for every input: its last layer's weights 0, its bias `logit`."""
    last = [m for m in step.d.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(logit)


def bce(p: float, target: float) -> float:
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_bce_step_numbers_match_the_hand_worked_losses(smoothing):
    # lr 1e-9: D's own update in the step moves its outputs by far less than the tolerance
    step = make(lr_d=1e-9, lr_g=1e-9, label_smoothing=smoothing)
    constant_critic(step, math.log(3))  # D(anything) = sigmoid(ln 3) = 3/4
    loss_d, loss_g, d_x, d_g_z = step.train_step(torch.randn(8, 2), 1)
    assert loss_d == pytest.approx(bce(0.75, 1 - smoothing) + bce(0.75, 0.0), abs=1e-6)
    assert loss_g == pytest.approx(-math.log(0.75), abs=1e-6)  # non-saturating: -log D(G(z))
    assert d_x == pytest.approx(0.75, abs=1e-6) and d_g_z == pytest.approx(0.75, abs=1e-6)


def test_hinge_step_numbers_match_the_hand_worked_losses():
    step = make(loss="hinge", lr_d=1e-9, lr_g=1e-9)
    constant_critic(step, 0.5)
    loss_d, loss_g, _, _ = step.train_step(torch.randn(8, 2), 1)
    assert loss_d == pytest.approx(max(0, 1 - 0.5) + max(0, 1 + 0.5), abs=1e-6)  # 0.5 + 1.5
    assert loss_g == pytest.approx(-0.5, abs=1e-6)


def test_label_noise_flips_exactly_the_targets_its_draws_say():
    noise, smoothing, n = 0.25, 0.1, 8
    step = make(lr_d=1e-9, lr_g=1e-9, label_noise=noise, label_smoothing=smoothing, batch_size=n)
    constant_critic(step, math.log(3))
    real = torch.randn(n, 2)
    torch.manual_seed(7)
    torch.randn(n, step.config.latent_dim)  # the step draws its noise z first, then the label flips
    flip_real = torch.rand(n) < noise
    flip_fake = torch.rand(n) < noise
    assert flip_real.any() or flip_fake.any()  # seed 7 flips some: the test can tell
    real_targets = [0.0 if f else 1 - smoothing for f in flip_real.tolist()]
    fake_targets = [1.0 if f else 0.0 for f in flip_fake.tolist()]
    expected = (
        sum(bce(0.75, t) for t in real_targets) / n + sum(bce(0.75, t) for t in fake_targets) / n
    )
    torch.manual_seed(7)
    loss_d = step.train_step(real, 1)[0]
    assert loss_d == pytest.approx(expected, abs=1e-6)
    assert loss_d != pytest.approx(bce(0.75, 1 - smoothing) + bce(0.75, 0.0), abs=1e-3)


def test_live_hyperparameters_and_the_cosine_schedule_reach_the_optimizers():
    step = make(lr_decay="cosine", lr_g=1e-3, lr_d=4e-3)
    step.schedule(0, 100)
    assert step.lrs == pytest.approx((1e-3, 4e-3))
    step.schedule(100, 100)
    assert step.lrs == pytest.approx((COSINE_FLOOR * 1e-3, COSINE_FLOOR * 4e-3))
    step.configure(
        step.config.replace(lr_g=2e-3, beta1=0.0), 50, 100
    )  # half way: factor (1+floor)/2
    assert step.lrs[0] == pytest.approx(2e-3 * (1 + COSINE_FLOOR) / 2)
    assert (
        step.opt_g.param_groups[0]["betas"]
        == step.opt_d.param_groups[0]["betas"]
        == (0.0, step.config.beta2)
    )


def test_a_step_built_from_the_state_dict_trains_on_exactly_alike():
    first = make(g_ema=0.9)
    real = torch.randn(8, 2)
    for i in range(1, 4):
        first.train_step(real, i)
    second = GanStep(first.config, CPU, state=first.state_dict())
    assert torch.equal(second.fixed_noise, first.fixed_noise)
    torch.manual_seed(3)
    a = first.train_step(real, 4)
    torch.manual_seed(3)
    b = second.train_step(real, 4)
    assert a == b
    for x, y in zip(first.sampler.parameters(), second.sampler.parameters(), strict=True):
        assert torch.equal(x, y)
    with pytest.raises((RuntimeError, KeyError)):
        GanStep(first.config.replace(width=first.config.width * 2), CPU, state=first.state_dict())


def test_samples_come_from_the_fixed_noise_and_leave_training_mode_alone():
    step = make()
    assert step.g.training
    drawn = step.samples()
    assert drawn.shape == (step.config.n_samples, 2) and torch.equal(drawn, step.samples())
    assert step.g.training
