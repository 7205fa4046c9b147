"""Evaluating a generator: the metrics that fit its data set, with real-data reference values."""

from __future__ import annotations

import pickle
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from core.config import TrainConfig
from core.data import ToySource, load_images
from core.errors import ConfigError, detail_line
from core.metrics import (
    feature_stats,
    frechet_distance,
    kernel_inception_distance,
    metric_kind,
    toy_mode_metrics,
)

if TYPE_CHECKING:  # the classifier loads only when digits are scored
    from core.digits import DigitJudge

# eval noise comes from its own generator: evaluating never moves the training RNG
EVAL_SEED_OFFSET = 2

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Evaluation:
    """Metric values of generated samples, the same metrics on real data, and a note if some are off."""

    values: dict[str, float]
    reference: dict[str, float] = field(default_factory=dict)
    note: str = ""


@torch.no_grad()
def generate(
    generator: nn.Module, n: int, latent_dim: int, seed: int, device: torch.device
) -> torch.Tensor:
    """n samples from `generator` in eval mode with noise from a private generator, left on `device`
    (the scorers run there: samples never make a round trip through the host)."""
    gen = torch.Generator().manual_seed(seed)
    was_training = generator.training
    generator.eval()
    try:
        out = [
            generator(torch.randn(min(500, n - i), latent_dim, generator=gen).to(device)).float()
            for i in range(0, n, 500)
        ]
    finally:
        generator.train(was_training)
    return torch.cat(out)


def _real_toy_points(config: TrainConfig, n: int) -> torch.Tensor:
    source = ToySource(
        config.dataset, max(n, config.batch_size), n, config.seed + 99, torch.device("cpu")
    )
    return next(source.batches(0))


class Evaluator:
    """Scores generators of one config; heavy parts (classifier, Inception, real features) load once."""

    def __init__(self, config: TrainConfig, progress: Progress | None = None) -> None:
        self.config, self.progress = config, progress
        self.kind = metric_kind(config.dataset)
        self._judge: DigitJudge | None = None
        self._inception: nn.Module | None = None
        self._real_stats: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._inception_reference: dict[str, float] = {}
        self._toy_reference: dict[int, dict[str, float]] = {}

    def prepare(self) -> None:
        """Load (or train once) what the metrics need, so later evaluations are quick."""
        if self.kind == "digits" and self._judge is None:
            from core.digits import load_judge

            self._judge = load_judge(self.progress)
        elif self.kind == "images" and self._inception is None and self.inception_available():
            self._inception = load_inception(self.config)

    def inception_available(self) -> bool:
        return bool(self.config.inception_weights) or self.config.download

    def evaluate(
        self, generator: nn.Module, n: int | None = None, device: torch.device | None = None
    ) -> Evaluation:
        config = self.config
        n = n or config.eval_samples
        device = device or next(generator.parameters()).device
        samples = generate(generator, n, config.latent_dim, config.seed + EVAL_SEED_OFFSET, device)
        if self.kind == "toy":
            # depends only on data set, seed and n: score real points once
            if n not in self._toy_reference:
                self._toy_reference[n] = toy_mode_metrics(
                    _real_toy_points(config, n), config.dataset
                )
            return Evaluation(
                toy_mode_metrics(samples, config.dataset), dict(self._toy_reference[n])
            )
        self.prepare()
        if self.kind == "digits":
            assert self._judge is not None
            self._judge.to(device)
            return Evaluation(self._judge.score(samples), dict(self._judge.reference))
        if self._inception is None:
            return Evaluation(
                {},
                {},
                "FID/KID need Inception weights: set inception_weights=PATH "
                "(torchvision's inception_v3_google-0cc3c7bd.pth) or download=true online",
            )
        self._inception.to(device)
        return self._inception_scores(samples, n)

    def _inception_scores(self, samples: torch.Tensor, n: int) -> Evaluation:
        assert self._inception is not None
        if self._real_stats is None:
            real = load_images(self.config).float().div(127.5).sub(1)
            real = real[
                torch.randperm(len(real), generator=torch.Generator().manual_seed(0))[: 2 * n]
            ]
            feats = inception_features(self._inception, real)
            half = len(feats) // 2
            mu, cov = feature_stats(feats)
            self._real_stats = (feats, mu, cov)
            a, b = feats[:half], feats[half:]
            self._inception_reference = {
                "fid": frechet_distance(*feature_stats(a), *feature_stats(b)),
                "kid": kernel_inception_distance(a, b),
            }
        real_feats, mu, cov = self._real_stats
        fake = inception_features(self._inception, samples)
        values = {
            "fid": frechet_distance(*feature_stats(fake), mu, cov),
            "kid": kernel_inception_distance(real_feats, fake),
        }
        return Evaluation(values, dict(self._inception_reference))


def load_inception(config: TrainConfig) -> nn.Module:
    """torchvision's Inception v3 with pool features as output, from a local weights file or a download."""
    from torchvision.models import Inception_V3_Weights, inception_v3

    net = inception_v3(weights=None, aux_logits=True, init_weights=False)
    if config.inception_weights:
        path = Path(config.inception_weights).expanduser()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        except FileNotFoundError:
            raise ConfigError(f"inception_weights: {path} does not exist") from None
        except pickle.UnpicklingError:  # torch's refusal is pages of advice to turn the safety off
            raise ConfigError(
                f"inception_weights: {path} was refused: it holds pickled objects, not only "
                "tensors (weights are loaded with weights_only)"
            ) from None
        except Exception as exc:
            raise ConfigError(
                f"inception_weights: {path} is not an Inception v3 state dict ({detail_line(exc)})"
            ) from None
    else:
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(10)
        try:
            net.load_state_dict(Inception_V3_Weights.IMAGENET1K_V1.get_state_dict(progress=False))
        except Exception as exc:
            raise ConfigError(
                f"inception weights could not be downloaded ({exc}); set inception_weights=PATH"
            ) from None
        finally:
            socket.setdefaulttimeout(previous)
    net.fc = nn.Identity()
    evaluated: nn.Module = net.eval()
    return evaluated


@torch.no_grad()
def inception_features(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """2048-d pool features of images in [-1, 1] (grey images are repeated to RGB, resized to 299),
    computed on the device of `net`."""
    device = next(net.parameters()).device
    out = []
    for i in range(0, len(images), 50):
        x = images[i : i + 50].to(device).float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        out.append(net(x))
    return torch.cat(out)


def evaluate_checkpoint(
    path: str | Path,
    n: int | None = None,
    progress: Progress | None = None,
    inception_weights: str | None = None,
    device: str = "cpu",
    named: Mapping[str, Any] | None = None,
) -> tuple[Evaluation, TrainConfig, int]:
    """Score the generator of a checkpoint on `device` (auto, cpu, cuda:N); returns the evaluation,
    its config and step. Its plug-in arch or data set is loaded only when `named` names it."""
    from core.checkpoints import load_checkpoint_config, models_of
    from core.plugins import require_named
    from core.step import resolve_device

    where = resolve_device(device)
    payload, config = load_checkpoint_config(path)
    # the real-data reference loads the data set: a plug-in one must be named too
    require_named(config.to_dict(), named, str(path), ("arch", "dataset"))
    generator, _ = models_of(path, payload, config, named)
    generator.eval()
    if inception_weights:
        config = config.replace(inception_weights=inception_weights)
    evaluator = Evaluator(config, progress)
    return evaluator.evaluate(generator.to(where), n, where), config, int(payload["step"])
