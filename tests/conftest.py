"""Shared fixtures: tiny configs and real on-disk data sets written in their formats."""

from __future__ import annotations

import gc
import os
import pickle
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, share the cores among the workers instead of each taking all of them."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:  # a worker (xdist's controller runs no test and needs no torch)
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Everything imported so far (torch, Textual, the test modules) lives as long as the session:
    keep it out of the garbage collector, whose every full pass would otherwise walk torch's
    hundreds of thousands of objects (about half a second each, many times a test). The app
    tests make garbage fast: collecting the youngest objects every 50,000 allocations instead of
    700 takes a sixth off their CPU time."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


# Overrides that make any image preset train in well under a second a step on the CPU.
TINY = {
    "width": 4,
    "batch_size": 8,
    "subset": 16,
    "max_steps": 2,
    "n_samples": 4,
    "device": "cpu",
    "sample_every": 0,
    "checkpoint_every": 0,
    "log_every": "1",  # a step event each step, as the tests count them (auto depends on the clock)
}


def write_idx(path: Path, array: np.ndarray) -> None:
    """A uint8 array in the big-endian idx format of the MNIST files (magic 0x08 = unsigned byte)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_mnist(root: Path, folder: str = "MNIST", n: int = 32, seed: int = 0) -> np.ndarray:
    """torchvision's raw MNIST layout under root/folder/raw (train and t10k, as it checks both)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    raw = root / folder / "raw"
    write_idx(raw / "train-images-idx3-ubyte", images)
    write_idx(raw / "train-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))
    write_idx(raw / "t10k-images-idx3-ubyte", images[:4])
    write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8))
    return images


def write_cifar10(root: Path, per_batch: int = 8, seed: int = 0) -> np.ndarray:
    """CIFAR-10's python layout: root/cifar-10-batches-py/data_batch_1..5, pickled dicts."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for i in range(1, 6):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        batch = {
            "batch_label": f"training batch {i} of 5",
            "data": data,
            "labels": rng.integers(0, 10, per_batch).tolist(),
        }
        with open(folder / f"data_batch_{i}", "wb") as fh:
            pickle.dump(batch, fh)
        parts.append(data)
    return np.concatenate(parts)


@pytest.fixture
def mnist_root(tmp_path: Path) -> Path:
    """A data_root holding small MNIST and Fashion-MNIST in torchvision's on-disk format."""
    write_mnist(tmp_path / "data", "MNIST", seed=1)
    write_mnist(tmp_path / "data", "FashionMNIST", seed=2)
    return tmp_path / "data"


@pytest.fixture
def cifar_root(tmp_path: Path) -> Path:
    """A data_root holding 40 CIFAR-10 images in the python batch format."""
    write_cifar10(tmp_path / "data")
    return tmp_path / "data"


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of tiny models: the machine is shared and they gain nothing from more."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _folder_cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoded image folders are cached in the test's own folder, never the user's ~/.cache."""
    from core import foldercache

    monkeypatch.setattr(foldercache, "cache_dir", lambda: tmp_path / "xdg-cache" / "tui-gan")


@pytest.fixture(autouse=True)
def _processes_only_in_slow_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test that starts a process must be marked `slow` (as are the few that train or score real
    models for seconds): `make test-quick` leaves those out."""
    if request.node.get_closest_marker("slow"):
        return

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{request.node.nodeid} starts a process: mark it @pytest.mark.slow")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write modules into tmp_path (the current directory, as a user's are); forget them after."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    before = set(sys.modules)

    def write(name: str, source: str) -> Path:
        path = tmp_path / f"{name.replace('.', '/')}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(tmp_path).parents:
            if parent != Path("."):
                (tmp_path / parent / "__init__.py").touch()
        path.write_text(textwrap.dedent(source))
        sys.modules.pop(name, None)
        return path

    yield write
    for name in set(sys.modules) - before:  # only the test's own: torch imports lazily too
        if str(getattr(sys.modules[name], "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]
