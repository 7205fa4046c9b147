"""examples/sngan.py as a user runs it: from the folder holding examples/, on a folder of images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from core import events as ev
from core.checkpoints import latest_checkpoint, load_checkpoint
from core.config import TrainConfig
from core.export import sample_from_checkpoint
from core.models import build_models
from core.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]
ARCH = "examples.sngan:build"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def in_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the README's instructions run tui-gan beside examples/


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    """16 colour PNGs of 40×36 pixels: the user's own folder."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(16):
        Image.fromarray(rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def config(run_dir: Path, pictures: Path, **changes) -> TrainConfig:
    return TrainConfig.from_preset("mnist-dcgan").with_overrides(
        [
            f"arch={ARCH}",
            "model_args.width=4",
            "dataset=folder",
            f"data_root={pictures}",
            "image_size=32",
            "channels=3",
            "loss=hinge",
            "batch_size=8",
            "n_samples=4",
            "device=cpu",
            "sample_every=0",
            "checkpoint_every=0",
            "lr_decay=none",
            f"run_dir={run_dir}",
            *(f"{k}={v}" for k, v in changes.items()),
        ]
    )


def test_the_models_are_sngans_resnets(in_checkout) -> None:
    g, d = build_models(TrainConfig(arch=ARCH, image_size=32, channels=3, latent_dim=128))
    assert type(g).__name__ == "Generator" and len(g.blocks) == 3  # 4 → 8 → 16 → 32
    assert type(d).__name__ == "Discriminator" and len(d.blocks) == 5  # 4 blocks and a ReLU
    layers = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)  # all spectral norm
    assert g.blocks[0].residual[3].out_channels == 256 and d.linear.in_features == 128


@pytest.mark.slow  # trains a real model for seconds
def test_sngan_trains_resumes_exactly_and_samples(in_checkout, pictures, tmp_path: Path) -> None:
    straight = Trainer(config(tmp_path / "straight", pictures, max_steps=4))
    assert straight.run() == ev.FINISHED, straight.error
    first = Trainer(config(tmp_path / "split", pictures, max_steps=2))
    assert first.run() == ev.FINISHED, first.error
    checkpoint = latest_checkpoint(tmp_path / "split")
    saved = load_checkpoint(checkpoint)["config"]
    assert saved["arch"] == ARCH and saved["model_args"] == {"width": 4}
    resumed = Trainer.from_checkpoint(checkpoint, max_steps=4, arch=ARCH)
    assert resumed.run() == ev.FINISHED, resumed.error
    for a, b in ((straight.gan.g, resumed.gan.g), (straight.gan.d, resumed.gan.d)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    picture = sample_from_checkpoint(
        latest_checkpoint(tmp_path / "split"), n=4, seed=0, named={"arch": ARCH}
    )
    assert Image.open(picture).mode == "RGB"
