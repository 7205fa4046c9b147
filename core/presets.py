"""Named configurations of the GAN projects tui-gan grew from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Preset:
    """A preset: a one-line description and the config fields it sets."""

    description: str
    overrides: dict[str, Any] = field(default_factory=dict)


DEFAULT_PRESET = "mnist-dcgan"

PRESETS: dict[str, Preset] = {
    "mnist-dcgan": Preset(
        "DCGAN, 28×28 MNIST from a 7×7 start with a 3×3 output convolution, spectral-norm D, hinge "
        "loss, averaged G, on the 5,000 embedded digits (default)",
        dict(
            dataset="mnist5k",
            image_size=28,
            channels=1,
            arch="dcgan",
            width=32,
            latent_dim=100,
            g_output_conv=True,
            g_ema=0.999,
            batch_size=64,
            epochs=400,
            loss="hinge",
            spectral_norm=True,
            lr_g=4e-4,
            lr_d=4e-4,
            lr_decay="cosine",
            beta1=0.5,
            beta2=0.999,
        ),
    ),
    "cifar10-dcgan32": Preset(
        "DCGAN, 32×32 CIFAR-10 from a 4×4 start, widths 224/112/56",
        dict(
            dataset="cifar10",
            image_size=32,
            channels=3,
            arch="dcgan",
            width=28,
            latent_dim=100,
            batch_size=64,
            epochs=25,
            lr_g=2e-4,
            lr_d=2e-4,
            beta1=0.5,
            beta2=0.999,
        ),
    ),
    "cifar10-upsample": Preset(
        "linear layer + upsample-convolution generator, 32×32 CIFAR-10, 2,500-image subset",
        dict(
            dataset="cifar10",
            subset=2500,
            image_size=32,
            channels=3,
            arch="upsample",
            width=32,
            latent_dim=256,
            batch_size=64,
            epochs=50,
            lr_g=0.005,
            lr_d=0.005,
            beta1=0.5,
            beta2=0.99,
        ),
    ),
    "cifar10-dcgan64": Preset(
        "DCGAN, 64×64 CIFAR-10 with label smoothing and label noise",
        dict(
            dataset="cifar10",
            image_size=64,
            channels=3,
            arch="dcgan",
            width=32,
            latent_dim=100,
            batch_size=64,
            epochs=25,
            lr_g=2e-4,
            lr_d=2e-4,
            beta1=0.5,
            beta2=0.999,
            label_smoothing=0.1,
            label_noise=0.05,
        ),
    ),
    "mnist-mlp": Preset(
        "MLP GAN of Goodfellow et al. (2014): ReLU generator, maxout discriminator, MNIST",
        dict(
            dataset="mnist5k",
            image_size=28,
            channels=1,
            arch="mlp",
            width=64,
            latent_dim=100,
            batch_size=100,
            epochs=50,
            lr_g=2e-4,
            lr_d=2e-4,
            beta1=0.5,
            beta2=0.999,
        ),
    ),
    "cifar10-mlp": Preset(
        "MLP GAN of Goodfellow et al. (2014) on 32×32 CIFAR-10",
        dict(
            dataset="cifar10",
            image_size=32,
            channels=3,
            arch="mlp",
            width=64,
            latent_dim=100,
            batch_size=100,
            epochs=50,
            lr_g=2e-4,
            lr_d=2e-4,
            beta1=0.5,
            beta2=0.999,
        ),
    ),
    "ring8-mlp": Preset(
        "MLP GAN on 8 Gaussians on a ring: a fast mode-collapse check",
        dict(
            dataset="ring8",
            arch="mlp",
            width=128,
            latent_dim=2,
            batch_size=512,
            subset=51_200,
            epochs=160,
            lr_g=5e-4,
            lr_d=1e-3,
            lr_decay="cosine",
            beta1=0.5,
            beta2=0.9,
            n_samples=512,
            sample_every=500,
            eval_every=1000,
            cpu_threads=1,
        ),
    ),
    "grid25-mlp": Preset(
        "MLP GAN on 25 Gaussians on a 5×5 grid: a harder mode-coverage check",
        dict(
            dataset="grid25",
            arch="mlp",
            width=128,
            latent_dim=2,
            batch_size=512,
            subset=51_200,
            epochs=240,
            loss="hinge",
            r1_gamma=1.0,
            lr_g=5e-4,
            lr_d=5e-4,
            lr_decay="cosine",
            beta1=0.5,
            beta2=0.999,
            n_samples=512,
            sample_every=500,
            eval_every=1000,
            cpu_threads=1,
        ),
    ),
}
