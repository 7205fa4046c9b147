"""The GPU box (issue 17): the GPU line names the training GPU by UUID, and the ETA of a run of
several processes."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from core import events as ev
from tests.fakes import started, steps
from tui_gan.view.gpu import device_summary
from tui_gan.view.runview import RunView


def fake_nvml(gpus: dict[str, tuple[str, int]]) -> types.ModuleType:
    """A pynvml of NVML's view: every GPU of the machine by index, in order, and by UUID."""
    order = list(gpus)
    nvml = types.ModuleType("pynvml")
    nvml.nvmlInit = lambda: None
    nvml.nvmlDeviceGetHandleByIndex = lambda i: order[i]
    nvml.nvmlDeviceGetHandleByUUID = lambda uuid: order[order.index(uuid)]
    nvml.nvmlDeviceGetName = lambda h: gpus[h][0].encode()
    nvml.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(
        used=gpus[h][1] * 2**30, total=40 * 2**30
    )
    nvml.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=50)
    return nvml


def test_the_gpu_line_follows_the_uuid_not_the_cuda_index(monkeypatch):
    # CUDA_VISIBLE_DEVICES=2: the trainer's cuda:0 is NVML's third GPU
    gpus = {
        "GPU-aaa": ("A100 first", 1),
        "GPU-bbb": ("A100 second", 2),
        "GPU-ccc": ("A100 third", 3),
    }
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(gpus))
    assert device_summary("cuda:0", "GPU-ccc") == "cuda:0 A100 third · 3.0/40.0 GB · 50% busy"
    assert device_summary("cuda:0").startswith(
        "cuda:0 A100 first"
    )  # old runs: the index, as before
    assert device_summary("cpu", "GPU-ccc") == "CPU"


def test_the_run_view_keeps_the_device_uuid(tmp_path: Path):
    view = RunView()
    view.apply(
        [ev.RunStarted(str(tmp_path), {"batch_size": 8}, "cuda:0", 10, 5, device_uuid="GPU-ccc")]
    )
    assert view.device_uuid == "GPU-ccc"


@pytest.mark.parametrize("world", [1, 4])
def test_the_eta_counts_the_batch_of_every_process(tmp_path: Path, world: int):
    view = RunView()
    events = started(tmp_path)
    events[1] = ev.RunStarted(**{**events[1].__dict__, "world_size": world})
    view.apply([*events, *steps(1, 100)])
    # img_per_s counts all processes; a step trains batch_size images in each of them
    assert view.eta == pytest.approx((1950 - 100) * 64 * world / view.img_per_s)
