"""The app while a run decodes its image folder: the starting panel counts the images decoded."""

from __future__ import annotations

import threading

import pytest

from core import events as ev
from core import images
from core.config import TrainConfig
from core.trainer import Trainer
from tests.core.test_folders import make_folder
from tests.fakes import T0
from tests.tui_gan.app.pilots import text_of
from tests.tui_gan.app.test_plot_and_real_run import SIZE, until_exited, wait_for
from tui_gan.app.app import GanApp
from tui_gan.app.session import InProcessSession
from tui_gan.app.widgets.progress_panel import ProgressPanel
from tui_gan.view.runview import PROGRESS, RunView


@pytest.mark.slow
async def test_the_starting_panel_shows_decoding_n_of_m_images(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "PROGRESS_INTERVAL_S", 0.0)
    gate, decoded = threading.Event(), []
    real = images.decode

    def held(path, size, channels):  # the first chunk decodes, then the trainer waits for the test
        decoded.append(path)
        if len(decoded) > images.FIRST_CHUNK:
            gate.wait(60)
        return real(path, size, channels)

    monkeypatch.setattr(images, "decode", held)
    root = make_folder(tmp_path / "pics", n=100)
    config = TrainConfig.from_preset(
        "mnist-dcgan",
        dataset="folder",
        data_root=str(root),
        image_size=8,
        channels=1,
        data_workers=0,
        width=4,
        batch_size=8,
        max_steps=2,
        sample_every=0,
        checkpoint_every=0,
        n_samples=4,
        device="cpu",
        run_dir=str(tmp_path / "run"),
    )
    session = InProcessSession(Trainer(config))
    app = GanApp(session, start=session.start)
    try:
        async with app.run_test(size=SIZE) as pilot:
            panel = app.query_one("#progress", ProgressPanel)
            await wait_for(pilot, lambda: "decoding 64 / 100 images" in text_of(panel))
            assert app.view.state == ev.STARTING and "STARTING" in str(
                app.query_one("#state").render()
            )
            gate.set()
            await wait_for(pilot, lambda: app.view.state == ev.FINISHED)
            await pilot.pause(0.3)
            assert "decoding" not in text_of(panel) and "2/2" in text_of(panel)
            await pilot.press("q", "q")
            await until_exited(app)
    finally:
        gate.set()


def panel_text(view: RunView) -> str:
    return str(ProgressPanel().lines(view)[0])


def test_decoding_progress_shows_while_starting_and_is_not_logged():
    view = RunView()
    assert panel_text(view) == "loading data and building models…"
    changed = view.apply(
        [
            ev.StateChanged(ev.STARTING, "loading data and building models", 0, time=T0),
            ev.ImagesDecoded(0, 12_000, time=T0),
            ev.ImagesDecoded(1_536, 12_000, time=T0 + 1),
        ]
    )
    assert PROGRESS in changed and view.reason == "decoding 1,536 / 12,000 images"
    assert panel_text(view) == "decoding 1,536 / 12,000 images…"
    logged = len(view.log)
    view.apply([ev.StateChanged(ev.RUNNING, "started", 0, time=T0 + 2)])
    view.apply([ev.ImagesDecoded(12_000, 12_000, time=T0 + 3)])  # late: replayed out of order
    assert view.reason == "started" and len(view.log) == logged
