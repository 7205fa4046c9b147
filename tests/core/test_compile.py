"""compile = true (issue 17): a compiled run trains, checkpoints without `_orig_mod.` and resumes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core import events as ev
from core.checkpoints import latest_checkpoint, load_checkpoint
from core.config import TrainConfig
from core.trainer import Trainer
from tests.conftest import TINY


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_compiled_run_trains_saves_plain_state_dicts_and_resumes(tmp_path: Path):
    values = {
        **TINY,
        "subset": 32,
        "max_steps": 3,
        "compile": True,
        "spectral_norm": False,
        "lr_decay": "none",
        "run_dir": str(tmp_path / "run"),
    }
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        first = Trainer(TrainConfig.from_preset("mnist-dcgan", **values))
        first.serve_control = False
        assert first.run() == ev.FINISHED, first.error
        assert isinstance(first.gan.train_g, torch._dynamo.eval_frame.OptimizedModule)
        saved = load_checkpoint(latest_checkpoint(tmp_path / "run"))
        keys = [*saved["generator"], *saved["discriminator"]]
        assert keys and not any("_orig_mod" in k for k in keys)
        resumed = Trainer.from_checkpoint(latest_checkpoint(tmp_path / "run"), max_steps=5)
        resumed.serve_control = False
        assert resumed.run() == ev.FINISHED, resumed.error
    finally:
        torch.set_num_threads(previous)
    assert resumed.step == 5
    assert all(torch.isfinite(p).all() for p in resumed.gan.g.parameters())
