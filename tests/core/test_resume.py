"""Exact resume: same weights and losses as a straight run, totals kept, live changes kept, one trainer a dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core import commands as cmd
from core import events as ev
from core.checkpoints import latest_checkpoint, list_checkpoints, load_checkpoint
from core.config import TrainConfig
from core.plan import NothingToTrain
from core.rundir import RunLock, read_events, read_status
from core.trainer import Trainer
from tui_gan.cli.main import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(preset: str, run_dir: Path, **changes) -> TrainConfig:
    # subset 64 / batch 8 = 8 steps an epoch; label noise and (mnist-mlp) dropout draw from the RNGs.
    # A constant lr: a run cut short by max_steps would plan a shorter cosine than the straight one.
    values = {
        "width": 4,
        "batch_size": 8,
        "subset": 64,
        "device": "cpu",
        "sample_every": 0,
        "checkpoint_every": 0,
        "epochs": 100,
        "label_noise": 0.1,
        "lr_decay": "none",
        "log_every": "1",
        "run_dir": str(run_dir),
    }
    return TrainConfig.from_preset(preset, **{**values, **changes})


def run(trainer: Trainer) -> Trainer:
    assert trainer.run() == ev.FINISHED, trainer.error
    return trainer


def losses(run_dir: Path) -> list[tuple[int, float, float]]:
    return [
        (e.step, e.loss_d, e.loss_g)
        for e in read_events(run_dir / "events.jsonl")
        if isinstance(e, ev.StepMetrics)
    ]


def assert_same_state(a: Trainer, b: Trainer) -> None:
    assert (a.gan.ema is None) == (b.gan.ema is None)
    for name in ("g", "d", "opt_g", "opt_d") + (("sampler",) if a.gan.ema else ()):
        sa, sb = getattr(a.gan, name).state_dict(), getattr(b.gan, name).state_dict()
        if name.startswith("opt"):
            sa, sb = sa["state"], sb["state"]
            sa = {f"{i}.{k}": v for i, s in sa.items() for k, v in s.items()}
            sb = {f"{i}.{k}": v for i, s in sb.items() for k, v in s.items()}
        assert sa.keys() == sb.keys()
        for key in sa:
            assert torch.equal(sa[key], sb[key]), f"{name}.{key} differs"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("preset", "total", "changes"),
    [
        (
            "mnist-mlp",
            12,
            {},
        ),  # halves at step 6, mid-epoch; the second half crosses the epoch boundary
        (
            "mnist-dcgan",
            16,
            {"spectral_norm": False},
        ),  # halves at the end of epoch 1; BatchNorm buffers
        ("mnist-dcgan", 12, {}),  # the preset's spectral norm: its power-iteration vectors included
        (
            "mnist-dcgan",
            12,
            {"g_ema": 0.9, "g_output_conv": True},
        ),  # the moving average of G and its warm-up
        (
            "mnist-dcgan",
            12,
            {"precision": "bf16", "g_ema": 0.9, "r1_gamma": 1.0},
        ),  # autocast (issue 17)
    ],
)
def test_half_resume_half_is_bit_identical_to_straight(
    tmp_path: Path, preset: str, total: int, changes: dict
) -> None:
    straight = run(Trainer(tiny(preset, tmp_path / "straight", max_steps=total, **changes)))
    run(Trainer(tiny(preset, tmp_path / "split", max_steps=total // 2, **changes)))
    checkpoint = latest_checkpoint(tmp_path / "split")
    assert load_checkpoint(checkpoint)["step"] == total // 2
    resumed = run(Trainer.from_checkpoint(checkpoint, max_steps=total))

    assert resumed.step == straight.step == total
    assert_same_state(straight, resumed)
    assert torch.equal(straight.gan.fixed_noise, resumed.gan.fixed_noise)
    assert losses(tmp_path / "split") == losses(tmp_path / "straight")
    assert [s for s, _, _ in losses(tmp_path / "split")] == list(range(1, total + 1))


def test_a_stopped_cosine_schedule_resumes_exactly(tmp_path: Path) -> None:
    # The decay follows the step and the planned total, so a run stopped at step 6 of 12 and
    # resumed must land on the same weights and lr as one that never stopped.
    total = 12
    straight = run(
        Trainer(tiny("mnist-mlp", tmp_path / "straight", max_steps=total, lr_decay="cosine"))
    )
    first = Trainer(tiny("mnist-mlp", tmp_path / "split", max_steps=total, lr_decay="cosine"))
    first.subscribe(
        lambda e: (
            first.send(cmd.Stop(checkpoint=True))
            if isinstance(e, ev.StepMetrics) and e.step == total // 2
            else None
        )
    )
    assert first.run() == ev.STOPPED
    assert first.step == total // 2
    resumed = run(Trainer.from_checkpoint(latest_checkpoint(tmp_path / "split")))

    assert_same_state(straight, resumed)
    assert losses(tmp_path / "split") == losses(tmp_path / "straight")
    assert (
        resumed.gan.opt_g.param_groups[0]["lr"] == straight.gan.opt_g.param_groups[0]["lr"] < 2e-4
    )


def test_resume_continues_in_the_same_run_dir_and_appends_events(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run(Trainer(tiny("mnist-dcgan", run_dir, max_steps=3)))
    first = (run_dir / "events.jsonl").read_text()
    resumed = run(Trainer.from_checkpoint(latest_checkpoint(run_dir), max_steps=5))
    assert resumed.run_dir.path.resolve() == run_dir.resolve()
    text = (run_dir / "events.jsonl").read_text()
    assert text.startswith(first)
    started = [e for e in read_events(run_dir / "events.jsonl") if isinstance(e, ev.RunStarted)]
    assert [(e.start_step, e.planned_steps, bool(e.resumed_from)) for e in started] == [
        (0, 3, False),
        (3, 5, True),
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no new run directory
    assert read_status(run_dir)["state"] == ev.FINISHED


def test_max_steps_and_epochs_stay_totals_on_resume(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    first = run(Trainer(tiny("mnist-dcgan", run_dir, epochs=1, max_steps=None)))
    assert first.step == 8
    with pytest.raises(NothingToTrain, match="at step 8 and its plan ends at step 8"):
        Trainer.from_checkpoint(
            latest_checkpoint(run_dir)
        )  # nothing left to do: refused before it starts
    more = run(Trainer.from_checkpoint(latest_checkpoint(run_dir), epochs=2))
    assert more.step == 16 and more.planned_steps == 16
    capped = run(Trainer.from_checkpoint(latest_checkpoint(run_dir), epochs=5, max_steps=20))
    assert capped.step == 20 and capped.place.epoch == 2 and capped.place.batch == 4


def test_a_live_lr_change_before_the_checkpoint_holds_after_resume(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    trainer = Trainer(tiny("mnist-dcgan", run_dir, max_steps=4, lr_d=2e-4))
    trainer.send(cmd.SetHyperparams(lr_g=1e-3, beta1=0.3))
    run(trainer)
    saved = load_checkpoint(latest_checkpoint(run_dir))
    assert saved["config"]["lr_g"] == 1e-3 and saved["config"]["beta1"] == 0.3
    resumed = Trainer.from_checkpoint(latest_checkpoint(run_dir), max_steps=6)
    seen: list[ev.Event] = []
    resumed.subscribe(seen.append)
    run(resumed)
    steps = [e for e in seen if isinstance(e, ev.StepMetrics)]
    assert [e.step for e in steps] == [5, 6]
    assert all(e.lr_g == 1e-3 and e.lr_d == 2e-4 for e in steps)
    assert resumed.gan.opt_g.param_groups[0]["betas"] == (0.3, 0.999)
    assert "lr_g = 0.001" in (run_dir / "config.toml").read_text()


def test_cli_resume_from_a_run_dir_takes_its_newest_readable_checkpoint(
    tmp_path: Path, capsys
) -> None:
    run_dir = tmp_path / "run"
    run(Trainer(tiny("mnist-dcgan", run_dir, max_steps=4, checkpoint_every=2)))
    newest = latest_checkpoint(
        run_dir
    )  # step_4-final; damage it so step_4 periodic is the newest readable
    newest.write_bytes(newest.read_bytes()[:64])
    code = main(["train", "--headless", "--resume", str(run_dir), "--max-steps", "6"])
    out = capsys.readouterr().out
    assert code == 0
    assert "resumed from" in out and "step_00000004.pt at step 4" in out
    assert load_checkpoint(latest_checkpoint(run_dir))["step"] == 6


# -- the one-trainer lock ------------------------------------------------------------------------


def test_a_second_trainer_on_a_locked_run_dir_is_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lock = RunLock(run_dir)
    lock.acquire()
    try:
        second = Trainer(tiny("mnist-dcgan", run_dir, max_steps=2))
        assert second.run() == ev.FAILED
        assert "in use by a running trainer" in second.error and str(os.getpid()) in second.error
        assert not (run_dir / "events.jsonl").exists()  # it touched nothing
    finally:
        lock.release()
    run(Trainer(tiny("mnist-dcgan", run_dir, max_steps=2)))


HOLD_LOCK = (
    "import fcntl, json, os, sys, time; d = sys.argv[1]; fh = open(d + '/.lock', 'a+');"
    "fcntl.flock(fh, fcntl.LOCK_EX); fh.write(str(os.getpid())); fh.flush();"
    "open(d + '/status.json', 'w').write(json.dumps({'state': 'running', 'pid': os.getpid()}));"
    "print('locked', flush=True); time.sleep(60)"
)


@pytest.mark.slow
def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # What RunLock does, in a process light enough to start fast (no torch): flock + pid + status.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert read_status(run_dir)["state"] == "running"
        refused = Trainer(tiny("mnist-dcgan", run_dir, max_steps=2))
        assert refused.run() == ev.FAILED and f"pid {holder.pid}" in refused.error
    finally:
        holder.kill()
        holder.wait()
    assert read_status(run_dir)["state"] == "crashed"
    assert (run_dir / ".lock").exists()  # the file stays behind; only the kernel's flock counted
    run(Trainer(tiny("mnist-dcgan", run_dir, max_steps=2)))
    assert read_status(run_dir)["state"] == ev.FINISHED


def test_status_json_follows_the_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    trainer = Trainer(tiny("mnist-dcgan", run_dir, max_steps=50))
    states: list[
        str | None
    ] = []  # status.json as seen at each event (it is written after the event)

    def on_event(event: ev.Event) -> None:
        status = read_status(run_dir)
        state = status and status["state"]
        if not states or states[-1] != state:
            states.append(state)
        if isinstance(event, ev.StepMetrics) and event.step == 2:
            trainer.send(cmd.Pause())
            trainer.send(cmd.Resume())
        if isinstance(event, ev.StepMetrics) and event.step == 3:
            trainer.send(cmd.Stop(checkpoint=True, reason="enough"))

    trainer.subscribe(on_event)
    assert trainer.run() == ev.STOPPED
    status = read_status(run_dir)
    # The stop's answer comes after the final state, so the last event already sees "stopped".
    assert states == [None, "starting", "running", "paused", "running", "stopping", "stopped"]
    assert status["state"] == "stopped" and status["step"] == 3 and status["pid"] == os.getpid()
    assert [c.reason for c in list_checkpoints(run_dir)] == ["stop"]


def test_fp16_resumes_bit_identical_with_its_gradient_scalers(tmp_path: Path, monkeypatch) -> None:
    import core.step

    monkeypatch.setattr(
        core.step, "resolve_precision", lambda name, device: name
    )  # CPU fp16 for the test
    test_half_resume_half_is_bit_identical_to_straight(
        tmp_path, "mnist-dcgan", 12, {"precision": "fp16"}
    )
    saved = load_checkpoint(latest_checkpoint(tmp_path / "split"))
    assert saved["scaler_g"]["scale"] > 0 and "scaler_d" in saved
