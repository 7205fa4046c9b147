"""The sample history screen on a real run's grids: step, jump, mark and compare, at 80×24 and on a
larger terminal, in the app of a run and in one attached to a live run over its control socket."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from core import commands as cmd
from core import events as ev
from core.config import TrainConfig
from core.rundir import read_events
from core.trainer import Trainer
from tests.fakes import FakeSession
from tests.tui_gan.app.pilots import text_of
from tui_gan.app import screens
from tui_gan.app.app import GanApp
from tui_gan.app.remote import RemoteSession
from tui_gan.app.screens.sample_history import SampleHistoryScreen
from tui_gan.app.watch import WatchApp
from tui_gan.app.widgets.sample_image import SampleImage

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("one_torch_thread")]

# 32 digits in batches of 8: 4 steps an epoch, so 10 steps are 3 epochs (the last one cut short)
TINY_DIGITS = dict(
    width=4,
    batch_size=8,
    subset=32,
    n_samples=16,
    device="cpu",
    checkpoint_every=0,
    log_every="1",
    epochs=1_000_000,
    cpu_threads=1,
)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 10-step run of a tiny DCGAN with a grid of 16 digits after every step."""
    run_dir = tmp_path_factory.mktemp("history") / "digits"
    config = TrainConfig.from_preset(
        "mnist-dcgan", **TINY_DIGITS, max_steps=10, sample_every=1, run_dir=str(run_dir)
    )
    trainer = Trainer(config)
    trainer.serve_control = False
    assert trainer.run() == ev.FINISHED, trainer.error
    return run_dir


def replay(run_dir: Path) -> FakeSession:
    """A session that hands the app the run's whole event log, as an attached watcher gets it."""
    session = FakeSession(run_dir, list(read_events(run_dir / "events.jsonl")))
    session.state = ev.FINISHED
    return session


async def open_history(app, pilot) -> SampleHistoryScreen:
    app.poll()
    await pilot.pause()
    await pilot.press("g")
    screen = app.screen
    assert isinstance(screen, SampleHistoryScreen)
    await until(lambda: screen.listed)
    await pilot.pause()
    return screen


async def until(condition, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


def caption(screen: SampleHistoryScreen, which: str) -> str:
    return text_of(screen.query_one(f"#hist-{which}-caption")).strip()


def drawn(image: SampleImage) -> tuple[int, int]:
    """Rows and columns of the picture as drawn (0, 0: nothing)."""
    image.render_line(0)  # lays the picture out for the widget's size
    return len(image._lines), max((len(line) for line in image._lines), default=0)


async def test_step_jump_and_mark_through_a_real_runs_grids_at_80x24(real_run: Path):
    grids = sorted((real_run / "samples").glob("step_*.png"))
    assert len(grids) == 10
    app = GanApp(replay(real_run))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_history(app, pilot)
        current = screen.query_one("#hist-current", SampleImage)
        # opens on the newest grid, with its step and epoch from the run's own events
        assert caption(screen, "current") == "step 10 · epoch 3 · 10/10"
        assert current.path == str(grids[-1]) and current.image is not None
        assert not screen.query_one("#hist-marked-pane").display
        await pilot.press("left", "left")
        assert caption(screen, "current") == "step 8 · epoch 2 · 8/10"
        assert current.path == str(grids[7])
        await pilot.press("home")
        assert caption(screen, "current") == "step 1 · epoch 1 · 1/10"
        await pilot.press("left")  # nothing older: stays
        assert caption(screen, "current") == "step 1 · epoch 1 · 1/10"

        await pilot.press("space")  # mark step 1, then go back to the newest
        await pilot.press("end")
        await pilot.pause()
        marked = screen.query_one("#hist-marked", SampleImage)
        assert screen.query_one("#hist-marked-pane").display
        assert caption(screen, "current") == "current · step 10 · epoch 3 · 10/10"
        assert caption(screen, "marked") == "marked · step 1 · epoch 1 · 1/10"
        assert marked.path == str(grids[0]) and current.path == str(grids[-1])
        # both grids drawn side by side, each in its half of the 80 columns
        rows, cols = drawn(current)
        assert rows >= 8 and 8 <= cols <= 40
        assert drawn(marked)[0] >= 8
        assert current.region.x + current.region.width <= marked.region.x
        bar = text_of(screen.query_one("#hist-bar"))
        assert bar.index("◆") < bar.index("●")  # the marked grid before the current one

        await pilot.press("left", "space")  # mark another grid: the mark moves
        assert caption(screen, "marked") == "marked · step 9 · epoch 3 · 9/10"
        await pilot.press("space")  # on the marked grid: unmark
        await pilot.pause()
        assert screen.scrubber.marked is None
        assert not screen.query_one("#hist-marked-pane").display
        await pilot.press("escape")
        assert not isinstance(app.screen, SampleHistoryScreen)


async def test_a_larger_terminal_draws_larger_grids(real_run: Path):
    sizes = {}
    for size in ((80, 24), (160, 50)):
        app = GanApp(replay(real_run))
        async with app.run_test(size=size) as pilot:
            screen = await open_history(app, pilot)
            await pilot.press("home", "space", "end")
            await pilot.pause()
            sizes[size] = [
                drawn(screen.query_one(f"#hist-{which}", SampleImage))
                for which in ("current", "marked")
            ]
    small, large = sizes[(80, 24)], sizes[(160, 50)]
    for (rows, cols), (big_rows, big_cols) in zip(small, large, strict=True):
        assert big_rows >= 2 * rows - 2 and big_cols >= 2 * cols - 2, sizes


async def test_a_run_without_grids_says_so(tmp_path: Path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    app = GanApp(FakeSession(run_dir, []))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_history(app, pilot)
        assert "no sample grids yet" in screen.query_one("#hist-current", SampleImage).message
        await pilot.press("space", "left", "end")  # nothing to mark or step through: no error
        assert screen.scrubber.current is None


async def test_attached_to_a_live_run_new_grids_show_as_they_come(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """`tui-gan watch`: a RemoteSession to a trainer that keeps saving grids; the screen follows."""
    monkeypatch.setattr(screens.sample_history, "RELIST_INTERVAL_S", 0.2)
    run_dir = tmp_path / "live"
    config = TrainConfig.from_preset(
        "mnist-dcgan", **TINY_DIGITS, max_steps=1_000_000, sample_every=5, run_dir=str(run_dir)
    )
    trainer = Trainer(config)
    trainer.start()
    session = None
    try:
        await until(lambda: len(list((run_dir / "samples").glob("*.png"))) >= 2)
        trainer.send(cmd.Pause())
        await until(lambda: trainer.state == ev.PAUSED)
        session = RemoteSession(run_dir)
        app = WatchApp(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(lambda: app.view.sample_step > 0)
            screen = await open_history(app, pilot)
            first = screen.scrubber.current
            assert first is not None and first.step == app.view.sample_step
            assert f"step {first.step:,}" in caption(screen, "current")
            trainer.send(cmd.Resume())
            await until(lambda: screen.scrubber.current.step > first.step)
            trainer.send(cmd.Pause())
            newest = screen.scrubber.current
            assert newest.step % 5 == 0 and newest.epoch == -(-newest.step // 4)
            assert screen.query_one("#hist-current", SampleImage).path == newest.path
            # away from the newest, the cursor stays where the user put it
            await pilot.press("home")
            oldest = screen.scrubber.current
            trainer.send(cmd.Resume())
            count = len(screen.scrubber.grids)
            await until(lambda: len(screen.scrubber.grids) > count)
            assert screen.scrubber.current == oldest
    finally:
        if session is not None:
            session.close()
        trainer.send(cmd.Stop(checkpoint=False))
        assert trainer.join(30)


def test_grids_copied_into_another_folder_list_without_events(real_run: Path, tmp_path: Path):
    """Epochs come from the run's events when known, else from the steps an epoch."""
    from tui_gan.view.samplehistory import list_grids

    folder = tmp_path / "samples"
    shutil.copytree(real_run / "samples", folder)
    (folder / "notes.txt").write_text("not a grid")
    (folder / "step_x.png").write_bytes(b"")
    grids = list_grids(folder, {}, steps_per_epoch=4)
    assert [g.step for g in grids] == list(range(1, 11))
    assert [g.epoch for g in grids] == [1, 1, 1, 1, 2, 2, 2, 2, 3, 3]
    assert [g.epoch for g in list_grids(folder)] == [None] * 10
    assert list_grids(tmp_path / "missing") == []
