"""Mixed precision of the step (issue 17): which precision runs where, what stays fp32, the fp16
gradient scalers and their state, and a G step that computes no gradients of D's weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import core.precision
import core.step
from core import events as ev
from core.config import TrainConfig
from core.errors import ConfigError
from core.precision import AUTO_ON_CUDA, autocast, resolve_precision
from core.step import GanStep
from core.trainer import Trainer
from tests.conftest import TINY

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def make(precision: str = "fp32", **overrides) -> GanStep:
    values = {**TINY, "lr_decay": "none", "precision": precision, **overrides}
    return GanStep(TrainConfig.from_preset("mnist-dcgan", **values), CPU)


def batch() -> torch.Tensor:
    return torch.rand(8, 1, 28, 28) * 2 - 1


def test_auto_is_fp32_on_the_cpu_and_fp16_is_refused_there(monkeypatch):
    assert resolve_precision("auto", CPU) == "fp32"
    assert resolve_precision("bf16", CPU) == "bf16"
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        resolve_precision("fp16", CPU)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert (
        resolve_precision("auto", torch.device("cuda")) == AUTO_ON_CUDA == "fp32"
    )  # until measured
    monkeypatch.setattr(
        core.precision, "AUTO_ON_CUDA", "bf16"
    )  # the switch, once bf16 is shown good
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    assert resolve_precision("fp16", torch.device("cuda")) == "fp16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve_precision("auto", torch.device("cuda")) == "fp32"
    with pytest.raises(ConfigError, match="bf16 is not supported"):
        resolve_precision("bf16", torch.device("cuda"))


def test_a_run_in_fp16_on_the_cpu_fails_with_one_line(tmp_path: Path):
    trainer = Trainer(
        TrainConfig.from_preset(
            "mnist-dcgan", **{**TINY, "precision": "fp16", "run_dir": str(tmp_path / "run")}
        )
    )
    assert trainer.run() == ev.FAILED
    assert trainer.error is not None and "fp16 needs a CUDA device" in trainer.error
    assert "\n" not in trainer.error


def test_bf16_keeps_weights_moments_average_and_spectral_norm_in_fp32():
    step = make("bf16", g_ema=0.9, spectral_norm=True)
    for i in range(1, 3):
        loss_d, loss_g, d_x, d_g_z = step.train_step(batch(), i)
    tensors = [
        *step.g.state_dict().values(),
        *step.d.state_dict().values(),
        *step.sampler.state_dict().values(),
    ]
    tensors += [t for s in (step.opt_g, step.opt_d) for st in s.state.values() for t in st.values()]
    floats = [t for t in tensors if t.is_floating_point()]
    assert floats and all(t.dtype == torch.float32 for t in floats)
    # The spectral norm computed inside autocast is the fp32 one, bit for bit.
    layer = next(m for m in step.d.modules() if hasattr(m, "parametrizations"))
    step.d.eval()  # eval: reading the weight runs no power-iteration update
    plain = layer.weight.clone()
    with autocast("bf16", CPU):
        inside = layer.weight
    assert inside.dtype == torch.float32 and torch.equal(inside, plain)


def test_bf16_trains_close_to_fp32_from_the_same_weights():
    torch.manual_seed(0)
    a = make("fp32")
    torch.manual_seed(0)
    b = make("bf16")
    real = batch()
    torch.manual_seed(1)
    fp32 = a.train_step(real, 1)
    torch.manual_seed(1)
    bf16 = b.train_step(real, 1)
    assert fp32 != bf16  # autocast ran: the numbers differ in the last digits
    assert bf16 == pytest.approx(fp32, rel=0.05, abs=0.02)


@pytest.fixture
def fp16_on_cpu(monkeypatch):
    """fp16 is CUDA-only for users; CPU autocast and GradScaler run its logic here."""
    monkeypatch.setattr(core.step, "resolve_precision", lambda name, device: name)


@pytest.mark.usefixtures("fp16_on_cpu")
def test_fp16_scalers_train_save_and_load():
    step = make("fp16", r1_gamma=1.0)
    assert step.scaler_g is not None and step.scaler_d is not None
    for i in range(1, 4):
        assert all(v == v for v in step.train_step(batch(), i))
    state = step.state_dict()
    assert set(state["scaler_g"]) >= {"scale", "_growth_tracker"}
    assert state["scaler_d"]["scale"] <= 65536.0  # the initial scale, or backed off
    other = make("fp16", r1_gamma=1.0)
    other.load_state_dict(state)
    assert other.state_dict()["scaler_d"] == state["scaler_d"]
    assert "scaler_g" not in make("fp32").state_dict()


@pytest.mark.usefixtures("fp16_on_cpu")
def test_fp16_skips_an_overflowing_step_and_backs_off_the_scale():
    step = make("fp16")
    step.train_step(batch(), 1)
    assert step.scaler_g is not None
    step.scaler_g.update(new_scale=1e30)  # every scaled gradient of G overflows fp16
    before = [p.clone() for p in step.g.parameters()]
    step.train_step(batch(), 2)
    assert all(torch.equal(p, q) for p, q in zip(before, step.g.parameters()))
    assert step.scaler_g.get_scale() == pytest.approx(0.5e30)


def test_the_g_step_computes_no_gradient_of_d_weights():
    step = make(d_steps=1, r1_gamma=0.5)
    frozen = next(iter(step.d.parameters()))
    frozen.requires_grad_(False)  # a user's frozen layer stays frozen
    counts = {id(p): 0 for p in step.d.parameters() if p.requires_grad}

    def counter(key: int):
        return lambda grad: counts.__setitem__(key, counts[key] + 1)

    for p in step.d.parameters():
        if p.requires_grad:
            p.register_hook(counter(id(p)))
    step.train_step(batch(), 1)
    step.train_step(batch(), 2)
    assert set(counts.values()) == {2}  # once a step, from D's own loss (R1 included)
    assert not frozen.requires_grad
    assert all(p.requires_grad for p in step.d.parameters() if p is not frozen)


def test_cudnn_autotuning_and_tf32_are_set_on_cuda_only(monkeypatch):
    from core.precision import tune_device

    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    tune_device(CPU, tf32=True)
    assert not torch.backends.cudnn.benchmark and not torch.backends.cuda.matmul.allow_tf32
    tune_device(torch.device("cuda"), tf32=True)
    assert (
        torch.backends.cudnn.benchmark
        and torch.backends.cuda.matmul.allow_tf32
        and torch.backends.cudnn.allow_tf32
    )
    tune_device(torch.device("cuda"), tf32=False)
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
