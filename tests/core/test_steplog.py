"""log_every (issue 17): the step's numbers leave the device every N steps, training is unchanged,
and a step event carries the means since the last one and the last step's own values."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from core import commands as cmd
from core import events as ev
from core.config import TrainConfig
from core.steplog import AUTO_INTERVAL_S, StepLog, parse_every
from core.trainer import Trainer
from tests.conftest import TINY


def test_a_count_is_due_every_n_steps_and_reads_means_and_last():
    log = StepLog(parse_every("3"))
    for i in range(1, 4):
        assert not log.due()
        log.add(torch.tensor([float(i), 10.0 * i]), 0.01)
    assert log.due()
    logged = log.take()
    assert logged.means == pytest.approx([2.0, 20.0]) and logged.last == [3.0, 30.0]
    assert logged.steps == 3 and logged.seconds >= 0.03
    assert not log.due() and log.steps == 0


def test_auto_is_due_after_an_interval_of_stepping_or_a_shared_step_count():
    log = StepLog(parse_every("auto"))
    log.add(torch.zeros(2), AUTO_INTERVAL_S / 2)
    assert not log.due()
    log.add(torch.zeros(2), AUTO_INTERVAL_S / 2)
    assert log.due()
    ranks = StepLog(None, fixed_steps=True)
    ranks.add(torch.zeros(2), 10.0)
    assert ranks.due()  # one step at a time until the ranks agree on a speed
    ranks.retune(AUTO_INTERVAL_S / 20)
    assert ranks.every == 20


def test_a_non_finite_step_makes_the_mean_non_finite():
    log = StepLog(4)
    for value in (1.0, float("nan"), 1.0, 1.0):
        log.add(torch.tensor([value]), 0.0)
    logged = log.take()
    assert math.isnan(logged.means[0]) and logged.last == [1.0]


def train(tmp_path: Path, every: str, **changes) -> tuple[Trainer, list[ev.StepMetrics]]:
    values = {
        **TINY,
        "max_steps": 16,
        "subset": 64,
        "log_every": every,
        "lr_decay": "none",
        "run_dir": str(tmp_path / every),
        **changes,
    }
    trainer = Trainer(TrainConfig.from_preset("mnist-dcgan", **values))
    trainer.serve_control = False
    seen: list[ev.StepMetrics] = []
    trainer.subscribe(lambda e: seen.append(e) if isinstance(e, ev.StepMetrics) else None)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert trainer.run() == ev.FINISHED, trainer.error
    finally:
        torch.set_num_threads(previous)
    return trainer, seen


def test_training_is_the_same_every_step_or_every_8_and_events_say_so(tmp_path: Path):
    each, per_step = train(tmp_path, "1")
    eighth, per_8 = train(tmp_path, "8")
    for a, b in zip(
        each.gan.state_dict()["generator"].values(), eighth.gan.state_dict()["generator"].values()
    ):
        assert torch.equal(a, b)
    for a, b in zip(
        each.gan.state_dict()["discriminator"].values(),
        eighth.gan.state_dict()["discriminator"].values(),
    ):
        assert torch.equal(a, b)
    assert [e.step for e in per_8] == [8, 16] and all(e.steps == 8 for e in per_8)
    assert all(e.steps == 1 and e.last_loss_d == e.loss_d for e in per_step)
    by_step = {e.step: e for e in per_step}
    for e in per_8:
        window = [by_step[s] for s in range(e.step - 7, e.step + 1)]
        assert e.last_loss_d == by_step[e.step].loss_d and e.last_d_g_z == by_step[e.step].d_g_z
        assert e.loss_g == pytest.approx(sum(w.loss_g for w in window) / 8, rel=1e-5)
        assert e.d_x == pytest.approx(sum(w.d_x for w in window) / 8, rel=1e-5)


def test_samples_and_checkpoints_read_the_numbers_at_their_step(tmp_path: Path):
    _, seen = train(tmp_path, "8", sample_every=3, max_steps=10)
    assert [e.step for e in seen] == [3, 6, 8, 9, 10]
    assert [e.steps for e in seen] == [3, 3, 2, 1, 1]


def test_old_step_events_without_the_new_fields_still_load():
    old = {
        "kind": "step",
        "step": 1,
        "epoch": 1,
        "batch": 1,
        "loss_d": 1.0,
        "loss_g": 2.0,
        "d_x": 0.5,
        "d_g_z": 0.5,
        "lr_g": 1e-4,
        "lr_d": 1e-4,
        "img_per_s": 10.0,
        "time": 0.0,
    }
    event = ev.from_json(old)
    assert isinstance(event, ev.StepMetrics) and event.steps == 1 and event.last_loss_d is None
    assert ev.from_json(ev.to_json(event)) == event


def test_a_nan_pauses_the_run_at_the_next_reading(tmp_path: Path):
    values = {
        **TINY,
        "max_steps": 100,
        "subset": 64,
        "log_every": "4",
        "run_dir": str(tmp_path / "run"),
    }
    trainer = Trainer(TrainConfig.from_preset("ring8-mlp", **values))
    trainer.serve_control = False

    def poison_at_4(event: ev.Event) -> None:
        if isinstance(event, ev.StepMetrics) and event.step == 4:
            with torch.no_grad():
                [m for m in trainer.gan.d.modules() if isinstance(m, torch.nn.Linear)][
                    -1
                ].weight.fill_(math.nan)
        if isinstance(event, ev.StateChanged) and event.state == ev.PAUSED:
            trainer.send(cmd.Stop())

    trainer.subscribe(poison_at_4)
    assert trainer.run() == ev.STOPPED
    assert trainer.step == 8  # NaN from step 5, seen at the reading of step 8
