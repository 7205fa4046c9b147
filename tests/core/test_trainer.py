"""The Trainer on real tiny runs: presets, commands while running, NaN handling, determinism."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn.utils import parametrize

from core import commands as cmd
from core import events as ev
from core.checkpoints import load_checkpoint, load_generator
from core.config import TrainConfig
from core.evaluate import Evaluator
from core.grids import samples_picture
from core.models import build_models
from core.plan import PlanRequest
from core.presets import PRESETS
from core.rundir import read_events
from core.step import GanStep
from core.trainer import Trainer
from tests.conftest import TINY

JOIN_S = 60


class Recorder:
    """A subscriber that keeps every event and can act on the trainer thread at a given step."""

    def __init__(self, trainer: Trainer) -> None:
        self.events: list[ev.Event] = []
        self.at_step: dict[int, Callable[[], None]] = {}
        self.paused = threading.Event()
        trainer.subscribe(self)

    def __call__(self, event: ev.Event) -> None:
        self.events.append(event)
        if isinstance(event, ev.StepMetrics) and event.step in self.at_step:
            self.at_step.pop(event.step)()
        if isinstance(event, ev.StateChanged) and event.state == ev.PAUSED:
            self.paused.set()

    def of(self, kind: type[ev.Event]) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def states(self) -> list[str]:
        return [e.state for e in self.of(ev.StateChanged)]


def make(tmp_path: Path, preset: str = "ring8-mlp", **overrides) -> tuple[Trainer, Recorder]:
    # A constant lr unless a test asks for a decay: the tests read exact lr values from the events.
    values = {**TINY, "lr_decay": "none", "run_dir": str(tmp_path / "run"), **overrides}
    trainer = Trainer(TrainConfig.from_preset(preset, **values))
    return trainer, Recorder(trainer)


def finish(trainer: Trainer) -> None:
    trainer.start()
    assert trainer.join(JOIN_S), "training thread did not end"


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_trains_a_few_steps(name, tmp_path, cifar_root):
    on_cifar = PRESETS[name].overrides["dataset"] == "cifar10"
    trainer, rec = make(tmp_path, name, **({"data_root": str(cifar_root)} if on_cifar else {}))
    finish(trainer)
    assert trainer.state == ev.FINISHED, trainer.error
    steps = rec.of(ev.StepMetrics)
    assert [s.step for s in steps] == [1, 2]
    assert all(
        math.isfinite(s.loss_d) and math.isfinite(s.loss_g) and 0 <= s.d_x <= 1 for s in steps
    )
    assert rec.states()[-1] == ev.FINISHED and rec.of(ev.RunFinished)[0].step == 2
    run = tmp_path / "run"
    assert TrainConfig.from_toml(run / "config.toml") == trainer.config
    assert [p.name for p in (run / "samples").iterdir()] == ["step_00000002.png"]
    logged = list(read_events(run / "events.jsonl"))
    assert [e.kind for e in logged if e.kind == "step"] == ["step", "step"]
    assert logged[-1] == rec.events[-1]


def test_image_preset_on_torchvision_mnist_files(tmp_path, mnist_root):
    trainer, rec = make(tmp_path, "mnist-mlp", dataset="fashion-mnist", data_root=str(mnist_root))
    finish(trainer)
    assert trainer.state == ev.FINISHED, trainer.error
    assert len(rec.of(ev.StepMetrics)) == 2


def test_run_started_and_epoch_events(tmp_path):
    trainer, rec = make(tmp_path, max_steps=None, epochs=2, subset=24)
    finish(trainer)
    started = rec.of(ev.RunStarted)[0]
    assert (started.planned_steps, started.steps_per_epoch, started.device) == (6, 3, "cpu")
    assert started.config["preset"] == "ring8-mlp"
    epochs = rec.of(ev.EpochEnded)
    assert [(e.epoch, e.step) for e in epochs] == [(1, 3), (2, 6)]
    first = [s for s in rec.of(ev.StepMetrics) if s.epoch == 1]
    assert epochs[0].loss_d == pytest.approx(sum(s.loss_d for s in first) / 3, rel=1e-5)
    assert all(s.img_per_s > 0 for s in rec.of(ev.StepMetrics))


def test_start_returns_at_once_and_state_moves_on(tmp_path):
    trainer, rec = make(tmp_path, max_steps=10_000)
    assert trainer.state == ev.STARTING
    rec.at_step[3] = lambda: trainer.send(cmd.Stop())
    trainer.start()
    with pytest.raises(RuntimeError):
        trainer.start()
    assert trainer.join(JOIN_S)
    assert trainer.state == ev.STOPPED
    assert rec.states() == [ev.STARTING, ev.RUNNING, ev.STOPPING, ev.STOPPED]
    assert rec.of(ev.StepMetrics)[-1].step == 3
    assert not rec.of(ev.CheckpointSaved)  # a plain Stop writes no checkpoint


def test_stop_with_checkpoint(tmp_path):
    trainer, rec = make(tmp_path, max_steps=10_000)
    rec.at_step[2] = lambda: trainer.send(cmd.Stop(checkpoint=True, reason="enough"))
    finish(trainer)
    assert trainer.state == ev.STOPPED
    saved = rec.of(ev.CheckpointSaved)
    assert len(saved) == 1 and saved[0].step == 2 and Path(saved[0].path).is_file()
    assert rec.of(ev.StateChanged)[-1].reason == "enough"


def test_pause_resume_and_live_lr_change(tmp_path):
    trainer, rec = make(tmp_path, max_steps=10_000, lr_g=1e-3, lr_d=1e-3)
    rec.at_step[3] = lambda: trainer.send(cmd.Pause())
    trainer.start()
    assert rec.paused.wait(JOIN_S)
    assert trainer.state == ev.PAUSED
    paused_at = trainer.step
    # commands are handled while paused, and no step is taken
    trainer.send(cmd.SetHyperparams(lr_g=5e-4, beta1=0.0))
    trainer.send(cmd.Pause())  # already paused: an info alert
    deadline = time.monotonic() + JOIN_S
    while not rec.of(ev.HparamsChanged) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert trainer.step == paused_at == 3
    assert trainer.gan.opt_g.param_groups[0]["lr"] == 5e-4
    assert trainer.gan.opt_g.param_groups[0]["betas"] == (0.0, trainer.config.beta2)
    assert trainer.gan.opt_d.param_groups[0]["lr"] == 1e-3
    rec.at_step[6] = lambda: trainer.send(cmd.Stop())
    trainer.send(cmd.Resume())
    assert trainer.join(JOIN_S)
    assert rec.states() == [ev.STARTING, ev.RUNNING, ev.PAUSED, ev.RUNNING, ev.STOPPING, ev.STOPPED]
    lrs = [(s.step, s.lr_g, s.lr_d) for s in rec.of(ev.StepMetrics)]
    assert lrs[:3] == [(1, 1e-3, 1e-3), (2, 1e-3, 1e-3), (3, 1e-3, 1e-3)]
    assert lrs[3:] == [(4, 5e-4, 1e-3), (5, 5e-4, 1e-3), (6, 5e-4, 1e-3)]
    assert rec.of(ev.HparamsChanged)[0].changes == {"lr_g": 5e-4, "beta1": 0.0}
    assert any("already paused" in a.message for a in rec.of(ev.Alert))
    assert "lr_g = 0.0005" in (tmp_path / "run" / "config.toml").read_text()


def test_lr_change_applies_at_the_very_next_step(tmp_path):
    trainer, rec = make(tmp_path, max_steps=4, lr_d=1e-3)
    rec.at_step[2] = lambda: trainer.send(cmd.SetHyperparams(lr_d=2e-3, sample_every=3))
    finish(trainer)
    assert [s.lr_d for s in rec.of(ev.StepMetrics)] == [1e-3, 1e-3, 2e-3, 2e-3]
    assert trainer.gan.opt_d.param_groups[0]["lr"] == 2e-3
    assert [s.step for s in rec.of(ev.SamplesSaved)] == [3, 4]  # sample_every=3 took effect too


def test_cosine_lr_decay_falls_to_its_floor_and_a_live_change_rescales_it(tmp_path):
    trainer, rec = make(tmp_path, max_steps=10, lr_g=1e-3, lr_d=2e-3, lr_decay="cosine")
    rec.at_step[5] = lambda: trainer.send(cmd.SetHyperparams(lr_g=4e-3))
    finish(trainer)
    steps = rec.of(ev.StepMetrics)
    factors = [
        0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * i / 10)) for i in range(10)
    ]  # before step i+1
    assert [s.lr_d for s in steps] == pytest.approx([2e-3 * f for f in factors], rel=1e-12)
    assert [s.lr_g for s in steps] == pytest.approx(
        [(1e-3 if i < 5 else 4e-3) * f for i, f in enumerate(factors)], rel=1e-12
    )
    assert steps[0].lr_d == 2e-3 and steps[-1].lr_d < 0.1 * 2e-3
    assert (
        "lr_g = 0.004" in (tmp_path / "run" / "config.toml").read_text()
    )  # the base lr, not the decayed one


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"latent_dim": 8}, ["latent_dim", "restart"]),
        ({"lr_g": 1e-3, "width": 8}, ["width", "restart"]),
        ({"lr_g": -1.0}, ["lr_g", "-1.0", "(0, 10]"]),
        ({"lr_g": 1e-3, "beta2": 1.5}, ["beta2", "1.5"]),
        ({"learning_rate": 0.1}, ["learning_rate", "unknown"]),
        ({}, ["no changes"]),
    ],
)
def test_refused_command_alerts_and_changes_nothing(tmp_path, changes, words):
    trainer, rec = make(tmp_path, max_steps=3)
    before = trainer.config
    rec.at_step[1] = lambda: trainer.send(cmd.SetHyperparams(changes))
    finish(trainer)
    assert trainer.state == ev.FINISHED
    refused = [a for a in rec.of(ev.Alert) if "refused" in a.message]
    assert len(refused) == 1 and refused[0].level == "warning"
    assert all(w in refused[0].message for w in words), refused[0].message
    (answer,) = rec.of(ev.CommandRefused)  # what a sender goes by: its id, not the alert's wording
    assert answer.command == "set_hyperparams" and all(w in answer.reason for w in words), answer
    assert trainer.config == before
    assert not rec.of(ev.HparamsChanged)
    assert {s.lr_g for s in rec.of(ev.StepMetrics)} == {before.lr_g}
    assert trainer.gan.opt_g.param_groups[0]["lr"] == before.lr_g


def test_sample_now_and_save_checkpoint_commands(tmp_path):
    trainer, rec = make(tmp_path, max_steps=3)
    rec.at_step[1] = lambda: (trainer.send(cmd.SampleNow()), trainer.send(cmd.SaveCheckpoint()))
    finish(trainer)
    assert [s.step for s in rec.of(ev.SamplesSaved)] == [1, 3]
    assert [(c.step, c.reason) for c in rec.of(ev.CheckpointSaved)] == [(1, "manual"), (3, "final")]
    assert all(Path(s.path).is_file() for s in rec.of(ev.SamplesSaved))


def poison_discriminator(trainer: Trainer) -> Callable[[], None]:
    """Make D's output NaN for real: its last layer's weights become NaN between two steps."""

    def poison() -> None:
        with torch.no_grad():
            last = [m for m in trainer.gan.d.modules() if isinstance(m, torch.nn.Linear)][-1]
            last.weight.fill_(float("nan"))

    return poison


def test_nan_loss_pauses_with_an_alert(tmp_path):
    trainer, rec = make(tmp_path, max_steps=10_000, on_nan="pause")
    rec.at_step[2] = poison_discriminator(trainer)
    trainer.start()
    assert rec.paused.wait(JOIN_S)
    assert trainer.state == ev.PAUSED and trainer.step == 3
    alerts = [a for a in rec.of(ev.Alert) if a.level == "error"]
    assert len(alerts) == 1 and "not finite at step 3" in alerts[0].message
    assert math.isnan(rec.of(ev.StepMetrics)[-1].loss_d)
    assert rec.of(ev.StateChanged)[-1].reason == "non-finite loss"
    trainer.send(cmd.Stop())
    assert trainer.join(JOIN_S) and trainer.state == ev.STOPPED
    assert trainer.step == 3  # nothing trained past the NaN


def test_nan_loss_stops_failed(tmp_path):
    trainer, rec = make(tmp_path, max_steps=10_000, on_nan="stop")
    rec.at_step[2] = poison_discriminator(trainer)
    finish(trainer)
    assert trainer.state == ev.FAILED and trainer.step == 3
    assert "not finite" in trainer.error
    assert rec.of(ev.RunFailed)[0].message == trainer.error
    assert rec.states()[-1] == ev.FAILED
    # the NaN step is in the log too, written as JSON NaN
    lines = (tmp_path / "run" / "events.jsonl").read_text().splitlines()
    assert any(json.loads(line).get("step") == 3 and "NaN" in line for line in lines)


def test_same_seed_same_losses(tmp_path):
    def losses(where: str, seed: int) -> list[tuple[float, float]]:
        trainer, rec = make(tmp_path / where, "mnist-dcgan", max_steps=3, seed=seed)
        finish(trainer)
        return [(s.loss_d, s.loss_g, s.d_x) for s in rec.of(ev.StepMetrics)]

    first = losses("a", 5)
    assert len(first) == 3
    assert losses("b", 5) == first
    assert losses("c", 6) != first


def test_slow_or_broken_subscriber_never_stops_training(tmp_path):
    trainer, rec = make(tmp_path, max_steps=4)

    def broken(event: ev.Event) -> None:
        raise RuntimeError("sink is gone")

    trainer.subscribe(broken)
    finish(trainer)
    assert trainer.state == ev.FINISHED
    assert any("subscriber removed" in a.message for a in rec.of(ev.Alert))
    assert len(rec.of(ev.StepMetrics)) == 4


def test_missing_data_fails_cleanly_and_leaves_no_run_dir(tmp_path):
    trainer, rec = make(tmp_path, "cifar10-dcgan32", data_root=str(tmp_path / "none"))
    finish(trainer)
    assert trainer.state == ev.FAILED
    assert "cifar10: not found under" in trainer.error
    assert rec.of(ev.RunFailed)[0].message == trainer.error
    assert not (tmp_path / "run").exists()


def test_a_bug_in_training_fails_the_run_and_keeps_its_traceback_in_the_run_directory(
    tmp_path, monkeypatch
):
    trainer, rec = make(tmp_path)

    def broken(self, real, step):
        raise RuntimeError("shape mismatch in a layer")

    monkeypatch.setattr(GanStep, "device_step", broken)
    finish(trainer)
    assert trainer.state == ev.FAILED
    saved = tmp_path / "run" / "traceback.txt"
    assert (
        "RuntimeError: shape mismatch in a layer" in trainer.error and str(saved) in trainer.error
    )
    assert "Traceback" in saved.read_text() and "broken" in saved.read_text()


def test_r1_penalty_flattens_the_discriminator_at_real_data(tmp_path):
    def grad_at_real(where: str, gamma: float) -> float:
        trainer, _ = make(
            tmp_path / where, max_steps=30, width=16, batch_size=64, subset=256, r1_gamma=gamma
        )
        finish(trainer)
        real = next(trainer.data.batches(0)).clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(trainer.gan.d(real).sum(), real)
        return float(grad.pow(2).sum(1).mean())

    assert grad_at_real("with", 10.0) < 0.5 * grad_at_real("without", 0.0)


def test_r1_gamma_changes_live_at_the_next_step(tmp_path):
    trainer, rec = make(tmp_path, max_steps=4)
    rec.at_step[2] = lambda: trainer.send(cmd.SetHyperparams(r1_gamma=5.0))
    finish(trainer)
    assert [(e.changes, e.step) for e in rec.of(ev.HparamsChanged)] == [({"r1_gamma": 5.0}, 2)]
    assert trainer.config.r1_gamma == 5.0
    assert "r1_gamma = 5.0" in (tmp_path / "run" / "config.toml").read_text()


@pytest.mark.parametrize("preset", ["mnist-dcgan", "ring8-mlp"])
def test_spectral_norm_holds_every_d_layer_to_unit_gain_in_place_of_batch_norm(tmp_path, preset):
    trainer, _ = make(tmp_path, preset, max_steps=20, spectral_norm=True)
    finish(trainer)
    assert trainer.state == ev.FINISHED, trainer.error
    layers = [
        m for m in trainer.gan.d.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
    ]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    with torch.no_grad():  # layer.weight is what the forward pass multiplies by
        gains = [float(torch.linalg.matrix_norm(m.weight.flatten(1), ord=2)) for m in layers]
    # One power iteration a forward pass tracks the largest singular value to within a few %.
    assert gains == pytest.approx([1.0] * len(layers), abs=0.1)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in trainer.gan.d.modules())
    _, plain_d = build_models(TrainConfig.from_preset("mnist-dcgan", spectral_norm=False))
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in plain_d.modules())


def test_g_ema_draws_the_samples_and_the_metrics_and_is_the_checkpoints_generator(tmp_path):
    trainer, rec = make(tmp_path, max_steps=12, eval_every=12, eval_samples=200, g_ema=0.9)
    finish(trainer)
    assert trainer.state == ev.FINISHED, trainer.error
    average = trainer.gan.ema.model
    assert trainer.sampler is average
    assert any(
        not torch.equal(a, g) for a, g in zip(average.parameters(), trainer.gan.g.parameters())
    )

    with torch.no_grad():
        drawn = samples_picture(average(trainer.gan.fixed_noise), trainer.config.dataset)
    (saved,) = [e for e in rec.of(ev.SamplesSaved) if e.step == 12]
    assert np.array_equal(np.asarray(Image.open(saved.path).convert("RGB")), drawn)
    (metrics,) = rec.of(ev.MetricsComputed)
    assert metrics.values == Evaluator(trainer.config).evaluate(average).values

    checkpoint = rec.of(ev.CheckpointSaved)[-1].path
    generator, _, payload = load_generator(checkpoint)
    assert payload["generator_ema"].keys() == payload["generator"].keys()
    for name, tensor in generator.state_dict().items():
        assert torch.equal(tensor, average.state_dict()[name]), name


def test_g_ema_turned_on_at_resume_starts_from_the_checkpoints_generator(tmp_path):
    trainer, rec = make(tmp_path, max_steps=4)
    finish(trainer)
    checkpoint = rec.of(ev.CheckpointSaved)[-1].path
    assert "generator_ema" not in load_checkpoint(checkpoint)

    resumed = Trainer.from_checkpoint(checkpoint, PlanRequest(more_steps=2), g_ema=0.99)
    resumed._setup()  # builds and restores, as the training thread does before its first step
    for average, g in zip(
        resumed.gan.ema.model.parameters(), resumed.gan.g.parameters(), strict=True
    ):
        assert torch.equal(average, g)


def answers(rec: Recorder) -> dict[str, tuple[str, str, str]]:
    """Every answer by command id: (kind of answer, command kind, detail or reason); ids never repeat."""
    found = [(e.id, ("done", e.command, e.detail)) for e in rec.of(ev.CommandDone)]
    found += [(e.id, ("refused", e.command, e.reason)) for e in rec.of(ev.CommandRefused)]
    assert len({i for i, _ in found}) == len(found), found
    return dict(found)


def test_every_command_is_answered_once_by_its_id(tmp_path):
    trainer, rec = make(tmp_path, max_steps=10_000)
    sent = {
        "pause": cmd.Pause(),
        "again": cmd.Pause(),
        "set": cmd.SetHyperparams(lr_g=1e-3),
        "width": cmd.SetHyperparams(width=8),
        "resume": cmd.Resume(),
        "idle": cmd.Resume(),
        "save": cmd.SaveCheckpoint(),
        "sample": cmd.SampleNow(),
        "stop": cmd.Stop(checkpoint=True),
    }
    rec.at_step[2] = lambda: [trainer.send(c) for c in sent.values()]
    finish(trainer)
    got = answers(rec)
    late = cmd.Pause()
    trainer.send(late)  # after the end: nobody will handle it
    assert set(got) == {c.id for c in sent.values()}
    assert got[sent["pause"].id] == ("done", "pause", "paused at step 2")
    assert got[sent["again"].id] == ("done", "pause", "already paused")
    assert got[sent["set"].id] == ("done", "set_hyperparams", "changed at step 2: lr_g=0.001")
    kind, _, reason = got[sent["width"].id]
    assert kind == "refused" and "width needs a restart" in reason
    assert got[sent["resume"].id] == ("done", "resume", "running from step 2")
    assert got[sent["idle"].id] == ("done", "resume", "not paused")
    (manual,) = [c.path for c in rec.of(ev.CheckpointSaved) if c.reason == "manual"]
    assert got[sent["save"].id] == ("done", "save_checkpoint", f"checkpoint saved: {manual}")
    (samples,) = rec.of(ev.SamplesSaved)
    assert got[sent["sample"].id] == ("done", "sample_now", f"samples saved: {samples.path}")
    (final,) = [c.path for c in rec.of(ev.CheckpointSaved) if c.reason == "stop"]
    assert got[sent["stop"].id] == ("done", "stop", f"stopped at step 2; checkpoint {final}")
    # the answers are in the log too, for watchers that attach later
    logged = [
        e for e in read_events(tmp_path / "run" / "events.jsonl") if isinstance(e, ev.CommandDone)
    ]
    assert len(logged) == 8 and late.id not in got


def test_failed_writes_refuse_save_sample_and_stop_pause_and_a_resume_saves_and_stops(tmp_path):
    trainer, rec = make(tmp_path, max_steps=10_000)
    run = tmp_path / "run"
    folders = ("samples", "checkpoints")

    def break_the_folders() -> None:
        for name in folders:
            (run / name).rmdir()
            (run / name).write_text("not a folder")  # writing into it fails, even for root
        for command in (cmd.SaveCheckpoint(), cmd.SampleNow(), cmd.Stop(checkpoint=True)):
            trainer.send(command)

    def fix_and_resume(event: ev.Event) -> None:
        if isinstance(event, ev.CommandRefused) and event.command == "stop":
            assert trainer.state == ev.PAUSED and not list(run.glob("checkpoints"))[0].is_dir()
            for name in folders:
                (run / name).unlink()
                (run / name).mkdir()
            trainer.send(cmd.Resume())

    rec.at_step[2] = break_the_folders
    trainer.subscribe(fix_and_resume)
    finish(trainer)
    assert trainer.state == ev.STOPPED and trainer.step == 2
    refused = {e.command: e.reason for e in rec.of(ev.CommandRefused)}
    assert set(refused) == {"save_checkpoint", "sample_now", "stop"}
    assert all("File exists" in reason for reason in refused.values()), refused
    assert str(run / "samples") in refused["sample_now"]
    assert str(run / "checkpoints") in refused["save_checkpoint"]
    assert refused["stop"].startswith("not stopped: ") and "paused at step 2" in refused["stop"]
    assert [e.command for e in rec.of(ev.CommandDone)] == ["resume"]
    assert any(
        "paused at step 2: cannot write" in a.message
        for a in rec.of(ev.Alert)
        if a.level == "error"
    )
    (stop,) = rec.of(ev.CheckpointSaved)
    assert stop.reason == "stop" and stop.step == 2 and load_checkpoint(stop.path)["step"] == 2
    assert rec.states()[-3:] == [ev.PAUSED, ev.RUNNING, ev.STOPPED]


def test_commands_left_when_the_run_finishes_are_refused(tmp_path):
    trainer, rec = make(tmp_path, max_steps=2)
    pause = cmd.Pause()
    rec.at_step[2] = lambda: trainer.send(pause)  # the last step: the loop never looks again
    finish(trainer)
    assert answers(rec) == {pause.id: ("refused", "pause", "the run has ended (finished)")}
