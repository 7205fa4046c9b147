"""An SNGAN-style plug-in for tui-gan: a ResNet generator and a spectral-norm ResNet discriminator.

The 32×32 CIFAR-10 models of Miyato et al., "Spectral Normalization for Generative Adversarial
Networks" (ICLR 2018), appendix B.4: G has three up-sampling residual blocks of 256 channels from a
4×4 start, D four residual blocks of 128 channels (the first two halve the size), every layer of D
spectrally normalised, then a global sum pool and a linear logit. Other sizes 4·2^k get k blocks.

Train it from the folder that holds `examples/`:

    tui-gan train --set arch=examples.sngan:build --set image_size=32 --set channels=3 ...

`build(config, width=128)` is the factory tui-gan calls, with `model_args` as keyword arguments:
`--set model_args.width=64` halves both networks (G has 2·width channels, D width).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def build(config: Any, width: int = 128) -> tuple[nn.Module, nn.Module]:
    """(G, D) for `config`'s latent_dim, channels and image_size (4·2^k: 8, 16, 32, 64, …)."""
    size, blocks = config.image_size, 0
    while size > 4 and size % 2 == 0:
        size, blocks = size // 2, blocks + 1
    if size != 4 or blocks == 0:
        raise ValueError(
            f"examples.sngan needs image_size = 4·2^k (32, 64, …), not {config.image_size}"
        )
    if width < 1:
        raise ValueError(f"examples.sngan needs width ≥ 1, not {width}")
    return (
        Generator(config.latent_dim, config.channels, 2 * width, blocks),
        Discriminator(config.channels, width, blocks),
    )


class GenBlock(nn.Module):
    """BN, ReLU, ×2 nearest upsample, 3×3 conv, BN, ReLU, 3×3 conv; a 1×1 conv of the upsampled
    input as the shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(c_in),
            nn.ReLU(),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(c_in, c_out, 3, 1, 1),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1),
        )
        self.shortcut = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(c_in, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.residual(x) + self.shortcut(x)
        return out


class Generator(nn.Module):
    """z → linear to 4×4×channels → `blocks` GenBlocks → BN, ReLU, 3×3 conv, tanh."""

    def __init__(self, latent_dim: int, channels: int, width: int, blocks: int) -> None:
        super().__init__()
        self.width = width
        self.project = nn.Linear(latent_dim, 4 * 4 * width)
        self.blocks = nn.Sequential(*(GenBlock(width, width) for _ in range(blocks)))
        self.out = nn.Sequential(
            nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh()
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z.view(z.shape[0], -1)).view(-1, self.width, 4, 4)
        out: torch.Tensor = self.out(self.blocks(h))
        return out


class DisBlock(nn.Module):
    """ReLU, 3×3 conv, ReLU, 3×3 conv (optionally 2×2 average pool); a 1×1 conv shortcut when the
    size or width changes. The first block of D skips the leading ReLU (the raw image)."""

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [] if first else [nn.ReLU()]
        layers += [
            spectral_norm(nn.Conv2d(c_in, c_out, 3, 1, 1)),
            nn.ReLU(),
            spectral_norm(nn.Conv2d(c_out, c_out, 3, 1, 1)),
        ]
        if down:
            layers.append(nn.AvgPool2d(2))
        self.residual = nn.Sequential(*layers)
        shortcut: list[nn.Module] = []
        if first:  # the paper's optimized block: pool, then the 1×1 conv
            shortcut = [nn.AvgPool2d(2), spectral_norm(nn.Conv2d(c_in, c_out, 1))]
        elif down or c_in != c_out:
            shortcut = [spectral_norm(nn.Conv2d(c_in, c_out, 1))]
            shortcut += [nn.AvgPool2d(2)] if down else []
        self.shortcut = nn.Sequential(*shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.residual(x) + self.shortcut(x)
        return out


class Discriminator(nn.Module):
    """Image → `blocks` halving DisBlocks (the first an optimized one) and two more of the same
    size → ReLU → sum over the map → spectral-norm linear logit."""

    def __init__(self, channels: int, width: int, blocks: int) -> None:
        super().__init__()
        down = max(1, blocks - 1)  # 32×32 → 8×8 in two halvings, as in the paper
        layers = [DisBlock(channels, width, down=True, first=True)]
        layers += [DisBlock(width, width, down=True) for _ in range(down - 1)]
        layers += [DisBlock(width, width, down=False) for _ in range(2)]
        self.blocks = nn.Sequential(*layers, nn.ReLU())
        self.linear = spectral_norm(nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(x).sum(dim=(2, 3))
        out: torch.Tensor = self.linear(h)
        return out.view(-1)
