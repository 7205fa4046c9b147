"""Generator and discriminator architectures: DCGAN, upsample-convolution and MLP."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

from core.errors import ConfigError

if TYPE_CHECKING:  # core.config imports this module to check a config: types only here
    from core.config import TrainConfig


def dcgan_start(image_size: int) -> tuple[int, int]:
    """(start side, number of ×2 upsamplings) for a DCGAN: 28 → 7×7 and 2, 32 → 4×4 and 3, 64 → 4×4 and 4."""
    side, doublings = image_size, 0
    while side > 7 and side % 2 == 0:
        side, doublings = side // 2, doublings + 1
    if side > 7 or side < 3 or doublings == 0:
        raise ConfigError(
            f"image_size: {image_size} cannot be reached by a DCGAN; use a size s·2^k with 3 ≤ s ≤ 7 "
            "(e.g. 28, 32, 64)"
        )
    return side, doublings


def _init_dcgan(module: nn.Module) -> None:
    # The DCGAN paper's initialisation: N(0, 0.02) weights, BN scales around 1.
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """Latent vector → start×start map → stride-2 transposed convolutions → tanh image.

    With `output_conv` the last transposed convolution makes `width` maps at full size (batch norm,
    ReLU) and a 3×3 convolution draws the image from them, instead of going straight to pixels.
    """

    def __init__(
        self, latent_dim: int, channels: int, image_size: int, width: int, output_conv: bool = False
    ) -> None:
        super().__init__()
        start, k = dcgan_start(image_size)
        widths = [width * 2 ** (k - i) for i in range(k)]  # e.g. 8w, 4w, 2w
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], start, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for a, b in itertools.pairwise(widths):
            layers += [
                nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False),
                nn.BatchNorm2d(b),
                nn.ReLU(True),
            ]
        if output_conv:
            layers += [
                nn.ConvTranspose2d(widths[-1], width, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(True),
                nn.Conv2d(width, channels, 3, 1, 1),
            ]
        else:
            layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False)]
        self.net = nn.Sequential(*layers, nn.Tanh())
        self.latent_dim = latent_dim
        self.apply(_init_dcgan)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(z.view(z.shape[0], -1, 1, 1))
        return out


class DCGANDiscriminator(nn.Module):
    """Image → stride-2 convolutions (mirror of the generator) → one logit."""

    def __init__(self, channels: int, image_size: int, width: int, batch_norm: bool = True) -> None:
        super().__init__()
        start, k = dcgan_start(image_size)
        widths = [width * 2 ** (i + 1) for i in range(k)]  # e.g. 2w, 4w, 8w
        bias = not batch_norm  # a batch norm's shift makes a bias redundant
        layers: list[nn.Module] = [
            nn.Conv2d(channels, widths[0], 4, 2, 1, bias=bias),
            nn.LeakyReLU(0.2, True),
        ]
        for a, b in itertools.pairwise(widths):
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=bias)]
            layers += [nn.BatchNorm2d(b)] if batch_norm else []
            layers += [nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(widths[-1], 1, start, 1, 0, bias=bias)]
        self.net = nn.Sequential(*layers)
        self.apply(_init_dcgan)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out.view(-1)


class UpsampleGenerator(nn.Module):
    """Linear layer to a 4×4 map, then (nearest upsample ×2, 3×3 conv, BN, ReLU) blocks: no checkerboard."""

    def __init__(self, latent_dim: int, channels: int, image_size: int, width: int) -> None:
        super().__init__()
        start, k = dcgan_start(image_size)
        widths = [width * 2 ** (k - i) for i in range(k + 1)]
        self.start, self.top = start, widths[0]
        self.project = nn.Sequential(
            nn.Linear(latent_dim, widths[0] * start * start, bias=False),
            nn.BatchNorm1d(widths[0] * start * start),
            nn.ReLU(True),
        )
        blocks: list[nn.Module] = []
        for a, b in itertools.pairwise(widths):
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(a, b, 3, 1, 1, bias=False),
                nn.BatchNorm2d(b),
                nn.ReLU(True),
            ]
        blocks += [nn.Conv2d(widths[-1], channels, 3, 1, 1), nn.Tanh()]
        self.blocks = nn.Sequential(*blocks)
        self.latent_dim = latent_dim
        self.apply(_init_dcgan)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z.view(z.shape[0], -1))
        out: torch.Tensor = self.blocks(h.view(-1, self.top, self.start, self.start))
        return out


class Maxout(nn.Module):
    """Maxout units (Goodfellow et al. 2013): the max over `pieces` linear maps."""

    def __init__(self, n_in: int, n_out: int, pieces: int) -> None:
        super().__init__()
        self.n_out, self.pieces = n_out, pieces
        self.linear = nn.Linear(n_in, n_out * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(x)
        return out.view(-1, self.n_out, self.pieces).amax(-1)


def _mlp(
    n_in: int, n_out: int, width: int, depth: int, act: Callable[[], nn.Module]
) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(n_in if i == 0 else width, width), act()]
    return nn.Sequential(*layers, nn.Linear(width, n_out))


class MLPGenerator(nn.Module):
    """The MLP generator of Goodfellow et al. (2014): two ReLU layers, then a tanh image."""

    def __init__(self, latent_dim: int, out_shape: tuple[int, int, int], hidden: int) -> None:
        super().__init__()
        c, h, w = out_shape
        self.net = nn.Sequential(_mlp(latent_dim, c * h * w, hidden, 2, nn.ReLU), nn.Tanh())
        self.out_shape, self.latent_dim = out_shape, latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(z.view(z.shape[0], -1))
        return out.view(-1, *self.out_shape)


class MLPDiscriminator(nn.Module):
    """The maxout discriminator of Goodfellow et al. (2014), with dropout."""

    def __init__(self, n_in: int, hidden: int, pieces: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Dropout(dropout),
            Maxout(n_in, hidden, pieces),
            nn.Dropout(dropout),
            Maxout(hidden, hidden, pieces),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x.reshape(x.shape[0], -1))
        return out.view(-1)


class PointGenerator(nn.Module):
    """Latent → 2-D point: three ReLU layers of `width` units (no output squashing: points are unbounded)."""

    def __init__(self, latent_dim: int, width: int) -> None:
        super().__init__()
        self.net = _mlp(latent_dim, 2, width, 3, nn.ReLU)
        self.latent_dim = latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(z.view(z.shape[0], -1))
        return out


class PointDiscriminator(nn.Module):
    """2-D point → logit: three leaky-ReLU layers of `width` units."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.net = _mlp(2, 1, width, 3, lambda: nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out.view(-1)


def spectral_normalise(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) on every convolution and linear layer of `module`."""
    for layer in [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]:
        nn.utils.parametrizations.spectral_norm(layer)
    return module


def sample_shape(config: TrainConfig) -> tuple[int, ...]:
    """Shape of one generated sample: C×H×W for images, (2,) for toy points."""
    from core.data import is_toy

    if is_toy(config.dataset):
        return (2,)
    return (config.channels, config.image_size, config.image_size)


def build_models(config: TrainConfig, *, seeded: bool = True) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) for the config, on the CPU, freshly initialised from `seed`.

    `seeded=False` leaves the global RNG alone (it is shared with a trainer thread): for models
    whose weights are loaded right after, e.g. built on the meta device.
    """
    if seeded:
        torch.manual_seed(config.seed)
    shape = sample_shape(config)
    if ":" in config.arch:  # the user's own factory, "package.module:function" (core/contract.py)
        from core.contract import plugin_models

        return plugin_models(config, shape)
    g: nn.Module
    d: nn.Module
    if config.arch == "mlp" and shape == (2,):
        g, d = PointGenerator(config.latent_dim, config.width), PointDiscriminator(config.width)
    elif config.arch == "mlp":
        c, h, w = shape
        n_in = c * h * w
        # Goodfellow et al.: G 1200-1200, D 240 maxout units × 5 pieces; `width` scales both.
        g = MLPGenerator(config.latent_dim, (c, h, w), hidden=config.width * 1200 // 64)
        d = MLPDiscriminator(n_in, max(8, config.width * 240 // 64), pieces=5, dropout=0.5)
    else:
        c, size = config.channels, config.image_size
        if config.arch == "upsample":
            g = UpsampleGenerator(config.latent_dim, c, size, config.width)
        else:
            g = DCGANGenerator(
                config.latent_dim, c, size, config.width, output_conv=config.g_output_conv
            )
        # Spectral norm replaces the batch norm: D then judges each image on its own.
        d = DCGANDiscriminator(c, size, config.width, batch_norm=not config.spectral_norm)
    if config.spectral_norm:
        spectral_normalise(d)
    return g, d
