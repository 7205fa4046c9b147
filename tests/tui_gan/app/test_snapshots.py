"""Snapshots of the dashboard, the hyperparameter form and the checkpoint browser (fixed content)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import (
    TOY_REFERENCE,
    FakeSession,
    fake_checkpoint,
    mid_training,
    started,
    toy_metrics,
)
from tui_gan.app.app import GanApp

SIZE = (80, 24)


@pytest.fixture
def fixed_run(tmp_path: Path, utc) -> Path:
    run = tmp_path / "mnist-dcgan-demo"
    run.mkdir()
    return run


def make_app(run: Path) -> GanApp:
    return GanApp(FakeSession(run, mid_training(run)))


async def polled(pilot) -> None:
    pilot.app.poll()
    await pilot.pause()
    pilot.app.dashboard.replot()
    await pilot.pause()


def test_dashboard_snapshot(snap_compare, fixed_run):
    assert snap_compare(make_app(fixed_run), terminal_size=SIZE, run_before=polled)


def test_dashboard_wide_snapshot(snap_compare, fixed_run):
    assert snap_compare(make_app(fixed_run), terminal_size=(120, 36), run_before=polled)


def test_dashboard_with_metrics_snapshot(snap_compare, fixed_run):
    events = started(fixed_run, eval_every=100) + mid_training(fixed_run)[3:] + toy_metrics(1, 400)
    app = GanApp(FakeSession(fixed_run, events))
    assert snap_compare(app, terminal_size=SIZE, run_before=polled)


def test_hyperparams_form_snapshot(snap_compare, fixed_run):
    async def open_form(pilot) -> None:
        await polled(pilot)
        await pilot.press("h")
        await pilot.pause()

    assert snap_compare(make_app(fixed_run), terminal_size=SIZE, run_before=open_form)


def test_checkpoint_browser_snapshot(snap_compare, fixed_run, fake_sampler):
    fake_checkpoint(fixed_run, 200)
    fake_checkpoint(
        fixed_run, 400, "manual", metrics={**TOY_REFERENCE, "modes": 7.0, "high_quality": 91.5}
    )
    fake_checkpoint(fixed_run, 600, readable=False)

    async def open_browser(pilot) -> None:
        await polled(pilot)
        await pilot.press("c")
        await pilot.app.workers.wait_for_complete()
        await pilot.press("down")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(make_app(fixed_run), terminal_size=SIZE, run_before=open_browser)
