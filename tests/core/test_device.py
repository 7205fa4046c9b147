"""The GPU box (issue 17), its logic on the CPU with a fake torch.cuda: a CUDA build that cannot use
its GPU trains on the CPU with an alert, the GPU's NVML name, and its memory in step events."""

from __future__ import annotations

import types
import warnings
from pathlib import Path

import pytest
import torch

from core import events as ev
from core.config import TrainConfig
from core.step import cuda_unusable, device_memory, device_uuid
from core.trainer import Trainer
from tests.conftest import TINY

OLD_DRIVER = (
    "CUDA initialization: The NVIDIA driver on your system is too old (found version 11040)."
)


@pytest.fixture
def old_driver(monkeypatch):
    def is_available() -> bool:
        warnings.warn(OLD_DRIVER + "\nPlease update your GPU driver", UserWarning, stacklevel=2)
        return False

    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", is_available)
    cuda_unusable.cache_clear()
    yield
    cuda_unusable.cache_clear()


@pytest.mark.usefixtures("old_driver")
def test_auto_on_a_cuda_build_that_cannot_use_cuda_trains_on_the_cpu_and_says_why(tmp_path: Path):
    assert cuda_unusable() == OLD_DRIVER
    trainer = Trainer(
        TrainConfig.from_preset(
            "ring8-mlp", **{**TINY, "device": "auto", "run_dir": str(tmp_path / "run")}
        )
    )
    trainer.serve_control = False
    alerts: list[ev.Alert] = []
    trainer.subscribe(lambda e: alerts.append(e) if isinstance(e, ev.Alert) else None)
    assert trainer.run() == ev.FINISHED, trainer.error
    assert trainer.device.type == "cpu"
    assert [a.level for a in alerts] == ["warning"] and OLD_DRIVER in alerts[0].message
    assert "training on the CPU" in alerts[0].message


def test_a_machine_without_a_gpu_or_a_cpu_build_gets_no_alert(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # no driver: no warning either
    cuda_unusable.cache_clear()
    assert cuda_unusable() == ""
    monkeypatch.setattr(torch.version, "cuda", None)
    cuda_unusable.cache_clear()
    assert cuda_unusable() == ""
    cuda_unusable.cache_clear()


def test_the_uuid_and_memory_of_a_cuda_device(monkeypatch):
    cuda = torch.device("cuda:0")
    props = types.SimpleNamespace(uuid="5f1b9c2e-0000-1111-2222-333344445555")
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: props)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: 3 << 20)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: 5 << 20)
    assert device_uuid(cuda) == "GPU-5f1b9c2e-0000-1111-2222-333344445555"
    assert device_memory(cuda) == (3 << 20, 5 << 20)
    assert device_uuid(torch.device("cpu")) is None and device_memory(torch.device("cpu")) == (
        None,
        None,
    )
