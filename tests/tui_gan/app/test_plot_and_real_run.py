"""A plot fed a million points and bad values; a few end-to-end runs with the real trainer."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from textual.worker import WorkerCancelled

from core import commands as cmd
from core import events as ev
from core.config import TrainConfig
from core.trainer import Trainer
from tui_gan.app.app import GanApp
from tui_gan.app.session import InProcessSession
from tui_gan.app.widgets.metric_plot import MetricPlot
from tui_gan.cli.tui import open_in_process

SIZE = (80, 24)


async def test_plot_of_a_million_points_with_nan_and_inf_is_fast(session):
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        app.poll()
        await pilot.pause()
        plot = app.query_one("#loss-plot", MetricPlot)
        n = 1_000_000
        rows = np.empty((n, 5))
        rows[:, 0] = np.arange(1, n + 1)
        rows[:, 1:] = np.abs(np.sin(np.arange(n) / 5000))[:, None] + 0.1
        rows[::13, 1] = np.nan
        rows[::17, 2] = np.inf
        rows[::19, 2] = -np.inf
        rows[::23, 1] = 0.0  # non-positive: dropped on the log scale only
        history = app.view.history
        history.clear()
        history.extend(rows)
        for log in (False, True):
            plot.log_scale = log
            start = time.perf_counter()
            plot.replot()
            plot.render()
            elapsed = time.perf_counter() - start
            assert elapsed < 1.0, elapsed
            # per series: its spread (2 points a column), mean and EMA
            assert 0 < plot.points <= 8 * plot.size.width
        all_bad = np.full((10, 5), np.nan)
        all_bad[:, 0] = np.arange(n + 1, n + 11)
        history.clear()
        history.extend(all_bad)
        plot.replot()
        plot.render()
        assert plot.points == 0


def tiny_trainer(run_dir: Path, steps: int, **extra) -> Trainer:
    # epochs high enough that max_steps alone ends the run (64 images are 8 steps an epoch)
    config = TrainConfig.from_preset(
        "mnist-dcgan",
        width=4,
        batch_size=8,
        subset=64,
        max_steps=steps,
        epochs=1_000_000,
        device="cpu",
        run_dir=str(run_dir),
        sample_every=5,
        checkpoint_every=10,
        n_samples=16,
        log_every="1",
        **extra,
    )
    return Trainer(config)


async def until_exited(app: GanApp) -> None:
    """Wait for the quit worker; the app's exit cancels it, which is fine."""
    try:
        await app.workers.wait_for_complete()
    except WorkerCancelled:
        pass


async def wait_for(pilot, condition, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        await pilot.pause(0.1)


@pytest.mark.slow
async def test_real_run_finishes_and_the_app_stays_open(tmp_path):
    trainer = tiny_trainer(tmp_path / "run", 20)
    session = InProcessSession(trainer)
    app = GanApp(session, start=session.start)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.view.state == ev.FINISHED)
        await pilot.pause(0.2)
        assert app.is_running
        assert app.view.step == 20 and len(app.view.history) == 20
        assert app.view.sample_path and Path(app.view.sample_path).exists()
        assert "FINISHED" in str(app.query_one("#state").render())
        await pilot.press("q", "q")
        await until_exited(app)
    assert app.return_value == 0


@pytest.mark.slow
async def test_real_run_pause_hparams_quit_with_checkpoint(tmp_path):
    trainer = tiny_trainer(tmp_path / "run", 100_000)
    session = InProcessSession(trainer)
    app = GanApp(session, start=session.start, stop_timeout=60)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.view.step >= 3)
        await pilot.press("p")
        await wait_for(pilot, lambda: app.view.state == ev.PAUSED)
        app.session.send(cmd.SetHyperparams(lr_g=1e-4))
        await wait_for(pilot, lambda: app.view.config.get("lr_g") == 1e-4)
        await pilot.press("p")
        await wait_for(pilot, lambda: app.view.state == ev.RUNNING)
        await pilot.press("q", "s")
        await until_exited(app)
    assert trainer.state == ev.STOPPED
    assert list((tmp_path / "run" / "checkpoints").glob("*-stop.pt"))


@pytest.mark.slow
async def test_real_resume_from_checkpoint_resets_the_dashboard(tmp_path):
    trainer = tiny_trainer(tmp_path / "run", 100_000)
    session = InProcessSession(trainer)
    app = GanApp(session, start=session.start, open_session=open_in_process, stop_timeout=60)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.view.last_checkpoint is not None)
        checkpoint = app.view.last_checkpoint
        app.resume_from_checkpoint(checkpoint)
        await wait_for(
            pilot, lambda: app.session is not session and app.view.resumed_from == checkpoint
        )
        assert trainer.state == ev.STOPPED
        assert app.view.start_step == 10
        await wait_for(pilot, lambda: app.view.step > 10)
        await pilot.press("q", "n")
        await until_exited(app)
    assert app.session.state in ev.FINAL_STATES
