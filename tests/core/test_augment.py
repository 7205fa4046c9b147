"""Augmentation of D's inputs (core/augment.py, `augment` in the step): each op on constructed
images, what the step feeds D in each mode, the toy refusal, and exact resume with each mode."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from core.augment import (
    augmenters,
    brightness,
    contrast,
    cutout,
    diff_augment,
    flip,
    random_color,
    random_cutout,
    random_flip,
    random_translation,
    saturation,
    translate,
)
from core.checkpoints import latest_checkpoint, load_checkpoint
from core.config import FIELDS, TrainConfig, live_change
from core.errors import ConfigError
from core.step import GanStep
from core.trainer import Trainer
from tests.conftest import TINY
from tests.core.test_resume import assert_same_state, losses, run, tiny

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CPU = torch.device("cpu")


def numbered(n: int = 4, c: int = 1, h: int = 8, w: int = 8) -> torch.Tensor:
    """Images whose every pixel is distinct and none is zero: moves and zeros are unambiguous."""
    return torch.arange(1, n * c * h * w + 1, dtype=torch.float32).view(n, c, h, w)


def shifted_by_hand(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """`img` (C × H × W) moved down dy and right dx with zeros coming in, by slicing."""
    _, h, w = img.shape
    out = torch.zeros_like(img)
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = img[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


# -- flip ----------------------------------------------------------------------------------------


def test_flip_mirrors_exactly_the_chosen_images():
    x = numbered(n=3, c=2)
    out = flip(x, torch.tensor([True, False, True]))
    for i in (0, 2):
        for col in range(8):
            assert torch.equal(out[i, :, :, col], x[i, :, :, 7 - col])
    assert torch.equal(out[1], x[1])


def test_random_flip_mirrors_about_half_and_changes_nothing_else():
    torch.manual_seed(0)
    x = numbered(n=200)
    out = random_flip(x)
    mirrored = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x, strict=True)]
    kept = [torch.equal(o, i) for o, i in zip(out, x, strict=True)]
    assert all(m != k for m, k in zip(mirrored, kept, strict=True))  # each exactly one of the two
    assert 70 < sum(mirrored) < 130


# -- translation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("dy", "dx"), [(0, 0), (2, 0), (0, -3), (-1, 2), (3, 3), (-8, 1)])
def test_translate_shifts_with_zero_padding(dy, dx):
    x = numbered(n=2, c=3)
    out = translate(x, torch.tensor([dy, 0]), torch.tensor([dx, 0]))
    assert torch.equal(out[0], shifted_by_hand(x[0], dy, dx))
    assert torch.equal(out[1], x[1])  # its own shift (none), not the first image's
    assert int((out[0] == 0).sum()) == 3 * (64 - (8 - min(abs(dy), 8)) * (8 - abs(dx)))


def test_random_translation_moves_each_image_by_at_most_an_eighth():
    torch.manual_seed(1)
    x = numbered(n=300, h=28, w=28)
    out = random_translation(x)
    seen = set()
    for o, i in zip(out, x, strict=True):
        # 28 / 8 = 3.5 rounds to 4, as in the reference code
        found = [
            (dy, dx)
            for dy in range(-4, 5)
            for dx in range(-4, 5)
            if torch.equal(o, shifted_by_hand(i, dy, dx))
        ]
        assert len(found) == 1
        seen.add(found[0])
    assert {dy for dy, _ in seen} == set(range(-4, 5)) == {dx for _, dx in seen}


# -- cutout --------------------------------------------------------------------------------------


def test_cutout_zeroes_a_square_of_the_given_size_at_its_centre():
    x = numbered(n=2, c=3, h=12, w=12)
    out = cutout(x, torch.tensor([6, 3]), torch.tensor([5, 9]), (6, 6))
    expected = x.clone()
    expected[0, :, 3:9, 2:8] = 0  # centre (6, 5): rows 6-3 .. 6+2, columns 5-3 .. 5+2
    expected[1, :, 0:6, 6:12] = 0
    assert torch.equal(out, expected)


def test_cutout_at_an_edge_zeroes_only_the_part_inside():
    x = numbered(n=1, h=12, w=12)
    out = cutout(x, torch.tensor([0]), torch.tensor([11]), (6, 6))
    expected = x.clone()
    expected[0, :, 0:3, 8:12] = 0
    assert torch.equal(out, expected)


def test_random_cutout_zeroes_half_the_side_in_every_channel():
    torch.manual_seed(2)
    x = torch.ones(400, 3, 28, 28)
    out = random_cutout(x)
    full = 0
    for img in out:
        zero = img == 0
        assert torch.equal(zero[0], zero[1]) and torch.equal(zero[0], zero[2])
        rows = zero[0].any(dim=1).nonzero().flatten()
        cols = zero[0].any(dim=0).nonzero().flatten()
        height, width = len(rows), len(cols)
        # a rectangle: as many zeros as its bounding box holds; a corner keeps at least 7 × 7
        assert int(zero[0].sum()) == height * width
        assert 7 <= height <= 14 and 7 <= width <= 14
        full += height == width == 14
    assert full > 100  # most centres lie far enough inside for the whole 14 × 14 square


# -- colour --------------------------------------------------------------------------------------


def test_colour_ops_do_what_they_say():
    x = torch.rand(4, 3, 6, 6) * 2 - 1
    shift = torch.tensor([0.5, -0.5, 0.1, 0.0]).view(4, 1, 1, 1)
    assert torch.allclose(brightness(x, shift), x + shift)
    factor = torch.full((4, 1, 1, 1), 0.0)
    grey = saturation(x, factor)  # factor 0: every channel its pixel's grey value
    assert torch.allclose(grey, x.mean(dim=1, keepdim=True).expand_as(x))
    one_channel = x[:, :1]
    assert torch.equal(saturation(one_channel, factor + 1.7), one_channel)
    stretched = contrast(x, factor + 1.5)
    assert torch.allclose(stretched.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=1e-6)
    assert torch.allclose(stretched.std(dim=(1, 2, 3)), 1.5 * x.std(dim=(1, 2, 3)), atol=1e-5)


def test_colour_ops_are_differentiable_and_pass_gradients_to_the_input():
    x = torch.rand(2, 3, 5, 5, dtype=torch.float64) * 2 - 1
    factor = torch.tensor([0.3, 1.6], dtype=torch.float64).view(2, 1, 1, 1)
    for op in (brightness, saturation, contrast):
        assert torch.autograd.gradcheck(
            lambda t, op=op: op(t, factor), (x.clone().requires_grad_(True),)
        )
    torch.manual_seed(3)
    leaf = x.clone().requires_grad_(True)
    random_color(leaf).square().sum().backward()
    assert leaf.grad is not None and bool(leaf.grad.abs().gt(0).all())


def test_diff_augment_passes_gradients_to_every_image():
    torch.manual_seed(4)
    x = (torch.rand(8, 3, 16, 16) * 2 - 1).requires_grad_(True)
    diff_augment(x).square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(bool(g.ne(0).any()) for g in x.grad)


def test_cutout_and_translation_route_gradients_to_the_pixels_d_sees():
    torch.manual_seed(6)
    x = torch.ones(8, 2, 12, 12, requires_grad=True)
    out = random_cutout(random_translation(x))
    out.sum().backward()
    assert x.grad is not None
    # each pixel kept in view gets gradient 1 from the pixel it became; cut-out and
    # shifted-out ones get none, so the gradient map has as many ones as the output
    assert torch.equal(x.grad.sum(), out.detach().sum())
    assert set(x.grad.unique().tolist()) <= {0.0, 1.0}


# -- in the step ---------------------------------------------------------------------------------


def recorded_step(
    augment: str, real: torch.Tensor | None = None, **overrides
) -> tuple[GanStep, GanStep, torch.Tensor, list]:
    """One step of mnist-dcgan (seed 5) with every input D saw recorded as it was passed; also
    returns the step as it was before training, to replay its draws."""
    values = {**TINY, "spectral_norm": False, "label_noise": 0.0, "augment": augment, **overrides}
    step = GanStep(TrainConfig.from_preset("mnist-dcgan", **values), CPU)
    before = copy.deepcopy(step)
    seen: list[torch.Tensor] = []
    step.d.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    if real is None:
        real = torch.full((8, 1, 28, 28), 0.25)
    torch.manual_seed(5)
    step.train_step(real, 1)
    return step, before, real, seen


def replay_fake(step: GanStep, before: GanStep) -> torch.Tensor:
    """The step's first draw (z) and the fakes G made of it; the RNG left where the step was."""
    torch.manual_seed(5)
    z = torch.randn(8, step.config.latent_dim)
    return before.g(z).detach()


def test_diffaugment_gives_real_and_fake_the_same_policy_in_both_steps():
    step, before, real, seen = recorded_step("diffaugment")
    assert len(seen) == 3  # D step: reals, fakes; G step: fakes
    # Replayed in the step's order: z, then the reals', the fakes' and the G step's fakes'
    # augmentations, each the whole policy.
    fake = replay_fake(step, before)
    expected = [diff_augment(real), diff_augment(fake), diff_augment(fake)]
    for got, want in zip(seen, expected, strict=True):
        assert torch.equal(got.detach(), want)
        # each image bears the policy's marks: a cut-out corner of at least 7 × 7 zeros
        assert bool(((got == 0).flatten(1).sum(dim=1) >= 49).all())
    assert not torch.equal(seen[1], seen[2].detach())  # the G step draws afresh
    assert seen[2].requires_grad  # the G step's augmented fakes keep G's graph


def test_flip_mirrors_the_reals_only():
    real = torch.linspace(-0.9, 0.9, 28).expand(8, 1, 28, 28).clone()  # a mirror changes it
    step, before, real, seen = recorded_step("flip", real)
    fake = replay_fake(step, before)
    which = torch.rand(8) < 0.5  # the draw after z
    assert 0 < int(which.sum()) < 8  # seed 5 mirrors some and keeps some: the test can tell
    assert torch.equal(seen[0], flip(real, which))
    assert torch.equal(seen[1], fake) and torch.equal(seen[2].detach(), fake)


def test_none_feeds_d_the_very_batches_of_a_step_without_augmentation():
    # A config without the field (a run or checkpoint from before it) means none.
    values = TrainConfig.from_preset("mnist-dcgan").to_dict()
    del values["augment"]
    assert TrainConfig.from_dict(values).augment == "none"
    step, before, real, seen = recorded_step("none")
    assert seen[0] is real  # the batch itself: nothing copied, nothing computed
    fake = replay_fake(step, before)
    after_z = torch.get_rng_state()
    assert torch.equal(seen[1], fake) and torch.equal(seen[2].detach(), fake)
    # The step draws nothing but z (hinge loss, no label noise): no augmentation draws.
    torch.manual_seed(5)
    before.train_step(real, 1)
    assert torch.equal(torch.get_rng_state(), after_z)


def test_r1_takes_the_gradient_at_the_augmented_reals():
    step, before, real, seen = recorded_step("diffaugment", r1_gamma=1.0)
    replay_fake(step, before)
    # What D saw of the reals is the leaf R1 differentiates against: augmented, not the batch.
    assert seen[0].is_leaf and seen[0].requires_grad
    assert torch.equal(seen[0].detach(), diff_augment(real))


def test_augmenting_the_2d_toys_is_refused_in_one_line():
    for mode in ("flip", "diffaugment"):
        with pytest.raises(ConfigError) as caught:
            TrainConfig.from_preset("ring8-mlp", augment=mode)
        message = str(caught.value)
        assert message.startswith("augment:") and "ring8" in message and "\n" not in message
    assert TrainConfig.from_preset("ring8-mlp", augment="none").augment == "none"
    with pytest.raises(ConfigError, match="augment: 'mirror' is not allowed"):
        TrainConfig.from_preset("mnist-dcgan", augment="mirror")
    assert not FIELDS["augment"].live
    with pytest.raises(ConfigError, match="augment needs a restart"):
        live_change(TrainConfig.from_preset("mnist-dcgan"), {"augment": "flip"})


def test_unknown_mode_is_refused_by_the_builder():
    with pytest.raises(ValueError, match="mirror"):
        augmenters("mirror")


# -- exact resume --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "changes",
    [
        {"augment": "flip"},
        {"augment": "diffaugment"},
        {"augment": "diffaugment", "r1_gamma": 1.0, "d_steps": 2},
    ],
)
def test_half_resume_half_is_bit_identical_with_augmentation(tmp_path: Path, changes: dict) -> None:
    total = 12
    straight = run(Trainer(tiny("mnist-dcgan", tmp_path / "straight", max_steps=total, **changes)))
    run(Trainer(tiny("mnist-dcgan", tmp_path / "split", max_steps=total // 2, **changes)))
    checkpoint = latest_checkpoint(tmp_path / "split")
    assert load_checkpoint(checkpoint)["config"]["augment"] == changes["augment"]
    resumed = run(Trainer.from_checkpoint(checkpoint, max_steps=total))
    assert resumed.config.augment == changes["augment"]
    assert_same_state(straight, resumed)
    assert losses(tmp_path / "split") == losses(tmp_path / "straight")
