"""Fixtures of the app tests: a run directory, a fake session mid-training, the app on it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fakes import FakeSession, mid_training, sample_png


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    path = tmp_path / "mnist-dcgan-demo"
    path.mkdir()
    return path


@pytest.fixture
def session(run_dir: Path) -> FakeSession:
    return FakeSession(run_dir, mid_training(run_dir))


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch):
    """Times shown in local time come out the same on every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def fake_sampler(monkeypatch):
    """sample_from_checkpoint drawing a fixed picture, so previews need no torch model."""
    calls = []

    def sample(checkpoint, n=64, seed=None, out=None, named=None):
        calls.append((checkpoint, seed, out))
        target = Path(out) if out else Path(checkpoint).parent.parent / "exports" / "sample.png"
        return sample_png(target)

    import core.export

    monkeypatch.setattr(core.export, "sample_from_checkpoint", sample)
    return calls
