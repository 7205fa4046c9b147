"""Fakes shared by the tests: a session that replays scripted events and records commands (most UI
tests need no torch), checkpoint files the browser lists, and a run whose trainer is the test."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from core import commands as cmd
from core import control
from core import events as ev
from core.checkpoints import META_SUFFIX
from core.control import ControlServer
from core.rundir import EventLog
from tui_gan.app.session import Session

T0 = 1_700_000_000.0  # fixed clock: snapshots and elapsed times never depend on when tests run

CONFIG = {
    "preset": "mnist-dcgan",
    "dataset": "mnist5k",
    "data_root": "data",
    "download": False,
    "subset": None,
    "image_size": 28,
    "channels": 1,
    "arch": "dcgan",
    "model_args": {},
    "width": 64,
    "latent_dim": 100,
    "batch_size": 64,
    "epochs": 25,
    "max_steps": None,
    "lr_g": 2e-4,
    "lr_d": 2e-4,
    "lr_decay": "none",
    "beta1": 0.5,
    "beta2": 0.999,
    "loss": "bce",
    "label_smoothing": 0.0,
    "label_noise": 0.0,
    "d_steps": 1,
    "spectral_norm": False,
    "g_output_conv": False,
    "g_ema": 0.999,
    "r1_gamma": 0.0,
    "augment": "none",
    "seed": 0,
    "device": "cpu",
    "n_samples": 64,
    "sample_every": 200,
    "checkpoint_every": 1000,
    "keep_checkpoints": 5,
    "on_nan": "pause",
    "run_dir": None,
    "eval_every": 0,
    "eval_samples": 2500,
    "cpu_threads": 0,
    "inception_weights": None,
    "keep_best": None,
    "precision": "auto",
    "tf32": True,
    "compile": False,
    "log_every": "auto",
    "preload_gb": 8.0,
    "data_workers": None,
}


class FakeSession(Session):
    """Hands out what tests `push`, one batch per poll; remembers every command sent."""

    state: str = ev.STARTING  # plain attributes where a real session has properties: tests set them
    error: str | None = None

    def __init__(self, run_dir: str | Path, events: list[ev.Event] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.pending: list[ev.Event] = list(events or [])
        self.sent: list[cmd.Command] = []
        self.closed: float | None | bool = False
        self.stop_on_close = True

    def push(self, *events: ev.Event) -> None:
        self.pending.extend(events)

    def events(self) -> list[ev.Event]:
        out, self.pending = self.pending, []
        for e in out:
            if isinstance(e, ev.StateChanged):
                self.state = e.state
            elif isinstance(e, ev.RunFailed):
                self.error = e.message
        return out

    def send(self, command: cmd.Command) -> None:
        self.sent.append(command)

    def close(self, timeout: float | None = None) -> None:
        self.closed = timeout if timeout is not None else True
        if self.stop_on_close and self.state not in ev.FINAL_STATES:
            self.push(ev.StateChanged(ev.STOPPED, "closed", time=T0 + 100))
            self.state = ev.STOPPED

    @property
    def alive(self) -> bool:
        return self.state not in ev.FINAL_STATES


def sample_png(path: Path, tiles: int = 8, size: int = 28) -> Path:
    """A deterministic padded grid of `tiles`² fake digits (rings), like the trainer's sample grids."""
    step = size + 2
    img = np.zeros((2 + tiles * step, 2 + tiles * step, 3), np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(tiles * tiles):
        r, c = divmod(i, tiles)
        radius = 6 + (i % 5)
        ring = np.abs(np.hypot(yy - size / 2, xx - size / 2) - radius) < 2.2
        top, left = 2 + r * step, 2 + c * step
        img[top : top + size, left : left + size][ring] = (255, 255, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)
    return path


def started(
    run_dir: Path, planned: int = 1950, steps_per_epoch: int = 78, **config
) -> list[ev.Event]:
    """The events of a run that just finished starting."""
    return [
        ev.StateChanged(ev.STARTING, "loading data and building models", 0, time=T0),
        ev.RunStarted(
            str(run_dir), {**CONFIG, **config}, "cpu", planned, steps_per_epoch, time=T0 + 1
        ),
        ev.StateChanged(ev.RUNNING, "started", 0, time=T0 + 1),
    ]


def steps(
    first: int, last: int, steps_per_epoch: int = 78, t_per_step: float = 0.05
) -> list[ev.Event]:
    """Deterministic StepMetrics from `first` to `last` (inclusive) with GAN-looking curves."""
    out = []
    for s in range(first, last + 1):
        out.append(
            ev.StepMetrics(
                step=s,
                epoch=(s - 1) // steps_per_epoch + 1,
                batch=(s - 1) % steps_per_epoch + 1,
                loss_d=0.6 + 0.4 * math.exp(-s / 300) + 0.1 * math.sin(s / 7),
                loss_g=2.0 + math.exp(-s / 200) + 0.3 * math.sin(s / 5),
                d_x=0.7 + 0.1 * math.sin(s / 11),
                d_g_z=0.3 + 0.1 * math.cos(s / 13),
                lr_g=2e-4,
                lr_d=2e-4,
                img_per_s=1280.0,
                time=T0 + 1 + s * t_per_step,
            )
        )
    return out


def mid_training(run_dir: Path, upto: int = 400) -> list[ev.Event]:
    """A run at step `upto` with samples and a checkpoint: what the dashboard snapshot shows."""
    png = sample_png(run_dir / "samples" / f"step_{upto:08d}.png")
    return [
        *started(run_dir),
        *steps(1, upto),
        ev.SamplesSaved(upto, 6, str(png), time=T0 + 1 + upto * 0.05),
        ev.CheckpointSaved(
            upto,
            6,
            str(run_dir / "checkpoints" / f"step_{upto:08d}.pt"),
            "periodic",
            time=T0 + 1 + upto * 0.05,
        ),
        ev.EpochEnded(5, 390, 0.71, 2.3, 19.5, time=T0 + 1 + 390 * 0.05),
    ]


TOY_REFERENCE = {"modes": 8.0, "high_quality": 99.6, "reverse_kl": 0.002, "n_modes": 8.0}


def toy_metrics(first: int, last: int, every: int = 100) -> list[ev.Event]:
    """MetricsComputed of a ring8 run every `every` steps: modes climbing to 8, quality towards the reference."""
    out = []
    for s in range(every * max(1, -(-first // every)), last + 1, every):
        modes = min(8.0, 2.0 + s // every)
        values = {
            "modes": modes,
            "high_quality": min(97.0, 40.0 + s / 10),
            "reverse_kl": 1.5 / (1 + s / 50),
            "n_modes": 8.0,
        }
        out.append(
            ev.MetricsComputed(
                s, s // 78 + 1, values, dict(TOY_REFERENCE), "", 0.4, time=T0 + 1 + s * 0.05
            )
        )
    return out


def fake_checkpoint(
    run_dir: Path,
    step: int,
    reason: str = "periodic",
    readable: bool = True,
    metrics: dict[str, float] | None = None,
) -> Path:
    """A checkpoint file with a sidecar the browser lists (its tensors are never loaded here)."""
    folder = run_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:08d}" + ("" if reason == "periodic" else f"-{reason}")
    path = folder / f"{name}.pt"
    path.write_bytes(b"x" * (1000 + step))
    os.utime(path, (T0 + step, T0 + step))
    if readable:
        meta = {
            "path": str(path),
            "step": step,
            "epoch": step // 78 + 1,
            "time": T0 + step,
            "reason": reason,
            "size": 1000 + step,
            "loss_d": 0.5 + step / 10_000,
            "loss_g": 2.0 - step / 10_000,
            "format_version": 1,
            "metrics": metrics or {},
        }
        (folder / f"{name}{META_SUFFIX}").write_text(json.dumps(meta))
    return path


class FakeRun:
    """A run directory whose 'trainer' is the test: events are logged by hand, commands collected."""

    def __init__(self, path: Path, send_timeout: float = control.SEND_TIMEOUT_S) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.log = EventLog(path / "events.jsonl")
        self.commands: list[cmd.Command] = []
        self.state = ev.RUNNING
        self.server = ControlServer(
            path, self.commands.append, lambda: self.state, send_timeout=send_timeout
        )
        self.server.start()
        self.n = 0

    def emit(self, count: int = 1) -> None:
        for _ in range(count):
            self.n += 1
            self.log.write(ev.Alert("info", f"event {self.n}", self.n))
            self.server.notify()

    def close(self) -> None:
        self.server.close(timeout=1.0)
        self.log.close()


def trained_run(run_dir: Path, preset: str = "mnist-dcgan", **overrides: Any) -> Path:
    """`run_dir` after a real tiny run of `preset` trained to its end in this thread: 2 steps of a
    4-wide model and a final checkpoint, unless `overrides` say otherwise."""
    from core.config import TrainConfig
    from core.trainer import Trainer

    values = {"width": 4, "batch_size": 8, "subset": 16, "device": "cpu", "sample_every": 0}
    config = TrainConfig.from_preset(
        preset, **{**values, "max_steps": 2, "run_dir": str(run_dir), **overrides}
    )
    trainer = Trainer(config)
    trainer.serve_control = False
    assert trainer.run() == ev.FINISHED, trainer.error
    return run_dir


def tiny_trainer(run_dir: Path):  # -> Trainer
    """A real trainer of a tiny model that trains until stopped (steps are fast, lr values exact)."""
    from core.config import TrainConfig
    from core.trainer import Trainer

    config = TrainConfig.from_preset(
        "mnist-dcgan",
        width=4,
        batch_size=8,
        subset=64,
        n_samples=4,
        device="cpu",
        sample_every=0,
        checkpoint_every=0,
        max_steps=100_000,
        epochs=100_000,
        lr_decay="none",
        run_dir=str(run_dir),
    )  # lr values are read back exactly
    return Trainer(config)
