"""Model shapes: the dcgan generator with and without its full-size output convolution."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.config import TrainConfig
from core.models import build_models


@pytest.mark.parametrize(("size", "channels"), [(28, 1), (32, 3)])
def test_the_output_convolution_draws_the_image_from_width_maps_at_full_size(
    size: int, channels: int
) -> None:
    config = TrainConfig(image_size=size, channels=channels, width=8, g_output_conv=True)
    g, d = build_models(config)
    images = g(torch.randn(5, config.latent_dim))
    assert images.shape == (5, channels, size, size) and images.abs().max() <= 1
    assert d(images).shape == (5,)
    *_, up, norm, _, conv, _ = g.net
    assert isinstance(up, nn.ConvTranspose2d) and up.out_channels == 8 and norm.num_features == 8
    assert isinstance(conv, nn.Conv2d) and (
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
    ) == (8, channels, (3, 3))
    plain, _ = build_models(config.replace(g_output_conv=False))
    assert plain.net[-2].out_channels == channels and not any(
        type(m) is nn.Conv2d for m in plain.modules()
    )
