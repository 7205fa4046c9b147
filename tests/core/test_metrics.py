"""Sample-quality metrics on known distributions, the digit classifier, and evaluation in the trainer."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from core import events as ev
from core.checkpoints import list_checkpoints
from core.config import TrainConfig
from core.data import ToySource, toy_modes
from core.metrics import (
    class_metrics,
    feature_stats,
    frechet_distance,
    kernel_inception_distance,
    toy_mode_metrics,
)
from core.trainer import Trainer


def real_points(name: str, n: int = 2500, seed: int = 1) -> torch.Tensor:
    return next(ToySource(name, n, n, seed, torch.device("cpu")).batches(0))


@pytest.mark.parametrize("name, k", [("ring8", 8), ("grid25", 25)])
def test_real_toy_samples_cover_every_mode_uniformly(name, k):
    m = toy_mode_metrics(real_points(name), name)
    assert m["modes"] == k and m["n_modes"] == k
    # within 3 std of a 2-D Gaussian's mean: 1 - exp(-9/2) = 98.9 % of the mass
    assert 97.5 < m["high_quality"] < 100
    assert m["reverse_kl"] < 0.05


def test_a_generator_collapsed_on_one_mode_scores_one_mode_and_kl_ln_k():
    means, std = toy_modes("ring8")
    collapsed = means[3] + torch.randn(2500, 2, generator=torch.Generator().manual_seed(0)) * std
    m = toy_mode_metrics(collapsed, "ring8")
    assert m["modes"] == 1
    assert m["reverse_kl"] == pytest.approx(math.log(8), abs=1e-9)


def test_points_off_every_mode_are_not_high_quality_and_nan_points_are_ignored():
    far = torch.full((100, 2), 10.0)
    m = toy_mode_metrics(torch.cat([far, torch.full((5, 2), float("nan"))]), "ring8")
    assert m["modes"] == 0 and m["high_quality"] == 0 and math.isinf(m["reverse_kl"])


def test_frechet_distance_of_known_gaussians():
    d = 4
    eye = torch.eye(d, dtype=torch.float64)
    zero = torch.zeros(d, dtype=torch.float64)
    assert frechet_distance(zero, eye, zero, eye) == pytest.approx(0, abs=1e-9)
    # N(0, I) vs N(1, 4I): |mu|² + tr(I + 4I - 2·2I) = d + d
    assert frechet_distance(zero, eye, zero + 1, 4 * eye) == pytest.approx(2 * d)


def test_feature_stats_and_kid_tell_equal_from_shifted_distributions():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(2000, 8, generator=gen), torch.randn(2000, 8, generator=gen)
    mu, cov = feature_stats(a)
    assert torch.allclose(mu, torch.zeros(8, dtype=torch.float64), atol=0.1)
    assert torch.allclose(cov, torch.eye(8, dtype=torch.float64), atol=0.15)
    same = kernel_inception_distance(a, b, subsets=5, subset_size=500)
    shifted = kernel_inception_distance(a, b + 1, subsets=5, subset_size=500)
    assert abs(same) < 0.01 < shifted


def test_class_metrics_of_uniform_and_single_class_predictions():
    uniform = torch.eye(10).repeat(50, 1)
    m = class_metrics(uniform)
    assert (
        m["classes"] == 10 and m["class_kl"] == pytest.approx(0, abs=1e-12) and m["confidence"] == 1
    )
    one = class_metrics(torch.eye(10)[[7] * 100] * 0.5 + 0.05)
    assert one["classes"] == 1 and one["class_kl"] == pytest.approx(math.log(10))
    assert one["confidence"] == pytest.approx(0.55)


@pytest.fixture(scope="module")
def judge():
    from core.digits import train_judge

    torch.set_num_threads(1)
    trained, accuracy = train_judge(epochs=1)
    assert accuracy > 0.85  # one epoch on 4,000 digits already separates the classes
    return trained


@pytest.mark.slow
def test_the_digit_classifier_scores_real_digits_near_and_noise_far_from_the_reference(judge):
    from core.digits import _split

    x_train, y_train, x_held, y_held = _split()
    ref = judge.reference
    assert ref["classes"] == 10 and ref["class_kl"] < 0.05
    real = judge.score(x_train[::4])  # the digits are stored in class order: take every 4th
    assert real["classes"] == 10 and real["fid_digits"] < 3 * max(ref["fid_digits"], 1.0)
    noise = judge.score(torch.rand(500, 1, 28, 28) * 2 - 1)
    assert noise["fid_digits"] > 20 * ref["fid_digits"]
    ones = judge.score(x_held[y_held == 1])
    assert ones["classes"] == 1 and ones["class_kl"] > 2


@pytest.mark.slow
def test_the_classifier_is_cached_and_a_damaged_cache_is_retrained(judge, tmp_path, monkeypatch):
    from core import digits

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []

    def fake_train(progress=None):
        calls.append(1)
        return judge, 0.9

    monkeypatch.setattr(digits, "train_judge", fake_train)
    first = digits.load_judge()
    cached = list((tmp_path / "tui-gan").glob("digits-v*.pt"))
    assert len(cached) == 1 and len(calls) == 1
    second = digits.load_judge()
    assert len(calls) == 1 and second.reference == first.reference
    cached[0].write_bytes(b"garbage")
    digits.load_judge()
    assert len(calls) == 2


def toy_config(tmp_path: Path, **extra) -> TrainConfig:
    return TrainConfig.from_preset(
        "ring8-mlp",
        batch_size=32,
        subset=320,
        max_steps=40,
        device="cpu",
        sample_every=0,
        checkpoint_every=20,
        eval_samples=200,
        log_every="1",
        run_dir=str(tmp_path),
        **extra,
    )


def run(config: TrainConfig) -> list[ev.Event]:
    trainer = Trainer(config)
    trainer.serve_control = False
    events: list[ev.Event] = []
    trainer.subscribe(events.append)
    assert trainer.run() == ev.FINISHED
    return events


@pytest.mark.slow
def test_evaluation_in_the_trainer_emits_metrics_and_leaves_training_unchanged(tmp_path):
    with_eval = run(toy_config(tmp_path / "a", eval_every=10))
    without = run(toy_config(tmp_path / "b"))
    metrics = [e for e in with_eval if isinstance(e, ev.MetricsComputed)]
    assert [e.step for e in metrics] == [10, 20, 30, 40]
    assert set(metrics[-1].values) >= {"modes", "high_quality", "reverse_kl"}
    assert metrics[-1].reference["modes"] == 8
    losses = [(e.loss_d, e.loss_g) for e in with_eval if isinstance(e, ev.StepMetrics)]
    assert losses == [(e.loss_d, e.loss_g) for e in without if isinstance(e, ev.StepMetrics)]
    sidecars = {
        c.step: c.metrics for c in list_checkpoints(tmp_path / "a") if c.reason == "periodic"
    }
    assert sidecars[40] == metrics[-1].values


def test_image_data_without_inception_weights_gets_a_note_not_a_hang(tmp_path):
    from core.evaluate import Evaluator
    from core.models import build_models
    from tests.conftest import write_cifar10

    write_cifar10(tmp_path / "data")
    config = TrainConfig.from_preset(
        "cifar10-dcgan32", width=4, data_root=str(tmp_path / "data"), device="cpu"
    )
    generator, _ = build_models(config)
    result = Evaluator(config).evaluate(generator, n=20)
    assert result.values == {} and "inception_weights" in result.note


@pytest.mark.slow
def test_inception_fid_and_kid_from_a_local_weights_file(tmp_path):
    from torchvision.models import inception_v3

    from core.evaluate import Evaluator
    from core.models import build_models
    from tests.conftest import write_cifar10

    torch.set_num_threads(1)
    weights = tmp_path / "inception.pth"
    torch.save(
        inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), weights
    )
    write_cifar10(tmp_path / "data", per_batch=8)
    config = TrainConfig.from_preset(
        "cifar10-dcgan32",
        width=4,
        data_root=str(tmp_path / "data"),
        device="cpu",
        inception_weights=str(weights),
    )
    generator, _ = build_models(config)
    result = Evaluator(config).evaluate(generator, n=16)
    assert set(result.values) == {"fid", "kid"} and set(result.reference) == {"fid", "kid"}
    assert all(math.isfinite(v) for v in [*result.values.values(), *result.reference.values()])
    assert result.values["fid"] > 0


def test_a_bad_inception_weights_file_is_one_clear_error(tmp_path):
    from core.errors import ConfigError
    from core.evaluate import load_inception

    bad = tmp_path / "w.pth"
    torch.save({"not": torch.zeros(1)}, bad)
    with pytest.raises(ConfigError, match="not an Inception v3 state dict") as info:
        load_inception(TrainConfig(inception_weights=str(bad)))
    assert "\n" not in str(info.value) and len(str(info.value)) < 300, str(info.value)
    with pytest.raises(ConfigError, match="does not exist"):
        load_inception(TrainConfig(inception_weights=str(tmp_path / "missing.pth")))
    pickled = tmp_path / "module.pth"
    torch.save(torch.nn.Linear(2, 2), pickled)  # a whole module: weights_only refuses it
    with pytest.raises(ConfigError, match="was refused: it holds pickled objects") as info:
        load_inception(TrainConfig(inception_weights=str(pickled)))
    assert "\n" not in str(info.value) and "weights_only=False" not in str(info.value)


@pytest.mark.slow
def test_digit_samples_are_scored_on_the_generator_device_without_a_host_copy(judge, monkeypatch):
    from core import digits
    from core.evaluate import Evaluator
    from core.models import build_models

    config = TrainConfig.from_preset("mnist-dcgan", width=4, device="cpu")
    generator, _ = build_models(config)
    seen: list[int] = []
    monkeypatch.setattr(
        torch.Tensor, "cpu", lambda self, *a, **k: seen.append(self.dim()) or self.to("cpu")
    )
    monkeypatch.setattr(digits, "load_judge", lambda progress=None: judge)
    scored = Evaluator(config).evaluate(generator, n=20, device=torch.device("cpu"))
    assert "fid_digits" in scored.values
    # features and class probabilities (n × k) go to the host for float64 statistics; images never do
    assert seen and all(dim == 2 for dim in seen)
