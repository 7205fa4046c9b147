"""Augmentations of the images D sees: random flips of the real images, or DiffAugment of real and
fake images alike.

DiffAugment (Zhao et al., 2020, "Differentiable Augmentation for Data-Efficient GAN Training",
https://arxiv.org/abs/2006.10738) with the policy of the authors' reference code,
color,translation,cutout: each op is built of differentiable tensor ops, so G's gradient passes
through the augmentation of its fakes, and D never learns the augmentation as a sign of "real".
Every random draw comes from torch's RNG of the images' device, which checkpoints save: an exact
resume stays exact.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from core.config import AUGMENTS

TRANSLATION_RATIO = 1 / 8  # largest shift, as a fraction of the side (the reference code's)
CUTOUT_RATIO = 1 / 2  # side of the cut-out square, as a fraction of the image's side

Augmentation = Callable[[torch.Tensor], torch.Tensor]


def _uniform(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """One draw per image, in [low, high), shaped to broadcast over N × C × H × W."""
    draw = torch.rand(x.shape[0], 1, 1, 1, device=x.device)
    return (low + (high - low) * draw).to(x.dtype)


def _side(length: int, ratio: float) -> int:
    return int(length * ratio + 0.5)  # rounded half up, as the reference code does


# -- the ops, with their random parameters given (what the tests check) --------------------------


def flip(x: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
    """The images where the boolean `which` (N) is set, mirrored left to right; the rest as they are."""
    return torch.where(which.view(-1, 1, 1, 1), x.flip(-1), x)


def brightness(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Each image plus its own `shift` (N × 1 × 1 × 1)."""
    return x + shift


def saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Each pixel's distance from its grey value (the mean over channels) times `factor`; grey
    images are unchanged."""
    grey = x.mean(dim=1, keepdim=True)
    return grey + (x - grey) * factor


def contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Each image's distance from its mean value times `factor`."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return mean + (x - mean) * factor


def translate(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Image i moved down by dy[i] and right by dx[i] pixels (negative: up, left); what comes in
    from outside the image is zero."""
    n, _, h, w = x.shape
    src_rows = torch.arange(h, device=x.device) - dy.view(-1, 1)  # N × H: where each row comes from
    src_cols = torch.arange(w, device=x.device) - dx.view(-1, 1)  # N × W
    rows_in = (src_rows >= 0) & (src_rows < h)
    cols_in = (src_cols >= 0) & (src_cols < w)
    inside = rows_in[:, :, None] & cols_in[:, None, :]
    batch = torch.arange(n, device=x.device).view(-1, 1, 1)
    # Clamped, then masked: no padding size to read from the device. Advanced indices around the
    # channel slice give N × H × W × C.
    moved = x[batch, :, src_rows.clamp(0, h - 1)[:, :, None], src_cols.clamp(0, w - 1)[:, None, :]]
    return moved.permute(0, 3, 1, 2) * inside[:, None].to(x.dtype)


def cutout(
    x: torch.Tensor, cy: torch.Tensor, cx: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """Image i with a `size` (height, width) rectangle centred at (cy[i], cx[i]) set to zero in every
    channel; the part of it outside the image is dropped."""
    _, _, h, w = x.shape
    top = (cy - size[0] // 2).view(-1, 1)
    left = (cx - size[1] // 2).view(-1, 1)
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    in_rows = (rows >= top) & (rows < top + size[0])  # N × H
    in_cols = (cols >= left) & (cols < left + size[1])  # N × W
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])
    return x * keep[:, None].to(x.dtype)


# -- the random versions -------------------------------------------------------------------------


def random_flip(x: torch.Tensor) -> torch.Tensor:
    """Each image mirrored with probability 1/2."""
    return flip(x, torch.rand(x.shape[0], device=x.device) < 0.5)


def random_color(x: torch.Tensor) -> torch.Tensor:
    """Brightness ± 0.5, saturation × [0, 2), contrast × [0.5, 1.5), drawn per image."""
    x = brightness(x, _uniform(x, -0.5, 0.5))
    x = saturation(x, _uniform(x, 0.0, 2.0))
    return contrast(x, _uniform(x, 0.5, 1.5))


def random_translation(x: torch.Tensor, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    """Each image shifted by up to `ratio` of its side in each direction, zero-padded."""
    n, _, h, w = x.shape
    sy, sx = _side(h, ratio), _side(w, ratio)
    dy = torch.randint(-sy, sy + 1, (n,), device=x.device)
    dx = torch.randint(-sx, sx + 1, (n,), device=x.device)
    return translate(x, dy, dx)


def random_cutout(x: torch.Tensor, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """A square of `ratio` of the side zeroed per image, its centre anywhere in the image (the
    reference code's range: an even-sided square's centre may sit one past the last pixel)."""
    n, _, h, w = x.shape
    size = (_side(h, ratio), _side(w, ratio))
    cy = torch.randint(0, h + (1 - size[0] % 2), (n,), device=x.device)
    cx = torch.randint(0, w + (1 - size[1] % 2), (n,), device=x.device)
    return cutout(x, cy, cx, size)


def diff_augment(x: torch.Tensor) -> torch.Tensor:
    """The policy color,translation,cutout, in that order."""
    return random_cutout(random_translation(random_color(x)))


def _unchanged(x: torch.Tensor) -> torch.Tensor:
    return x


def augmenters(mode: str) -> tuple[Augmentation, Augmentation]:
    """What `augment = mode` applies to the real and to the fake images before D sees them."""
    if mode == "none":
        return _unchanged, _unchanged
    if mode == "flip":
        # mirrored reals widen the data G learns from; D's input needs no change
        return random_flip, _unchanged
    if mode == "diffaugment":
        return diff_augment, diff_augment
    raise ValueError(f"augment: unknown mode {mode!r}; expected one of {', '.join(AUGMENTS)}")
