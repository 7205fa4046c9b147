"""The checkpoint browser on a plug-in's checkpoints: loaded only when the run named the plug-in."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.config import TrainConfig
from core.trainer import Trainer
from tests.fakes import FakeSession, started
from tests.plugin_modules import MARKER_MODELS, MODELS
from tests.tui_gan.app.pilots import open_browser, text_of
from tui_gan.app.app import GanApp
from tui_gan.app.widgets.sample_image import SampleImage
from tui_gan.cli.tui import open_in_process

SIZE = (100, 30)


@pytest.fixture
def foreign_run(plugins, tmp_path: Path) -> Path:
    """A run of `evil:build` with a checkpoint; the module's import marker is gone."""
    plugins("tinymodels", MODELS)
    plugins("evil", MARKER_MODELS)
    run_dir = tmp_path / "run"
    config = TrainConfig.from_preset(
        "mnist-dcgan",
        arch="evil:build",
        batch_size=8,
        subset=32,
        n_samples=4,
        max_steps=2,
        device="cpu",
        sample_every=0,
        checkpoint_every=0,
        run_dir=str(run_dir),
    )
    assert Trainer(config).run() == "finished"
    (tmp_path / "imported.marker").unlink()
    del sys.modules["evil"]
    return run_dir


async def previewed(app, pilot) -> None:
    await open_browser(app, pilot)
    for _ in range(2):  # the listing, then the preview of the selected checkpoint
        await app.workers.wait_for_complete()
        await pilot.pause()


async def test_the_browser_of_a_run_without_the_plug_in_named_loads_nothing(
    foreign_run: Path, tmp_path: Path
) -> None:
    session = FakeSession(foreign_run, started(foreign_run))
    app = GanApp(session, open_session=lambda checkpoint: open_in_process(checkpoint, {}))
    async with app.run_test(size=SIZE) as pilot:
        await previewed(app, pilot)
        detail = text_of(app.screen.query_one("#ckpt-detail"))
        assert "trained with the plug-in model 'evil:build'" in " ".join(detail.split())
        await pilot.press("r")  # resume: refused the same way, the run goes on
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.session is session and session.sent == []
        assert any("--set arch=evil:build" in n.message for n in app._notifications)
    assert not (tmp_path / "imported.marker").exists() and "evil" not in sys.modules


async def test_the_browser_of_a_run_that_named_the_plug_in_previews_it(
    foreign_run: Path, tmp_path: Path
) -> None:
    session = FakeSession(foreign_run, started(foreign_run))
    app = GanApp(session, named={"arch": "evil:build"})
    async with app.run_test(size=SIZE) as pilot:
        await previewed(app, pilot)
        assert app.screen.query_one(SampleImage).path is not None
    assert (tmp_path / "imported.marker").exists()
