"""The checkpoint browser on a fake session: previews, unreadable files, delete, resume."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from core import commands as cmd
from tests.fakes import fake_checkpoint
from tests.tui_gan.app.pilots import open_browser
from tui_gan.app.app import GanApp
from tui_gan.app.dialogs.confirm import ConfirmDialog
from tui_gan.app.screens.checkpoints import CheckpointsScreen
from tui_gan.app.screens.dashboard import DashboardScreen
from tui_gan.app.widgets.sample_image import SampleImage

SIZE = (80, 24)


async def test_checkpoint_browser_lists_previews_and_marks_unreadable(
    session, run_dir, fake_sampler
):
    fake_checkpoint(run_dir, 200)
    fake_checkpoint(run_dir, 400, "manual")
    fake_checkpoint(run_dir, 600, readable=False)
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        app.poll()
        await pilot.press("c")
        screen = app.screen
        assert isinstance(screen, CheckpointsScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = screen.query_one(DataTable)
        assert table.row_count == 3
        assert "unreadable" in str(table.get_row_at(0)[-1])  # newest first
        assert screen.query_one(SampleImage).image is None  # no preview of an unreadable file
        await pilot.press("down")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert fake_sampler and fake_sampler[-1][1] == 0  # fixed seed: the same preview every time
        assert screen.query_one(SampleImage).image is not None
        await pilot.press("x")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert fake_sampler[-1][2] is None  # exported to the run's exports/
        assert (run_dir / "exports" / "sample.png").exists()
        assert any(f"samples written to {run_dir}" in n.message for n in app._notifications)


async def test_the_browser_removes_its_previews_when_it_closes(session, run_dir, fake_sampler):
    fake_checkpoint(run_dir, 200)
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await open_browser(app, pilot)
        first = Path(fake_sampler[-1][2]).parent
        assert first.is_dir() and any(first.iterdir())  # the preview drawn on opening
        await pilot.press("escape")
        await pilot.pause()
        assert not first.exists()
        await open_browser(app, pilot)  # open again, then leave the app with the browser open
        second = Path(fake_sampler[-1][2]).parent
        assert second != first and second.is_dir()
    assert not second.exists()


async def test_delete_asks_first(session, run_dir, fake_sampler):
    path = fake_checkpoint(run_dir, 200)
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await open_browser(app, pilot)
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        assert path.exists()
        await pilot.press("d", "y")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not path.exists()
        assert app.screen.query_one(DataTable).row_count == 0


async def test_resume_without_a_session_factory_says_so(session, run_dir, fake_sampler):
    fake_checkpoint(run_dir, 200)
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await open_browser(app, pilot)
        await pilot.press("r")
        await pilot.pause()
        assert session.sent == []
        assert any("cannot start runs" in n.message for n in app._notifications)


async def test_a_resume_with_nothing_to_train_says_so_and_keeps_the_run(
    session, run_dir, fake_sampler
):
    from core.plan import NothingToTrain
    from tests.fakes import FakeSession

    fake_checkpoint(run_dir, 200)

    def open_session(path: str) -> FakeSession:
        raise NothingToTrain(
            "nothing to train: the run is at step 200 and its plan ends at step 200; pass --more"
        )

    app = GanApp(session, open_session=open_session, stop_timeout=5)
    async with app.run_test(size=SIZE) as pilot:
        await open_browser(app, pilot)
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert session.sent == [] and session.closed is False and app.session is session
        assert any(
            n.message.startswith("nothing to train: the run is at step 200")
            for n in app._notifications
        )


async def test_resume_stops_the_run_then_switches_session(session, run_dir, fake_sampler):
    from tests.fakes import FakeSession, started

    ckpt = fake_checkpoint(run_dir, 200)
    opened = []

    def open_session(path: str) -> FakeSession:
        opened.append(path)
        return FakeSession(run_dir, started(run_dir))

    app = GanApp(session, open_session=open_session, stop_timeout=5)
    async with app.run_test(size=SIZE) as pilot:
        await open_browser(app, pilot)
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(session.sent[0], cmd.Stop) and not session.sent[0].checkpoint
        assert session.closed == 5 and opened == [str(ckpt)]
        assert app.session is not session and isinstance(app.screen, DashboardScreen)
        app.poll()
        await pilot.pause()
        assert app.view.step == 0 and len(app.view.history) == 0


async def test_a_checkpoint_that_fails_its_checks_on_load_turns_unreadable(session, run_dir):
    fake_checkpoint(run_dir, 200)  # a sidecar the listing accepts, contents that are no checkpoint
    app = GanApp(session)
    async with app.run_test(size=SIZE) as pilot:
        await open_browser(app, pilot)
        screen = app.screen
        assert isinstance(screen, CheckpointsScreen)
        for _ in range(2):  # the preview loads the file, then marks it
            await app.workers.wait_for_complete()
            await pilot.pause()
        table = screen.query_one(DataTable)
        assert "unreadable" in str(table.get_row_at(0)[-1])
        assert (
            not screen.infos[0].readable and "not a tui-gan checkpoint" in screen.infos[0].problem
        )
        assert "not a tui-gan checkpoint" in str(screen.query_one("#ckpt-detail").content)
        await pilot.press("r")  # resuming from it is refused in the screen, not tried
        await pilot.pause()
        assert isinstance(app.screen, CheckpointsScreen)
